// The package's main entry, `harden-fleet`: everything a fleet module needs, and the pure pipeline
// (validate -> plan -> review tree). It never loads the Pulumi SDK; `harden-fleet/pulumi` does.
import type { Fleet, HostSpec, Policy } from "./policy/types";

export type {
  Blocklist, Connection, CronPolicy, CryptoLists, CryptoPreset, Duration, EgressPolicy, ExpectedCronEntry,
  Fail2banPolicy, FirewallPolicy, Fleet, HostSpec, JailPolicy, OsId, Policy, Proto, ServiceRule, SshPolicy,
} from "./policy/types";
export { FleetInvalid, validateFleet } from "./policy/validate";
export type { ValidationResult } from "./policy/validate";
export { formatDuration, parseDuration } from "./policy/duration";
export { planFleet } from "./plan/plan";
export type { PlanOptions } from "./plan/plan";
export type { HostPlan } from "./plan/types";
export { reviewTree } from "./cli/review-tree";

/**
 * Identity helpers: they return what they are given, and exist so that an editor completes and
 * checks every key (`export default defineFleet({ ... })`). Validation still runs on load.
 */
// not generic on purpose: a generic parameter would switch off TypeScript's excess-property check,
// and a misspelt key would no longer be an error in the editor
export function defineFleet(fleet: Fleet): Fleet {
  return fleet;
}
export function definePolicy(policy: Policy): Policy {
  return policy;
}
export function defineHost(host: HostSpec): HostSpec {
  return host;
}
