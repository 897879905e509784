// Durations as operators write them for fail2ban and sshd: seconds (600), or a number per unit,
// largest first ("10m", "1h30m", "1w2d"). Fleets are normalised to seconds before anything else
// sees them, so `600` and "10m" validate, render and hash identically.
import type { PathSegment } from "./errors";
import { formatPath, formatValue } from "./errors";

/** Seconds (a whole number), or a string like "10m", "1h30m", "1d", "1w". */
export type Duration = number | string;

const UNITS = [["w", 604_800], ["d", 86_400], ["h", 3_600], ["m", 60], ["s", 1]] as const;
type Unit = (typeof UNITS)[number][0];
const SECONDS: Record<Unit, number> = Object.fromEntries(UNITS) as Record<Unit, number>;
// each unit at most once, in order; at least one part; a bare number is seconds
const FORM = /^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

export const DURATION_FORMS = 'seconds, or a number per unit w d h m s, largest first ("10m", "1h30m")';

export interface ParsedDuration {
  seconds: number;
  /** the largest unit the operator wrote: messages about this value speak in it */
  unit: Unit;
}

/** "1h30m" -> { seconds: 5400, unit: "h" }; null when `text` is not a duration. */
export function parseDuration(text: string): ParsedDuration | null {
  if (/^\d{1,12}$/.test(text)) return { seconds: Number(text), unit: "s" };
  if (text === "" || text.length > 40) return null;
  const match = FORM.exec(text);
  if (!match) return null;
  let seconds = 0;
  let unit: Unit | undefined;
  UNITS.forEach(([u, factor], i) => {
    const part = match[i + 1];
    if (part === undefined) return;
    unit ??= u;
    seconds += Number(part) * factor;
  });
  return unit === undefined || !Number.isSafeInteger(seconds) ? null : { seconds, unit };
}

/** 5400 -> "1h30m": the canonical form (each unit once, largest first); 0 -> "0s". */
export function formatDuration(seconds: number): string {
  if (seconds === 0) return "0s";
  let rest = seconds;
  let out = "";
  for (const [u, factor] of UNITS) {
    const n = Math.floor(rest / factor);
    if (n > 0) out += `${n}${u}`;
    rest -= n * factor;
  }
  return out;
}

/** `seconds` in the operator's unit: 3600 in "m" -> "60m"; falls back to the canonical form. */
function inUnit(seconds: number, unit: Unit): string {
  return seconds % SECONDS[unit] === 0 ? `${seconds / SECONDS[unit]}${unit}` : formatDuration(seconds);
}

/** Where a policy holds a duration, and the range the schema allows there (seconds). */
export const DURATION_FIELDS: { path: string[]; min: number; max: number }[] = [
  { path: ["ssh", "loginGraceTime"], min: 1, max: 3_600 },
  { path: ["ssh", "clientAliveInterval"], min: 0, max: 86_400 },
  { path: ["firewall", "sshRateLimit", "perSeconds"], min: 1, max: 86_400 },
  { path: ["fail2ban", "sshd", "findTime"], min: 1, max: 31_536_000 },
  { path: ["fail2ban", "sshd", "banTime"], min: 1, max: 31_536_000 },
  { path: ["fail2ban", "recidive", "findTime"], min: 1, max: 31_536_000 },
  { path: ["fail2ban", "recidive", "banTime"], min: 1, max: 31_536_000 },
];

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/** Every policy object of a fleet, with its path; anything malformed is left for the schema to name. */
function policies(fleet: Plain): [PathSegment[], Plain][] {
  const found: [PathSegment[], Plain][] = [];
  if (isPlain(fleet.defaults)) found.push([["defaults"], fleet.defaults]);
  if (isPlain(fleet.groups)) {
    for (const [name, group] of Object.entries(fleet.groups)) if (isPlain(group)) found.push([["groups", name], group]);
  }
  if (Array.isArray(fleet.hosts)) {
    fleet.hosts.forEach((host, i) => {
      if (isPlain(host) && isPlain(host.policy)) found.push([["hosts", i, "policy"], host.policy]);
    });
  }
  return found;
}

/**
 * A copy of `input` with every duration string replaced by its seconds, and one error per string
 * that is not a duration or is out of range (in the unit the operator wrote). Numbers and wrong
 * types are left as they are: the schema checks them. A refused string becomes the field's minimum
 * so that the schema does not report the same field twice (the errors stop the run anyway).
 */
export function normaliseDurations(input: unknown): { fleet: unknown; errors: string[] } {
  if (!isPlain(input)) return { fleet: input, errors: [] };
  const errors: string[] = [];
  const fleet = copyPolicies(input);
  for (const [at, policy] of policies(fleet)) {
    for (const field of DURATION_FIELDS) {
      const parents = field.path.slice(0, -1);
      const key = field.path[field.path.length - 1];
      let node: unknown = policy;
      for (const p of parents) node = isPlain(node) ? node[p] : undefined;
      if (!isPlain(node) || typeof node[key] !== "string") continue;
      const text = node[key] as string;
      const where = formatPath([...at, ...field.path]);
      const parsed = parseDuration(text);
      if (parsed === null) {
        errors.push(`${where}: ${formatValue(text)} is not a duration (${DURATION_FORMS})`);
      } else if (parsed.seconds < field.min) {
        errors.push(`${where}: ${formatValue(text)} is less than the minimum of ${inUnit(field.min, parsed.unit)}`);
      } else if (parsed.seconds > field.max) {
        errors.push(`${where}: ${formatValue(text)} is more than the maximum of ${inUnit(field.max, parsed.unit)}`);
      } else {
        node[key] = parsed.seconds;
        continue;
      }
      node[key] = field.min;
    }
  }
  return { fleet, errors };
}

/**
 * Copies only the objects on the way to duration fields (the rest, e.g. a 100,000-CIDR blocklist,
 * stays shared): the operator's object is never changed.
 */
function copyPolicies(input: Plain): Plain {
  const copyPolicy = (policy: unknown): unknown => {
    if (!isPlain(policy)) return policy;
    const out: Plain = { ...policy };
    for (const field of DURATION_FIELDS) {
      let node = out;
      for (const p of field.path.slice(0, -1)) {
        if (!isPlain(node[p])) break;
        node[p] = { ...(node[p] as Plain) };
        node = node[p] as Plain;
      }
    }
    return out;
  };
  const fleet: Plain = { ...input };
  if ("defaults" in fleet) fleet.defaults = copyPolicy(fleet.defaults);
  if (isPlain(fleet.groups)) {
    fleet.groups = Object.fromEntries(Object.entries(fleet.groups).map(([k, g]) => [k, copyPolicy(g)]));
  }
  if (Array.isArray(fleet.hosts)) {
    fleet.hosts = fleet.hosts.map((h) => (isPlain(h) && "policy" in h ? { ...h, policy: copyPolicy(h.policy) } : h));
  }
  return fleet;
}
