// A stand-in for the Pulumi engine plus @pulumi/command 1.2.1, for running the real program under
// mocks against lab hosts. It keeps state between "runs" and decides per resource as the engine and
// provider do (see DESIGN.md, Pulumi facts, and the provider's Create/Update/Delete):
//   new resource                         -> create
//   a `triggers` element changed         -> replace: old delete (old connection, old stdin), then create
//   any other input changed              -> update: runs `update` (else `create`) with the new inputs
//   CopyToRemote update                  -> copies only if the asset hash or remotePath changed
//   nothing changed                      -> nothing runs, no SSH session
//   gone from the program                -> delete, in reverse registration order
// Every command is one fresh SSH session with the pinned host key (the lab's sshRun, which counts them).
//
// Dynamic resources (HostDrift) go through their own provider as Pulumi's dynamic-provider host runs
// it: the serialized `__provider` is loaded with require-from-string (so a closure that captured an
// import would fail here too), secrets arrive unwrapped (acceptSecrets false), and
//   new resource                         -> create(inputs)
//   refresh                              -> read(id, outputs); the props become the new outputs
//                                           (Command and CopyToRemote have no Read: unchanged)
//   later run                            -> diff(id, outputs, inputs); changes -> update(id, outputs, inputs)
//   gone from the program                -> delete(id, outputs)
// The provider's probe opens its own SSH sessions (src/drift/ssh.ts); they are counted by watching
// the ssh client processes it spawns (probeSessions).
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type * as pulumi from "@pulumi/pulumi";
import type { MockResourceArgs, MockResourceResult } from "@pulumi/pulumi/runtime/mocks";
import { resetSshSessions, sshRun, sshSessions } from "../lab/lab";
import { reveal } from "./recorder";

export type Op = "create" | "update" | "delete" | "copy" | "read";

const nodeRequire = createRequire(__filename);
const requireFromString = nodeRequire("require-from-string") as (code: string, filename?: string) => any;
/** the CommonJS child_process every module (tsx-loaded ones included) calls spawn on */
const childProcess = nodeRequire("node:child_process") as typeof import("node:child_process");
/** the HostKeyAlias of src/drift/ssh.ts: tells the probe's ssh processes from the lab's own */
const PROBE_ALIAS = "HostKeyAlias=harden-pinned";

/** One dynamic-provider call, as the engine made it. */
export interface ProviderCall {
  run: number;
  resource: string;
  method: "create" | "read" | "diff" | "update" | "delete";
  /** diff: whether it reported changes; read: whether the outputs changed (what refresh shows) */
  changes?: boolean;
  ms: number;
}

/** What one refresh saw per dynamic resource: its outputs before and after read(). */
export interface Refreshed {
  resource: string;
  before: Record<string, any>;
  after: Record<string, any>;
  /** output properties whose value changed: the refresh's diff */
  changed: string[];
}

export interface Executed {
  run: number;
  resource: string;
  op: Op;
  host: string;
  port: number;
  ms: number;
  stdout: string;
  stderr: string;
}

interface Stored {
  type: string;
  inputs: Record<string, any>;
  /** CopyToRemote: the hash of the copied asset, as the provider compares it */
  assetHash?: string;
  /** dynamic resources: the id and the outputs the provider returned (what diff/read/update get as olds) */
  id?: string;
  outputs?: Record<string, any>;
}

interface Connection {
  host: string;
  port: number;
  user: string;
  hostKey: string;
  privateKey: string;
}

export class SshEngine {
  readonly executed: Executed[] = [];
  readonly calls: ProviderCall[] = [];
  private state = new Map<string, Stored>();
  /** registration order of the resources in state (dependencies first) */
  private order: string[] = [];
  private seen: string[] = [];
  private run = 0;
  private readonly keyDir = mkdtempSync(join(tmpdir(), "harden-engine-keys-"));
  private readonly providers = new Map<string, pulumi.dynamic.ResourceProvider>();
  /** probe ssh processes since the last resetSessions(), per address: logged in, or not (exit 255) */
  private probes = new Map<string, { sessions: number; failed: number }>();
  private readonly originalSpawn = childProcess.spawn;
  /** address -> the port the probe's last successful login used */
  private readonly probeLogins = new Map<string, number>();

