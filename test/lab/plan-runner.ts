// Executes a HostPlan against a real host the way the Pulumi delivery does with @pulumi/command: uploads
// first, then every step over its own fresh SSH connection (the step's address, port, user, pinned host
// key), `step.command` with `step.script` on stdin, stopping at the first failure.
import type { HostPlan, Upload } from "../../src/plan/types";
import { shq } from "./exec";
import { SshEndpoint, sshRun } from "./ssh";

export { sshSessions, resetSshSessions } from "./ssh";

export interface StepResult {
  /** the step's name, or "upload <remotePath>" */
  name: string;
  kind: "upload" | "step";
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface RunPlanOptions {
  /** private key of the user in each step's connection */
  identityFile: string;
  /** run only these steps (uploads still run: steps depend on them) */
  onlySteps?: string[];
  /** skip the uploads */
  skipUploads?: boolean;
  /** per session; default 5 minutes */
  timeoutMs?: number;
  /** connect from this netns (a lab client) instead of the root namespace */
  netns?: string;
}

// Receives the payload on stdin next to its destination, checks the sha256 the plan declares, and only
// then moves it into place: a truncated or wrong upload never replaces the file a unit reads.
const UPLOAD_SCRIPT = `set -eu
p=$1 want=$2
d=$(dirname "$p")
mkdir -p "$d"
t=$(mktemp "$d/.harden-upload.XXXXXX")
trap 'rm -f "$t"' EXIT
cat >"$t"
got=$(sha256sum "$t" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then echo "upload $p: sha256 mismatch: got $got, want $want" >&2; exit 3; fi
chmod 0644 "$t"
mv -f "$t" "$p"
trap - EXIT`;

/** The remote command for one upload; non-root users go through sudo like the steps do. */
export function uploadCommand(upload: Upload, user: string): string {
  const sudo = user === "root" ? "" : "sudo -n ";
  return `${sudo}sh -c ${shq(UPLOAD_SCRIPT)} upload ${shq(upload.remotePath)} ${shq(upload.sha256)}`;
}

async function timed(name: string, kind: StepResult["kind"], run: () => ReturnType<typeof sshRun>): Promise<StepResult> {
  const t0 = Date.now();
  const r = await run();
  return { name, kind, ...r, ms: Date.now() - t0 };
}

/** The parts of a HostPlan that the runner executes (the rest is for review, drift and Pulumi). */
export type RunnablePlan = Pick<HostPlan, "current" | "uploads" | "steps">;

export async function runPlan(plan: RunnablePlan, opts: RunPlanOptions): Promise<StepResult[]> {
  const results: StepResult[] = [];
  const ssh = (ep: SshEndpoint, command: string, input: string) =>
    sshRun(ep, opts.identityFile, command, { input, timeoutMs: opts.timeoutMs ?? 300_000, netns: opts.netns });
  if (!opts.skipUploads) {
    for (const u of plan.uploads) {
      // Uploads happen before any step changes the host, so they use how the host is reached today.
      const r = await timed(`upload ${u.remotePath}`, "upload", () => ssh(plan.current, uploadCommand(u, plan.current.user), u.content));
      results.push(r);
      if (r.code !== 0) return results;
    }
  }
  const only = opts.onlySteps && new Set(opts.onlySteps);
  for (const step of plan.steps) {
    if (only && !only.has(step.name)) continue;
    const r = await timed(step.name, "step", () => ssh(step.connection, step.command, step.script));
    results.push(r);
    if (r.code !== 0) break;
  }
  return results;
}
