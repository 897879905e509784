// Ports published by DNAT (Docker's -p, Podman, port forwards, NodePorts), read from the nat rules and
// not from listening sockets: with Docker's userland proxy off nothing listens for them.
import type { Proto } from "../policy/types";
import type { Observation } from "./observation";
import { parseNftRuleset } from "./ruleset";

export interface PublishedPort {
  family: 4 | 6;
  proto: Proto;
  port: number;
  /** the host address it is published on; null: every address */
  address: string | null;
  /** where it is DNAT'd to, as the rule says */
  to: string;
  rule: string;
}

/** Ranges (`8000:8010`, multiport lists) are expanded up to this many ports per rule. */
const MAX_PORTS = 1024;

function ports(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const [lo, hi = lo] = part.split(/[:-]/).map(Number);
    if (!Number.isInteger(lo) || !Number.isInteger(hi)) continue;
    for (let p = lo; p <= hi && out.length < MAX_PORTS; p++) out.push(p);
  }
  return out;
}

const bare = (address: string) => address.replace(/\/(32|128)$/, "");

/** `-A DOCKER ! -i docker0 -p tcp -m tcp --dport 6379 -j DNAT --to-destination 172.17.0.2:6379` */
function fromIptables(family: 4 | 6, lines: string[]): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const raw of lines) {
    const rule = raw.trim();
    if (!/^-A \S+ .*-j DNAT\b/.test(rule)) continue;
    const proto = /(?:^| )-p (tcp|udp)\b/.exec(rule)?.[1] as Proto | undefined;
    const dport = /--dports? (\S+)/.exec(rule)?.[1];
    if (!proto || !dport) continue;
    // `! -d` (negated) is not an address it is published on
    const dest = /(?:^| )-d (\S+)/.exec(rule)?.[1];
    const to = /--to-destination (\S+)/.exec(rule)?.[1] ?? "?";
    for (const port of ports(dport)) out.push({ family, proto, port, address: dest ? bare(dest) : null, to, rule });
  }
  return out;
}

/** Native nft DNAT (netavark, kube-proxy's nftables mode): `ip daddr X tcp dport 8080 dnat ip to 10.88.0.2:80`. */
function fromNft(lines: string[]): PublishedPort[] {
  const out: PublishedPort[] = [];
  for (const chain of parseNftRuleset(lines).chains) {
    if (chain.table === "inet harden") continue;
    for (const rule of chain.rules) {
      const dnat = /\bdnat (?:(ip6?) )?to (\S+)/.exec(rule);
      const dport = /\b(tcp|udp) dport (\d+(?:-\d+)?)\b/.exec(rule);
      if (!dnat || !dport) continue;
      const fam = chain.table.split(" ")[0];
      const daddr = /\b(ip6?) daddr (?!!=)(\S+)/.exec(rule);
      const family: 4 | 6 = dnat[1] === "ip6" || daddr?.[1] === "ip6" || fam === "ip6" ? 6 : 4;
      for (const port of ports(dport[2])) {
        out.push({ family, proto: dport[1] as Proto, port, address: daddr ? bare(daddr[2]) : null, to: dnat[2], rule });
      }
    }
  }
  return out;
}

/** Every published port the ruleset shows, once per family, protocol, port and address. */
export function publishedPorts(fw: Observation["firewall"]): PublishedPort[] {
  const all = [
    ...fromIptables(4, fw.output["nat.iptables"] ?? []),
    ...fromIptables(6, fw.output["nat.ip6tables"] ?? []),
    // the whole ruleset on an nftables host; next to harden's iptables rules, read for native nft DNAT
    ...fromNft([...(fw.output.nft ?? []), ...(fw.output["nat.nft"] ?? [])]),
  ];
  const seen = new Set<string>();
  return all.filter((p) => {
    const key = `${p.family} ${p.proto} ${p.port} ${p.address ?? "*"}`;
    return !seen.has(key) && seen.add(key);
  });
}

/** 127.0.0.1:9200:9200 is reachable from the host only: not an exposure. */
export function isLoopbackPublished(p: PublishedPort): boolean {
  return p.address !== null && (p.address.startsWith("127.") || p.address === "::1");
}
