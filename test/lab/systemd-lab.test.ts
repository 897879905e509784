// Self-test of the systemd lab: both releases and every kind boot systemd to "running" (Debian 12's stock
// fail2ban to "degraded": its fail2ban does not start, as on a real server), look like a stock server
// (journald only, no rsyslog, nft, crontab; fail2ban only on that kind; the docker kind's docker.service
// runs a container), install from the local repository,
// reboot and power-cycle with a fresh firewall each boot, and leave nothing behind.
import { spawn } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun } from "./exec";
import { ourNetns as oursNs } from "./systemd/net";
import { isAlive, sleep } from "./proc";
import { KINDS, RELEASES, SYS_RUN_DIR, SystemdHost, SystemdLab } from "./systemd/lab";
import { UPLINK_DEV } from "./systemd/net";
import { systemdLabSuite } from "./systemd/suite";

const figures: string[] = [];
afterAll(() => console.log(`FIGURE systemd lab:\n  ${figures.join("\n  ")}`));

const rootNft = () => mustRun("nft", ["list", "ruleset"]);
let nftBefore = "";

systemdLabSuite("systemd lab self-test", (lab) => {
  beforeAll(() => {
    nftBefore = rootNft();
  });

  for (const release of RELEASES) {
    for (const kind of KINDS) {
      describe(`${release} ${kind}`, () => {
        const name = `${{ stock: "st", fail2ban: "fb", docker: "dk" }[kind]}${release.slice(-2)}`;
        let h: SystemdHost;
        beforeAll(async () => {
          const files = await lab().release(release);
          if (files.builtSeconds) figures.push(`${release} roots + repository built in ${files.builtSeconds.toFixed(0)} s (${files.stamp})`);
          h = await lab().host({ name, release, kind });
          figures.push(`${release} ${kind}: boot to running ${h.boots[0].runningMs} ms, to SSH banner ${h.boots[0].sshMs} ms`);
        }, 30 * 60_000);
        afterAll(async () => {
          await h?.stop();
        });

        it("boots systemd as PID 1 to the state a stock server of its kind reaches, and answers SSH with the pinned key", async () => {
          const r = await lab().ssh(h, "cat /proc/1/comm; hostname; . /etc/os-release; echo $VERSION_ID; systemctl is-active ssh systemd-journald dbus");
          expect(r.stderr).toBe("");
          expect(r.stdout.split("\n").slice(0, 6)).toEqual(["systemd", name, release.slice(-2), "active", "active", "active"]);
          if (kind === "fail2ban" && release === "debian-12") {
            // Debian 12's fail2ban with its own configuration: no auth.log to read, so it fails (after the
            // end of boot: it is started, then exits 255, which its unit does not restart)
            const w = await h.exec("timeout 60 sh -c 'until systemctl is-failed -q fail2ban; do sleep 0.1; done'; systemctl is-system-running", { timeoutMs: 70_000 });
            expect(w.stdout.trim()).toBe("degraded");
            expect((await h.exec("systemctl --failed --no-legend --plain | cut -d' ' -f1")).stdout.trim()).toBe("fail2ban.service");
            expect(await h.journal("fail2ban")).toMatch(/Have not found any log file for sshd jail/);
          } else {
            expect(h.boots[0].state).toBe("running");
            expect((await h.exec("systemctl --failed --no-legend --plain | cut -d' ' -f1")).stdout.trim()).toBe("");
          }
          if (kind === "docker") {
            // started by the guest's systemd at boot; runc can make a container (the kind's nspawn options)
            expect((await h.exec("systemctl is-active docker containerd")).stdout).toBe("active\nactive\n");
            const run = await h.exec("d=$(mktemp -d) && mkdir $d/bin && cp /bin/busybox $d/bin/ && tar -C $d -c . | docker import - selftest >/dev/null && docker run --rm selftest /bin/busybox echo ran", { timeoutMs: 60_000 });
            expect(run.stdout + run.stderr).toBe("ran\n");
          }
          if (kind === "fail2ban" && release === "debian-13") {
            // Debian 13's works out of the box (journal backend, nftables); its jail comes up ~10 s after start
            const w = await h.exec("timeout 60 sh -c 'until fail2ban-client status sshd >/dev/null 2>&1; do sleep 0.2; done'; fail2ban-client get sshd actions", { timeoutMs: 70_000 });
            expect(w.stdout).toMatch(/nftables/);
          }
        });

        it("logs to the journal only: no rsyslog, no auth.log; no nft, no crontab; fail2ban only on its kind", async () => {
          const r = await h.exec(
            "for c in nft crontab rsyslogd fail2ban-client iptables sudo; do command -v $c >/dev/null && echo has:$c; done; " +
            "test -e /var/log/auth.log && echo auth.log; dpkg-query -W -f='${db:Status-Abbrev}${Package}\\n' nftables cron rsyslog fail2ban libpam-systemd 2>/dev/null | grep '^ii'",
          );
          const has = r.stdout.split("\n").filter(Boolean);
          expect(has).toContain("has:iptables");
          expect(has).toContain("has:sudo");
          expect(has).toContain("ii libpam-systemd");
          expect(has).not.toContain("auth.log");
          for (const absent of ["has:nft", "has:crontab", "has:rsyslogd", "ii nftables", "ii cron", "ii rsyslog"]) expect(has).not.toContain(absent);
          expect(has.includes("has:fail2ban-client")).toBe(kind === "fail2ban");
          expect(has.includes("ii fail2ban")).toBe(kind === "fail2ban");
          if (kind === "fail2ban") expect((await h.exec("systemctl is-enabled fail2ban")).stdout.trim()).toBe("enabled");
          // the login of the first test is in sshd's journal
          expect(await h.sshLogins()).toBeGreaterThanOrEqual(1);
          const id = release === "debian-13" ? "sshd-session" : "sshd";
          expect(await h.journal(undefined, { grep: "Accepted publickey for root" })).toMatch(new RegExp(`${id}\\[\\d+\\]: Accepted publickey for root from ${lab().uplink.replace(/\./g, "\\.")}`));
        });

        it("has apt sources that name only the lab repository, and installs from it with apt-get", async () => {
          expect(h.readFile("/etc/apt/sources.list").trim()).toBe(`deb [trusted=yes] http://harden-lab-repo/${release} ./`);
          expect((await h.exec("ls /etc/apt/sources.list.d")).stdout.trim()).toBe("");
          expect(h.readFile("/etc/resolv.conf")).not.toMatch(/nameserver/);
          const t0 = Date.now();
          const r = await h.exec("apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nftables ipset && nft --version", { timeoutMs: 180_000 });
          expect(r.stderr).not.toMatch(/^(W|E):/m);
          expect(r.code, r.stdout + r.stderr).toBe(0);
          expect(r.stdout).toMatch(/nftables v1\./);
          figures.push(`${release} ${kind}: apt-get update + install nftables ipset from the lab repo ${Date.now() - t0} ms`);
        }, 200_000);

        it("reboots (systemctl reboot) with a fresh firewall, keeping its disk; a power cycle too", async () => {
          await h.exec("nft add table inet labprobe && touch /root/before-reboot");
          expect((await h.exec("nft list tables")).stdout).toMatch(/labprobe/);
          const n0 = h.boots.length;
          const b = await h.reboot();
          expect(b.n).toBe(n0 + 1);
          figures.push(`${release} ${kind}: reboot to SSH banner ${b.sshMs} ms`);
          expect((await h.exec("nft list tables")).stdout).not.toMatch(/labprobe/);
          expect((await h.exec("test -e /root/before-reboot && journalctl --list-boots --no-pager -q | wc -l")).stdout.trim()).toBe(String(n0 + 1));
          const ssh = await lab().ssh(h, "systemctl is-active ssh");
          expect(ssh.stdout.trim()).toBe("active");
          await h.exec("nft add table inet labprobe2");
          const c = await h.powerCycle();
          figures.push(`${release} ${kind}: power cycle (SIGKILL + boot) to SSH banner ${c.sshMs} ms`);
          expect((await h.exec("nft list tables")).stdout).not.toMatch(/labprobe2/);
          expect(h.readFile("/etc/hostname").trim()).toBe(name);
        }, 120_000);

        it("halts cleanly on SIGTERM (the guest powers off, nspawn exits 0)", async () => {
          await h.stop();
          expect(h.lastExit).toBe("0");
          figures.push(`${release} ${kind}: clean halt ${h.haltMs} ms`);
        }, 60_000);
      });
    }
  }

  describe("clients and the network", () => {
    it("lets a client netns reach a host on the bridge, and a host reach nothing outside the lab /24", async () => {
      const h = await lab().host({ name: "net12", release: "debian-12" });
      const atk = await lab().client("atk");
      try {
        const banner = await atk.exec(`nc -w 3 ${h.ip} 22 </dev/null | head -c 4`);
        expect(banner.stdout).toBe("SSH-");
        expect((await h.exec("ip -4 route show default")).stdout.trim()).toBe("");
      } finally {
        await atk.stop();
        await h.stop();
      }
    });
  });

  it("stops leaving no machine, netns, uplink, cgroup or run dir behind, and the root namespace's firewall untouched", async () => {
    let left: Record<string, unknown> = {};
    // checked before the lock is released: another lab run may start right after
    await lab().stop({
      beforeUnlock: () => {
        left = {
          netns: oursNs(),
          uplink: mustRun("ip", ["-o", "link", "show"]).includes(`${UPLINK_DEV}:`),
          runDir: existsSync(SYS_RUN_DIR),
          cgroups: ["/sys/fs/cgroup/unified/harden-syslab", "/sys/fs/cgroup/systemd/harden-syslab", "/sys/fs/cgroup/harden-syslab"]
            .filter(existsSync).flatMap((d) => readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)),
          nft: rootNft(),
        };
      },
    });
    expect(left).toEqual({ netns: [], uplink: false, runDir: false, cgroups: [], nft: nftBefore });
  }, 60_000);
});

