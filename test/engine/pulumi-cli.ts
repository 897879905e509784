// The real Pulumi CLI (built by tools/build-pulumi.sh into .tools/bin) on a private, offline setup:
// a temporary copy of the project (nothing in the checkout changes), a file backend, a private
// PULUMI_HOME, no update check and no plugin downloads. Every command's wall time and output are kept.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { runAsync, type ExecResult } from "../lab/exec";

export const REPO = resolve(__dirname, "..", "..");
export const TOOLS_BIN = join(REPO, ".tools", "bin");
export const TOOLS = ["pulumi", "pulumi-language-nodejs", "pulumi-resource-command", "pulumi-resource-pulumi-nodejs"];
/** what the program needs next to it: the project file, the sources and templates, the package's own files */
const PROJECT_FILES = ["Pulumi.yaml", "package.json", "tsconfig.json", "src", "templates"];

/** One engine event (the CLI's --event-log, one JSON object per line); only what the tests read. */
export interface EngineEvent {
  resourcePreEvent?: { metadata: StepMetadata; planning?: boolean };
  resOutputsEvent?: { metadata: StepMetadata; planning?: boolean };
  diagnosticEvent?: { urn?: string; message: string; severity: string };
  summaryEvent?: { resourceChanges?: Record<string, number> };
}
export interface StepMetadata { op: string; urn: string; type: string; diffs?: string[] }

export interface CliRun extends ExecResult {
  label: string;
  args: string[];
  ms: number;
  events: EngineEvent[];
}

/** Fails with what is missing: the engine tests never fall back to mocks. */
export function missingTools(): string[] {
  return TOOLS.filter((t) => !existsSync(join(TOOLS_BIN, t)));
}

export class PulumiProject {
  readonly dir: string;
  readonly runs: CliRun[] = [];
  private readonly base: string;
  private readonly env: NodeJS.ProcessEnv;
  private seq = 0;

  constructor(readonly stack: string, passphrase: string) {
    this.base = mkdtempSync(join(tmpdir(), "harden-engine-"));
    this.dir = join(this.base, "project");
    mkdirSync(join(this.dir, "stacks"), { recursive: true });
    for (const f of PROJECT_FILES) cpSync(join(REPO, f), join(this.dir, f), { recursive: true });
    symlinkSync(join(REPO, "node_modules"), join(this.dir, "node_modules"));
    mkdirSync(join(this.base, "state"));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${TOOLS_BIN}:${process.env.PATH}`,
      PULUMI_HOME: join(this.base, "home"),
      PULUMI_SKIP_UPDATE_CHECK: "1",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_CONFIG_PASSPHRASE: passphrase,
      PULUMI_BACKEND_URL: `file://${join(this.base, "state")}`,
      PULUMI_DEBUG_COMMANDS: "true", // enables --event-log, the engine events the tests read
      NO_COLOR: "1",
    };
    // ambient plugins (on PATH) are how the engine finds the tools: never switched off here
    delete env.PULUMI_IGNORE_AMBIENT_PLUGINS;
    delete env.PULUMI_ACCESS_TOKEN;
    this.env = env;
  }

  get stackFile(): string {
    return join(this.dir, "stacks", `Pulumi.${this.stack}.yaml`);
  }

  /** `pulumi ARGS` in the project copy; engine commands also write an event log that comes back parsed. */
  async run(label: string, args: string[], opts: { input?: string; timeoutMs?: number; events?: boolean } = {}): Promise<CliRun> {
    const eventLog = join(this.base, `events-${++this.seq}.jsonl`);
    const full = [...args, "--non-interactive", "--cwd", this.dir, ...(opts.events ? ["--event-log", eventLog] : [])];
    const t0 = Date.now();
    const r = await runAsync(join(TOOLS_BIN, "pulumi"), full, { input: opts.input, env: this.env, timeoutMs: opts.timeoutMs ?? 300_000 });
    const ms = Date.now() - t0;
    const events = opts.events && existsSync(eventLog)
      ? readFileSync(eventLog, "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l) as EngineEvent)
      : [];
    const run = { ...r, label, args, ms, events };
    this.runs.push(run);
    return run;
  }

  /** Like run(), failing with the CLI's output when the exit code is not `code`. */
  async must(label: string, args: string[], opts: { input?: string; timeoutMs?: number; events?: boolean; code?: number } = {}): Promise<CliRun> {
    const r = await this.run(label, args, opts);
    if (r.code !== (opts.code ?? 0)) {
      throw new Error(`pulumi ${args.join(" ")}: exit ${r.code}, expected ${opts.code ?? 0}\n${r.stdout}\n${r.stderr}`);
    }
    return r;
  }

  writeFile(rel: string, content: string): void {
    writeFileSync(join(this.dir, rel), content);
  }

  dispose(): void {
    rmSync(this.base, { recursive: true, force: true });
  }
}

/** The resource name at the end of a URN. */
export const urnName = (urn: string) => urn.slice(urn.lastIndexOf("::") + 2);

/** name -> op of every step that changed something (in the order the engine finished them). */
export function changedSteps(run: CliRun): Array<{ name: string; op: string; type: string }> {
  return run.events.flatMap((e) => e.resOutputsEvent ? [e.resOutputsEvent.metadata] : [])
    .filter((m) => m.op !== "same" && m.op !== "read" && m.op !== "refresh")
    .map((m) => ({ name: urnName(m.urn), op: m.op, type: m.type }));
}

/** The resources an engine run changed, each once (a replace is several steps of one resource). */
export function changedResources(run: CliRun): string[] {
  return [...new Set(changedSteps(run).map((s) => s.name))];
}

/** name -> op of every step a preview planned (`same` left out). */
export function plannedSteps(run: CliRun): Array<{ name: string; op: string; type: string }> {
  return run.events.flatMap((e) => e.resourcePreEvent ? [e.resourcePreEvent.metadata] : [])
    .filter((m) => m.op !== "same")
    .map((m) => ({ name: urnName(m.urn), op: m.op, type: m.type }));
}
