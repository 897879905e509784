// Address lists as the kernel wants them (nft interval sets, ipset hash:net) and the memo that
// renders a large list once per distinct content, however many hosts share it.
import type { Blocklist } from "../policy/types";
import { parseCidr } from "../policy/cidr";
import type { Payload } from "./artifact";
import { listDigest, sha256 } from "./hash";

/** Lists longer than this leave the ruleset file for a content-addressed payload. */
export const PAYLOAD_THRESHOLD = 256;
export const PAYLOAD_DIR = "/var/lib/harden/payload";

/** A list split by family, sorted, host bits cleared, covered networks removed. */
export interface AddressSet {
  v4: string[];
  v6: string[];
}

interface Net {
  start: bigint;
  end: bigint;
  prefix: number;
}

/**
 * Normalises CIDRs for an interval set: nft 1.0.6 rejects overlapping elements ("conflicting
 * intervals specified") unless auto-merge is on, and auto-merge makes the kernel's content differ
 * from what we wrote. CIDRs either nest or are disjoint, so dropping the covered ones is enough.
 * /0 becomes two /1 (ipset hash:net refuses prefix 0). Output is in numeric order: deterministic.
 * Prints like the tools list them: no /32 or /128 on single addresses.
 */
export function normaliseCidrs(cidrs: readonly string[]): AddressSet {
  const nets: Record<4 | 6, Net[]> = { 4: [], 6: [] };
  for (const text of cidrs) {
    const cidr = parseCidr(text);
    // validation runs before render; this guard keeps a bad string out of a ruleset regardless
    if (!cidr) throw new Error(`not a CIDR: ${JSON.stringify(text)}`);
    const bits = cidr.family === 4 ? 32 : 128;
    let value = 0n;
    for (const byte of cidr.address.toByteArray()) value = (value << 8n) | BigInt(byte);
    const prefixes = cidr.prefix === 0 ? [1, 1] : [cidr.prefix];
    prefixes.forEach((prefix, i) => {
      const size = 1n << BigInt(bits - prefix);
      const start = cidr.prefix === 0 ? BigInt(i) << BigInt(bits - 1) : (value / size) * size;
      nets[cidr.family].push({ start, end: start + size - 1n, prefix });
    });
  }
  return { v4: collapse(nets[4], 4), v6: collapse(nets[6], 6) };
}

function collapse(nets: Net[], family: 4 | 6): string[] {
  nets.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : a.prefix - b.prefix));
  const out: string[] = [];
  let coveredTo = -1n;
  for (const net of nets) {
    if (net.end <= coveredTo) continue;
    coveredTo = net.end;
    out.push(formatNet(net, family));
  }
  return out;
}

function formatNet(net: Net, family: 4 | 6): string {
  if (family === 4) {
    const n = Number(net.start);
    const text = `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
    return net.prefix === 32 ? text : `${text}/${net.prefix}`;
  }
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((net.start >> BigInt(i * 16)) & 0xffffn).toString(16));
  const text = compressV6(groups);
  return net.prefix === 128 ? text : `${text}/${net.prefix}`;
}

/** RFC 5952: the longest run (>= 2) of zero groups becomes "::", the first one on a tie. */
function compressV6(groups: string[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") { i++; continue; }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLen) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  if (bestAt < 0) return groups.join(":");
  return `${groups.slice(0, bestAt).join(":")}::${groups.slice(bestAt + bestLen).join(":")}`;
}

/** A set name both nft and ipset accept: [a-z0-9_], at most 16 characters, unique per name. */
export function listId(name: string): string {
  const clean = name.toLowerCase().replace(/[^a-z0-9_]/g, "_");
  if (clean === name && clean.length <= 16 && clean.length > 0) return clean;
  return `${clean.slice(0, 10)}_${sha256(name).slice(0, 5)}`;
}

/**
 * Memoises work on big lists across a fleet render: the plan builder makes one per render, so a
 * 100,000-CIDR list shared by 50 hosts is normalised once and its payload rendered once per
 * backend. Keys are content hashes: equal content hits, whatever object it came from.
 */
export class PayloadCache {
  private readonly entries = new Map<string, unknown>();
  /** how often work really ran, by kind: lets tests and the benchmark prove the sharing */
  readonly builds = new Map<string, number>();

  memo<T>(kind: string, key: string, build: () => T): T {
    const full = `${kind}:${key}`;
    if (this.entries.has(full)) return this.entries.get(full) as T;
    const value = build();
    this.entries.set(full, value);
    this.builds.set(kind, (this.builds.get(kind) ?? 0) + 1);
    return value;
  }

  /** Every payload built so far, in build order. */
  payloads(): Payload[] {
    return [...this.entries.values()].filter(isPayload);
  }
}

function isPayload(v: unknown): v is Payload {
  return typeof v === "object" && v !== null && "remotePath" in v && "sha256" in v;
}

/** A blocklist ready for a backend: normalised, and `large` when it goes to a payload. */
export interface PreparedList {
  name: string;
  id: string;
  /** hash of the declared content; keys the backend payload memo */
  key: string;
  set: AddressSet;
  large: boolean;
}

export function prepareBlocklist(list: Blocklist, cache: PayloadCache): PreparedList {
  const key = listDigest(list.cidrs);
  const set = cache.memo("normalise", key, () => normaliseCidrs(list.cidrs));
  const large = set.v4.length + set.v6.length > PAYLOAD_THRESHOLD;
  return { name: list.name, id: listId(list.name), key, set, large };
}

/** Builds (once per content, backend and set id) the payload a backend renders for a list. */
export function blocklistPayload(
  cache: PayloadCache, backend: string, ext: string, list: PreparedList, render: () => string,
): Payload {
  return cache.memo(`payload-${backend}`, `${list.id}:${list.key}`, () => {
    const content = render();
    const hash = sha256(content);
    return { remotePath: `${PAYLOAD_DIR}/${hash}.${ext}`, sha256: hash, content };
  });
}
