// How validation talks about a fleet: paths in the fleet's own terms (hosts[2].policy.ssh.port) and
// values printed so that hostile input cannot break the line or the terminal that shows it.

/** Thrown by assertValidFleet: every problem found, one line each, in a stable order. */
export class FleetInvalid extends Error {
  readonly errors: string[];
  constructor(errors: string[]) {
    super(`invalid fleet (${errors.length} error${errors.length === 1 ? "" : "s"}):\n` + errors.map((e) => `  ${e}`).join("\n"));
    this.name = "FleetInvalid";
    this.errors = errors;
  }
}

export type PathSegment = string | number;

const PLAIN_KEY = /^[A-Za-z0-9_][A-Za-z0-9_-]*$/;

/** ["hosts", 2, "policy", "ssh", "port"] -> "hosts[2].policy.ssh.port"; odd keys are quoted: groups["a b"] */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const segment of path) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (PLAIN_KEY.test(segment)) out += out === "" ? segment : `.${segment}`;
    else out += `[${formatValue(segment)}]`;
  }
  return out === "" ? "fleet" : out;
}

const MAX_SHOWN = 80;

/** A value as it appears in a message: JSON, with every non-printable or non-ASCII character escaped. */
export function formatValue(value: unknown): string {
  if (Array.isArray(value)) return "a list";
  if (value === null) return "null";
  if (typeof value === "object") return "an object";
  if (typeof value === "string") {
    const shown = value.length > MAX_SHOWN ? value.slice(0, MAX_SHOWN) + "..." : value;
    // per UTF-16 unit (no "u" flag), so emoji and bidi controls print as plain \uXXXX escapes
    return JSON.stringify(shown).replace(/[^\x20-\x7e]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  if (value === undefined) return "nothing";
  return String(value);
}

const BARE_WORD = /^[A-Za-z0-9_.@:/+-]+$/;

/** Joins short lists in messages: "no, prohibit-password"; anything but a plain word is quoted and escaped. */
export function formatList(values: readonly unknown[]): string {
  return values.map((v) => (typeof v === "string" && BARE_WORD.test(v) ? v : formatValue(v))).join(", ");
}
