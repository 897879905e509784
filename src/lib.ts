// The package entry for code that uses harden as a library (package.json "main"). Importing it
// registers no resources; the stack program is src/index.ts.
export * from "./pulumi/index";
export { planFleet, planHost } from "./plan/plan";
export type { PlanOptions } from "./plan/plan";
export type { Endpoint, HostPlan, Step, Upload } from "./plan/types";
export { FleetInvalid } from "./policy/errors";
export type { Fleet, HostSpec, Policy } from "./policy/types";
