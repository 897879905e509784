// Does the live ruleset let a NEW connection from an arbitrary outside address reach port/proto?
// A deliberately small reading of rules: it knows ports, protocols, source matches, conntrack state,
// loopback, rate limits and jumps, and treats anything it cannot read in a rule as not matching.
// Semantics it relies on:
// - nftables: a packet must pass EVERY base chain on the input hook. `accept` ends one chain only;
//   `drop` is final. So a foreign table cannot open what table inet harden drops.
// - iptables: INPUT is one chain. An ACCEPT before the jump to HARDEN-INPUT skips harden entirely;
//   HARDEN-INPUT RETURNs what it allows and DROPs the rest.
import type { Proto } from "../policy/types";
import type { Chain } from "./ruleset";

export interface RuleReading {
  verdict: "accept" | "drop" | "return" | "jump" | null;
  target: string | null;
  /** matches traffic from any source (no saddr / -s / set match on the source) */
  anySource: boolean;
  /** can match the first packet of a new connection */
  newConnections: boolean;
  protos: Proto[] | "any";
  ports: { negate: boolean; list: [number, number][] } | "any";
}

function portList(text: string, sep: RegExp, range: string): [number, number][] {
  return text.split(sep).map((p) => p.trim()).filter(Boolean).map((p) => {
    const [a, b] = p.split(range).map(Number);
    return [a, Number.isFinite(b) ? b : a] as [number, number];
  }).filter(([a, b]) => Number.isInteger(a) && Number.isInteger(b));
}

export function readNftRule(rule: string): RuleReading {
  const tokens = rule.split(/\s+/);
  const last = tokens[tokens.length - 1];
  const verdict = last === "accept" ? "accept" : last === "drop" || rule.includes(" reject") || last === "reject" ? "drop"
    : last === "return" ? "return" : /\b(jump|goto) \S+$/.test(rule) ? "jump" : null;
  const target = verdict === "jump" ? tokens[tokens.length - 1] : null;
  let protos: Proto[] | "any" = "any";
  const l4 = /\b(?:meta l4proto|ip protocol|ip6 nexthdr) (\{[^}]*\}|\S+)/.exec(rule);
  if (l4) protos = (["tcp", "udp"] as Proto[]).filter((p) => l4[1].includes(p));
  else if (/(^|\s)(tcp|udp) /.test(rule)) protos = (["tcp", "udp"] as Proto[]).filter((p) => new RegExp(`(^|\\s)${p} `).test(rule));
  else if (/(^|\s)(icmp|icmpv6) /.test(rule)) protos = [];
  let ports: RuleReading["ports"] = "any";
  const d = /\bdport (!= )?(\{ ([^}]*) \}|\S+)/.exec(rule);
  if (d) ports = { negate: !!d[1], list: portList(d[3] ?? d[2], /,/, "-") };
  const state = /\bct state (!= )?(\{[^}]*\}|\S+)/.exec(rule);
  const newConnections = (!state || (state[1] ? !state[2].includes("new") : state[2].includes("new")))
    && !/\blimit rate\b/.test(rule) && !/\badd @/.test(rule);
  return {
    verdict,
    target,
    anySource: !/\bsaddr\b/.test(rule) && !/\biif(name)? "lo"/.test(rule),
    newConnections,
    protos,
    ports,
  };
}

export function readIptablesRule(rule: string): RuleReading {
  const j = /-j (\S+)/.exec(rule);
  const jt = j?.[1] ?? null;
  const verdict = jt === "ACCEPT" ? "accept" : jt === "DROP" || jt === "REJECT" ? "drop" : jt === "RETURN" ? "return" : jt ? "jump" : null;
  const p = /(!\s)?-p (\S+)/.exec(rule);
  const protos: Proto[] | "any" = !p || p[1] ? "any" : (["tcp", "udp"] as Proto[]).filter((x) => x === p[2]);
  let ports: RuleReading["ports"] = "any";
  const d = /(! )?--dports? (\S+)/.exec(rule);
  if (d) ports = { negate: !!d[1], list: portList(d[2], /,/, ":") };
  const state = /--(?:ct)?state (\S+)/.exec(rule);
  const newConnections = (!state || state[1].split(",").includes("NEW"))
    && !/-m (hashlimit|limit|recent)\b/.test(rule);
  return {
    verdict,
    target: verdict === "jump" ? jt : null,
    anySource: !/(^|\s)-s /.test(rule) && !/--src-range/.test(rule) && !/--match-set \S+ src/.test(rule) && !/(^|\s)-i lo\b/.test(rule),
    newConnections,
    protos,
    ports,
  };
}

/** The rule matches a new connection from anywhere to port/proto (its verdict aside). */
export function matches(r: RuleReading, port: number, proto: Proto): boolean {
  if (!r.anySource || !r.newConnections) return false;
  if (r.protos !== "any" && !r.protos.includes(proto)) return false;
  if (r.ports === "any") return true;
  const inList = r.ports.list.some(([a, b]) => port >= a && port <= b);
  return r.ports.negate ? !inList : inList;
}

export type Outcome = "accept" | "drop" | "return";

export interface Hit {
  chain: Chain;
  rule: string;
  verdict: Outcome;
}

/**
 * Walks one chain for port/proto: the first matching rule with a verdict decides; jumps into chains
 * found by `lookup` are followed (their RETURN continues here). No decision: null.
 */
export function walk(
  chain: Chain, port: number, proto: Proto, lookup: (name: string) => Chain | undefined,
  read: (rule: string) => RuleReading, depth = 0,
): Hit | null {
  if (depth > 8) return null;
  for (const rule of chain.rules) {
    const r = read(rule);
    if (!r.verdict || !matches(r, port, proto)) continue;
    if (r.verdict === "jump") {
      const target = r.target ? lookup(r.target) : undefined;
      if (!target) continue;
      const inner = walk(target, port, proto, lookup, read, depth + 1);
      if (inner && inner.verdict !== "return") return inner;
      continue;
    }
    return { chain, rule, verdict: r.verdict };
  }
  return null;
}

/** The verdict of a base chain: its first deciding rule, else its policy. */
export function chainVerdict(chain: Chain, port: number, proto: Proto, lookup: (name: string) => Chain | undefined,
  read: (rule: string) => RuleReading): { verdict: "accept" | "drop"; hit: Hit | null } {
  const hit = walk(chain, port, proto, lookup, read);
  if (hit && hit.verdict !== "return") return { verdict: hit.verdict, hit };
  return { verdict: chain.policy === "drop" ? "drop" : "accept", hit: null };
}
