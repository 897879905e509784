// Figures: `harden drift` over 20 hardened lab hosts with the default concurrency. SSH sessions per host
// are counted on the hosts themselves (sshd's "Accepted publickey" lines), not by the client.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { DEFAULT_CONCURRENCY, driftCommand, pool } from "../../src/cli/drift-command";
import { planFleet } from "../../src/plan/plan";
import type { LabHost } from "../lab/lab";
import { runPlan } from "../lab/plan-runner";
import { labSuite } from "../lab/suite";
import { labFleet } from "./lab-fleet";

const HOSTS = 20;

labSuite("harden drift over 20 lab hosts", (lab) => {
  const hosts: LabHost[] = [];
  let tmp: string;
  let fleetFile: string;
  const logins = async (h: LabHost) => Number((await h.exec("grep -c 'Accepted publickey' /var/log/auth.log || true")).stdout.trim());

  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "harden-drift-fleet-"));
    for (let i = 1; i <= HOSTS; i++) hosts.push(await lab().host({ name: `f${i}` }));
    const fleet = labFleet(lab(), hosts.map((host) => ({ host })));
    fleetFile = join(tmp, "fleet.json");
    writeFileSync(fleetFile, JSON.stringify(fleet));
    const t0 = Date.now();
    const results = await pool(planFleet(fleet, { rollbackSeconds: 30 }), 4, (p) => runPlan(p, { identityFile: lab().adminKey }));
    const failed = results.flat().find((s) => s.code !== 0);
    if (failed) throw new Error(`apply failed at ${failed.name}: ${failed.stderr}`);
    console.log(`[drift] applied ${HOSTS} hosts in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }, 900_000);
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("checks every host in one SSH session each, all in sync", async () => {
    const before = await Promise.all(hosts.map(logins));
    const out: string[] = [];
    const err: string[] = [];
    const t0 = Date.now();
    const code = await driftCommand([fleetFile, "--identity", lab().adminKey, "--json"], { out: (l) => out.push(l), err: (l) => err.push(l) });
    const wall = Date.now() - t0;
    const after = await Promise.all(hosts.map(logins));
    const doc = JSON.parse(out.join("\n")) as { hosts: { host: string; status: string; sessions: number; probeMs: number }[] };
    const sessions = after.map((n, i) => n - before[i]);
    const probe = doc.hosts.map((h) => h.probeMs).sort((a, b) => a - b);
    console.log(`[drift] ${HOSTS} hosts, concurrency ${DEFAULT_CONCURRENCY}: wall ${(wall / 1000).toFixed(2)} s; ` +
      `probe per host min/median/max ${probe[0]}/${probe[probe.length >> 1]}/${probe[probe.length - 1]} ms; ` +
      `SSH logins per host (sshd's log): ${[...new Set(sessions)].join(",")}`);
    expect(code).toBe(0);
    expect(doc.hosts.map((h) => h.status)).toEqual(hosts.map(() => "in-sync"));
    expect(sessions).toEqual(hosts.map(() => 1));
    expect(err).toHaveLength(HOSTS);
  });

  it("reports an unreachable host as not checked (exit 2), never skips it", async () => {
    await hosts[0].stop();
    const out: string[] = [];
    const code = await driftCommand([fleetFile, "--identity", lab().adminKey, "--host", "f1", "--host", "f2", "--timeout", "15"],
      { out: (l) => out.push(l), err: () => {} });
    expect(code).toBe(2);
    expect(out[0]).toMatch(/^f1: could not check: unreachable: target root@[\d.]+:2222: .+; current root@[\d.]+:22: .+$/);
    expect(out).toContain(`f2: in sync (via target root@${hosts[1].ip}:2222)`);
    expect(out[out.length - 1]).toBe("2 host(s): 1 in sync, 0 drifted, 1 not checked");
  });
});
