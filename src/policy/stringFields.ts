// Every string in a fleet, values and map keys alike, with the path an error about it must name.
// The validation property test fuzzes these; the render/plan property test can reuse them to plant
// hostile strings and check that scripts only ever carry them quoted.
import { formatPath, type PathSegment } from "./errors";
import { exampleFleet } from "./fixtures";

export interface StringField {
  /** where the string is: for a key, the path of the entry it names (["groups", "web"]) */
  path: PathSegment[];
  /** "value": the string at `path`; "key": the map key that is the last segment of `path` */
  kind: "value" | "key";
  /** how validation errors name it: the value's own path, or for a key, the path of its map */
  display: string;
  /** true for crontab lines only: shell syntax is their point, so they are accepted unless they break lines */
  freeText: boolean;
}

const MAPS_WITH_FREE_KEYS = new Set(["groups", "authorizedKeys"]);
const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** All string fields of `value` (a fleet), in document order. */
export function stringFields(value: unknown, path: PathSegment[] = []): StringField[] {
  if (typeof value === "string") {
    const freeText = path.length >= 3 && path[path.length - 1] === "line" && path[path.length - 3] === "expected";
    return [{ path, kind: "value", display: formatPath(path), freeText }];
  }
  if (Array.isArray(value)) return value.flatMap((item, i) => stringFields(item, [...path, i]));
  if (!isPlain(value)) return [];
  const keyed = MAPS_WITH_FREE_KEYS.has(String(path[path.length - 1]));
  return Object.entries(value).flatMap(([key, child]) => [
    ...(keyed ? [{ path: [...path, key], kind: "key" as const, display: formatPath(path), freeText: false }] : []),
    ...stringFields(child, [...path, key]),
  ]);
}

/** The string fields of exampleFleet(): what the property tests fuzz. */
export const FIXTURE_STRING_FIELDS: readonly StringField[] = stringFields(exampleFleet());

/** A deep copy of `fleet` with the field's string (or key, keeping key order) replaced by `text`. */
export function withString<T>(fleet: T, field: StringField, text: string): T {
  const copy = structuredClone(fleet);
  const parentPath = field.path.slice(0, -1);
  const last = field.path[field.path.length - 1];
  let parent: any = copy;
  for (const segment of parentPath) parent = parent[segment];
  if (field.kind === "value") {
    parent[last] = text;
    return copy;
  }
  const entries = Object.entries(parent as Record<string, unknown>).map(([k, v]) => [k === last ? text : k, v] as const);
  for (const k of Object.keys(parent)) delete parent[k];
  for (const [k, v] of entries) Object.defineProperty(parent, k, { value: v, enumerable: true, writable: true, configurable: true });
  return copy;
}
