// nftables backend: the firewall is table `inet harden`, replaced whole in one `nft -f`
// transaction. Big blocklists are content-addressed payloads the ruleset file includes.
import type { Artifact, Payload } from "./artifact";
import { blocklistPayload, type AddressSet, type PreparedList } from "./blocklist";
import type { BackendUnit, ExpectedFirewall, FirewallModel } from "./firewall-model";
import { renderTemplate } from "./templates";

export const NFT_RULESET = "/etc/harden/firewall.nft";
export const LOADER = "/etc/harden/firewall-load";
export const SERVICE = "/etc/systemd/system/harden-firewall.service";
const T = "firewall/nftables";

/** "x" for one value, "{ x, y }" for more: how nft prints an anonymous set, so drift compares equal. */
function nftList(values: readonly (string | number)[]): string {
  return values.length === 1 ? String(values[0]) : `{ ${values.join(", ")} }`;
}

interface NftSet {
  name: string;
  type: "ipv4_addr" | "ipv6_addr";
  elements: string[];
  size: number;
}

const setName = (list: PreparedList, family: 4 | 6) => `bl_${list.id}_v${family}`;

function addressSets(m: FirewallModel): NftSet[] {
  const sets: NftSet[] = [];
  const add = (name: string, family: 4 | 6, elements: string[], inline: boolean) => {
    if (elements.length === 0) return; // an empty family gets no set and no rule
    sets.push({ name, type: family === 4 ? "ipv4_addr" : "ipv6_addr", elements: inline ? elements : [], size: elements.length });
  };
  for (const b of m.blocklists) {
    add(setName(b, 4), 4, b.set.v4, !b.large);
    add(setName(b, 6), 6, b.set.v6, !b.large);
  }
  if (m.sshAllow) {
    add("ssh_allow_v4", 4, m.sshAllow.v4, true);
    add("ssh_allow_v6", 6, m.sshAllow.v6, true);
  }
  return sets;
}

/** Sets whose elements the ruleset file holds: verify compares their contents, not only their sizes. */
function smallSets(m: FirewallModel): string[] {
  return addressSets(m).filter((s) => s.elements.length > 0).map((s) => s.name);
}

function payloadFor(m: FirewallModel, list: PreparedList): Payload {
  return blocklistPayload(m.cache, "nftables", "nft", list, () =>
    renderTemplate(`${T}/payload.nft.hbs`, {
      count: list.set.v4.length + list.set.v6.length,
      set4: setName(list, 4), v4: list.set.v4,
      set6: setName(list, 6), v6: list.set.v6,
    }));
}

function saddr(from: AddressSet | null) {
  return {
    anywhere: from === null,
    v4: from && from.v4.length ? nftList(from.v4) : "",
    v6: from && from.v6.length ? nftList(from.v6) : "",
  };
}

function rulesetData(m: FirewallModel, payloads: Payload[]) {
  const sets = addressSets(m);
  const has = (name: string) => sets.some((s) => s.name === name);
  return {
    host: m.host,
    policyHash: m.policyHash,
    sets,
    meter: m.sshAllow === null,
    meterTimeout: Math.max(60, m.rateLimit.seconds),
    blocklists: m.blocklists.map((b) => ({
      v4: has(setName(b, 4)) ? setName(b, 4) : "",
      v6: has(setName(b, 6)) ? setName(b, 6) : "",
    })),
    // the declared port, then the ports sshd listened on before this apply (filled at activation)
    sshMatches: [`tcp dport ${m.sshPort}`, "tcp dport @ssh_transition"],
    sshAnywhere: m.sshAllow === null,
    sshAllow4: has("ssh_allow_v4"),
    sshAllow6: has("ssh_allow_v6"),
    limit: `${m.rateLimit.rate}/${m.rateLimit.unit} burst ${m.rateLimit.burst} packets`,
    services: m.services.map((s) => ({ port: s.port, proto: s.proto, ...saddr(s.from) })),
    publishedDrop: m.published.drop,
    publishedOtherwise: m.published.undeclared,
    outputPolicy: m.egressAllow ? "drop" : "accept",
    allowlist: m.egressAllow !== null,
    smtpDrop: m.smtpDrop.length ? nftList(m.smtpDrop) : "",
    egressAllow: (m.egressAllow ?? []).map((a) => ({
      v4: a.to.v4.length ? nftList(a.to.v4) : "",
      v6: a.to.v6.length ? nftList(a.to.v6) : "",
      ports: a.ports.length ? `${a.proto} dport ${nftList(a.ports)} ` : "",
    })),
    includes: payloads.map((p) => p.remotePath),
  };
}

