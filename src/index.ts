// The Pulumi program (`main` in Pulumi.yaml). Pulumi runs the exported function and awaits it
// (the fleet may come from a module whose default export is a Promise); what it returns are the
// stack outputs. The library (HardenedHost and its argument types) is `harden-fleet/pulumi`.
import { deployFleet, stackFleet, stackOutputs } from "./pulumi/program";

/** per host: address, sshPort and sshUser after apply, policyHash, sha256 per unit */
export = async () => ({ hosts: stackOutputs(deployFleet({ fleet: await stackFleet() })) });
