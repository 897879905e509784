// iptables backend (iptables-nft on Debian): chains HARDEN-INPUT/-OUTPUT/-SSH-LIMIT/-EGRESS in the filter table,
// HARDEN-FORWARD/-PUBLISHED/-EGRESS in mangle (its FORWARD runs before any runtime's filter rules), one jump
// from INPUT, OUTPUT and mangle FORWARD each, loaded with `iptables-restore --noflush`; every list is an ipset, refilled
// under a temporary name and swapped in. Allowed traffic RETURNs instead of ACCEPTing, so rules
// others keep in INPUT after our jump (fail2ban's bans) still see it; what is not allowed is DROPped.
import type { Artifact, Payload } from "./artifact";
import { blocklistPayload, type PreparedList } from "./blocklist";
import type { BackendUnit, ExpectedFirewall, FirewallModel } from "./firewall-model";
import { renderTemplate } from "./templates";

export const IPSET_FILE = "/etc/harden/firewall.ipset";
export const RULES4 = "/etc/harden/firewall4.rules";
export const RULES6 = "/etc/harden/firewall6.rules";
export const LOADER = "/etc/harden/firewall-load";
export const SERVICE = "/etc/systemd/system/harden-firewall.service";
export const TRANSITION_SET = "harden-ssh-trans";
/** our chains per table; drift and the expectations name a mangle chain "iptables-mangle CHAIN" */
export const CHAINS = {
  filter: ["HARDEN-INPUT", "HARDEN-OUTPUT", "HARDEN-SSH-LIMIT", "HARDEN-EGRESS"],
  mangle: ["HARDEN-FORWARD", "HARDEN-PUBLISHED", "HARDEN-EGRESS"],
} as const;
/** jumps into our chains from built-in chains; Docker's DOCKER-USER is left alone */
export const HOOKS = ["-A INPUT -j HARDEN-INPUT", "-A OUTPUT -j HARDEN-OUTPUT", "-t mangle -A FORWARD -j HARDEN-FORWARD"] as const;
const T = "firewall/iptables";

