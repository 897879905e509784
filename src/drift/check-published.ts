// Published ports (DNAT) against the policy. One the policy does not open to everyone but harden's forward
// filter drops is information (it does not fail `--expect-no-changes`); one reachable because the filter
// is missing or bypassed is drift.
import { INTERNAL_PORTS } from "../policy/semantic";
import type { DriftExpect } from "../plan/drift-expect";
import { quote, type DriftItem } from "./item";
import type { LiveFirewall } from "./live-firewall";
import type { Observation } from "./observation";
import { isLoopbackPublished, publishedPorts, type PublishedPort } from "./published";

const same = (a: { port: number; proto: string }, b: { port: number; proto: string }) => a.port === b.port && a.proto === b.proto;

/** harden's forward filter is loaded as planned and consulted before anything else can accept. */
export function forwardFilterActive(expect: DriftExpect, live: LiveFirewall, family: 4 | 6): boolean {
  const fw = expect.firewall;
  if (live.backend === "nftables") {
    return fw.forwardChains.every((name) => {
      const chain = live.chains.find((c) => c.table === "inet harden" && c.name === name);
      const header = fw.chainHeaders[name];
      return chain !== undefined && (!header || chain.header === header)
        && JSON.stringify(chain.rules) === JSON.stringify(fw.rules[name] ?? []);
    });
  }
  const tool = family === 4 ? "iptables" : "ip6tables";
  const chain = (table: string, name: string) => live.chains.find((c) => c.table === table && c.name === name);
  const loaded = fw.forwardChains.filter((k) => k.startsWith(`${tool}-mangle `)).every((key) => {
    const name = key.split(" ")[1];
    const c = chain(`${tool}-mangle`, name);
    return c !== undefined && JSON.stringify([`-N ${name}`, ...c.rules]) === JSON.stringify(fw.rules[key] ?? []);
  });
  // in mangle FORWARD, with nothing before the jump that could accept (an ACCEPT there ends the chain)
  const rules = chain(`${tool}-mangle`, "FORWARD")?.rules ?? [];
  const jump = rules.indexOf("-A FORWARD -j HARDEN-FORWARD");
  const hooked = jump >= 0 && rules.slice(0, jump).every((r) => !/ -j (ACCEPT|RETURN)\b/.test(r) && !/ -g /.test(r));
  return loaded && hooked;
}

function where(p: PublishedPort): string {
  const addr = p.address ?? (p.family === 4 ? "0.0.0.0" : "[::]");
  return `${p.address && p.family === 6 ? `[${addr}]` : addr}:${p.port}/${p.proto}`;
}

export function checkPublished(expect: DriftExpect, fw: Observation["firewall"], live: LiveFirewall): DriftItem[] {
  const policy = expect.firewall.published;
  const items: DriftItem[] = [];
  for (const p of publishedPorts(fw)) {
    if (isLoopbackPublished(p)) continue;
    const openToAll = expect.publicPorts.some((d) => same(d, p))
      || (policy.undeclared === "accept" && !policy.drop.some((d) => same(d, p)));
    if (openToAll) continue;
    const declared = expect.declaredPorts.some((d) => same(d, p));
    const what = `published ${where(p)} (DNAT to ${p.to}${p.port in INTERNAL_PORTS ? `, ${INTERNAL_PORTS[p.port]} port` : ""})`;
    const key = `published ${p.proto} ${p.address ?? "*"}:${p.port} v${p.family}`;
    if (forwardFilterActive(expect, live, p.family)) {
      if (declared) continue; // admitted from its sources only, as declared
      items.push({ unit: "host", key, expected: "not published", found: "published, dropped", info: true,
        message: `${what} is not in the policy: harden's forward filter drops it (declare it under firewall.services to open it)` });
    } else {
      items.push({ unit: "firewall", key, expected: declared ? "declared sources only" : "dropped", found: "reachable from anywhere",
        message: `${what} reachable from anywhere against the policy: harden's forward filter is missing or bypassed (rule ${quote(p.rule)})` });
    }
  }
  return items;
}
