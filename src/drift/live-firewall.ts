// The live ruleset as seen by drift: parsed per backend, with a reachability question on top.
import type { Proto } from "../policy/types";
import type { DriftExpect } from "../plan/drift-expect";
import type { Observation } from "./observation";
import { chainVerdict, readIptablesRule, readNftRule, walk, type Hit, type RuleReading } from "./reach";
import { parseIptables, parseNftRuleset, type Chain } from "./ruleset";

export const NFT_TABLE = "inet harden";
/** iptables chains harden hooks into INPUT */
export const IPT_ENTRY = "HARDEN-INPUT";

export interface LiveFirewall {
  backend: "nftables" | "iptables";
  chains: Chain[];
  read: (rule: string) => RuleReading;
}

export function liveFirewall(expect: DriftExpect, fw: Observation["firewall"]): LiveFirewall {
  if (expect.firewall.backend === "nftables") {
    return { backend: "nftables", chains: parseNftRuleset(fw.output.nft ?? []).chains, read: readNftRule };
  }
  return {
    backend: "iptables",
    // the filter table as "iptables"/"ip6tables", mangle as "iptables-mangle"/"ip6tables-mangle"
    chains: ["iptables", "ip6tables", "iptables-mangle", "ip6tables-mangle"].flatMap((t) => parseIptables(t, fw.output[t] ?? [])),
    read: readIptablesRule,
  };
}

/** Which families a listener is reached by: "::" sockets are dual-stack on Linux by default. */
export function families(address: string): (4 | 6)[] {
  if (address === "::") return [4, 6];
  if (address.startsWith("::ffff:")) return [4];
  return address.includes(":") ? [6] : [4];
}

function tableFamily(table: string): (4 | 6)[] {
  if (table.startsWith("iptables")) return [4];
  if (table.startsWith("ip6tables")) return [6];
  const fam = table.split(" ")[0];
  return fam === "ip" ? [4] : fam === "ip6" ? [6] : fam === "inet" ? [4, 6] : [];
}

export interface Reach {
  open: boolean;
  /** the rule that let it through (or dropped it) */
  hit: Hit | null;
}

/** Is port/proto open to a new connection from anywhere, for this address family? */
export function reachable(live: LiveFirewall, family: 4 | 6, port: number, proto: Proto): Reach {
  const inFamily = live.chains.filter((c) => tableFamily(c.table).includes(family));
  const lookup = (table: string) => (name: string) => inFamily.find((c) => c.table === table && c.name === name);
  let accepted: Hit | null = null;
  for (const base of inFamily.filter((c) => c.hook === "input")) {
    const v = chainVerdict(base, port, proto, lookup(base.table), live.read);
    if (v.verdict === "drop") return { open: false, hit: v.hit };
    accepted ??= v.hit;
  }
  return { open: true, hit: accepted };
}

/**
 * Rules outside harden's objects that accept port/proto from anywhere on the input path:
 * nftables: in any other table's input base chains (they cannot bypass our drop, but they show
 * intent and take over if our table goes); iptables: in INPUT before the jump to HARDEN-INPUT
 * (those DO bypass harden).
 */
export function foreignAccepts(live: LiveFirewall, port: number, proto: Proto): { chain: Chain; rule: string; bypass: boolean }[] {
  const out: { chain: Chain; rule: string; bypass: boolean }[] = [];
  for (const chain of live.chains.filter((c) => c.hook === "input")) {
    if (live.backend === "nftables") {
      if (chain.table === NFT_TABLE) continue;
      const lookup = (name: string) => live.chains.find((c) => c.table === chain.table && c.name === name);
      const hit = walk(chain, port, proto, lookup, live.read);
      if (hit?.verdict === "accept") out.push({ chain: hit.chain, rule: hit.rule, bypass: false });
    } else {
      // an accept in mangle INPUT ends only the mangle chain: filter INPUT still runs
      if (chain.table.endsWith("-mangle")) continue;
      const jump = chain.rules.findIndex((r) => live.read(r).target === IPT_ENTRY);
      const before = jump < 0 ? chain.rules : chain.rules.slice(0, jump);
      const lookup = (name: string) => live.chains.find((c) => c.table === chain.table && c.name === name);
      const hit = walk({ ...chain, rules: before }, port, proto, lookup, live.read);
      if (hit?.verdict === "accept") out.push({ chain, rule: hit.rule, bypass: true });
    }
  }
  return out;
}
