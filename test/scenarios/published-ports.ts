// What the published-port scenarios of issue 12 (one per container engine) share: the three published
// ports, the policy that declares two of them from the private network only, what the attacker and the
// private network reach, running one step on every host at once, and the drift and idempotence checks.
import { expect } from "vitest";
import { checkHost } from "../../src/drift/check-host";
import type { HostPlan } from "../../src/plan/types";
import type { Policy } from "../../src/policy/types";
import type { ExecResult, LabClient, LabHost } from "../lab/lab";
import { runPlan } from "../lab/plan-runner";
import { firewallState } from "./host-state";
import { must, probe } from "./incidents-helpers";
import { applyOrThrow } from "./lab-fleet";

export type Backend = "nftables" | "iptables";

/** "redis" publishes 6379, "web" 8080, "alt" 16379 to its 6379 */
export const PORTS = { redis: 6379, web: 8080, alt: 16379 };

/** 6379 and 16379 from the private client only, 8080 undeclared; egress SMTP denied */
export function publishedPolicy(backend: Backend, priv: LabClient): Policy {
  return {
    firewall: {
      backend,
      services: [
        { port: PORTS.redis, from: [`${priv.ip}/32`], comment: "redis container" },
        { port: PORTS.alt, from: [`${priv.ip}/32`], comment: "redis container on host port 16379" },
      ],
      egress: { smtp: "deny" },
    },
  };
}

/** What the attacker and the private network reach, every published port probed at once. */
export async function reach(h: LabHost, atk: LabClient, priv: LabClient): Promise<Record<string, string>> {
  const entries = await Promise.all(Object.entries(PORTS).flatMap(([name, port]) => [
    probe(atk, h.ip, port, 2).then((r) => [`attacker ${name}`, r] as const),
    probe(priv, h.ip, port, 2).then((r) => [`private ${name}`, r] as const),
  ]));
  return Object.fromEntries(entries);
}

export const REACHABLE = {
  "attacker redis": "open", "private redis": "open", "attacker web": "open", "private web": "open",
  "attacker alt": "open", "private alt": "open",
};
export const FILTERED = {
  "attacker redis": "timeout", "private redis": "open",
  "attacker web": "timeout", "private web": "timeout",
  "attacker alt": "timeout", "private alt": "open",
};

/** Runs `fn` for every case at once (the hosts are independent); a failure names its case. */
export async function eachCase<C extends { id: string }>(cases: C[], fn: (c: C) => Promise<void>): Promise<void> {
  const results = await Promise.allSettled(cases.map(fn));
  const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${cases[i].id}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
  if (failed.length) throw new Error(failed.join("\n\n"));
}

/**
 * Drift with harden's filter in place: the undeclared published 8080 and 9200 are information, nothing is
 * drift, and 127.0.0.1-published ports are not listed. `target`: how the engine's container addresses start.
 */
export async function expectPublishedInfo(plan: HostPlan, identityFile: string, target: string): Promise<void> {
  const c = await checkHost(plan, { identityFile, timeoutMs: 30_000 });
  expect(c.items.filter((i) => i.info).map((i) => i.key).sort()).toEqual(["published tcp *:8080 v4", "published tcp *:9200 v4"]);
  expect(c.items.filter((i) => !i.info).map((i) => i.message)).toEqual([]);
  expect(c.status).toBe("in-sync");
  expect(c.items.find((i) => i.key === "published tcp *:9200 v4")?.message ?? "")
    .toMatch(new RegExp(`^published 0\\.0\\.0\\.0:9200/tcp \\(DNAT to ${target.replace(/\./g, "\\.")}\\d+:9200, Elasticsearch port\\) is not in the policy: harden's forward filter drops it`));
}

/** A second apply: every unit in sync, the whole ruleset identical, and the engine's own rules too. */
export async function expectSecondApplyInSync(h: LabHost, plan: HostPlan, identityFile: string, engineRules: () => Promise<string>): Promise<void> {
  const [fw0, own0] = [await firewallState(h), await engineRules()];
  const r = await runPlan(plan, { identityFile });
  expect(r.map((s) => [s.name, s.code])).toEqual(r.map((s) => [s.name, 0]));
  expect(r.find((s) => s.name === "firewall")?.stdout).toBe("firewall: in sync\n");
  expect(await firewallState(h)).toEqual(fw0);
  expect(await engineRules()).toBe(own0);
}

/** After `bypass` (a shell line on the host) 8080 is open, drift names all four published ports, an apply heals. */
export async function expectBypassIsDrift(h: LabHost, plan: HostPlan, identityFile: string, bypass: string, atk: LabClient, priv: LabClient): Promise<void> {
  await must(h, bypass);
  expect(await probe(atk, h.ip, PORTS.web, 2)).toBe("open");
  const c = await checkHost(plan, { identityFile, timeoutMs: 30_000 });
  expect(c.status).toBe("drift");
  expect(c.items.filter((i) => i.key.startsWith("published ")).map((i) => [i.key, i.info ?? false]).sort()).toEqual([
    ["published tcp *:16379 v4", false], ["published tcp *:6379 v4", false], ["published tcp *:8080 v4", false], ["published tcp *:9200 v4", false],
  ]);
  await applyOrThrow({ adminKey: identityFile }, plan);
  expect(await reach(h, atk, priv)).toEqual(FILTERED);
  expect((await checkHost(plan, { identityFile, timeoutMs: 30_000 })).status).toBe("in-sync");
}

/** From inside container "web" (`exec`: the engine's exec of a shell line there): redis answers, the network does, port 25 does not. */
export async function expectContainersReach(exec: (sh: string) => Promise<ExecResult>, redisIp: string, mx: LabClient): Promise<void> {
  expect((await exec(`nc -w 2 ${redisIp} 6379 < /dev/null`)).stdout.trim()).toBe("PONG");
  expect((await exec(`nc -w 2 ${mx.ip} 80 < /dev/null`)).code).toBe(0);
  expect((await exec(`nc -w 2 ${mx.ip} 25 < /dev/null`)).code).not.toBe(0);
}
