// The one way into the product for a fleet: schema (with group references), then semantic checks
// on every resolved host. Renderers only ever see a fleet that passed here.
import { normaliseDurations } from "./duration";
import { FleetInvalid } from "./errors";
import { checkGroupReferences } from "./references";
import { resolveFleet } from "./resolve";
import { checkSchema } from "./schemaCheck";
import { checkSemantics } from "./semantic";
import type { Fleet, ResolvedHost } from "./types";

export { FleetInvalid };

export type ValidationResult =
  | { ok: true; fleet: Fleet; hosts: ResolvedHost[] }
  | { ok: false; errors: string[] };

/**
 * Every problem at once: duration, schema and group-reference errors first; semantic checks only if
 * those pass. The fleet returned has every duration in seconds (what resolve, render and hashing see).
 */
export function validateFleet(input: unknown): ValidationResult {
  const durations = normaliseDurations(input);
  const normalised = durations.fleet;
  const structural = [...durations.errors, ...checkSchema(normalised), ...checkGroupReferences(normalised)];
  if (structural.length > 0) return { ok: false, errors: structural };
  const fleet = normalised as Fleet;
  const hosts = resolveFleet(fleet);
  const semantic = checkSemantics(fleet, hosts);
  if (semantic.length > 0) return { ok: false, errors: semantic };
  return { ok: true, fleet, hosts };
}

/** validateFleet for callers that stop on bad input: throws FleetInvalid with every error. */
export function assertValidFleet(input: unknown): { fleet: Fleet; hosts: ResolvedHost[] } {
  const result = validateFleet(input);
  if (!result.ok) throw new FleetInvalid(result.errors);
  return { fleet: result.fleet, hosts: result.hosts };
}