  constructor() {
    const original = this.originalSpawn;
    const probes = () => this.probes;
    const loggedIn = this.probeLogins;
    childProcess.spawn = function (this: unknown, ...args: any[]) {
      const child = (original as any).apply(this, args);
      const [cmd, argv] = args as [string, string[] | undefined];
      if (cmd === "ssh" && Array.isArray(argv) && argv.includes(PROBE_ALIAS)) {
        const address = argv[argv.indexOf("--") + 1];
        const port = Number(argv[argv.indexOf("-p") + 1]);
        child.on("close", (code: number | null) => {
          const m = probes();
          const n = m.get(address) ?? { sessions: 0, failed: 0 };
          const ok = code !== 255 && code !== null;
          if (ok) n.sessions++; else n.failed++;
          m.set(address, n);
          if (ok) loggedIn.set(address, port);
        });
      }
      return child;
    } as typeof childProcess.spawn;
  }

  private failRun: (err: Error) => void = () => {};
  /** Rejects with the first failed command of the current run (a failed registration never settles its URN). */
  failed: Promise<never> = new Promise(() => {});

  /** Starts a program run; call finishRun() after every resource has registered. */
  beginRun(): void {
    this.run++;
    this.seen = [];
    this.failed = new Promise<never>((_, reject) => { this.failRun = reject; });
    this.failed.catch(() => {}); // observed through Promise.race by the caller
  }

  /** Deletes what the program no longer declares, as `pulumi up` does at the end. */
  async finishRun(): Promise<void> {
    const gone = this.order.filter((name) => !this.seen.includes(name)).reverse();
    for (const name of gone) await this.delete(name);
    this.order = this.seen.filter((name) => this.state.has(name));
  }

  /** `pulumi destroy`: every resource deleted, dependents first. */
  async destroy(): Promise<void> {
    this.run++;
    for (const name of [...this.order].reverse()) await this.delete(name);
    this.order = [];
  }

  opsOf(run: number): Executed[] {
    return this.executed.filter((e) => e.run === run);
  }

  get currentRun(): number {
    return this.run;
  }

  /** SSH sessions opened to `address` since resetSessions(): the engine's commands and copies plus the probe's logins. */
  sessions(address: string): number {
    return sshSessions(address) + (this.probes.get(address)?.sessions ?? 0);
  }

  /** Probe ssh attempts that did not log in (the target endpoint refused before apply), per address. */
  probeFailures(address: string): number {
    return this.probes.get(address)?.failed ?? 0;
  }

  resetSessions(): void {
    resetSshSessions();
    this.probes = new Map();
  }

  callsOf(run: number): ProviderCall[] {
    return this.calls.filter((c) => c.run === run);
  }

  /** The outputs state holds for a resource (dynamic resources: what the last create/read/update returned). */
  outputsOf(name: string): Record<string, any> | undefined {
    return this.state.get(name)?.outputs;
  }

  /**
   * `pulumi refresh`: read() every dynamic resource (Command and CopyToRemote have no Read, so refresh
   * never changes them) and, unless `previewOnly`, keep what it returned as the new outputs.
   * A non-empty `changed` is what makes `pulumi refresh --expect-no-changes` fail.
   */
  async refresh(options: { previewOnly?: boolean } = {}): Promise<Refreshed[]> {
    this.run++;
    const results: Refreshed[] = [];
    await Promise.all(this.order.map(async (name) => {
      const stored = this.state.get(name);
      if (!stored?.outputs || !stored.type.startsWith("pulumi-nodejs:dynamic")) return;
      const provider = this.provider(stored.outputs);
      if (!provider.read) return;
      const before = stored.outputs;
      const [result, record] = await this.call(name, "read", () => provider.read!(stored.id!, before));
      const after = { ...result.props, __provider: before.__provider };
      const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter((k) => !same(before[k], after[k])).sort();
      record.changes = changed.length > 0;
      this.recordProbe(name, "read", after, record.ms);
      results.push({ resource: name, before, after, changed });
      if (!options.previewOnly) this.state.set(name, { ...stored, id: result.id ?? stored.id, outputs: after });
    }));
    return results.sort((a, b) => a.resource.localeCompare(b.resource));
  }

