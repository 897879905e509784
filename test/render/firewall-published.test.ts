// Published (DNAT'd) ports in the rendered firewall: matched on the port as published, declared services
// with their sources, the undeclared-ports switch never opening internal ports.
import { describe, expect, it } from "vitest";
import { expectedFirewall, renderFirewall } from "../../src/render/firewall";
import { PayloadCache } from "../../src/render/blocklist";
import { host } from "./firewall-fixtures";

const policy = (backend: "nftables" | "iptables", undeclared?: "drop" | "accept") => host({
  backend,
  services: [{ port: 6379, from: ["10.0.0.0/8", "fd00::/8"] }, { port: 443 }, { port: 27017, from: ["10.1.0.0/16"] }],
  ...(undeclared ? { publishedPorts: { undeclared } } : {}),
});

describe("published ports, nftables", () => {
  it("default: declared services by their original destination port, everything else dropped", () => {
    const e = expectedFirewall(policy("nftables"));
    expect(e.rules.forward).toEqual([
      "ct state established,related accept", "ct status dnat jump published", "jump egress",
    ]);
    expect(e.rules.egress).toEqual(["tcp dport { 25, 465, 587 } drop"]);
    expect(e.rules.published).toEqual([
      "meta l4proto tcp ct original proto-dst 443 accept",
      "meta l4proto tcp ct original proto-dst 6379 ip saddr 10.0.0.0/8 accept",
      "meta l4proto tcp ct original proto-dst 6379 ip6 saddr fd00::/8 accept",
      "meta l4proto tcp ct original proto-dst 27017 ip saddr 10.1.0.0/16 accept",
      "drop",
    ]);
  });

  it("undeclared accept: declared ports outside their sources and undeclared internal ports are still dropped", () => {
    const e = expectedFirewall(policy("nftables", "accept"));
    expect(e.rules.published.slice(4)).toEqual([
      "meta l4proto tcp ct original proto-dst 3306 drop",
      "meta l4proto tcp ct original proto-dst 5432 drop",
      "meta l4proto tcp ct original proto-dst 6379 drop",
      "meta l4proto tcp ct original proto-dst 9200 drop",
      "meta l4proto tcp ct original proto-dst 11211 drop",
      "meta l4proto tcp ct original proto-dst 27017 drop",
      "accept",
    ]);
    const summary = renderFirewall(policy("nftables", "accept"), new PayloadCache()).summary.join("\n");
    expect(summary).toContain("published ports (anything DNAT'd): undeclared ones stay reachable; dropped: 3306/tcp, 5432/tcp, 6379/tcp, 9200/tcp, 11211/tcp, 27017/tcp");
  });

  it("SUMMARY warns that undeclared published ports are dropped", () => {
    const summary = renderFirewall(policy("nftables"), new PayloadCache()).summary.join("\n");
    expect(summary).toMatch(/WARNING published ports \(Docker or Podman -p, port forwards, NodePorts.*every other published port is DROPPED/);
  });
});

describe("published ports, iptables", () => {
  it("HARDEN-PUBLISHED per family in mangle, jumped to for DNAT'd connections only, hooked from mangle FORWARD", () => {
    const e = expectedFirewall(policy("iptables"));
    expect(e.rules["iptables-mangle HARDEN-PUBLISHED"]).toEqual([
      "-N HARDEN-PUBLISHED",
      "-A HARDEN-PUBLISHED -p tcp -m conntrack --ctorigdstport 443 -j RETURN",
      "-A HARDEN-PUBLISHED -s 10.0.0.0/8 -p tcp -m conntrack --ctorigdstport 6379 -j RETURN",
      "-A HARDEN-PUBLISHED -s 10.1.0.0/16 -p tcp -m conntrack --ctorigdstport 27017 -j RETURN",
      "-A HARDEN-PUBLISHED -j DROP",
    ]);
    expect(e.rules["ip6tables-mangle HARDEN-PUBLISHED"]).toEqual([
      "-N HARDEN-PUBLISHED",
      "-A HARDEN-PUBLISHED -p tcp -m conntrack --ctorigdstport 443 -j RETURN",
      "-A HARDEN-PUBLISHED -s fd00::/8 -p tcp -m conntrack --ctorigdstport 6379 -j RETURN",
      "-A HARDEN-PUBLISHED -j DROP",
    ]);
    expect(e.rules["iptables-mangle HARDEN-FORWARD"]).toEqual([
      "-N HARDEN-FORWARD",
      "-A HARDEN-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
      "-A HARDEN-FORWARD -m conntrack --ctstate DNAT -j HARDEN-PUBLISHED",
      "-A HARDEN-FORWARD -m conntrack --ctstate DNAT -j RETURN",
      "-A HARDEN-FORWARD -j HARDEN-EGRESS",
    ]);
    // the same egress chain in both tables
    for (const t of ["iptables", "iptables-mangle"]) {
      expect(e.rules[`${t} HARDEN-EGRESS`]).toEqual(["-N HARDEN-EGRESS", "-A HARDEN-EGRESS -p tcp -m multiport --dports 25,465,587 -j DROP"]);
    }
    // hooked first in mangle FORWARD, which runs before any runtime's filter rules; Docker's chains untouched
    expect(e.hooks).toEqual(["-A INPUT -j HARDEN-INPUT", "-A OUTPUT -j HARDEN-OUTPUT", "-t mangle -A FORWARD -j HARDEN-FORWARD"]);
    const files = renderFirewall(policy("iptables"), new PayloadCache()).files.map((f) => f.content).join("\n");
    expect(files).not.toMatch(/^:DOCKER-USER|-[AIN] DOCKER-USER/m);
  });

  it("undeclared accept ends in RETURN after the internal ports' drops", () => {
    const e = expectedFirewall(policy("iptables", "accept"));
    expect(e.rules["iptables-mangle HARDEN-PUBLISHED"].slice(-2)).toEqual([
      "-A HARDEN-PUBLISHED -p tcp -m conntrack --ctorigdstport 27017 -j DROP", "-A HARDEN-PUBLISHED -j RETURN",
    ]);
  });
});

describe("egress allowlist: containers' outbound connections (forward) meet the host's own egress chain", () => {
  const allowlist = (backend: "nftables" | "iptables") => host({
    backend,
    egress: { mode: "allowlist", allow: [{ to: ["192.0.2.0/24", "2001:db8::/32"], ports: [443], proto: "tcp" }, { to: ["198.51.100.53"] }] },
  });

  it("nftables: output and forward both jump to egress, which ends in drop; traffic back out its own network is not egress", () => {
    const e = expectedFirewall(allowlist("nftables"));
    expect(e.rules.egress).toEqual([
      "tcp dport { 25, 465, 587 } drop",
      "ip daddr 192.0.2.0/24 tcp dport 443 accept",
      "ip6 daddr 2001:db8::/32 tcp dport 443 accept",
      "ip daddr 198.51.100.53 accept",
      "drop",
    ]);
    expect(e.rules.forward.slice(-3)).toEqual(["ct status dnat jump published", "fib daddr . iif oif exists accept", "jump egress"]);
    expect(e.rules.output.at(-1)).toBe("jump egress");
    expect(e.rules.output).toContain("ct state established,related accept");
  });

  it("iptables: HARDEN-OUTPUT and HARDEN-FORWARD both jump to HARDEN-EGRESS; a bridged (container to container) connection is not egress", () => {
    const e = expectedFirewall(allowlist("iptables"));
    expect(e.rules["iptables-mangle HARDEN-EGRESS"]).toEqual(e.rules["iptables HARDEN-EGRESS"]);
    expect(e.rules["iptables HARDEN-EGRESS"]).toEqual([
      "-N HARDEN-EGRESS",
      "-A HARDEN-EGRESS -p tcp -m multiport --dports 25,465,587 -j DROP",
      "-A HARDEN-EGRESS -d 192.0.2.0/24 -p tcp -m multiport --dports 443 -j RETURN",
      "-A HARDEN-EGRESS -d 198.51.100.53/32 -j RETURN",
      "-A HARDEN-EGRESS -j DROP",
    ]);
    expect(e.rules["ip6tables HARDEN-EGRESS"]).toEqual([
      "-N HARDEN-EGRESS",
      "-A HARDEN-EGRESS -p tcp -m multiport --dports 25,465,587 -j DROP",
      "-A HARDEN-EGRESS -d 2001:db8::/32 -p tcp -m multiport --dports 443 -j RETURN",
      "-A HARDEN-EGRESS -j DROP",
    ]);
    expect(e.rules["iptables-mangle HARDEN-FORWARD"].slice(-2)).toEqual([
      "-A HARDEN-FORWARD -m physdev --physdev-is-bridged -j RETURN", "-A HARDEN-FORWARD -j HARDEN-EGRESS",
    ]);
    expect(e.rules["iptables HARDEN-OUTPUT"].at(-1)).toBe("-A HARDEN-OUTPUT -j HARDEN-EGRESS");
  });
});
