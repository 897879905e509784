import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import { FleetSourceError, isFleetModule, isProjectDir, loadFleetModule } from "../source/fleet-module";
import { InputError } from "./input-errors";

/** The config keys a stack file carries the fleet under: the object itself, or a module naming it. */
export const FLEET_CONFIG_KEY = "hardening:fleet";
export const FLEET_MODULE_CONFIG_KEY = "hardening:fleetModule";

/**
 * A fleet from a module (.ts/.js...), a plain .yaml/.json file, or a stack file's `hardening:fleet`
 * value or `hardening:fleetModule` (a module path relative to the Pulumi project, as the program reads it).
 */
export async function loadFleet(path: string): Promise<unknown> {
  if (isFleetModule(path)) return loadFleetModule(path);
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new FleetSourceError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  const format = path.endsWith(".json") ? "JSON" : "YAML";
  if (text.trim() === "") throw new FleetSourceError(`${path}: is empty (no fleet in it)`);
  let doc: unknown;
  try {
    doc = format === "JSON" ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new FleetSourceError(`${path}: not valid ${format}: ${(e as Error).message}`);
  }
  if (doc === null || doc === undefined) throw new FleetSourceError(`${path}: is empty (only comments, no fleet in it)`);
  const config = (doc as { config?: Record<string, unknown> }).config;
  if (config && typeof config === "object") {
    const hasFleet = FLEET_CONFIG_KEY in config;
    const module = config[FLEET_MODULE_CONFIG_KEY];
    if (hasFleet && module !== undefined) {
      throw new FleetSourceError(`${path}: sets both ${FLEET_CONFIG_KEY} and ${FLEET_MODULE_CONFIG_KEY}; keep one`);
    }
    if (module !== undefined) {
      if (typeof module !== "string" || module === "") throw new FleetSourceError(`${path}: ${FLEET_MODULE_CONFIG_KEY} must be a file name`);
      return loadFleetModule(resolve(projectDirOf(path), module));
    }
    if (hasFleet) return config[FLEET_CONFIG_KEY];
  }
  return doc;
}

/** The Pulumi project a stack file belongs to: the nearest folder above it with a Pulumi.yaml. */
export function projectDirOf(stackFile: string): string {
  let dir = dirname(resolve(stackFile));
  for (;;) {
    if (isProjectDir(dir)) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export function stackFile(stack: string, projectDir = process.cwd()): string {
  return join(projectDir, "stacks", `Pulumi.${stack}.yaml`);
}

/** Where the fleet comes from: one FILE, or --stack NAME; never both. */
export function fleetSource(positionals: string[], stack: string | undefined): string {
  if (stack && positionals.length) throw new InputError("give either FILE or --stack, not both");
  if (stack) return stackFile(stack);
  if (positionals.length !== 1) throw new InputError("give one FILE or --stack NAME");
  return positionals[0];
}
