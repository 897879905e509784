import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { InputError } from "./input-errors";

/** The config key a stack file carries the fleet under. */
export const FLEET_CONFIG_KEY = "hardening:fleet";


/** A fleet from a plain .yaml/.json file, or from a stack file's `hardening:fleet` config value. */
export function loadFleetFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new InputError(`cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
  let doc: unknown;
  try {
    doc = path.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new InputError(`${path}: not valid ${path.endsWith(".json") ? "JSON" : "YAML"}: ${(e as Error).message}`);
  }
  const config = (doc as { config?: Record<string, unknown> } | null)?.config;
  if (config && typeof config === "object" && FLEET_CONFIG_KEY in config) return config[FLEET_CONFIG_KEY];
  return doc;
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
