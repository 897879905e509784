// The firewall unit: the backend-neutral model (firewall-model.ts) rendered by the nftables or the
// iptables+ipset backend. Both own their objects only (table inet harden, or HARDEN-* chains and
// harden-* ipsets, plus one jump each from INPUT, OUTPUT, FORWARD and DOCKER-USER) and leave
// fail2ban's, Docker's and cloud agents' rules alone.
import type { ResolvedHost } from "../policy/types";
import { PayloadCache, type AddressSet } from "./blocklist";
import { firewallModel, type Backend, type ExpectedFirewall, type FirewallModel } from "./firewall-model";
import { closeIptablesTransition, expectedIptables, renderIptables } from "./iptables";
import { closeNftablesTransition, expectedNftables, renderNftables } from "./nftables";
import type { UnitSpec } from "./unit";

export type { Backend, ExpectedFirewall, FirewallModel } from "./firewall-model";
export { rateLimit } from "./firewall-model";

export function renderFirewall(host: ResolvedHost, payloads: PayloadCache): UnitSpec {
  const model = firewallModel(host, payloads);
  const { owner, ...unit } = model.backend === "nftables" ? renderNftables(model) : renderIptables(model);
  return { ...unit, summary: firewallSummary(model, owner) };
}

/**
 * sh snippet for the plan's confirm step, run over a NEW login on the declared port: closes the
 * ports the firewall kept open for the sshd the host was running before this apply.
 */
export function closeTransition(backend: Backend): string {
  return backend === "nftables" ? closeNftablesTransition() : closeIptablesTransition();
}

export function expectedFirewall(host: ResolvedHost, payloads: PayloadCache = new PayloadCache()): ExpectedFirewall {
  const model = firewallModel(host, payloads);
  return model.backend === "nftables" ? expectedNftables(model) : expectedIptables(model);
}

/** One line per fact for SUMMARY.md: what is open, from where, what is dropped. */
export function firewallSummary(m: FirewallModel, owner: string): string[] {
  const from = (set: AddressSet | null) => (set ? [...set.v4, ...set.v6].join(", ") : "anywhere");
  const lines = [`backend ${m.backend} (${owner}); everything else inbound: DROP`];
  const limit = `rate-limited ${m.rateLimit.burst} new per ${m.rateLimit.seconds}s per source`;
  lines.push(`${m.sshPort}/tcp (ssh) from ${from(m.sshAllow)}${m.sshAllow ? "" : ` (${limit})`}`);
  for (const s of m.services) {
    lines.push(`${s.port}/${s.proto} from ${from(s.from)}${s.comment ? ` (${s.comment})` : ""}`);
  }
  for (const b of m.blocklists) {
    const count = b.set.v4.length + b.set.v6.length;
    lines.push(`blocklist ${b.name}: ${count} networks dropped${b.large ? " (payload)" : ""}`);
  }
  if (m.published.undeclared === "drop") {
    lines.push("WARNING published ports (Docker or Podman -p, port forwards, NodePorts: anything DNAT'd): only the ports above, "
      + "from the same sources, matched on the port as published; every other published port is DROPPED "
      + "(on a host that runs containers this cuts their undeclared ports)");
  } else {
    const dropped = m.published.drop.map((p) => `${p.port}/${p.proto}`).join(", ");
    lines.push(`published ports (anything DNAT'd): undeclared ones stay reachable; dropped: ${dropped || "none"}`
      + " (declared ports outside their sources, internal ports not declared)");
  }
  const smtp = m.smtpDrop.length ? `, outbound SMTP (${m.smtpDrop.join(", ")}) dropped` : "";
  // containers' connections are forwarded, not output: the summary says they are covered as well
  const scope = "the host's and its containers' (forwarded) new connections";
  if (!m.egressAllow) lines.push(`egress: accept${smtp}${smtp && `, for ${scope}`}`);
  else {
    const allowed = m.egressAllow.map((a) => `${from(a.to)}${a.ports.length ? ` ${a.ports.join(",")}/${a.proto}` : ""}`);
    lines.push(`egress: allowlist (${allowed.join("; ") || "nothing"})${smtp}, for ${scope}; between containers of one network is not egress`);
  }
  return lines;
}
