// Scenario 2 (issue 3), on Debian 12 and Debian 13 (issue 6): apply, then apply again with nothing changed
// but the connection (the operator now reaches the host on 2222, as the docs say). The second run must
// change nothing at all: every unit "in sync", no managed file rewritten (sha, inode, mtime), sshd not
// reloaded (same PID, no new SIGHUP in auth.log), fail2ban not reloaded (same PID, nothing in its log),
// the firewall identical (nft list ruleset / iptables-save / ipset save), confirm with nothing to confirm.
// And re-running the FIRST plan (connection still on port 22) fails clearly: port 22 is closed now.
import { beforeAll, describe, expect, it } from "vitest";
import type { HostPlan } from "../../src/plan/types";
import type { LabHost, LabRoot } from "../lab/lab";
import { runPlan, type StepResult } from "../lab/plan-runner";
import { labSuite } from "../lab/suite";
import { exampleFleet, SSH_PORT } from "./example-fleet";
import {
  F2B_RELOAD, SSHD_SIGHUP, fileStates, firewallHash, firewallState, inHost, logCount, managedPaths, sshdPid, stepLog, waitFor,
} from "./host-state";
import { applyOrThrow, labPlans } from "./lab-fleet";

const ROOTS: LabRoot[] = ["debian-12", "debian-13"];

/** Everything a second run could touch, observed from inside the host. */
async function observe(h: LabHost, plan: HostPlan) {
  // Paths whose mode/owner the units enforce (cron spool, crontab, ...) count as much as their files.
  const permPaths = ["/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs", "/etc/cron.allow", "/etc/at.allow"];
  const fw = await firewallState(h);
  return {
    files: await fileStates(h, [...managedPaths(plan), ...permPaths]),
    sshdPid: await sshdPid(h),
    sighups: await logCount(h, "/var/log/auth.log", SSHD_SIGHUP),
    f2bPid: Number((await inHost(h, "cat /run/fail2ban/fail2ban.pid")).trim()),
    f2bReloads: await logCount(h, "/var/log/fail2ban.log", F2B_RELOAD),
    f2bLogLines: Number((await inHost(h, "wc -l < /var/log/fail2ban.log")).trim()),
    firewall: firewallHash(fw),
    nft: fw.nft,
    iptables: fw.iptables,
    ipset: fw.ipset,
    ipsetNames: (await inHost(h, "ipset list -n 2>/dev/null | sort || true")).trim(),
    previous: (await inHost(h, "cd /var/lib/harden && ls -A && find previous -type f -exec sha256sum {} + | sort -k2")).trim(),
  };
}

