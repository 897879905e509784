// The closest to `pulumi up` this machine allows: the real stack program under mocks whose engine
// (ssh-engine.ts) really runs every create/update/delete over SSH against two lab hosts, keeping
// state between runs. Figures (SSH sessions and wall time per run) are printed at the end.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { labSuite } from "../lab/suite";
import { resetSshSessions, sshSessions, type LabHost } from "../lab/lab";
import { allRegistered, startRecording } from "./recorder";
import { SshEngine, type Executed } from "./ssh-engine";
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
        fail2ban: { ignore: [`${lab().uplink}/32`] },
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

  /** One `pulumi up`: the program registers everything, the engine executes, then deletes what is gone. */
  async function up(label: string): Promise<Executed[]> {
    engine.beginRun();
    startRecording({
      config: { "hardening:fleet": fleet, "hardening:sshPrivateKey": key, "hardening:rollbackSeconds": String(ROLLBACK_SECONDS) },
      secretKeys: ["hardening:sshPrivateKey"],
      newResource: engine.newResource,
    });
    resetSshSessions();
    const t0 = Date.now();
    const hosts = deployFleet({ payloadDir });
    await Promise.race([allRegistered(hosts.flatMap((h) => [h, ...h.uploads, ...h.steps, h.teardown])), engine.failed]);
    await engine.finishRun();
    const ops = engine.opsOf(engine.currentRun);
    figures.push({ label, ms: Date.now() - t0, sessions: { web1: sshSessions(web.ip), db1: sshSessions(db.ip) }, ops: ops.map((e) => `${name(e)}(${e.ms}ms)`) });
    return ops;
  }
  const name = (e: Executed) => `${e.resource}:${e.op}`;
  const ssh = (host: LabHost, port: number, cmd: string) => lab().ssh(host.endpoint(port), cmd, { timeoutMs: 20_000 });
  const fingerprint = (host: LabHost) => ssh(host, 2222, "nft list ruleset | sha256sum; pgrep -o -x sshd; cat /etc/ssh/sshd_config.d/*.conf | sha256sum")
    .then((r) => r.stdout);

  it("first up converges both hosts: every step once, then SSH only on the new port", async () => {
    const ops = await up("first up");
    const expected = (host: string) => ["firewall", "sshd", "fail2ban", "cron", "confirm", "teardown"].map((s) => `${host}-${s}:create`);
    expect(ops.filter((e) => e.host === web.ip).map(name)).toEqual([expect.stringMatching(/^web1-payload-[0-9a-f]{12}:copy$/), ...expected("web1")]);
    expect(ops.filter((e) => e.host === db.ip).map(name)).toEqual(expected("db1"));
    // the 20,000-CIDR list travelled as a file, on port 22 before the firewall
    expect(ops.find((e) => e.op === "copy")!.port).toBe(22);
    for (const host of [web, db]) {
      const now = await ssh(host, 2222, "sshd -T | grep -E '^(port|passwordauthentication) '");
      expect(now.code, now.stderr).toBe(0);
      expect(now.stdout).toBe("port 2222\npasswordauthentication no\n");
      expect((await ssh(host, 22, "true")).code).toBe(255); // the old port is closed after confirm
    }
    expect(figures[0].sessions).toEqual({ web1: 7, db1: 6 });
  }, 300_000);

  it("second up with nothing changed executes nothing and opens no SSH session", async () => {
    const ops = await up("no-change up");
    expect(ops).toEqual([]);
    expect(figures.at(-1)!.sessions).toEqual({ web1: 0, db1: 0 });
  }, 120_000);

  it("after the port moved, the operator updates the connection: firewall, sshd (and confirm) re-run on 2222, nothing reloads", async () => {
    const before = [await fingerprint(web), await fingerprint(db)];
    for (const h of fleet.hosts) h.connection.port = 2222;
    const ops = await up("connection.port 22 -> 2222");
    expect(ops.map(name).sort()).toEqual(["db1-confirm:create", "db1-firewall:update", "db1-sshd:update",
      "web1-confirm:create", "web1-firewall:update", "web1-sshd:update"]);
    expect(ops.every((e) => e.port === 2222)).toBe(true);
    for (const e of ops.filter((e) => e.op === "update")) expect(e.stdout + e.stderr, name(e)).toMatch(/in sync/);
    for (const e of ops.filter((e) => e.op === "create")) expect(e.stdout + e.stderr, name(e)).toMatch(/nothing was waiting for confirmation/);
    // no rollback was armed by the re-run: past its window the host is unchanged and still reachable
    await new Promise((r) => setTimeout(r, (ROLLBACK_SECONDS + 5) * 1000));
    expect([await fingerprint(web), await fingerprint(db)]).toEqual(before);
    expect((await up("no-change up after the move")).length).toBe(0);
  }, 180_000);

  it("a policy change re-runs only the affected unit (and confirm) on that host only", async () => {
    fleet.hosts[0].policy.cron = { allow: ["root", "www-data"] };
    const ops = await up("cron policy change on web1");
    expect(ops.map(name)).toEqual(["web1-cron:create", "web1-confirm:create"]);
    const allow = await ssh(web, 2222, "cat /etc/cron.allow");
    expect(allow.stdout).toBe("root\nwww-data\n");
  }, 120_000);

  it("destroy runs one teardown per host over the new port and leaves hosts that accept the operator on 22", async () => {
    resetSshSessions();
    const run = engine.currentRun + 1;
    await engine.destroy();
    expect(engine.opsOf(run).map(name).sort()).toEqual(["db1-teardown:delete", "web1-teardown:delete"]);
    expect(engine.opsOf(run).every((e) => e.port === 2222)).toBe(true);
    for (const host of [web, db]) {
      const back = await ssh(host, 22, "sshd -T | grep '^port '; nft list tables | grep -c harden || true");
      expect(back.code, back.stderr).toBe(0);
      expect(back.stdout).toBe("port 22\n0\n");
    }
  }, 120_000);
});
