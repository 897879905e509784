// The Pulumi program (`main` in Pulumi.yaml). Every export of this module becomes a stack output,
// so it exports outputs only; the library (HardenedHost and its argument types) is src/lib.ts.
import { deployFleet, stackOutputs } from "./pulumi/program";

/** per host: address, sshPort and sshUser after apply, policyHash, sha256 per unit */
export const hosts = stackOutputs(deployFleet());
