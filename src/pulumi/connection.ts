import * as pulumi from "@pulumi/pulumi";
import type * as command from "@pulumi/command";
import type { Endpoint } from "../plan/types";

/** How hard one SSH session tries to reach a host before the step fails. */
export interface DialOptions {
  /** failed dials before giving up; @pulumi/command's default is 10 */
  dialErrorLimit?: number;
  /** seconds per dial attempt; @pulumi/command's default is 15 */
  perDialTimeout?: number;
}

// WHY these defaults: a DROPped port makes every dial wait for its full timeout. 3 x 15 s stays
// under the unit scripts' 60 s rollback window, so a confirm that cannot log in fails the run
// before the host rolls itself back, instead of dialing on for 150 s against a reverted host.
export const DEFAULT_DIAL: Required<DialOptions> = { dialErrorLimit: 3, perDialTimeout: 15 };

/**
 * How every SSH session logs in: a private key (always a secret), or an ssh-agent, so that no key
 * ever enters Pulumi. `agentSocketPath: true` is the agent of SSH_AUTH_SOCK as the provider sees it;
 * WHY not its path: that changes with every login session and, stored in each connection, would
 * make every `pulumi up` from a new session an update of every step.
 */
export type SshAuth =
  | { privateKey: pulumi.Input<string>; agentSocketPath?: undefined }
  | { agentSocketPath: string | true; privateKey?: undefined };

/** Exactly one of privateKey / agentSocketPath, or an error naming `where`. */
export function checkSshAuth(auth: { privateKey?: unknown; agentSocketPath?: unknown }, where: string): SshAuth {
  const key = auth.privateKey !== undefined;
  const agent = auth.agentSocketPath !== undefined && auth.agentSocketPath !== false;
  if (key && agent) throw new Error(`${where}: privateKey and agentSocketPath are both given; keep one`);
  if (!key && !agent) throw new Error(`${where}: give privateKey or agentSocketPath (an ssh-agent socket, or true for SSH_AUTH_SOCK)`);
  if (agent && auth.agentSocketPath !== true && (typeof auth.agentSocketPath !== "string" || auth.agentSocketPath === "")) {
    throw new Error(`${where}: agentSocketPath must be a socket path or true`);
  }
  return auth as SshAuth;
}

/**
 * The @pulumi/command connection for one endpoint. The host key is always pinned (without it the
 * provider does not check the key at all) and a private key is always a secret.
 */
export function sshConnection(
  endpoint: Endpoint,
  auth: SshAuth,
  dial: DialOptions = {},
): command.types.input.remote.ConnectionArgs {
  if (!endpoint.hostKey) throw new Error(`no pinned host key for ${endpoint.address}: refusing to connect unchecked`);
  return {
    host: endpoint.address,
    port: endpoint.port,
    user: endpoint.user,
    hostKey: endpoint.hostKey,
    ...(auth.privateKey !== undefined ? { privateKey: pulumi.secret(auth.privateKey) } : {}),
    ...(typeof auth.agentSocketPath === "string" ? { agentSocketPath: auth.agentSocketPath } : {}),
    dialErrorLimit: dial.dialErrorLimit ?? DEFAULT_DIAL.dialErrorLimit,
    perDialTimeout: dial.perDialTimeout ?? DEFAULT_DIAL.perDialTimeout,
  };
}
