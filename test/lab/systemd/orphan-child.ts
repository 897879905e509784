// Run by systemd-lab.test.ts: starts a systemd lab with one host, says where it runs, then waits to be
// killed. The test SIGKILLs this process and checks that the machine dies with it (the lease pipes).
import { SystemdLab } from "./lab";

(async () => {
  console.log(`PID ${process.pid}`);
  const lab = await SystemdLab.start();
  const h = await lab.host({ name: "orphan", release: "debian-12" });
  console.log(`READY ${h.boot.nspawnPid} ${h.boot.leader}`);
  setInterval(() => {}, 60_000);
})().catch((e) => {
  console.log(`FAILED ${String(e).split("\n").join(" | ")}`);
  process.exit(1);
});