  dispose(): void {
    childProcess.spawn = this.originalSpawn;
    rmSync(this.keyDir, { recursive: true, force: true });
  }

  /** The dynamic provider of a resource, deserialized once per distinct text as Pulumi's provider host does. */
  private provider(props: Record<string, any>): pulumi.dynamic.ResourceProvider {
    const text = String(props.__provider);
    if (!this.providers.has(text)) this.providers.set(text, requireFromString(text).handler());
    return this.providers.get(text)!;
  }

  /** One provider call, logged (with its wall time) once it returned; a failure fails the run. */
  private async call<T>(resource: string, method: ProviderCall["method"], fn: () => Promise<T>): Promise<[T, ProviderCall]> {
    const record: ProviderCall = { run: this.run, resource, method, ms: 0 };
    const t0 = Date.now();
    try {
      return [await fn(), record];
    } catch (err) {
      const e = new Error(`${resource}: ${method} failed: ${(err as Error).message}`);
      this.failRun(e);
      throw e;
    } finally {
      record.ms = Date.now() - t0;
      this.calls.push(record);
    }
  }

  /** A provider call that ran the probe, as an executed op (host from the plan, port of the probe's login). */
  private recordProbe(resource: string, op: Op, outs: Record<string, any>, ms: number): void {
    const host = String(outs.target?.address ?? "");
    const port = this.probeLogins.get(host) ?? 0;
    this.probeLogins.delete(host);
    this.executed.push({ run: this.run, resource, op, host, port, ms,
      stdout: JSON.stringify(outs.drift ?? {}), stderr: "" });
  }

  readonly newResource = async (args: MockResourceArgs): Promise<MockResourceResult> => {
    this.seen.push(args.name);
    if (!args.custom) return { id: undefined, state: {} };
    const inputs = reveal(args.inputs) as Record<string, any>;
    const prior = this.state.get(args.name);
    let outputs: { stdout?: string; stderr?: string } = {};
    if (args.type === "command:remote:Command") {
      if (!prior) {
        outputs = await this.exec(args.name, "create", inputs, inputs.create);
      } else if (!same(prior.inputs.triggers, inputs.triggers)) {
        await this.delete(args.name); // deleteBeforeReplace (our steps); no delete command = no session
        outputs = await this.exec(args.name, "create", inputs, inputs.create);
      } else if (!same(comparable(prior.inputs), comparable(inputs))) {
        outputs = await this.exec(args.name, "update", inputs, inputs.update ?? inputs.create);
      }
      this.state.set(args.name, { type: args.type, inputs });
    } else if (args.type === "command:remote:CopyToRemote") {
      const path = await args.inputs.source.path;
      const content = readFileSync(path);
      const assetHash = createHash("sha256").update(content).digest("hex");
      const copy = !prior || !same(prior.inputs.triggers, inputs.triggers)
        || prior.assetHash !== assetHash || prior.inputs.remotePath !== inputs.remotePath;
      if (copy) await this.copy(args.name, inputs, content);
      this.state.set(args.name, { type: args.type, inputs: { ...inputs, source: path }, assetHash });
    } else if (args.type.startsWith("pulumi-nodejs:dynamic")) {
      return this.dynamic(args.name, args.type, inputs, prior);
    } else {
      throw new Error(`ssh-engine: unexpected resource type ${args.type}`);
    }
    return { id: `${args.name}-id`, state: { ...args.inputs, stdout: outputs.stdout ?? "", stderr: outputs.stderr ?? "" } };
  };

