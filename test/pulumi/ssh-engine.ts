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
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { MockResourceArgs, MockResourceResult } from "@pulumi/pulumi/runtime/mocks";
import { sshRun } from "../lab/lab";
import { reveal } from "./recorder";

export type Op = "create" | "update" | "delete" | "copy";

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
  private state = new Map<string, Stored>();
  /** registration order of the resources in state (dependencies first) */
  private order: string[] = [];
  private seen: string[] = [];
  private run = 0;
  private readonly keyDir = mkdtempSync(join(tmpdir(), "harden-engine-keys-"));

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

  dispose(): void {
    rmSync(this.keyDir, { recursive: true, force: true });
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
    } else {
      throw new Error(`ssh-engine: unexpected resource type ${args.type}`);
    }
    return { id: `${args.name}-id`, state: { ...args.inputs, stdout: outputs.stdout ?? "", stderr: outputs.stderr ?? "" } };
  };

  private async delete(name: string): Promise<void> {
    const prior = this.state.get(name);
    if (!prior) return;
    // CopyToRemote has no delete; a Command without `delete` returns without dialing
    if (prior.type === "command:remote:Command" && prior.inputs.delete) {
      await this.exec(name, "delete", prior.inputs, prior.inputs.delete);
    }
    this.state.delete(name);
  }

  private keyFile(privateKey: string): string {
    const file = join(this.keyDir, createHash("sha256").update(privateKey).digest("hex").slice(0, 16));
    writeFileSync(file, privateKey, { mode: 0o600 });
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
