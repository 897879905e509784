// HostDrift: a read-only resource per host whose provider runs the drift probe over SSH, so that
// `pulumi preview --refresh` (and `pulumi refresh --preview-only --expect-no-changes`) shows a host
// that no longer matches its plan, item by item:
//   ~ hardening:index:HostDrift web1-drift  update
//       ~ drift: { - "sshd passwordauthentication": "sshd passwordauthentication: expected no, found yes (from ...)" }
//
// Provider functions are serialized by Pulumi into the state and run in a separate process: they
// capture nothing and require what they need inside their bodies. The drift code is `driftModule`:
// the package specifier "harden-fleet/drift" (compiled JavaScript, resolved like any dependency of
// the program in the directory Pulumi runs in), or, when the program runs from this checkout's
// TypeScript sources, the source path relative to that directory, loaded with tsx. Stacks created
// before the package recorded that source path and run their own stored code on refresh: it stays
// where they look (test/pulumi/drift-upgrade.test.ts). No machine path is ever stored.
import { extname, join, relative } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { Artifact } from "../render/artifact";
import type { DriftExpect } from "../plan/drift-expect";
import type { Endpoint, HostPlan } from "../plan/types";

/** What the provider works with; all plain data except the key. */
export interface HostDriftState {
  host: string;
  target: Endpoint;
  current: Endpoint;
  probe: string;
  expect: DriftExpect;
  /** the managed files' content, to show changed lines */
  files: Pick<Artifact, "path" | "content">[];
  /** private key text; a secret input and a secret output (additionalSecretOutputs); absent with an agent */
  privateKey?: string;
  /** ssh-agent socket instead of a key; with neither, ssh's own default (SSH_AUTH_SOCK) */
  agentSocketPath?: string;
  /** seconds for the whole SSH session */
  timeoutSeconds: number;
  /** "harden-fleet/drift", or (sources) src/drift/check-host.ts relative to the program's directory */
  driftModule: string;
  /** desired: {} (nothing drifted). Observed by read(): item key -> message. */
  drift: Record<string, string>;
  /** unit -> how many refreshes found it drifted: a trigger that makes that unit run again */
  heal: Record<string, number>;
  /** which endpoint answered the last refresh, "target user@host:port" (create/update: the target) */
  checkedVia: string;
}

export interface HostDriftArgs {
  plan: HostPlan;
  /** the key, or an agent: agentSocketPath, `true` for SSH_AUTH_SOCK (see SshAuth) */
  privateKey?: pulumi.Input<string>;
  agentSocketPath?: string | true;
  timeoutSeconds?: number;
}

