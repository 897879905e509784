// The library face of the Pulumi delivery: usable from any TypeScript Pulumi program.
export { HardenedHost, planOneHost } from "./hardened-host";
export type { FleetContext, HardenedHostArgs, HostPolicyArgs, PlannedHostArgs } from "./hardened-host";
export { DEFAULT_DIAL, sshConnection } from "./connection";
export type { DialOptions } from "./connection";
export { deployFleet, stackOutputs, CONFIG_NAMESPACE, DEFAULT_KEY_CONFIG } from "./program";
export type { DeployOptions, HostOutputs } from "./program";
export { HostDrift, hostDriftInputs } from "./drift-resource";
export type { HostDriftArgs } from "./drift-resource";