labSuite("scenario 2: a second apply with nothing changed changes nothing", (lab) => {
  for (const root of ROOTS) {
    describe(root, () => {
      const tag = root.replace("debian-", "");
      const hosts: LabHost[] = [];
      const first: Record<string, HostPlan> = {};
      const second: Record<string, HostPlan> = {};
      const before: Record<string, Awaited<ReturnType<typeof observe>>> = {};
      const after: Record<string, Awaited<ReturnType<typeof observe>>> = {};
      const rerun: Record<string, StepResult[]> = {};

      beforeAll(async () => {
        hosts.push(await lab().host({ name: `id${tag}n`, root }), await lab().host({ name: `id${tag}i`, root }));
        const backend = (h: LabHost) => ({ firewall: { backend: h === hosts[0] ? "nftables" as const : "iptables" as const } });
        const fleet = (port: number) => exampleFleet(lab(), hosts.map((host) => ({ host, policy: backend(host), port })));
        for (const p of labPlans(fleet(22))) first[p.host] = p;
        for (const p of labPlans(fleet(SSH_PORT))) second[p.host] = p;
        for (const h of hosts) await applyOrThrow(lab(), first[h.name]);
        for (const h of hosts) {
          // rsyslog writes auth.log asynchronously: wait for the first run's reload to be logged
          await waitFor(`${h.name}: sshd's SIGHUP in auth.log`, 5000, async () => (await logCount(h, "/var/log/auth.log", SSHD_SIGHUP)) > 0);
          before[h.name] = await observe(h, first[h.name]);
          const t0 = Date.now();
          rerun[h.name] = await runPlan(second[h.name], { identityFile: lab().adminKey });
          console.log(`[idempotence] ${root} ${h.name}: second apply ${Date.now() - t0} ms (${rerun[h.name].map((r) => `${r.name} ${r.ms}`).join(", ")} ms)`);
          await new Promise((r) => setTimeout(r, 500)); // let rsyslog and fail2ban write anything they would
          after[h.name] = await observe(h, first[h.name]);
        }
      }, 180_000);

      it("the second plan differs from the first only in how the host is reached: same scripts", () => {
        for (const h of hosts) {
          expect(second[h.name].steps.map((s) => s.sha256)).toEqual(first[h.name].steps.map((s) => s.sha256));
          expect(second[h.name].steps.map((s) => s.connection.port)).toEqual([2222, 2222, 2222, 2222, 2222, 2222]);
          expect(first[h.name].steps.map((s) => s.connection.port)).toEqual([22, 22, 22, 2222, 2222, 2222]);
        }
      });

      it("every unit says in sync; confirm says nothing was waiting", () => {
        for (const h of hosts) {
          const r = rerun[h.name];
          const log = stepLog(r);
          expect(r.map((s) => [s.name, s.code]), log).toEqual([["packages", 0], ["firewall", 0], ["sshd", 0], ["fail2ban", 0], ["cron", 0], ["confirm", 0]]);
          // packages: nothing to install, no package manager run
          expect(r[0].stdout, log).toMatch(/^packages: in sync: installed: [a-z0-9 .+-]+\n$/);
          for (const s of r.slice(1, 5)) expect(s.stdout, log).toBe(`${s.name}: in sync\n`);
          expect(r[5].stdout).toBe("confirm: login on port 2222 as root works; nothing was waiting for confirmation\n");
          expect(r.map((s) => s.stderr).join("")).toBe("");
        }
      });

      it("no managed file is rewritten: content, mode, owner, inode and mtime identical", () => {
        for (const h of hosts) {
          expect(Object.keys(before[h.name].files).length).toBeGreaterThanOrEqual(8);
          expect(Object.values(before[h.name].files).filter((v) => v !== "absent").length).toBeGreaterThanOrEqual(8);
          expect(after[h.name].files).toEqual(before[h.name].files);
          // the first run's backups were not replaced by a transaction of the second
          expect(after[h.name].previous).toBe(before[h.name].previous);
          expect(after[h.name].previous.split("\n")).not.toContain("txn");
        }
      });

      it("no service is reloaded: sshd and fail2ban keep their PIDs, their logs show no reload", () => {
        for (const h of hosts) {
          const b = before[h.name];
          const a = after[h.name];
          expect(b.sighups).toBeGreaterThanOrEqual(1); // the first run's reload is visible: the count can move
          expect({ pid: a.sshdPid, sighups: a.sighups }).toEqual({ pid: b.sshdPid, sighups: b.sighups });
          expect(b.f2bReloads).toBeGreaterThanOrEqual(1);
          expect({ pid: a.f2bPid, reloads: a.f2bReloads, lines: a.f2bLogLines }).toEqual({ pid: b.f2bPid, reloads: b.f2bReloads, lines: b.f2bLogLines });
        }
      });

      it("the firewall is identical: nft ruleset, iptables-save and ipset hashes", () => {
        for (const h of hosts) {
          const { nft, iptables, ipset, ipsetNames, firewall } = after[h.name];
          expect({ nft, iptables, ipset, ipsetNames, firewall }).toEqual({
            nft: before[h.name].nft, iptables: before[h.name].iptables, ipset: before[h.name].ipset,
            ipsetNames: before[h.name].ipsetNames, firewall: before[h.name].firewall,
          });
        }
        // the comparison covers something: our nft table on one host, our chains and ipsets on the other
        expect(before[hosts[0].name].nft).toMatch(/table inet harden/);
        expect(before[hosts[1].name].iptables).toMatch(/-A INPUT -j HARDEN-INPUT/);
        expect(before[hosts[1].name].ipsetNames).toMatch(/harden-/);
        for (const h of hosts) console.log(`[idempotence] ${root} ${h.name}: firewall sha256 ${before[h.name].firewall.slice(0, 16)} before = after`);
      });

      it("re-running the FIRST plan (still port 22) fails at its first step with a clear message; nothing changes", async () => {
        const h = hosts[0];
        const b = await observe(h, first[h.name]);
        const t0 = Date.now();
        const r = await runPlan(first[h.name], { identityFile: lab().adminKey });
        const ms = Date.now() - t0;
        expect(r.map((s) => [s.name, s.code])).toEqual([["packages", 255]]);
        // what ssh says, and what the runner makes of it
        expect(r[0].stderr).toMatch(new RegExp(`connect to host ${h.ip.replace(/\./g, "\\.")} port 22: Connection timed out`));
        expect(r[0].message).toBe(`packages could not log in as root on ${h.ip}:22 (ssh: connect to host ${h.ip} port 22: Connection timed out); ` +
          "no rollback is armed: no earlier step of this run changed the host");
        console.log(`[idempotence] ${root}: first plan again -> after ${ms} ms: ${r[0].message}`);
        expect(await observe(h, first[h.name])).toEqual(b);
      });
    });
  }
});
