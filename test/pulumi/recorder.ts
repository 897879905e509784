// Runs Pulumi programs under pulumi.runtime.setMocks and records every registration as the engine
// would receive it: the raw wire object (secrets still wrapped) plus the resource options that
// MockResourceArgs leaves out (dependencies, deleteBeforeReplace, replaceOnChanges, ...).
import * as pulumi from "@pulumi/pulumi";
import { MockMonitor, type MockResourceArgs, type MockResourceResult } from "@pulumi/pulumi/runtime/mocks";

export const SIG_KEY = "4dabf18193072939515e22adb298388d";
export const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
export const ASSET_SIG = "c44067f5952c0a294b673a41bacd8c17";

export interface Registration {
  type: string;
  name: string;
  urn: string;
  parent: string;
  custom: boolean;
  dependencies: string[];
  deleteBeforeReplace: boolean;
  replaceOnChanges: string[];
  additionalSecretOutputs: string[];
  /** the inputs as sent to the engine: secrets are {SIG_KEY: SECRET_SIG, value} envelopes */
  wire: Record<string, unknown>;
}

export interface Recording {
  registrations: Registration[];
  /** registerOutputs of components, by URN, as sent to the engine */
  outputs: Map<string, Record<string, unknown>>;
  byName(name: string): Registration;
}

export type NewResource = (args: MockResourceArgs) => MockResourceResult | Promise<MockResourceResult>;

let current: Recording | undefined;

function urnOf(parent: string, type: string, name: string): string {
  const parentType = parent ? parent.split("::")[2].split("$").pop() + "$" : "";
  return `urn:pulumi:${pulumi.getStack()}::${pulumi.getProject()}::${parentType}${type}::${name}`;
}

// Wrapped once per test file (vitest isolates modules per file): every call lands in `current`.
const originalRegister = MockMonitor.prototype.registerResource;
MockMonitor.prototype.registerResource = function (req: any, callback: any) {
  current?.registrations.push({
    type: req.getType(),
    name: req.getName(),
    urn: urnOf(req.getParent(), req.getType(), req.getName()),
    parent: req.getParent(),
    custom: req.getCustom(),
    dependencies: req.getDependenciesList(),
    deleteBeforeReplace: req.getDeletebeforereplace(),
    replaceOnChanges: req.getReplaceonchangesList(),
    additionalSecretOutputs: req.getAdditionalsecretoutputsList(),
    wire: req.getObject()?.toJavaScript() ?? {},
  });
  return originalRegister.call(this, req, callback);
};
const originalOutputs = MockMonitor.prototype.registerResourceOutputs;
MockMonitor.prototype.registerResourceOutputs = function (req: any, callback: any) {
  current?.outputs.set(req.getUrn(), req.getOutputs()?.toJavaScript() ?? {});
  return originalOutputs.call(this, req, callback);
};

/**
 * Fresh mocks and config for one program run. `config` keys are full ("hardening:fleet"); values
 * that are objects are passed as JSON, as the CLI does for structured stack config.
 */
export function startRecording(options: {
  config?: Record<string, unknown>;
  secretKeys?: string[];
  newResource?: NewResource;
  project?: string;
  stack?: string;
  /** run as `pulumi preview` does (a dry run: outputs the engine does not return are unknown) */
  preview?: boolean;
}): Recording {
  const config = Object.fromEntries(Object.entries(options.config ?? {}).map(
    ([k, v]) => [k, typeof v === "string" ? v : JSON.stringify(v)]));
  pulumi.runtime.setAllConfig(config, options.secretKeys ?? []);
  const recording: Recording = {
    registrations: [],
    outputs: new Map(),
    byName(name) {
      const found = this.registrations.filter((r) => r.name === name);
      if (found.length !== 1) throw new Error(`expected one registration named ${name}, found ${found.length}`);
      return found[0];
    },
  };
  current = recording;
  const newResource: NewResource = options.newResource
    ?? ((args) => ({ id: args.custom ? `${args.name}-id` : undefined, state: args.inputs }));
  void pulumi.runtime.setMocks({ newResource, call: (args) => args.inputs }, options.project ?? "hardening",
    options.stack ?? "test", options.preview ?? false);
  return recording;
}

/** Resolves when the output has a value (registration is asynchronous). */
export function settled<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((v) => { resolve(v); return v; }));
}

/** Waits until every resource has been registered with the (mock) engine. */
export async function allRegistered(resources: pulumi.Resource[]): Promise<string[]> {
  return Promise.all(resources.map((r) => settled(r.urn)));
}

/** The wire value of an unknown output (a preview's "[unknown]"). */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Whether `value` is a wire secret envelope. */
export function isSecret(value: unknown): boolean {
  return typeof value === "object" && value !== null && (value as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** The wire value with secret envelopes opened. */
export function reveal(value: unknown): any {
  if (isSecret(value)) return reveal((value as { value: unknown }).value);
  if (Array.isArray(value)) return value.map(reveal);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, reveal(v)]));
  }
  return value;
}

/** The wire value with every secret replaced by "[secret]": what a non-secret reader can see. */
export function publicPart(value: unknown): unknown {
  if (isSecret(value)) return "[secret]";
  if (Array.isArray(value)) return value.map(publicPart);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, publicPart(v)]));
  }
  return value;
}
