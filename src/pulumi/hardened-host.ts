import * as pulumi from "@pulumi/pulumi";
import { remote } from "@pulumi/command";
import { planFleet, type PlanOptions } from "../plan/plan";
import type { HostPlan, Step } from "../plan/types";
import type { Fleet, HostSpec, Policy } from "../policy/types";
import type { UnitName } from "../render/unit";
import { HostDrift } from "./drift-resource";
import { checkSshAuth, sshConnection, type DialOptions, type SshAuth } from "./connection";
import { DEFAULT_PAYLOAD_DIR, payloadAsset } from "./payload-asset";

interface CommonArgs {
  /** the private key for every SSH session to this host; always handled as a secret */
  privateKey?: pulumi.Input<string>;
  /**
   * instead of privateKey: log in with the ssh-agent at this socket, or `true` for SSH_AUTH_SOCK
   * (of the process running pulumi). The key then never enters Pulumi, not even its verbose logs.
   */
  agentSocketPath?: string | true;
  /** dial limits of every SSH session (see DEFAULT_DIAL) */
  dial?: DialOptions;
  /** local cache for large payloads (blocklists), relative to the program's directory */
  payloadDir?: string;
  /**
   * More trigger values per unit (e.g. HostDrift's heal count): a change re-runs that unit, and
   * confirm after it. Absent units keep their triggers as they are.
   */
  extraTriggers?: Partial<Record<UnitName | "packages", pulumi.Input<unknown>>>;
}

/** A host already planned (what the stack program passes: the fleet was validated as a whole). */
export interface PlannedHostArgs extends CommonArgs {
  plan: HostPlan;
}

/** The fleet-level settings a single host inherits from (everything in a Fleet but its hosts). */
export type FleetContext = Omit<Fleet, "hosts">;

/** A host described like an entry of `hosts:`; validated and planned on construction. */
export interface HostPolicyArgs extends CommonArgs {
  host: HostSpec;
  /** the host's own policy; replaces `host.policy` when both are given */
  policy?: Policy;
  /** defaults, groups and admin sources the host's `groups` refer to */
  fleet?: FleetContext;
  /** e.g. rollbackSeconds: how long the host waits for the confirm login */
  planOptions?: PlanOptions;
}

export type HardenedHostArgs = PlannedHostArgs | HostPolicyArgs;

/** validate -> plan for one host. Throws FleetInvalid (paths as in a fleet: hosts[0]...) on bad input. */
export function planOneHost(args: HostPolicyArgs): HostPlan {
  const host: HostSpec = { ...args.host, ...(args.policy !== undefined ? { policy: args.policy } : {}) };
  const [plan] = planFleet({ ...args.fleet, hosts: [host] }, args.planOptions);
  return plan;
}

/**
 * One hardened server: its plan delivered as one remote.Command per step, in order, over SSH.
 *
 *   <name>-payload-<sha12>  CopyToRemote per large payload (current connection)
 *   <name>-packages         installs what the policy needs, first (current connection)
 *   <name>-firewall, -sshd  unit scripts over the current connection
 *   <name>-fail2ban, -cron  unit scripts over the target connection (post-apply port and user)
 *   <name>-confirm          a new login on the target connection disarms the rollback
 *   <name>-teardown         holds the uninstall script; runs it only on delete (destroy)
 *
 * WHY no `delete` on the unit steps: `delete` runs with the OLD connection and in reverse order, so
 * a per-unit uninstall could revert sshd to port 22 behind a firewall that only opens the new port.
 * One teardown, created last and so deleted first, runs over the connection that works after apply.
 */
export class HardenedHost extends pulumi.ComponentResource {
  /** the host's plan, as delivered */
  readonly plan: HostPlan;
  /** the SSH port and user that work after apply (known once confirm has succeeded) */
  readonly sshPort: pulumi.Output<number>;
  readonly sshUser: pulumi.Output<string>;
  /** sha256 of each step's script, by step name */
  readonly units: Record<string, string>;
  readonly uploads: remote.CopyToRemote[];
  readonly steps: remote.Command[];
  readonly teardown: remote.Command;
  /** read-only: its refresh runs the probe; drifted units re-run through their heal counts */
  readonly drift: HostDrift;

