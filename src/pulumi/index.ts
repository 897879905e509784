// `harden-fleet/pulumi`: the Pulumi delivery as a library, usable from any TypeScript Pulumi
// program. Importing it registers no resources; the stack program is src/index.ts. It loads the
// Pulumi SDK (a peer dependency); the policy side alone is the package's main entry.
export { HardenedHost, planOneHost } from "./hardened-host";
export type { FleetContext, HardenedHostArgs, HostPolicyArgs, PlannedHostArgs } from "./hardened-host";
export { DEFAULT_DIAL, sshConnection } from "./connection";
export type { DialOptions } from "./connection";
export { deployFleet, stackFleet, stackOutputs, CONFIG_NAMESPACE, DEFAULT_KEY_CONFIG } from "./program";
export type { DeployOptions, HostOutputs } from "./program";
export { HostDrift, hostDriftInputs } from "./drift-resource";
export type { HostDriftArgs } from "./drift-resource";
export { planFleet, planHost } from "../plan/plan";
export type { PlanOptions } from "../plan/plan";
export type { Endpoint, HostPlan, Step, Upload } from "../plan/types";
export { FleetInvalid } from "../policy/errors";
export type { Fleet, HostSpec, Policy } from "../policy/types";
