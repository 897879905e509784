// A fleet written as a module (.ts, .mts, .cts, .js, .mjs, .cjs) whose default export is the fleet.
// The CLI and the Pulumi program load it through this one function, so both accept and refuse the
// same modules: tsx strips types (it does not check them; `tsc --noEmit` or the editor does), and
// validation then checks the shape exactly as for YAML.
import { existsSync, readFileSync } from "node:fs";
import Module from "node:module";
import { extname, join, resolve } from "node:path";

/** Bad fleet source (missing, empty, unloadable): one message, no stack trace, no usage. */
export class FleetSourceError extends Error {}

const MODULE_EXTENSIONS = new Set([".ts", ".mts", ".cts", ".js", ".mjs", ".cjs"]);

export function isFleetModule(file: string): boolean {
  return MODULE_EXTENSIONS.has(extname(file));
}

/** The package's own entries, relative to this file's folder's parent (src/ or dist/). */
const SELF_ENTRIES: Record<string, string> = { "harden-fleet": "fleet", "harden-fleet/pulumi": "pulumi/index" };

let aliased = false;
/**
 * `import ... from "harden-fleet"` in a fleet module means the package that is running: so a module
 * in an operator's own repository (no harden-fleet in its node_modules) works, and a program never
 * mixes two copies. Sources resolve to sources (.ts under tsx), compiled code to compiled code.
 */
function aliasSelf(): void {
  if (aliased) return;
  aliased = true;
  const ext = extname(__filename);
  const root = join(__dirname, "..");
  const internal = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const resolveFilename = internal._resolveFilename;
  internal._resolveFilename = function (request: string, ...rest: unknown[]) {
    const entry = SELF_ENTRIES[request];
    return entry !== undefined ? join(root, entry + ext) : resolveFilename.call(this, request, ...rest);
  };
}

function loadError(file: string, e: unknown): FleetSourceError {
  const message = e instanceof Error ? e.message : String(e);
  // esbuild (inside tsx): "Transform failed with 1 error:\n/abs/fleet.ts:4:4: ERROR: Expected ..."
  const transform = /^Transform failed with \d+ errors?:\n(.+?):(\d+):(\d+): ERROR: (.*)$/m.exec(message);
  if (transform) return new FleetSourceError(`${transform[1]}:${transform[2]}:${transform[3]}: syntax error: ${transform[4]}`);
  if (e instanceof SyntaxError) {
    // V8's own parser (plain .js): the stack's first line is "/abs/fleet.js:3"
    const where = /^(\/[^\n]*?):(\d+)\n/.exec(e.stack ?? "");
    if (where) return new FleetSourceError(`${where[1]}:${where[2]}: syntax error: ${message}`);
  }
  return new FleetSourceError(`${file}: could not load: ${message.split("\nRequire stack:")[0]}`);
}

function kind(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}

/**
 * The fleet a module exports by default (a Promise of one is awaited). Refuses, each with one
 * message naming the file: a missing or empty file, a module that does not load (its message; a
 * syntax error with file:line:column), no default export, a function, anything but an object.
 */
export async function loadFleetModule(file: string): Promise<unknown> {
  const path = resolve(file);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new FleetSourceError(`cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  if (text.trim() === "") throw new FleetSourceError(`${file}: is empty (export default the fleet)`);
  aliasSelf();
  let exported: unknown;
  try {
    const tsx = require("tsx/cjs/api") as { require: (id: string, from: string) => unknown };
    const loaded = tsx.require(path, __filename) as Record<string, unknown> | null;
    // ES modules (and TypeScript's export default) put the fleet under "default"; CommonJS assigns module.exports
    // (an empty module.exports is a module that exports nothing)
    exported = loaded !== null && typeof loaded === "object" && ("default" in loaded || loaded.__esModule)
      ? loaded.default
      : loaded !== null && typeof loaded === "object" && Object.keys(loaded).length === 0 ? undefined : loaded;
    if (exported !== null && typeof (exported as { then?: unknown })?.then === "function") exported = await exported;
  } catch (e) {
    throw loadError(file, e);
  }
  if (exported === undefined) throw new FleetSourceError(`${file}: has no default export (export default the fleet)`);
  if (typeof exported === "function") {
    throw new FleetSourceError(`${file}: the default export is a function; export the fleet itself (or a Promise of it), not a function that makes it`);
  }
  if (typeof exported !== "object" || exported === null || Array.isArray(exported)) {
    throw new FleetSourceError(`${file}: the default export is ${kind(exported)}, not a fleet object`);
  }
  return exported;
}

/** Whether a folder holds a Pulumi project (its Pulumi.yaml). */
export function isProjectDir(dir: string): boolean {
  return existsSync(join(dir, "Pulumi.yaml")) || existsSync(join(dir, "Pulumi.yml"));
}