describe("a systemd lab whose test process is killed", () => {
  it("takes its machines along (lease pipes), and the next start removes the rest", async () => {
    if (process.env.HARDEN_SKIP_LAB === "1") throw new Error("HARDEN_SKIP_LAB=1 but this file is a lab test: run it without");
    // tsx as a loader in this one node process (its CLI would run the script in a grandchild that outlives a kill)
    const child = spawn(process.execPath, ["--import", "tsx", join(__dirname, "systemd/orphan-child.ts")],
      { cwd: join(__dirname, "../.."), stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, HARDEN_LAB_LOCK_WAIT: process.env.HARDEN_LAB_LOCK_WAIT ?? "1800" } });
    let out = "";
    child.stdout!.on("data", (b) => (out += b));
    child.stderr!.on("data", (b) => (out += b));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const deadline = Date.now() + 120_000;
    while (!/^(READY|FAILED)/m.test(out) && Date.now() < deadline) await sleep(50);
    const m = /^READY (\d+) (\d+)$/m.exec(out);
    expect(m, out).not.toBeNull();
    const [nspawnPid, leader] = [Number(m![1]), Number(m![2])];
    expect(Number(/^PID (\d+)$/m.exec(out)?.[1]), "the lab runs in the process that is killed").toBe(child.pid);
    expect(isAlive(leader)).toBe(true);
    const t0 = Date.now();
    child.kill("SIGKILL");
    await exited;
    while ((isAlive(leader) || isAlive(nspawnPid)) && Date.now() - t0 < 15_000) await sleep(20);
    expect(isAlive(leader)).toBe(false);
    expect(isAlive(nspawnPid)).toBe(false);
    figures.push(`machine gone ${Date.now() - t0} ms after its test process was SIGKILLed`);
    // the next run cleans what no lease could take along (the switch netns, the uplink, the run dir)
    const lab = await SystemdLab.start();
    let left: unknown;
    await lab.stop({ beforeUnlock: () => (left = { netns: oursNs(), runDir: existsSync(SYS_RUN_DIR) }) });
    expect(left).toEqual({ netns: [], runDir: false });
  }, 180_000);
});
