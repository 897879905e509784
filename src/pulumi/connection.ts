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
 * The @pulumi/command connection for one endpoint. The host key is always pinned (without it the
 * provider does not check the key at all) and the private key is always a secret.
 */
export function sshConnection(
  endpoint: Endpoint,
  privateKey: pulumi.Input<string>,
  dial: DialOptions = {},
): command.types.input.remote.ConnectionArgs {
  if (!endpoint.hostKey) throw new Error(`no pinned host key for ${endpoint.address}: refusing to connect unchecked`);
  return {
    host: endpoint.address,
    port: endpoint.port,
    user: endpoint.user,
    hostKey: endpoint.hostKey,
    privateKey: pulumi.secret(privateKey),
    dialErrorLimit: dial.dialErrorLimit ?? DEFAULT_DIAL.dialErrorLimit,
    perDialTimeout: dial.perDialTimeout ?? DEFAULT_DIAL.perDialTimeout,
  };
}
