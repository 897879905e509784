import type { OsId } from "../policy/types";
import type { Artifact, Payload } from "../render/artifact";
import type { UnitName } from "../render/unit";
import type { DriftExpect } from "./drift-expect";

/** How one SSH session reaches a host. */
export interface Endpoint {
  address: string;
  port: number;
  user: string;
  /** pinned host key, "ssh-ed25519 AAAA..." */
  hostKey: string;
}

/** packages first, then the units, then confirm */
export type StepName = "packages" | UnitName | "confirm";

/** One remote command: a fresh SSH session, `command`, `script` on stdin, stop at the first failure. */
export interface Step {
  name: StepName;
  /** "sh -s" for root, "sudo -n sh -s" otherwise */
  command: string;
  script: string;
  sha256: string;
  /** "current": how the host is reached before this apply; "target": after it */
  via: "current" | "target";
  connection: Endpoint;
}

/** A payload plus where it goes; uploaded before the steps, verified by sha256 on the host. */
export interface Upload extends Payload {}

export interface HostPlan {
  host: string;
  os: OsId;
  /** sha256 of the resolved policy: names the plan in every generated header */
  policyHash: string;
  current: Endpoint;
  target: Endpoint;
  uploads: Upload[];
  steps: Step[];
  /** removes every unit and returns the host to its distribution's state (Pulumi destroy), one session */
  teardown: string;
  /** every file the units install, for review and drift */
  files: Artifact[];
  summary: Partial<Record<UnitName | "packages", string[]>>;
  /** read-only script that prints what drift compares (src/plan/probe.ts), one SSH session */
  probe: string;
  /** what drift compares the probe's observation with (src/plan/drift-expect.ts) */
  expect: DriftExpect;
}
