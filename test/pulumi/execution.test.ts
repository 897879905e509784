// The closest to `pulumi up` this machine allows: the real stack program under mocks whose engine
// (ssh-engine.ts) really runs every create/update/delete over SSH against two lab hosts, keeping
// state between runs, and runs each host's HostDrift through its serialized dynamic provider
// (create, refresh = read, diff/update). Figures (SSH sessions and wall time per run) are printed
// at the end. Sessions count the engine's commands and copies plus the drift probe's logins.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { labSuite } from "../lab/suite";
import { SSHD_LOG_CMD } from "../lab/scenario-lab";
import { waitFor } from "../scenarios/host-state";
import type { LabHost } from "../lab/lab";
import { allRegistered, startRecording } from "./recorder";
import { SshEngine, type Executed, type Refreshed } from "./ssh-engine";
import { deployFleet } from "../../src/pulumi/program";

const ROLLBACK_SECONDS = 15;
const BLOCKLIST = Array.from({ length: 20_000 }, (_, i) => `100.64.${i >> 8}.${i & 255}/32`);

interface RunFigures { label: string; ms: number; sessions: Record<string, number>; ops: string[] }

labSuite("pulumi up against lab hosts (execution)", (lab) => {
  const engine = new SshEngine();
  const payloadDir = mkdtempSync(join(tmpdir(), "harden-payloads-"));
  const figures: RunFigures[] = [];
  let web: LabHost;
  let db: LabHost;
  let key: string;
  let fleet: any;

  beforeAll(async () => {
    [web, db] = [await lab().host({ name: "web1" }), await lab().host({ name: "db1" })];
    key = readFileSync(lab().adminKey, "utf8");
    const adminPub = readFileSync(`${lab().adminKey}.pub`, "utf8").trim();
    fleet = {
      defaults: {
        ssh: { port: 2222, permitRootLogin: "prohibit-password", passwordAuthentication: false, authorizedKeys: { root: [adminPub] } },
        firewall: { backend: "nftables", sshAllow: [`${lab().net}.0/24`] },
        fail2ban: { ignore: [`${lab().uplink}/32`], logBackend: "file" }, // namespace hosts: rsyslog, no journal
      },
      hosts: [
        { name: "web1", address: web.ip, os: "debian-12", connection: { user: "root", port: 22 }, hostKey: web.hostKey,
          policy: { firewall: { services: [{ port: 80 }, { port: 443 }], blocklists: [{ name: "drop", cidrs: BLOCKLIST }] } } },
        { name: "db1", address: db.ip, os: "debian-12", connection: { user: "root", port: 22 }, hostKey: db.hostKey,
          policy: { firewall: { services: [{ port: 6379, from: ["10.0.0.0/8"] }] } } },
      ],
    };
  });
  afterAll(() => {
    engine.dispose();
    rmSync(payloadDir, { recursive: true, force: true });
    console.log("\nexecution figures (lab, 2 hosts):");
    for (const f of figures) {
      console.log(`  ${f.label.padEnd(34)} ${String(f.ms).padStart(6)} ms  sessions ${JSON.stringify(f.sessions)}  ${f.ops.length} ops: ${f.ops.join(" ") || "-"}`);
    }
  });

  const sessions = () => ({ web1: engine.sessions(web.ip), db1: engine.sessions(db.ip) });

  /**
   * One `pulumi up` (with `refresh`: `pulumi up --refresh`, the refresh first): the program registers
   * everything, the engine executes, then deletes what is gone. Returns the up's ops only; the
   * refresh's outcome is in `lastRefresh`.
   */
  async function up(label: string, options: { refresh?: boolean } = {}): Promise<Executed[]> {
    engine.resetSessions();
    const t0 = Date.now();
    const refreshOps: Executed[] = [];
    if (options.refresh) {
      lastRefresh = await engine.refresh();
      refreshOps.push(...engine.opsOf(engine.currentRun));
    }
    engine.beginRun();
    startRecording({
      config: { "hardening:fleet": fleet, "hardening:sshPrivateKey": key, "hardening:rollbackSeconds": String(ROLLBACK_SECONDS) },
      secretKeys: ["hardening:sshPrivateKey"],
      newResource: engine.newResource,
    });
    const hosts = deployFleet({ payloadDir });
    await Promise.race([allRegistered(hosts.flatMap((h) => [h, h.drift, ...h.uploads, ...h.steps, h.teardown])), engine.failed]);
    await engine.finishRun();
    const ops = engine.opsOf(engine.currentRun);
    figures.push({ label, ms: Date.now() - t0, sessions: sessions(), ops: [...refreshOps, ...ops].map((e) => `${name(e)}(${e.ms}ms)`) });
    return ops;
  }
  let lastRefresh: Refreshed[] = [];

  /** `pulumi refresh` on its own (previewOnly: `--preview-only`, what a scheduled check runs). */
  async function refresh(label: string, options: { previewOnly?: boolean } = {}): Promise<Refreshed[]> {
    engine.resetSessions();
    const t0 = Date.now();
    const result = await engine.refresh(options);
    figures.push({ label, ms: Date.now() - t0, sessions: sessions(), ops: engine.opsOf(engine.currentRun).map((e) => `${name(e)}(${e.ms}ms)`) });
    return result;
  }
  const name = (e: Executed) => `${e.resource}:${e.op}`;
  const byResource = (refreshed: Refreshed[]) => Object.fromEntries(refreshed.map((r) => [r.resource, r]));
  const ssh = (host: LabHost, port: number, cmd: string) => lab().ssh(host.endpoint(port), cmd, { timeoutMs: 20_000 });
  const fingerprint = (host: LabHost) => ssh(host, 2222, "nft list ruleset | sha256sum; pgrep -o -x sshd; cat /etc/ssh/sshd_config.d/*.conf | sha256sum")
    .then((r) => r.stdout);

  it("first up converges both hosts: the drift resource probes once, every step runs once, then SSH only on the new port", async () => {
    const ops = await up("first up");
    const expected = (host: string) => ["packages", "firewall", "sshd", "fail2ban", "cron", "confirm", "teardown"].map((s) => `${host}-${s}:create`);
    // the payload copy and the drift resource's create depend on nothing: they run side by side, before the firewall
    const web1 = ops.filter((e) => e.host === web.ip).map(name);
    expect(web1.slice(0, 2).sort()).toEqual([expect.stringMatching(/^web1-drift:create$/), expect.stringMatching(/^web1-payload-[0-9a-f]{12}:copy$/)]);
    expect(web1.slice(2)).toEqual(expected("web1"));
    expect(ops.filter((e) => e.host === db.ip).map(name)).toEqual(["db1-drift:create", ...expected("db1")]);
    // create ran through the serialized provider and recorded the desired state: nothing drifted, no heal yet
    for (const host of ["web1", "db1"]) {
      expect(engine.callsOf(engine.currentRun).filter((c) => c.resource === `${host}-drift`).map((c) => c.method)).toEqual(["create"]);
      expect(engine.outputsOf(`${host}-drift`)).toMatchObject({ drift: {}, heal: {} });
    }
    // before apply the policy's port is closed: the probe logged in on the current endpoint (22); what it
    // records is the endpoint the applied host answers on, so the first refresh finds no change there
    expect(ops.filter((e) => e.op === "create" && e.resource.endsWith("-drift")).map((e) => e.port)).toEqual([22, 22]);
    expect(engine.outputsOf("web1-drift")!.checkedVia).toBe(`target root@${web.ip}:2222`);
    // the 20,000-CIDR list travelled as a file, on port 22 before the firewall
    expect(ops.find((e) => e.op === "copy")!.port).toBe(22);
    for (const host of [web, db]) {
      const now = await ssh(host, 2222, "sshd -T | grep -E '^(port|passwordauthentication) '");
      expect(now.code, now.stderr).toBe(0);
      expect(now.stdout).toBe("port 2222\npasswordauthentication no\n");
      expect((await ssh(host, 22, "true")).code).toBe(255); // the old port is closed after confirm
    }
    // web1: payload + 7 steps (packages first) + 1 probe; db1: 7 steps + 1 probe (the probe's refused try on 2222 is no session)
    expect(figures[0].sessions).toEqual({ web1: 9, db1: 8 });
    expect([engine.probeFailures(web.ip), engine.probeFailures(db.ip)]).toEqual([1, 1]);
  }, 300_000);

  it("second up with nothing changed executes nothing and opens no SSH session", async () => {
    const ops = await up("no-change up");
    expect(ops).toEqual([]);
    expect(figures.at(-1)!.sessions).toEqual({ web1: 0, db1: 0 });
    // the drift resources were diffed (no SSH) and found unchanged
    expect(engine.callsOf(engine.currentRun).map((c) => `${c.resource}:${c.method}:${c.changes}`).sort())
      .toEqual(["db1-drift:diff:false", "web1-drift:diff:false"]);
  }, 120_000);

  it("a scheduled check on freshly applied hosts (refresh --preview-only --expect-no-changes) finds nothing, one session per host", async () => {
    const refreshed = await refresh("refresh --preview-only (in sync)", { previewOnly: true });
    expect(refreshed.map((r) => r.resource)).toEqual(["db1-drift", "web1-drift"]); // Command and CopyToRemote have no Read
    for (const r of refreshed) {
      expect(r.after.drift, r.resource).toEqual({});
      expect(r.changed, r.resource).toEqual([]); // --expect-no-changes passes
    }
    expect(figures.at(-1)!.sessions).toEqual({ web1: 1, db1: 1 });
  }, 120_000);

  it("after the port moved, the operator updates the connection: packages, firewall, sshd (and confirm) re-run on 2222, nothing reloads", async () => {
    const before = [await fingerprint(web), await fingerprint(db)];
    for (const h of fleet.hosts) h.connection.port = 2222;
    const ops = await up("connection.port 22 -> 2222");
    // the drift resource records the new current endpoint (an update, one probe)
    // every step that ran over the old connection is an update now (packages, firewall, sshd): all in sync
    expect(ops.map(name).sort()).toEqual(["db1-confirm:create", "db1-drift:update", "db1-firewall:update", "db1-packages:update",
      "db1-sshd:update", "web1-confirm:create", "web1-drift:update", "web1-firewall:update", "web1-packages:update", "web1-sshd:update"]);
    expect(ops.every((e) => e.port === 2222)).toBe(true);
    expect(figures.at(-1)!.sessions).toEqual({ web1: 5, db1: 5 });
    for (const e of ops.filter((e) => e.op === "update" && !e.resource.endsWith("-drift"))) expect(e.stdout + e.stderr, name(e)).toMatch(/in sync/);
    for (const e of ops.filter((e) => e.op === "create")) expect(e.stdout + e.stderr, name(e)).toMatch(/nothing was waiting for confirmation/);
    // no rollback was armed by the re-run: past its window the host is unchanged and still reachable
    await new Promise((r) => setTimeout(r, (ROLLBACK_SECONDS + 5) * 1000));
    expect([await fingerprint(web), await fingerprint(db)]).toEqual(before);
    expect((await up("no-change up after the move")).length).toBe(0);
  }, 180_000);

  it("a policy change re-runs only the affected unit (and confirm) on that host only", async () => {
    fleet.hosts[0].policy.cron = { allow: ["root", "www-data"] };
    const ops = await up("cron policy change on web1");
    // the drift resource of web1 records the new expectation (probe, expected files) first
    expect(ops.map(name)).toEqual(["web1-drift:update", "web1-cron:create", "web1-confirm:create"]);
    expect(figures.at(-1)!.sessions).toEqual({ web1: 3, db1: 0 });
    const allow = await ssh(web, 2222, "cat /etc/cron.allow");
    expect(allow.stdout).toBe("root\nwww-data\n");
  }, 120_000);

  it("pulumi up --refresh: hand edits show in the refresh's drift output, then exactly the drifted unit and confirm re-run", async () => {
    // by hand, through the hosts' own shells (no SSH, nothing counted): web1's cron.allow loosened and a
    // user added to it; db1's managed sshd drop-in edited and sshd reloaded
    const edit1 = await web.exec("chmod 0644 /etc/cron.allow && echo mallory >> /etc/cron.allow");
    expect(edit1.code, edit1.stderr).toBe(0);
    const listening = async () => Number((await db.exec(`${SSHD_LOG_CMD} | grep -c 'Server listening on .* port 2222' || true`)).stdout.trim());
    const before = await listening();
    const edit2 = await db.exec("sed -i 's/^MaxAuthTries .*/MaxAuthTries 10/' /etc/ssh/sshd_config.d/00-harden.conf && hl-service reload sshd");
    expect(edit2.code, edit2.stderr).toBe(0);
    // a reloaded sshd re-executes itself and listens again a moment later (a probe before is refused):
    // wait for its next "Server listening" line
    await waitFor("db1's sshd listening on 2222 again", 10_000, async () => (await listening()) > before);

    // what `pulumi preview --refresh` would show: the drift output of each host changes
    const preview = byResource(await refresh("preview --refresh (drifted)", { previewOnly: true }));
    expect(preview["web1-drift"].changed).toEqual(["drift", "heal"]);
    expect(preview["db1-drift"].changed).toEqual(["drift", "heal"]);
    expect(engine.outputsOf("web1-drift")!.drift).toEqual({}); // a preview keeps nothing

    const ops = await up("up --refresh (heal)", { refresh: true });
    const seen = byResource(lastRefresh);
    const web1Drift = seen["web1-drift"].after;
    const db1Drift = seen["db1-drift"].after;
    console.log(`refresh saw:\n  web1 ${JSON.stringify(web1Drift.drift)}\n  db1 ${JSON.stringify(db1Drift.drift)}`);
    expect(web1Drift.drift).toMatchObject({
      "file /etc/cron.allow mode": expect.stringMatching(/mode 0644, expected 0640/),
      "file /etc/cron.allow content": expect.stringMatching(/\+"mallory"/),
    });
    expect(Object.values(db1Drift.drift).join("\n")).toMatch(/maxauthtries: expected 3, found 10/i);
    expect(web1Drift.heal).toEqual({ cron: 1 });
    expect(db1Drift.heal).toEqual({ sshd: 1 });

    // the up: each drift resource records again (one probe), then only the drifted unit and confirm
    expect(ops.filter((e) => e.host === web.ip).map(name)).toEqual(["web1-drift:update", "web1-cron:create", "web1-confirm:create"]);
    expect(ops.filter((e) => e.host === db.ip).map(name)).toEqual(["db1-drift:update", "db1-sshd:create", "db1-confirm:create"]);
    // read + update probe + unit + confirm
    expect(figures.at(-1)!.sessions).toEqual({ web1: 4, db1: 4 });
    for (const e of ops.filter((e) => e.resource.endsWith("-confirm"))) expect(e.stdout + e.stderr, name(e)).not.toMatch(/nothing was waiting/);

    // healed, on the host and in the next scheduled check
    const stat = await ssh(web, 2222, "stat -c '%a %U:%G' /etc/cron.allow; cat /etc/cron.allow");
    expect(stat.stdout).toMatch(/^640 root:\S+\nroot\nwww-data\n$/);
    const sshd = await ssh(db, 2222, "sshd -T | grep '^maxauthtries '");
    expect(sshd.stdout).toBe("maxauthtries 3\n");
    const after = await refresh("refresh --preview-only (healed)", { previewOnly: true });
    for (const r of after) {
      expect(r.after.drift, r.resource).toEqual({});
      expect(r.changed, r.resource).toEqual([]);
    }
    // the heal counts stay in state; the next up has nothing to do
    expect(engine.outputsOf("web1-drift")!.heal).toEqual({ cron: 1 });
    expect(await up("no-change up after the heal")).toEqual([]);
    expect(figures.at(-1)!.sessions).toEqual({ web1: 0, db1: 0 });
  }, 240_000);

  it("destroy runs one teardown per host over the new port and leaves hosts that accept the operator on 22", async () => {
    engine.resetSessions();
    const run = engine.currentRun + 1;
    await engine.destroy();
    expect(engine.opsOf(run).map(name).sort()).toEqual(["db1-teardown:delete", "web1-teardown:delete"]);
    expect(engine.opsOf(run).every((e) => e.port === 2222)).toBe(true);
    // the drift resources own nothing on the hosts: their delete opens no session
    expect(engine.callsOf(run).map((c) => `${c.resource}:${c.method}`).sort()).toEqual(["db1-drift:delete", "web1-drift:delete"]);
    expect(sessions()).toEqual({ web1: 1, db1: 1 });
    for (const host of [web, db]) {
      const back = await ssh(host, 22, "sshd -T | grep '^port '; nft list tables | grep -c harden || true");
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout).toBe("port 22\n0\n");
    }
  }, 120_000);
});
