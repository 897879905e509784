import { createHash } from "node:crypto";

export function sha256(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex");
}

/** Lists longer than this enter stableJson by digest: hashing 100,000 CIDRs once per host adds up. */
const DIGEST_LISTS_LONGER_THAN = 256;
// Resolved policies share list objects (see resolve.ts), so identity is a sound memo key.
const listDigests = new WeakMap<readonly unknown[], string>();

/** sha256 of a list's canonical JSON, computed once per list object. */
export function listDigest(list: readonly unknown[]): string {
  let digest = listDigests.get(list);
  if (!digest) {
    digest = sha256(JSON.stringify(list));
    listDigests.set(list, digest);
  }
  return digest;
}

/**
 * Canonical JSON for hashing: sorted keys, undefined members left out, long lists replaced by their
 * digest. The same value always gives the same text, whatever the key order it was written in.
 */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) {
    if (value.length > DIGEST_LISTS_LONGER_THAN) return JSON.stringify(`sha256:${listDigest(value)}`);
    return `[${value.map((v) => (v === undefined ? "null" : stableJson(v))).join(",")}]`;
  }
  if (value !== null && typeof value === "object") {
    const record = value as Record<string, unknown>;
    const members = Object.keys(record).sort()
      .filter((k) => record[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson(record[k])}`);
    return `{${members.join(",")}}`;
  }
  return JSON.stringify(value);
}
