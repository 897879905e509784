import { isAbsolute, resolve } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { planFleet } from "../plan/plan";
import type { HostPlan } from "../plan/types";
import { FleetInvalid } from "../policy/errors";
import { FleetSourceError, loadFleetModule } from "../source/fleet-module";
import type { DialOptions, SshAuth } from "./connection";
import { HardenedHost } from "./hardened-host";

/** The config namespace: the project name in Pulumi.yaml. */
export const CONFIG_NAMESPACE = "hardening";
/** `pulumi config set --secret sshPrivateKey < key` */
export const DEFAULT_KEY_CONFIG = "sshPrivateKey";
/** `pulumi config set sshAgent true` (SSH_AUTH_SOCK) or `... sshAgent /path/to/agent.sock`: no key in Pulumi */
export const AGENT_CONFIG = "sshAgent";

/** What the stack exports per host. Nothing connection-bearing: no key, no stdin, no stdout. */
export interface HostOutputs {
  address: string;
  sshPort: pulumi.Output<number>;
  sshUser: pulumi.Output<string>;
  policyHash: string;
  units: Record<string, string>;
}

export interface DeployOptions {
  /** local payload cache (see payloadAsset); defaults to .harden/payloads in the program's directory */
  payloadDir?: string;
  /** the fleet as given (see stackFleet); defaults to the `hardening:fleet` config object */
  fleet?: unknown;
}

/**
 * The stack's fleet: the `hardening:fleet` object, or the default export of the module that
 * `hardening:fleetModule` names (relative to the Pulumi project, loaded as `harden` loads it).
 * Both keys, or neither, is an error. Errors are RunErrors: Pulumi prints them without a stack.
 */
export async function stackFleet(projectDir: string = projectRoot()): Promise<unknown> {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const module = config.get("fleetModule");
  const hasFleet = config.get("fleet") !== undefined;
  if (module !== undefined && hasFleet) {
    throw new pulumi.RunError(`${CONFIG_NAMESPACE}:fleet and ${CONFIG_NAMESPACE}:fleetModule are both set; keep one`);
  }
  if (module === undefined) {
    if (!hasFleet) throw new pulumi.RunError(`set ${CONFIG_NAMESPACE}:fleet (the fleet object) or ${CONFIG_NAMESPACE}:fleetModule (a module exporting it)`);
    return config.requireObject<unknown>("fleet");
  }
  try {
    return await loadFleetModule(resolve(projectDir, module));
  } catch (err) {
    if (err instanceof FleetSourceError) throw new pulumi.RunError(`${CONFIG_NAMESPACE}:fleetModule: ${err.message}`);
    throw err;
  }
}

/** Where Pulumi.yaml is: the engine says (absolutely); mocks say "rootDirectory", so the working directory. */
function projectRoot(): string {
  const root = pulumi.runtime.getRootDirectory();
  return isAbsolute(root) ? root : process.cwd();
}

/**
 * The stack program: validate the fleet (`options.fleet`, else `hardening:fleet`) as the CLI does,
 * plan every host and deliver each as a HardenedHost. An invalid fleet throws before any resource
 * is registered.
 */
export function deployFleet(options: DeployOptions = {}): HardenedHost[] {
  const config = new pulumi.Config(CONFIG_NAMESPACE);
  const fleetInput = options.fleet ?? config.requireObject<unknown>("fleet");
  const source = config.get("fleetModule") !== undefined ? "fleetModule" : "fleet";
  let plans: HostPlan[];
  try {
    plans = planFleet(fleetInput, { rollbackSeconds: config.getNumber("rollbackSeconds") });
  } catch (err) {
    // RunError: the CLI prints the message without a stack trace, like `harden validate` would
    if (err instanceof FleetInvalid) throw new pulumi.RunError(`${CONFIG_NAMESPACE}:${source}: ${err.message}`);
    throw err;
  }
  const dial: DialOptions = {
    dialErrorLimit: config.getNumber("dialErrorLimit"),
    perDialTimeout: config.getNumber("perDialTimeout"),
  };
  const keyNames = privateKeyNames(fleetInput);
  const agent = agentAuth(config, keyNames);
  const keys = new Map<string, pulumi.Output<string>>();
  // a reference is a key in this project's namespace ("web1Key") or a full one ("ops:deployKey")
  const keyFor = (reference: string) => {
    if (!keys.has(reference)) {
      const at = reference.indexOf(":");
      const [ns, key] = at < 0 ? [CONFIG_NAMESPACE, reference] : [reference.slice(0, at), reference.slice(at + 1)];
      keys.set(reference, new pulumi.Config(ns).requireSecret(key));
    }
    return keys.get(reference)!;
  };

  if (!agent && !keyNames.size && config.getSecret(DEFAULT_KEY_CONFIG) === undefined) {
    throw new pulumi.RunError(`no SSH login configured: set ${CONFIG_NAMESPACE}:${AGENT_CONFIG} (true for SSH_AUTH_SOCK, or an agent socket path; recommended) or the secret ${CONFIG_NAMESPACE}:${DEFAULT_KEY_CONFIG}`);
  }

  return plans.map((plan) => new HardenedHost(plan.host, {
    plan,
    ...(agent ?? { privateKey: keyFor(keyNames.get(plan.host) ?? DEFAULT_KEY_CONFIG) }),
    dial,
    payloadDir: options.payloadDir,
  }));
}

/** The stack outputs: per host name, what a user wants to see after `pulumi up`. */
export function stackOutputs(hosts: HardenedHost[]): Record<string, HostOutputs> {
  return Object.fromEntries(hosts.map((host) => [host.plan.host, {
    address: host.plan.target.address,
    sshPort: host.sshPort,
    sshUser: host.sshUser,
    policyHash: host.plan.policyHash,
    units: host.units,
  }]));
}

/**
 * The ssh-agent login `hardening:sshAgent` asks for, if any. A key in config as well is an error:
 * the point of the agent is that no key is in the stack at all.
 */
function agentAuth(config: pulumi.Config, keyNames: Map<string, string>): SshAuth | undefined {
  const value = config.get(AGENT_CONFIG)?.trim();
  if (value === undefined || value === "" || value === "false") return undefined;
  const where = `${CONFIG_NAMESPACE}:${AGENT_CONFIG}`;
  if (config.getSecret(DEFAULT_KEY_CONFIG) !== undefined) {
    throw new pulumi.RunError(`${where} and ${CONFIG_NAMESPACE}:${DEFAULT_KEY_CONFIG} are both set; keep one (the agent keeps the key out of Pulumi)`);
  }
  const [host, reference] = [...keyNames][0] ?? [];
  if (host !== undefined) {
    throw new pulumi.RunError(`${where} is set, but host ${host} names its own key (connection.privateKey: "${reference}"); keep one`);
  }
  if (value !== "true") return { agentSocketPath: value };
  if (!process.env.SSH_AUTH_SOCK) throw new pulumi.RunError(`${where} is true, but SSH_AUTH_SOCK is not set: start ssh-agent, or give the socket's path`);
  return { agentSocketPath: true };
}

/** host name -> the config key holding its own private key (`connection.privateKey`), if it names one. */
function privateKeyNames(fleetInput: unknown): Map<string, string> {
  // the fleet passed validation, so hosts is a list of HostSpec
  const hosts = (fleetInput as { hosts: { name: string; connection: { privateKey?: string } }[] }).hosts;
  return new Map(hosts.filter((h) => h.connection.privateKey).map((h) => [h.name, h.connection.privateKey!]));
}