  constructor(name: string, args: HardenedHostArgs, opts?: pulumi.ComponentResourceOptions) {
    // planned before super(): invalid input must throw before anything is registered
    const given = checkSshAuth(args, name);
    const plan = "plan" in args ? args.plan : planOneHost(args);
    if (plan.steps.length === 0) throw new Error(`${name}: the plan has no steps`);
    super("hardening:index:HardenedHost", name, {}, opts);
    this.plan = plan;

    const key: SshAuth = given.privateKey !== undefined ? { privateKey: pulumi.secret(given.privateKey) } : given;
    const payloadDir = args.payloadDir ?? DEFAULT_PAYLOAD_DIR;

    // Payloads travel as files, referenced by hash, before any step that reads them.
    this.uploads = plan.uploads.map((upload) =>
      new remote.CopyToRemote(`${name}-payload-${upload.sha256.slice(0, 12)}`, {
        connection: sshConnection(plan.current, key, args.dial),
        source: payloadAsset(upload, payloadDir),
        remotePath: upload.remotePath,
        triggers: [upload.sha256],
      }, { parent: this }));

    // Before the steps, because they read its heal counts: `pulumi up --refresh` lets read() bump the
    // count of a drifted unit, which changes that step's trigger, so the unit (and confirm) re-run.
    this.drift = new HostDrift(`${name}-drift`, { plan, ...key }, { parent: this });
    const heal = (unit: string) => this.drift.heal.apply((counts) => counts?.[unit] ?? 0);

    let previous: pulumi.Resource[] = this.uploads;
    const extra = (s: Step): pulumi.Input<unknown>[] =>
      s.name === "confirm" ? [] : [args.extraTriggers?.[s.name] ?? heal(s.name)];
    this.steps = plan.steps.map((step, i) => {
      const extras = step.name === "confirm" ? plan.steps.slice(0, i).flatMap(extra) : extra(step);
      const command = stepCommand(name, step, [...stepTriggers(plan.steps, i), ...extras], key, args.dial,
        { parent: this, dependsOn: previous });
      previous = [command];
      return command;
    });
    const confirm = this.steps[this.steps.length - 1];

    // `sh -n` reads the whole script and only parses it: a harmless create/update that keeps the
    // current uninstall script in state (stdin is also what `delete` gets) and checks it parses.
    const rootCommand = plan.target.user === "root" ? "sh -s" : "sudo -n sh -s";
    this.teardown = new remote.Command(`${name}-teardown`, {
      connection: sshConnection(plan.target, key, args.dial),
      create: "sh -n",
      update: "sh -n",
      delete: rootCommand,
      stdin: plan.teardown,
      addPreviousOutputInEnv: false,
    }, { parent: this, dependsOn: [confirm] });

    this.units = Object.fromEntries(plan.steps.map((s) => [s.name, s.sha256]));
    this.sshPort = confirm.id.apply(() => plan.target.port);
    this.sshUser = confirm.id.apply(() => plan.target.user);
    this.registerOutputs({
      address: plan.target.address,
      sshPort: this.sshPort,
      sshUser: this.sshUser,
      policyHash: plan.policyHash,
      units: this.units,
    });
  }
}

/**
 * A step's triggers: its script's sha256. Confirm's also name every step before it, with the
 * connection it ran over. WHY: a unit that runs arms the host's rollback, and only confirm disarms
 * it; confirm's own script may not change when a unit does (a template upgrade, a connection
 * change that re-runs a drifted unit), and a confirm that does not run lets the host undo a
 * successful apply a minute later. Confirm runs whenever anything before it may have run.
 */
export function stepTriggers(steps: readonly Step[], index: number): string[] {
  const step = steps[index];
  if (step.name !== "confirm") return [step.sha256];
  const before = steps.slice(0, index).map((s) =>
    `${s.name} ${s.sha256} ${s.connection.user}@${s.connection.address}:${s.connection.port}`);
  return [step.sha256, ...before];
}

/**
 * One plan step as a remote.Command. `triggers` = the script's sha256, so a changed script is a
 * replace (create again; deleteBeforeReplace so no old delete can ever run after the new create),
 * while a changed connection is an update that re-runs the same, idempotent script.
 */
function stepCommand(
  name: string, step: Step, triggers: pulumi.Input<unknown>[], key: SshAuth, dial: DialOptions | undefined,
  opts: pulumi.CustomResourceOptions,
): remote.Command {
  return new remote.Command(`${name}-${step.name}`, {
    connection: sshConnection(step.connection, key, dial),
    create: step.command,
    update: step.command,
    stdin: step.script,
    triggers,
    // sshd drops `environment` unless AcceptEnv allows it, and previous output has no use here
    addPreviousOutputInEnv: false,
  }, { ...opts, deleteBeforeReplace: true });
}
