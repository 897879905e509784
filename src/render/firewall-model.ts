// The firewall model: the host's firewall policy, backend-neutral and normalised, that the nftables and
// the iptables backends render and the summary describes. Backends only choose syntax.
import { INTERNAL_PORTS } from "../policy/semantic";
import type { Proto, ResolvedHost } from "../policy/types";
import { normaliseCidrs, prepareBlocklist, type AddressSet, type PayloadCache, type PreparedList } from "./blocklist";
import { sha256, stableJson } from "./hash";
import type { UnitSpec } from "./unit";

export type Backend = "nftables" | "iptables";

/** Outbound SMTP ports dropped under `egress.smtp: deny`. */
const SMTP_PORTS = [25, 465, 587];

export interface RateLimit {
  /** new connections per `unit`, rounded up from connections/perSeconds */
  rate: number;
  unit: "second" | "minute" | "hour";
  burst: number;
  /** the policy's window: how long a source's bucket must be remembered */
  seconds: number;
}

export interface ServiceModel {
  port: number;
  proto: Proto;
  /** null: from anywhere */
  from: AddressSet | null;
  comment?: string;
}

export interface EgressAllow {
  to: AddressSet;
  /** empty: every port and protocol to `to` */
  ports: number[];
  proto: Proto;
}

/** Everything a backend needs, already normalised: backends only choose syntax. */
export interface FirewallModel {
  host: string;
  backend: Backend;
  /** sha256 of the resolved firewall policy plus the SSH port: named in every file header */
  policyHash: string;
  sshPort: number;
  /** null: SSH from anywhere, rate-limited per source */
  sshAllow: AddressSet | null;
  rateLimit: RateLimit;
  services: ServiceModel[];
  blocklists: PreparedList[];
  /** outbound ports dropped (SMTP unless the host allows it); empty: none */
  smtpDrop: number[];
  /** null: egress accepts everything (but SMTP when dropped) */
  egressAllow: EgressAllow[] | null;
  published: PublishedModel;
  cache: PayloadCache;
}

/**
 * New connections DNAT'd to a port a container runtime published (they cross the forward hook, never
 * input), matched on the port as published on the host (conntrack's original destination port).
 * Declared services admit their `from`; what else happens depends on `undeclared`.
 */
export interface PublishedModel {
  /** "drop": everything not admitted; "accept": everything but `drop` */
  undeclared: "drop" | "accept";
  /** with "accept": the ports still dropped (declared with a `from`, and internal ports not declared) */
  drop: { port: number; proto: Proto }[];
}

function publishedModel(undeclared: "drop" | "accept", services: ServiceModel[]): PublishedModel {
  if (undeclared === "drop") return { undeclared, drop: [] };
  const key = (port: number, proto: Proto) => `${port}/${proto}`;
  const declared = new Set(services.map((s) => key(s.port, s.proto)));
  const drop = new Map<string, { port: number; proto: Proto }>();
  for (const s of services) if (s.from) drop.set(key(s.port, s.proto), { port: s.port, proto: s.proto });
  for (const port of Object.keys(INTERNAL_PORTS).map(Number)) {
    if (!declared.has(key(port, "tcp"))) drop.set(key(port, "tcp"), { port, proto: "tcp" });
  }
  return { undeclared, drop: [...drop.values()].sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto)) };
}

export function firewallModel(host: ResolvedHost, cache: PayloadCache): FirewallModel {
  const fw = host.policy.firewall;
  const names = new Set<string>();
  for (const list of fw.blocklists) {
    if (names.has(list.name)) throw new Error(`${host.name}: blocklist "${list.name}" declared twice`);
    names.add(list.name);
  }
  const blocklists = fw.blocklists.map((list) => prepareBlocklist(list, cache));
  const services: ServiceModel[] = [...fw.services]
    .sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto))
    .map((s) => ({ port: s.port, proto: s.proto, from: s.from ? normaliseCidrs(s.from) : null, comment: s.comment }));
  const ids = new Set(blocklists.map((b) => b.id));
  if (ids.size !== blocklists.length) throw new Error(`${host.name}: blocklist names collide as set names`);
  return {
    host: host.name,
    backend: fw.backend,
    // big lists enter the hash by their content key: hashing them again per host costs 20 ms each
    policyHash: sha256(stableJson({
      firewall: { ...fw, blocklists: blocklists.map((b) => ({ name: b.name, sha256: b.key })) },
      sshPort: host.policy.ssh.port,
    })),
    sshPort: host.policy.ssh.port,
    sshAllow: fw.sshAllow.length > 0 ? normaliseCidrs(fw.sshAllow) : null,
    rateLimit: rateLimit(fw.sshRateLimit.connections, fw.sshRateLimit.perSeconds),
    services,
    blocklists,
    smtpDrop: fw.egress.smtp === "deny" ? SMTP_PORTS : [],
    egressAllow: fw.egress.mode === "allowlist"
      ? fw.egress.allow.map((a) => ({ to: normaliseCidrs(a.to), ports: [...a.ports].sort((x, y) => x - y), proto: a.proto }))
      : null,
    published: publishedModel(fw.publishedPorts.undeclared, services),
    cache,
  };
}

/**
 * nft `limit rate` and iptables `hashlimit` take a rate per second/minute/hour, not per N seconds:
 * use the smallest unit that holds the window and round the rate up (never stricter than declared).
 */
export function rateLimit(connections: number, perSeconds: number): RateLimit {
  const unit = perSeconds < 60 ? "second" : perSeconds < 3600 ? "minute" : "hour";
  const unitSeconds = { second: 1, minute: 60, hour: 3600 }[unit];
  return { rate: Math.ceil((connections * unitSeconds) / perSeconds), unit, burst: connections, seconds: perSeconds };
}

/** What a backend renders; the summary is backend-neutral and added here. */
export type BackendUnit = Omit<UnitSpec, "summary"> & { owner: string };

/** What drift should find on the host once the unit ran (and the transition was closed). */
export interface ExpectedFirewall {
  backend: Backend;
  /** the objects the firewall owns, as the tools name them */
  owns: string[];
  /**
   * Rule lines per chain, exactly as the tool prints them: `nft list chain inet harden <chain>`
   * (rules only, trimmed) or `iptables -S <chain>` / `ip6tables -S <chain>` (keys "ip6tables CHAIN"), for the
   * mangle table `iptables -t mangle -S <chain>` (keys "iptables-mangle CHAIN").
   */
  rules: Record<string, string[]>;
  /** element count per named set; dynamic sets (rate meters) are not listed */
  sets: Record<string, number>;
  /** rules the firewall adds to chains it does not own (iptables jumps; "-t mangle -A ..." in mangle) */
  hooks: string[];
  /** how published (DNAT'd) ports are filtered: drift tells an allowed one from one the filter drops */
  published: PublishedModel;
  /** the chains that filter them: nft chain names, or "iptables CHAIN" keys of `rules` */
  forwardChains: string[];
}
