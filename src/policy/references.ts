// Group references: a host may only name groups the fleet defines. JSON Schema cannot say this, so
// it is checked beside it, defensively, because it also runs on input the schema refused.
import { formatList, formatPath, formatValue } from "./errors";

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

export function checkGroupReferences(input: unknown): string[] {
  if (!isPlain(input) || !Array.isArray(input.hosts)) return [];
  const groups = isPlain(input.groups) ? input.groups : {};
  const defined = Object.keys(groups).sort();
  const known = defined.length ? `defined: ${formatList(defined)}` : "no groups are defined";
  const errors: string[] = [];
  input.hosts.forEach((host, i) => {
    if (!isPlain(host) || !Array.isArray(host.groups)) return;
    host.groups.forEach((name, j) => {
      // hasOwn: a group called "constructor" must not be found on Object.prototype
      if (typeof name === "string" && !Object.hasOwn(groups, name)) {
        errors.push(`${formatPath(["hosts", i, "groups", j])}: ${formatValue(name)} is not a group of this fleet (${known})`);
      }
    });
  });
  return errors;
}
