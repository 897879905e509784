// What the plan builder adds to a HostPlan for drift: the expectations and the probe rendered from them.
import type { ResolvedHost } from "../policy/types";
import type { PayloadCache } from "../render/blocklist";
import type { UnitSpec } from "../render/unit";
import { driftExpect, type DriftExpect } from "./expect";
import { probeScript } from "./probe";

export function driftParts(host: ResolvedHost, units: UnitSpec[], payloads: PayloadCache, policyHash: string): { probe: string; expect: DriftExpect } {
  const expect = driftExpect(host, units, payloads);
  return { expect, probe: probeScript(expect, { host: host.name, policyHash }) };
}
