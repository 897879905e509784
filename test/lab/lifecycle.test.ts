// A lab run cleans up after a killed one, and only one lab runs on this machine at a time.
import { join } from "node:path";
import { expect, it } from "vitest";
import { runSync } from "./exec";
import { Lab } from "./lab";
import { LAB_NS, PREFIX } from "./net";
import { isAlive } from "./proc";
import { describeLab } from "./suite";

const REPO = join(__dirname, "..", "..");
// Lab.start() waits while another lab run (another engineer, another checkout) holds the machine lock.
const WAIT = 15 * 60_000;
const netns = () => runSync("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(PREFIX));

// A run that SIGKILLs itself with a host and a client up: no handler, no stop(), nothing gets to clean up.
const KILLED_RUN = `
const { Lab } = require("./test/lab/lab");
(async () => {
  const lab = await Lab.start();
  const h = await lab.host({ name: "killed", services: ["sshd", "cron"] });
  await lab.client("killedc");
  console.log("HOST_PID " + h.pid);
  process.kill(process.pid, "SIGKILL");
})();`;

describeLab("lab lifecycle", () => {
  it("ends a killed run's hosts with it, and the next Lab.start() removes its netns, bridge and uplink", async () => {
    const r = runSync(join(REPO, "node_modules/.bin/tsx"), ["-e", KILLED_RUN], { timeoutMs: WAIT });
    const pid = Number(/HOST_PID (\d+)/.exec(r.stdout)?.[1]);
    expect(pid, r.stdout + r.stderr).toBeGreaterThan(1);
    // The lease pipe closed with the killed process, so the host's PID 1 exited and took its services along.
    const deadline = Date.now() + 3000;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    expect(isAlive(pid)).toBe(false);
    expect(netns()).toEqual(expect.arrayContaining([`${PREFIX}killed`, `${PREFIX}killedc`, LAB_NS]));

    const lab = await Lab.start();
    try {
      expect(netns()).toEqual([LAB_NS]); // only the fresh lab's own bridge netns (we hold the lock)
    } finally {
      await lab.stop();
    }
    // (not "no hl-* at all": once the lock is released another waiting run may start its lab)
    expect(netns()).not.toContain(`${PREFIX}killed`);
  }, WAIT);

  it("lets only one lab run at a time: a second Lab.start() waits for the lock, then says who holds it", async () => {
    const lab = await Lab.start();
    const saved = process.env.HARDEN_LAB_LOCK_WAIT;
    process.env.HARDEN_LAB_LOCK_WAIT = "1";
    try {
      await expect(Lab.start()).rejects.toThrow(new RegExp(`another lab run still holds .* \\(owner: pid ${process.pid} since`));
      const h = await lab.host({ name: "still", services: ["sshd"] }); // the first lab was not disturbed
      expect((await lab.ssh(h, "true")).code).toBe(0);
    } finally {
      if (saved === undefined) delete process.env.HARDEN_LAB_LOCK_WAIT;
      else process.env.HARDEN_LAB_LOCK_WAIT = saved;
      await lab.stop();
    }
    const next = await Lab.start(); // and the lock is free again after stop()
    await next.stop();
  }, WAIT);
});
