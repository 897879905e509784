// The firewall harden owns (table inet harden, or HARDEN-* chains and harden-* ipsets) against the
// plan, plus rules elsewhere that accept SSH or a declared service port from anywhere.
import type { DriftExpect } from "../plan/drift-expect";
import { quote, type DriftItem } from "./item";
import { lineDiff } from "./line-diff";
import { foreignAccepts, IPT_ENTRY, NFT_TABLE, type LiveFirewall } from "./live-firewall";
import type { Observation } from "./observation";

function chainDiff(where: string, chain: string, expected: string[], found: string[]): DriftItem[] {
  return lineDiff(expected, found).map((c) => ({
    unit: "firewall" as const,
    key: `firewall ${where} chain ${chain} ${c.op}${c.line}`,
    expected: c.op === "-" ? c.line : null,
    found: c.op === "+" ? c.line : null,
    message: `firewall: ${where} differs: ${c.op}rule ${quote(c.line)} in chain ${chain}${c.op === "+" ? " (not in the plan)" : " (missing)"}`,
  }));
}

function ownNft(expect: DriftExpect, live: LiveFirewall): DriftItem[] {
  const mine = live.chains.filter((c) => c.table === NFT_TABLE);
  if (mine.length === 0) {
    return [{ unit: "firewall", key: `firewall ${NFT_TABLE}`, expected: "loaded", found: "missing",
      message: `firewall: table ${NFT_TABLE} is not loaded (everything it drops is open)` }];
  }
  const items: DriftItem[] = [];
  const want = expect.firewall.rules;
  for (const [name, rules] of Object.entries(want)) {
    const chain = mine.find((c) => c.name === name);
    if (!chain) {
      items.push({ unit: "firewall", key: `firewall ${NFT_TABLE} chain ${name}`, expected: "present", found: "missing",
        message: `firewall: table ${NFT_TABLE} differs: chain ${name} is missing` });
      continue;
    }
    const header = expect.firewall.chainHeaders[name];
    if (header && chain.header !== header) {
      items.push({ unit: "firewall", key: `firewall ${NFT_TABLE} chain ${name} header`, expected: header, found: chain.header,
        message: `firewall: table ${NFT_TABLE} differs: chain ${name} is ${quote(chain.header ?? "a regular chain")}, expected ${quote(header)}` });
    }
    items.push(...chainDiff(`table ${NFT_TABLE}`, name, rules, chain.rules));
  }
  for (const extra of mine.filter((c) => !(c.name in want))) {
    items.push({ unit: "firewall", key: `firewall ${NFT_TABLE} chain ${extra.name}`, expected: null, found: "present",
      message: `firewall: table ${NFT_TABLE} differs: +chain ${extra.name} (not in the plan)` });
  }
  return items;
}

function ownIptables(expect: DriftExpect, live: LiveFirewall): DriftItem[] {
  const items: DriftItem[] = [];
  for (const [key, rules] of Object.entries(expect.firewall.rules)) {
    const [tool, name] = key.split(" ");
    const chain = live.chains.find((c) => c.table === tool && c.name === name);
    if (!chain) {
      items.push({ unit: "firewall", key: `firewall ${tool} chain ${name}`, expected: "present", found: "missing",
        message: `firewall: ${tool} chain ${name} is missing` });
      continue;
    }
    items.push(...chainDiff(tool, name, rules, [`-N ${name}`, ...chain.rules]));
  }
  for (const tool of ["iptables", "ip6tables"]) {
    for (const hook of expect.firewall.hooks) {
      // "-t mangle -A FORWARD -j X": the jump is listed in that table, as "-A FORWARD -j X"
      const [, table, rule] = /^(?:-t (\S+) )?(.*)$/.exec(hook)!;
      const chain = live.chains.find((c) => c.table === (table ? `${tool}-${table}` : tool) && c.name === rule.split(" ")[1]);
      if (!chain?.rules.includes(rule)) {
        items.push({ unit: "firewall", key: `firewall ${tool} ${hook}`, expected: "present", found: "missing",
          message: `firewall: ${tool}: ${quote(hook)} is missing (harden's chain is not consulted)` });
      }
    }
  }
  return items;
}

function sets(expect: DriftExpect, observed: Observation["firewall"]["sets"]): DriftItem[] {
  const items: DriftItem[] = [];
  for (const [name, size] of Object.entries(expect.firewall.sets)) {
    const have = observed[name];
    if (have === size) continue;
    items.push({ unit: "firewall", key: `firewall set ${name}`, expected: String(size), found: have === null || have === undefined ? "missing" : String(have),
      message: have === null || have === undefined
        ? `firewall: set ${name} is missing`
        : `firewall: set ${name} holds ${have} element(s), expected ${size}` });
  }
  return items;
}

export function checkFirewall(expect: DriftExpect, fw: Observation["firewall"], live: LiveFirewall, watched: { port: number; proto: "tcp" | "udp" }[]): DriftItem[] {
  if (fw.error) return [{ unit: "firewall", key: "firewall tool", expected: "present", found: "missing", message: `firewall: ${fw.error}` }];
  const failed = Object.entries(fw.rc).filter(([, rc]) => rc !== 0);
  if (failed.length) {
    return failed.map(([tool, rc]) => ({ unit: "firewall" as const, key: `firewall ${tool}`, expected: "exit 0", found: `exit ${rc}`,
      message: `firewall: ${tool} could not list the ruleset (exit ${rc}): ${(fw.output[tool] ?? []).join(" ").slice(0, 200)}` }));
  }
  const items = live.backend === "nftables" ? ownNft(expect, live) : ownIptables(expect, live);
  // without our table its sets are gone too: one item says it all
  const tableGone = live.backend === "nftables" && !live.chains.some((c) => c.table === NFT_TABLE);
  if (!tableGone) items.push(...sets(expect, fw.sets));
  const seen = new Set<string>();
  for (const { port, proto } of watched) {
    for (const f of foreignAccepts(live, port, proto)) {
      const where = live.backend === "nftables" ? `table ${f.chain.table} chain ${f.chain.name}` : `${f.chain.table} chain ${f.chain.name}`;
      const id = `${where} ${f.rule}`;
      if (seen.has(`${id} ${port}/${proto}`)) continue;
      seen.add(`${id} ${port}/${proto}`);
      const effect = f.bypass
        ? `before the jump to ${IPT_ENTRY}: bypasses harden`
        : `outside table ${NFT_TABLE}; no effect while harden drops the port`;
      items.push({ unit: "host", key: `firewall foreign ${port}/${proto} ${id}`, expected: null, found: f.rule,
        message: `firewall: ${where} accepts ${port}/${proto} from anywhere: ${quote(f.rule)} (${effect})` });
    }
  }
  return items;
}
