// Executes a HostPlan against a real host the way the Pulumi delivery does with @pulumi/command: uploads
// first, then every step over its own fresh SSH connection (the step's address, port, user, pinned host
// key), `step.command` with `step.script` on stdin, stopping at the first failure.
import type { HostPlan, Step, Upload } from "../../src/plan/types";
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
  /** a failed step only: one sentence saying what failed and what the host does about it (see failureMessage) */
  message?: string;
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
    if (r.code !== 0) r.message = failureMessage(step, r, results);
    results.push(r);
    if (r.code !== 0) break;
  }
  return results;
}

/** What a unit script prints when it starts the rollback watchdog (templates/plan/unitlib.sh, arm_rollback). */
const ARMED = /rollback armed: restores in (\d+)s/;

function lastLine(text: string): string {
  return text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).pop() ?? "";
}

/**
 * The run's error for a failed step: which login or script failed and why, and whether the host will put
 * itself back. A step fails with 255 when ssh could not log in (the unit scripts exit 1); once a unit has
 * armed the watchdog in this run, nothing but the confirm step disarms it, so the host restores itself.
 */
export function failureMessage(step: Pick<Step, "name" | "connection">, r: Pick<StepResult, "code" | "stdout" | "stderr">, earlier: StepResult[]): string {
  const armedBy = [...earlier.filter((e) => e.kind === "step"), { name: step.name, stdout: r.stdout }]
    .filter((e) => ARMED.test(e.stdout));
  const changed = earlier.filter((e) => e.kind === "step" && /: applied$/m.test(e.stdout)).map((e) => e.name);
  const after = armedBy.length > 0
    ? `the host restores its previous state within ${ARMED.exec(armedBy[armedBy.length - 1].stdout)![1]} s ` +
      `(rollback armed by ${armedBy.map((e) => e.name).join(", ")}${changed.length ? `; applied before: ${changed.join(", ")}` : ""})`
    : "no rollback is armed: no earlier step of this run changed the host";
  const { user, address, port } = step.connection;
  if (r.code === 255) {
    return `${step.name} could not log in as ${user} on ${address}:${port} (${lastLine(r.stderr) || "ssh exited with 255"}); ${after}`;
  }
  if (r.code === 124) return `${step.name} did not finish (${lastLine(r.stderr)}); ${after}`;
  // runAsync reports a client ended by a signal as 128
  if (r.code === 128) return `${step.name} was interrupted: the ssh client ended by a signal (last output: ${lastLine(r.stdout) || "none"}); ${after}`;
  return `${step.name} failed with exit ${r.code} (${lastLine(r.stderr) || lastLine(r.stdout)}); ${after}`;
}
