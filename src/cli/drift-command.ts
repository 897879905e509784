// `harden drift`: run every host's probe over SSH, compare with the plan, report.
// Exit 0: every host in sync; 1: drift on some host; 2: a host could not be checked, or bad input.
import { parseArgs } from "node:util";
import { checkHost, type HostCheck } from "../drift/check-host";
import { drifted } from "../drift/item";
import { planFleet } from "../plan/plan";
import type { HostPlan } from "../plan/types";
import { InputError, reportInputError } from "./input-errors";
import type { Io } from "./io";
import { fleetSource, loadFleet } from "./load-fleet";

export const DRIFT_USAGE = `usage:
  harden drift (FILE | --stack NAME) [--host NAME]... [--json] [--identity KEYFILE]
               [--concurrency N] [--timeout SECONDS]

Runs each host's read-only probe in one SSH session (the post-apply endpoint first, then the
current one), compares what it sees with the plan and prints, per host, "in sync" or each drifted
item. The host key is always the plan's pinned key. --identity defaults to ssh's own choice.
exit codes: 0 in sync, 1 drift found, 2 a host could not be checked (or invalid input)`;

export const DEFAULT_CONCURRENCY = 8;
export const DEFAULT_TIMEOUT_SECONDS = 60;


/** Runs `work` over `items` with at most `limit` at a time; results in input order. */
export async function pool<T, R>(items: T[], limit: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await work(items[i]);
    }
  });
  await Promise.all(runners);
  return results;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

function statusLine(c: HostCheck): string {
  if (c.status === "error") return `${c.host}: could not check: ${c.error}`;
  const how = `via ${c.via} ${c.endpoint}${c.via === "current" ? " (the target endpoint did not answer)" : ""}`;
  return c.status === "in-sync"
    ? `${c.host}: in sync (${how})`
    : `${c.host}: ${drifted(c.items).length} drifted item(s) (${how})`;
}

export function formatText(checks: HostCheck[]): string[] {
  const lines: string[] = [];
  for (const c of checks) {
    lines.push(statusLine(c));
    for (const item of c.items) lines.push(`  ${item.info ? "info: " : ""}${item.message}`);
    if (c.status === "error") for (const a of c.attempts) lines.push(`  ${a.via} ${a.endpoint}: ${a.ok ? "connected" : a.error}`);
  }
  const count = (s: HostCheck["status"]) => checks.filter((c) => c.status === s).length;
  lines.push(`${checks.length} host(s): ${count("in-sync")} in sync, ${count("drift")} drifted, ${count("error")} not checked`);
  return lines;
}

export function exitCode(checks: HostCheck[]): number {
  if (checks.some((c) => c.status === "error")) return 2;
  return checks.some((c) => c.status === "drift") ? 1 : 0;
}

function positiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InputError(`${name} must be a whole number >= 1, not ${JSON.stringify(value)}`);
  return n;
}

export async function driftCommand(args: string[], io: Io): Promise<number> {
  if (args.some((a) => a === "--help" || a === "-h")) {
    io.out(DRIFT_USAGE);
    return 0;
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      options: {
        stack: { type: "string" },
        host: { type: "string", multiple: true },
        json: { type: "boolean" },
        identity: { type: "string" },
        concurrency: { type: "string" },
        timeout: { type: "string" },
      },
    });
    const source = fleetSource(positionals, values.stack);
    const concurrency = positiveInt("--concurrency", values.concurrency, DEFAULT_CONCURRENCY);
    const timeoutMs = positiveInt("--timeout", values.timeout, DEFAULT_TIMEOUT_SECONDS) * 1000;
    let plans: HostPlan[] = planFleet(await loadFleet(source));
    if (values.host?.length) {
      const unknown = values.host.filter((h) => !plans.some((p) => p.host === h));
      if (unknown.length) throw new InputError(`no host named ${unknown.join(", ")} in ${source}`);
      plans = plans.filter((p) => values.host!.includes(p.host));
    }
    const t0 = Date.now();
    let done = 0;
    const checks = await pool(plans, concurrency, async (plan) => {
      const c = await checkHost(plan, { identityFile: values.identity, timeoutMs });
      done++;
      const what = c.status === "error" ? "could not check" : c.status === "drift" ? `drift (${drifted(c.items).length})` : "in sync";
      io.err(`[${done}/${plans.length}] ${plan.host}: ${what}${c.via ? ` via ${c.via}` : ""} in ${seconds(c.ms)}`);
      return c;
    });
    if (values.json) {
      io.out(JSON.stringify({ source, wallMs: Date.now() - t0, exitCode: exitCode(checks), hosts: checks }, null, 2));
    } else {
      for (const line of formatText(checks)) io.out(line);
    }
    return exitCode(checks);
  } catch (e) {
    return reportInputError(e, io, "harden drift", DRIFT_USAGE);
  }
}