/** Runs the probe for `state` over SSH; a key goes to a 0600 file in a private temp dir, removed after. */
async function probe(state: HostDriftState): Promise<{ drift: Record<string, string>; units: string[]; via: string }> {
  const fs = require("node:fs") as typeof import("node:fs");
  const os = require("node:os") as typeof import("node:os");
  const path = require("node:path") as typeof import("node:path");
  const nodeModule = require("node:module") as typeof import("node:module");
  // as if required by a file of the program: node_modules of the program's directory (or the package itself)
  const program = path.join(process.cwd(), "pulumi-program.js");
  const drift = (state.driftModule.endsWith(".ts")
    ? (require("tsx/cjs/api") as { require: (id: string, from: string) => unknown }).require(path.resolve(process.cwd(), state.driftModule), program)
    : nodeModule.createRequire(program)(state.driftModule)) as typeof import("../drift/check-host");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "harden-drift-"));
  try {
    let keyFile: string | undefined;
    if (state.privateKey) {
      keyFile = path.join(dir, "key");
      fs.writeFileSync(keyFile, state.privateKey.endsWith("\n") ? state.privateKey : `${state.privateKey}\n`, { mode: 0o600 });
    }
    const check = await drift.checkHost(
      { host: state.host, target: state.target, current: state.current, probe: state.probe, expect: state.expect,
        files: state.files.map((f) => ({ ...f, mode: "", owner: "", group: "" })) },
      { identityFile: keyFile, identityAgent: state.agentSocketPath, timeoutMs: state.timeoutSeconds * 1000 },
    );
    if (check.status === "error") throw new Error(`${state.host}: could not check drift: ${check.error}`);
    return {
      // information (a published port the filter drops) is not drift: no diff for it
      drift: Object.fromEntries(check.items.filter((i) => !i.info).map((i) => [i.key, i.message])),
      units: [...new Set(check.items.filter((i) => !i.info).map((i) => i.unit))],
      via: `${check.via} ${check.endpoint}`,
    };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Properties whose change means a new plan: recorded again by update(). */
const PLAN_KEYS = ["host", "target", "current", "probe", "expect", "files", "timeoutSeconds", "driftModule"] as const;

export const hostDriftProvider: pulumi.dynamic.ResourceProvider = {
  /**
   * Records the desired state; the probe runs once to prove the host can be checked. WHY checkedVia is
   * the target and not what answered: create and update run before the units (the policy's port may not
   * be open yet), and a refresh of the applied host answers on the target; recording the pre-apply
   * endpoint made the first `pulumi refresh --expect-no-changes` after every first up fail on
   * checkedVia alone. A host that later answers only on the current endpoint still shows as a change.
   */
  async create(inputs: HostDriftState) {
    await probe(inputs);
    const t = inputs.target;
    return { id: inputs.host, outs: { ...inputs, drift: {}, heal: {}, checkedVia: `target ${t.user}@${t.address}:${t.port}` } };
  },

  /** What the host looks like now: every drifted item, and a heal count bumped for each drifted unit. */
  async read(id: string, props: HostDriftState) {
    const seen = await probe(props);
    const heal = { ...(props.heal ?? {}) };
    for (const unit of seen.units) heal[unit] = (heal[unit] ?? 0) + 1;
    return { id, props: { ...props, drift: seen.drift, heal, checkedVia: seen.via } };
  },

  /** Drift found by the last read, or a new plan, is a change; the drifted items are the diff. */
  async diff(_id: string, olds: HostDriftState, news: HostDriftState) {
    const util = require("node:util") as typeof import("node:util");
    const changed = PLAN_KEYS.filter((k) => !util.isDeepStrictEqual(olds[k], news[k]));
    const drifted = Object.keys(olds.drift ?? {});
    return { changes: changed.length > 0 || drifted.length > 0, replaces: [], deleteBeforeReplace: false };
  },

  /** Records the desired state again (after the units re-ran); keeps the heal counts. */
  async update(_id: string, olds: HostDriftState, news: HostDriftState) {
    await probe(news);
    const t = news.target; // as in create(): desired, not the pre-apply endpoint that answered
    return { outs: { ...news, drift: {}, heal: olds.heal ?? {}, checkedVia: `target ${t.user}@${t.address}:${t.port}` } };
  },

  /** Nothing on the host belongs to this resource. */
  async delete() {},
};

/** The provider's inputs for a plan: what create() records and read() probes with. */
export function hostDriftInputs<K>(plan: HostPlan, privateKey: K, timeoutSeconds = 60):
  Omit<HostDriftState, "privateKey" | "heal" | "checkedVia"> & { privateKey: K } {
  return {
    host: plan.host,
    target: plan.target,
    current: plan.current,
    probe: plan.probe,
    expect: plan.expect,
    files: plan.files.map((f) => ({ path: f.path, content: f.content })),
    privateKey,
    timeoutSeconds,
    driftModule: driftModulePath(),
    drift: {},
  };
}

/** The package's drift entry (package.json "exports"), which the provider requires by name. */
export const DRIFT_ENTRY = "harden-fleet/drift";

/**
 * What the provider loads: the package entry when this is the compiled package; the TypeScript
 * source relative to the program's directory when the program runs from this checkout's sources.
 */
export function driftModulePath(cwd: string = process.cwd(), self: string = __filename): string {
  if (extname(self) !== ".ts") return DRIFT_ENTRY;
  return relative(cwd, join(self, "..", "..", "drift", "check-host.ts")).split("\\").join("/");
}

export class HostDrift extends pulumi.dynamic.Resource {
  /** item key -> message, as the last refresh saw it ({} after create/update) */
  declare readonly drift: pulumi.Output<Record<string, string>>;
  /** unit -> heal count: use as a trigger of that unit's step to re-apply it after a drifted refresh */
  declare readonly heal: pulumi.Output<Record<string, number>>;
  declare readonly checkedVia: pulumi.Output<string>;

  constructor(name: string, args: HostDriftArgs, opts?: pulumi.CustomResourceOptions) {
    const key = args.privateKey === undefined ? undefined : pulumi.secret(args.privateKey);
    const inputs = hostDriftInputs(args.plan, key, args.timeoutSeconds);
    // a socket path only when one is named: SSH_AUTH_SOCK changes per session and stays out of state
    const agent = typeof args.agentSocketPath === "string" ? { agentSocketPath: args.agentSocketPath } : {};
    // outputs exist only for the properties registered: heal and checkedVia are filled by the provider
    super(hostDriftProvider, name, { ...inputs, ...agent, heal: undefined, checkedVia: undefined }, {
      ...opts,
      // the key is stored (refresh needs it) but only encrypted, never in plain text
      additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "privateKey"],
    }, "hardening", "HostDrift");
  }
}