interface IpSet {
  name: string;
  /** filled under this name, then swapped in */
  tmp: string;
  family: "inet" | "inet6";
  hashsize: number;
  maxelem: number;
  elements: string[];
  size: number;
  /** false: the elements come from a payload that also creates the "-n" set */
  inline: boolean;
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const listSet = (list: PreparedList, family: 4 | 6) => `harden-bl-${list.id}-${family}`;

function ipset(name: string, family: 4 | 6, elements: string[], inline: boolean): IpSet {
  return {
    name, tmp: `${name}-n`, family: family === 4 ? "inet" : "inet6",
    // sized for the list so a 100,000-entry restore does not rehash on the way
    hashsize: pow2(Math.max(1024, elements.length / 2)), maxelem: Math.max(65536, pow2(elements.length)),
    elements: inline ? elements : [], size: elements.length, inline,
  };
}

function ipsets(m: FirewallModel): IpSet[] {
  const sets: IpSet[] = [];
  for (const b of m.blocklists) {
    if (b.set.v4.length) sets.push(ipset(listSet(b, 4), 4, b.set.v4, !b.large));
    if (b.set.v6.length) sets.push(ipset(listSet(b, 6), 6, b.set.v6, !b.large));
  }
  if (m.sshAllow?.v4.length) sets.push(ipset("harden-ssh-4", 4, m.sshAllow.v4, true));
  if (m.sshAllow?.v6.length) sets.push(ipset("harden-ssh-6", 6, m.sshAllow.v6, true));
  return sets;
}

function payloadFor(m: FirewallModel, list: PreparedList): Payload {
  return blocklistPayload(m.cache, "iptables", "ipset", list, () =>
    renderTemplate(`${T}/payload.ipset.hbs`, {
      count: list.set.v4.length + list.set.v6.length,
      sets: [4, 6].flatMap((f) => {
        const elements = f === 4 ? list.set.v4 : list.set.v6;
        return elements.length ? [{ ...ipset(listSet(list, f as 4 | 6), f as 4 | 6, elements, true) }] : [];
      }),
    }));
}

const HASHLIMIT_UNIT = { second: "sec", minute: "min", hour: "hour" } as const;

/** The data one rules file (IPv4 or IPv6) is rendered from. */
function rulesData(m: FirewallModel, family: 4 | 6, sets: IpSet[]) {
  const v = family === 4 ? "v4" : "v6";
  const has = (name: string) => sets.some((s) => s.name === name);
  const sshSet = `harden-ssh-${family}`;
  return {
    host: m.host,
    policyHash: m.policyHash,
    family: family === 4 ? "IPv4" : "IPv6",
    blocklists: m.blocklists.map((b) => listSet(b, family)).filter(has),
    icmp: family === 4
      ? [3, 8, 11, 12].map((t) => `-p icmp -m icmp --icmp-type ${t}`)
      : [1, 2, 3, 4, 128, 134, 135, 136].map((t) => `-p ipv6-icmp -m icmp6 --icmpv6-type ${t}`),
    // the declared port, then the ports sshd listened on before this apply (filled at activation)
    sshMatches: [`-p tcp -m tcp --dport ${m.sshPort}`, `-p tcp -m set --match-set ${TRANSITION_SET} dst`],
    sshAnywhere: m.sshAllow === null,
    sshSet: has(sshSet) ? sshSet : "",
    limit: `--hashlimit-above ${m.rateLimit.rate}/${HASHLIMIT_UNIT[m.rateLimit.unit]} --hashlimit-burst ${m.rateLimit.burst}`,
    limitName: `harden-ssh${family}`,
    services: m.services.flatMap((s) => {
      const match = `-p ${s.proto} -m ${s.proto} --dport ${s.port}`;
      if (!s.from) return [{ source: "", match }];
      return s.from[v].map((cidr) => ({ source: `-s ${withPrefix(cidr, family)} `, match }));
    }),
    published: m.services.flatMap((s) => {
      const match = `-p ${s.proto} -m conntrack --ctorigdstport ${s.port}`;
      if (!s.from) return [{ source: "", match }];
      return s.from[v].map((cidr) => ({ source: `-s ${withPrefix(cidr, family)} `, match }));
    }),
    publishedDrop: m.published.drop,
    publishedOtherwise: m.published.undeclared === "drop" ? "DROP" : "RETURN",
    allowlist: m.egressAllow !== null,
    // HARDEN-EGRESS, the same in both tables: SMTP dropped, allowed destinations, then (allowlist) the rest
    egress: [
      ...(m.smtpDrop.length ? [`-p tcp -m multiport --dports ${m.smtpDrop.join(",")} -j DROP`] : []),
      ...(m.egressAllow ?? []).flatMap((a) => a.to[v].map((cidr) =>
        `-d ${withPrefix(cidr, family)}${a.ports.length ? ` -p ${a.proto} -m multiport --dports ${a.ports.join(",")}` : ""} -j RETURN`)),
      ...(m.egressAllow ? ["-j DROP"] : []),
    ],
    nd: family === 6 ? [133, 135, 136].map((t) => `-p ipv6-icmp -m icmp6 --icmpv6-type ${t}`) : [],
  };
}

/** iptables -S always prints the prefix: 1.1.1.1 -> 1.1.1.1/32. */
function withPrefix(cidr: string, family: 4 | 6): string {
  return cidr.includes("/") ? cidr : `${cidr}/${family === 4 ? 32 : 128}`;
}

function renderRules(m: FirewallModel, sets: IpSet[]): { v4: string; v6: string } {
  return {
    v4: renderTemplate(`${T}/rules.hbs`, rulesData(m, 4, sets)),
    v6: renderTemplate(`${T}/rules.hbs`, rulesData(m, 6, sets)),
  };
}

export function renderIptables(m: FirewallModel): BackendUnit {
  const payloads = m.blocklists.filter((b) => b.large).map((b) => payloadFor(m, b));
  const sets = ipsets(m);
  const rules = renderRules(m, sets);
  const header = { host: m.host, policyHash: m.policyHash };
  const known = [...sets.map((s) => s.name), TRANSITION_SET].join(" ");
  const root = (path: string, content: string, mode = "0644"): Artifact =>
    ({ path, mode, owner: "root", group: "root", content });
  const files: Artifact[] = [
    root(IPSET_FILE, renderTemplate(`${T}/sets.ipset.hbs`, { ...header, sets: sets.filter((s) => s.inline) })),
    root(RULES4, rules.v4),
    root(RULES6, rules.v6),
    root(LOADER, renderTemplate(`${T}/load.sh.hbs`, {
      ...header, payloads, sets, known, transition: TRANSITION_SET,
      ipsetFile: IPSET_FILE, rules4: RULES4, rules6: RULES6,
      // members compared by verify; the big lists only by their count
      smallSets: sets.filter((s) => s.inline).map((s) => s.name),
    }), "0755"),
    root(SERVICE, renderTemplate("firewall/harden-firewall.service.hbs", {
      owner: "HARDEN-* chains and harden-* ipsets",
      after: "netfilter-persistent.service ipset.service", loader: LOADER })),
  ];
  const teardown = renderTemplate(`${T}/teardown.sh.hbs`, {});
  return {
    name: "firewall",
    owner: "chains HARDEN-*, ipsets harden-*",
    files,
    permissions: [],
    payloads,
    requires: ["iptables", "ip6tables", "iptables-restore", "ip6tables-restore", "ipset", "unshare", "sha256sum", "sshd", "awk",
      "iptables-save", "ip6tables-save", "diff"],
    validate: renderTemplate(`${T}/validate.sh.hbs`, { stagedLoader: LOADER }),
    snapshot: renderTemplate(`${T}/snapshot.sh.hbs`, {}),
    activate: renderTemplate(`${T}/activate.sh.hbs`, { loader: LOADER, sshPort: m.sshPort, transition: TRANSITION_SET }),
    verify: renderTemplate(`${T}/verify.sh.hbs`, {
      sets: sets.map((s) => ({ name: s.name, size: s.size })), transition: TRANSITION_SET,
      sshRule: `-p tcp -m tcp --dport ${m.sshPort} `, sshPort: m.sshPort, loader: LOADER,
    }),
    // the restore script runs at top level; the teardown is a function body that fails by status
    restore: renderTemplate(`${T}/restore.sh.hbs`, { teardown }),
    uninstall: renderTemplate(`${T}/uninstall.sh.hbs`, { teardown, files: files.map((f) => f.path) }),
  };
}

export function closeIptablesTransition(): string {
  return renderTemplate(`${T}/close-transition.sh.hbs`, { transition: TRANSITION_SET });
}

export function expectedIptables(m: FirewallModel): ExpectedFirewall {
  const sets = ipsets(m);
  const files = renderRules(m, sets);
  const rules: Record<string, string[]> = {};
  for (const [tool, text] of [["iptables", files.v4], ["ip6tables", files.v6]] as const) {
    // the file's *filter section, then its *mangle one
    const [filter, mangle] = text.split("\n*mangle\n");
    for (const [table, lines, key] of [["filter", filter, tool], ["mangle", mangle, `${tool}-mangle`]] as const) {
      for (const chain of CHAINS[table]) {
        // `iptables [-t mangle] -S CHAIN` prints "-N CHAIN" first, then the chain's rules in order
        rules[`${key} ${chain}`] = [`-N ${chain}`, ...lines.split("\n").filter((l) => l.startsWith(`-A ${chain} `))];
      }
    }
  }
  const sizes: Record<string, number> = Object.fromEntries(sets.map((s) => [s.name, s.size]));
  sizes[TRANSITION_SET] = 0;
  return {
    backend: "iptables",
    owns: [...CHAINS.filter.map((c) => `chain ${c}`), ...CHAINS.mangle.map((c) => `mangle chain ${c}`), ...Object.keys(sizes).map((s) => `ipset ${s}`)],
    rules,
    sets: sizes,
    hooks: [...HOOKS],
    published: m.published,
    forwardChains: ["iptables", "ip6tables"].flatMap((t) => CHAINS.mangle.map((c) => `${t}-mangle ${c}`)),
  };
}