export function renderNftables(m: FirewallModel): BackendUnit {
  const payloads = m.blocklists.filter((b) => b.large).map((b) => payloadFor(m, b));
  const ruleset = renderTemplate(`${T}/ruleset.nft.hbs`, rulesetData(m, payloads));
  const header = { host: m.host, policyHash: m.policyHash };
  const files: Artifact[] = [
    { path: NFT_RULESET, mode: "0644", owner: "root", group: "root", content: ruleset },
    { path: LOADER, mode: "0755", owner: "root", group: "root",
      content: renderTemplate(`${T}/load.sh.hbs`, { ...header, ruleset: NFT_RULESET, payloads }) },
    { path: SERVICE, mode: "0644", owner: "root", group: "root",
      content: renderTemplate("firewall/harden-firewall.service.hbs", {
        owner: "table inet harden", after: "nftables.service", loader: LOADER }) },
  ];
  const expected = expectedFromRuleset(m, ruleset);
  return {
    name: "firewall",
    owner: "table inet harden",
    files,
    permissions: [],
    payloads,
    requires: ["nft", "sha256sum", "sshd", "awk", "unshare", "diff"],
    validate: renderTemplate(`${T}/validate.sh.hbs`, { stagedLoader: LOADER }),
    snapshot: renderTemplate(`${T}/snapshot.sh.hbs`, {}),
    activate: renderTemplate(`${T}/activate.sh.hbs`, { loader: LOADER, sshPort: m.sshPort }),
    verify: renderTemplate(`${T}/verify.sh.hbs`, {
      // the transition set legitimately holds the old SSH port until the confirm step
      sets: Object.entries(expected.sets).filter(([name]) => name !== "ssh_transition").map(([name, size]) => ({ name, size })),
      sshRule: `tcp dport ${m.sshPort} `, sshPort: m.sshPort, loader: LOADER, ruleset: NFT_RULESET,
      keepElements: ` ${smallSets(m).join(" ")} `,
    }),
    restore: renderTemplate(`${T}/restore.sh.hbs`, {}),
    uninstall: renderTemplate(`${T}/uninstall.sh.hbs`, { files: files.map((f) => f.path) }),
  };
}

export function closeNftablesTransition(): string {
  return renderTemplate(`${T}/close-transition.sh.hbs`, {});
}

/** Rule lines of each chain as `nft list chain` prints them: the file is written in that form. */
function expectedFromRuleset(m: FirewallModel, ruleset: string): ExpectedFirewall {
  const rules: Record<string, string[]> = {};
  let chain: string | null = null;
  for (const raw of ruleset.split("\n")) {
    const line = raw.trim();
    const open = /^chain (\S+) \{$/.exec(line);
    if (open) { chain = open[1]; rules[chain] = []; continue; }
    if (chain === null || line === "" || line.startsWith("#") || line.startsWith("type ")) continue;
    if (line === "}") { chain = null; continue; }
    rules[chain].push(line);
  }
  const sets: Record<string, number> = {};
  for (const s of addressSets(m)) sets[s.name] = s.size;
  sets.ssh_transition = 0;
  return { backend: "nftables", owns: ["table inet harden"], rules, sets, hooks: [], published: m.published,
    forwardChains: ["forward", "published"] };
}

export function expectedNftables(m: FirewallModel): ExpectedFirewall {
  const payloads = m.blocklists.filter((b) => b.large).map((b) => payloadFor(m, b));
  return expectedFromRuleset(m, renderTemplate(`${T}/ruleset.nft.hbs`, rulesetData(m, payloads)));
}