  /** A dynamic resource in a run: create, or diff against the stored outputs and update on changes. */
  private async dynamic(name: string, type: string, inputs: Record<string, any>, prior: Stored | undefined): Promise<MockResourceResult> {
    const provider = this.provider(inputs); // no check(): the inputs are used as they are
    let stored: Stored;
    if (!prior) {
      const [result, record] = await this.call(name, "create", () => provider.create(inputs));
      const outputs = { ...result.outs, __provider: inputs.__provider };
      this.recordProbe(name, "create", outputs, record.ms);
      stored = { type, inputs, id: result.id, outputs };
    } else {
      let changes: boolean | undefined = true;
      if (provider.diff) {
        const [diff, record] = await this.call(name, "diff", () => provider.diff!(prior.id!, prior.outputs, inputs));
        changes = record.changes = diff.changes;
      }
      if (changes !== false && provider.update) {
        const [result, record] = await this.call(name, "update", () => provider.update!(prior.id!, prior.outputs, inputs));
        const outputs = { ...(result.outs ?? {}), __provider: inputs.__provider };
        this.recordProbe(name, "update", outputs, record.ms);
        stored = { type, inputs, id: prior.id, outputs };
      } else {
        stored = { ...prior, inputs };
      }
    }
    this.state.set(name, stored);
    const { __provider: _p, ...outputs } = stored.outputs!;
    return { id: stored.id, state: outputs };
  }

  private async delete(name: string): Promise<void> {
    const prior = this.state.get(name);
    if (!prior) return;
    if (prior.type.startsWith("pulumi-nodejs:dynamic") && prior.outputs) {
      const provider = this.provider(prior.outputs);
      if (provider.delete) await this.call(name, "delete", () => provider.delete!(prior.id!, prior.outputs));
      this.state.delete(name);
      return;
    }
    // CopyToRemote has no delete; a Command without `delete` returns without dialing
    if (prior.type === "command:remote:Command" && prior.inputs.delete) {
      await this.exec(name, "delete", prior.inputs, prior.inputs.delete);
    }
    this.state.delete(name);
  }

  private keyFile(privateKey: string): string {
    const file = join(this.keyDir, createHash("sha256").update(privateKey).digest("hex").slice(0, 16));
    // named by its content: written once, and whole (rewriting it in place let a concurrent ssh read a
    // truncated key: "Load key ...: error in libcrypto")
    if (!existsSync(file)) {
      writeFileSync(`${file}.tmp`, privateKey, { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
    }
    return file;
  }

  private async exec(name: string, op: Op, inputs: Record<string, any>, command: string | undefined): Promise<{ stdout: string; stderr: string }> {
    if (command === undefined) return { stdout: "", stderr: "" };
    const c = inputs.connection as Connection;
    const t0 = Date.now();
    const r = await sshRun({ address: c.host, port: c.port, user: c.user, hostKey: c.hostKey }, this.keyFile(c.privateKey),
      command, { input: inputs.stdin ?? "", timeoutMs: 180_000 });
    this.executed.push({ run: this.run, resource: name, op, host: c.host, port: c.port, ms: Date.now() - t0, stdout: r.stdout, stderr: r.stderr });
    if (r.code !== 0) {
      const err = new Error(`${name}: ${op} "${command}" on ${c.user}@${c.host}:${c.port} exited ${r.code}\n${r.stderr}${r.stdout}`);
      this.failRun(err);
      throw err;
    }
    return { stdout: r.stdout, stderr: r.stderr };
  }

  // The provider writes over SFTP as the login user; this writes the same bytes, as the same user,
  // through one SSH session (parent directories created, as the 1.2.1 docs promise).
  private async copy(name: string, inputs: Record<string, any>, content: Buffer): Promise<void> {
    const c = inputs.connection as Connection;
    const path = String(inputs.remotePath);
    const t0 = Date.now();
    const r = await sshRun({ address: c.host, port: c.port, user: c.user, hostKey: c.hostKey }, this.keyFile(c.privateKey),
      `mkdir -p '${dirname(path)}' && cat > '${path}'`, { input: content, timeoutMs: 180_000 });
    this.executed.push({ run: this.run, resource: name, op: "copy", host: c.host, port: c.port, ms: Date.now() - t0, stdout: r.stdout, stderr: r.stderr });
    if (r.code !== 0) {
      const err = new Error(`${name}: copy to ${c.host}:${path} exited ${r.code}\n${r.stderr}`);
      this.failRun(err);
      throw err;
    }
  }
}

/** The inputs whose change is an update (everything the provider stores but triggers). */
function comparable(inputs: Record<string, any>): unknown {
  const { triggers: _t, stdout: _o, stderr: _e, ...rest } = inputs;
  return rest;
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}
