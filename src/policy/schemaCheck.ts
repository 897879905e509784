// The JSON Schema check: ajv (draft 2020-12) with this project's formats, and one human message per
// failure. Raw ajv text never reaches the operator; each keyword has its own sentence.
import Ajv2020, { type ErrorObject } from "ajv/dist/2020";
import { closestKey } from "./did-you-mean";
import { hasHostBits, isCidr, isDnsName, isIp, networkOf, parseCidr } from "./cidr";
import { formatList, formatPath, formatValue, type PathSegment } from "./errors";
import { FLEET_SCHEMA } from "./schema";

function buildValidator() {
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: true, allowUnionTypes: true });
  ajv.addFormat("ip", { type: "string", validate: isIp });
  ajv.addFormat("cidr", { type: "string", validate: isCidr });
  ajv.addFormat("host-address", { type: "string", validate: (s: string) => isIp(s) || isDnsName(s) });
  // separate from the format so the message can name the network the operator probably meant
  ajv.addKeyword({
    keyword: "networkAddress",
    type: "string",
    schemaType: "boolean",
    validate: (_enabled: boolean, data: string) => {
      const cidr = parseCidr(data);
      return cidr === null || !hasHostBits(cidr);
    },
  });
  return ajv.compile(FLEET_SCHEMA);
}

let compiled: ReturnType<typeof buildValidator> | undefined;

/** Schema errors of `input`, one human line each, in ajv's (deterministic) order; [] when valid. */
export function checkSchema(input: unknown): string[] {
  compiled ??= buildValidator();
  if (compiled(input)) return [];
  const lines: string[] = [];
  for (const error of compiled.errors ?? []) {
    const line = describe(error, input);
    if (line !== null && !lines.includes(line)) lines.push(line);
  }
  return lines;
}

/** "/hosts/2/policy" -> ["hosts", 2, "policy"], telling list indexes from map keys by the data itself. */
export function pathSegments(instancePath: string, root: unknown): PathSegment[] {
  if (instancePath === "") return [];
  const segments: PathSegment[] = [];
  let node: unknown = root;
  for (const raw of instancePath.slice(1).split("/")) {
    const key = raw.replace(/~1/g, "/").replace(/~0/g, "~");
    const segment = Array.isArray(node) ? Number(key) : key;
    segments.push(segment);
    node = node !== null && typeof node === "object" ? (node as Record<PathSegment, unknown>)[segment] : undefined;
  }
  return segments;
}

const TYPE_NAMES: Record<string, string> = {
  string: "a string", integer: "an integer", number: "a number", boolean: "true or false",
  array: "a list", object: "an object", null: "null",
};

function describe(error: ErrorObject, root: unknown): string | null {
  const path = pathSegments(error.instancePath, root);
  const at = formatPath(path);
  const value = error.data;
  const parent = (error.parentSchema ?? {}) as {
    description?: string; minimum?: number; maximum?: number; properties?: Record<string, unknown>;
  };
  switch (error.keyword) {
    // wrappers: the error inside them says what is wrong
    case "if":
    case "propertyNames":
      return null;
    case "additionalProperties": {
      const key: string = error.params.additionalProperty;
      const guess = closestKey(key, Object.keys(parent.properties ?? {}));
      return `${formatPath([...path, key])}: unknown key${guess ? `; did you mean ${guess}?` : ""}`;
    }
    case "required":
      return `${formatPath([...path, error.params.missingProperty])}: missing (required)`;
    case "networkAddress":
      return `${at}: ${formatValue(value)} has host bits set; did you mean ${networkOf(parseCidr(value as string)!)}?`;
    case "uniqueItems": {
      const later = Math.max(error.params.i, error.params.j);
      return `${formatPath([...path, later])}: ${formatValue((value as unknown[])[later])} is listed twice`;
    }
    case "minItems":
      return `${at}: must list at least ${error.params.limit} entr${error.params.limit === 1 ? "y" : "ies"}`;
  }
  // a key of a map (a user in authorizedKeys, a group name) that fails its pattern
  if (error.propertyName !== undefined) {
    return `${at}: key ${formatValue(error.propertyName)} is not ${parent.description ?? "allowed here"}`;
  }
  if (parent.description !== undefined && error.keyword !== "enum") {
    return `${at}: ${formatValue(value)} is not ${parent.description}`;
  }
  switch (error.keyword) {
    case "enum":
      return `${at}: ${formatValue(value)} is not one of ${formatList(error.params.allowedValues)}`;
    case "type": {
      const types = ([] as string[]).concat(error.params.type).map((t) => TYPE_NAMES[t] ?? t);
      return `${at}: ${formatValue(value)} is not ${types.join(" or ")}`;
    }
    case "minimum":
    case "maximum":
      return `${at}: ${formatValue(value)} is not between ${parent.minimum} and ${parent.maximum}`;
    default:
      return `${at}: ${formatValue(value)} is not valid here (${error.keyword})`;
  }
}
