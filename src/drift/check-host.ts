// One host checked end to end: run its probe over SSH (the target endpoint first, then the current
// one), parse, compare. Shared by `harden drift` and the HostDrift Pulumi resource.
import type { HostPlan, Endpoint } from "../plan/types";
import { compareHost } from "./compare";
import { drifted, type DriftItem } from "./item";
import { parseProbeOutput, ProbeOutputError } from "./observation";
import { sshExec, type SshOptions } from "./ssh";

export type PlanForCheck = Pick<HostPlan, "host" | "expect" | "files" | "probe" | "target" | "current">;

export interface Attempt {
  via: "target" | "current";
  endpoint: string;
  ok: boolean;
  error: string | null;
  ms: number;
}

export interface HostCheck {
  host: string;
  status: "in-sync" | "drift" | "error";
  /** which endpoint answered */
  via: "target" | "current" | null;
  endpoint: string | null;
  items: DriftItem[];
  error: string | null;
  attempts: Attempt[];
  /** SSH sessions opened for this host */
  sessions: number;
  /** wall time of the whole check */
  ms: number;
  /** time the probe itself took, in the session that ran it */
  probeMs: number | null;
}

export const describe = (e: Endpoint) => `${e.user}@${e.address}:${e.port}`;

/** How the unit steps run the probe: as root directly, else through sudo without a password. */
export function rootCommand(user: string): string {
  return user === "root" ? "sh -s" : "sudo -n sh -s";
}

function sshFailure(stderr: string, code: number, timedOut: boolean): string {
  if (timedOut) return "timed out";
  const last = stderr.trim().split("\n").filter(Boolean).pop();
  return last ?? `ssh exit ${code}`;
}

/**
 * Also the package entry `harden-fleet/drift`: HostDrift providers stored in stacks' state call it
 * with ({ host, target, current, probe, expect, files }, { identityFile, timeoutMs }). Keep that
 * call working: a refresh runs the provider code of the `up` that stored it.
 */
export async function checkHost(plan: PlanForCheck, opts: SshOptions = {}): Promise<HostCheck> {
  const t0 = Date.now();
  const candidates: ["target" | "current", Endpoint][] = [["target", plan.target]];
  const same = (a: Endpoint, b: Endpoint) => a.address === b.address && a.port === b.port && a.user === b.user;
  if (!same(plan.target, plan.current)) candidates.push(["current", plan.current]);
  const attempts: Attempt[] = [];
  const result = (r: Partial<HostCheck>): HostCheck => ({
    host: plan.host, status: "error", via: null, endpoint: null, items: [], error: null,
    attempts, sessions: attempts.length, ms: Date.now() - t0, probeMs: null, ...r,
  });
  for (const [via, endpoint] of candidates) {
    const r = await sshExec(endpoint, rootCommand(endpoint.user), plan.probe, opts);
    // 255: ssh could not connect or authenticate; only then is the other endpoint worth a try
    if (r.code === 255 || r.timedOut || r.code === 127) {
      attempts.push({ via, endpoint: describe(endpoint), ok: false, error: sshFailure(r.stderr, r.code, r.timedOut), ms: r.ms });
      continue;
    }
    attempts.push({ via, endpoint: describe(endpoint), ok: true, error: null, ms: r.ms });
    const where = { via, endpoint: describe(endpoint), probeMs: r.ms };
    if (r.code !== 0) return result({ ...where, error: `the probe failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}` });
    try {
      const items = compareHost(plan, parseProbeOutput(r.stdout));
      return result({ ...where, status: drifted(items).length ? "drift" : "in-sync", items });
    } catch (e) {
      if (e instanceof ProbeOutputError) return result({ ...where, error: e.message });
      throw e;
    }
  }
  return result({ error: `unreachable: ${attempts.map((a) => `${a.via} ${a.endpoint}: ${a.error}`).join("; ")}` });
}
