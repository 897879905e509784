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
      "ct state established,related accept", "ct status dnat jump published", "tcp dport { 25, 465, 587 } drop",
    ]);
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
  it("HARDEN-PUBLISHED per family, jumped to for DNAT'd connections only, hooked from FORWARD and DOCKER-USER", () => {
    const e = expectedFirewall(policy("iptables"));
    expect(e.rules["iptables HARDEN-PUBLISHED"]).toEqual([
      "-N HARDEN-PUBLISHED",
      "-A HARDEN-PUBLISHED -p tcp -m conntrack --ctorigdstport 443 -j RETURN",
      "-A HARDEN-PUBLISHED -s 10.0.0.0/8 -p tcp -m conntrack --ctorigdstport 6379 -j RETURN",
      "-A HARDEN-PUBLISHED -s 10.1.0.0/16 -p tcp -m conntrack --ctorigdstport 27017 -j RETURN",
      "-A HARDEN-PUBLISHED -j DROP",
    ]);
    expect(e.rules["ip6tables HARDEN-PUBLISHED"]).toEqual([
      "-N HARDEN-PUBLISHED",
      "-A HARDEN-PUBLISHED -p tcp -m conntrack --ctorigdstport 443 -j RETURN",
      "-A HARDEN-PUBLISHED -s fd00::/8 -p tcp -m conntrack --ctorigdstport 6379 -j RETURN",
      "-A HARDEN-PUBLISHED -j DROP",
    ]);
    expect(e.rules["iptables HARDEN-FORWARD"]).toEqual([
      "-N HARDEN-FORWARD",
      "-A HARDEN-FORWARD -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
      "-A HARDEN-FORWARD -m conntrack --ctstate DNAT -j HARDEN-PUBLISHED",
      "-A HARDEN-FORWARD -m conntrack --ctstate DNAT -j RETURN",
      "-A HARDEN-FORWARD -p tcp -m multiport --dports 25,465,587 -j DROP",
    ]);
    expect(e.hooks).toEqual(["-A INPUT -j HARDEN-INPUT", "-A OUTPUT -j HARDEN-OUTPUT", "-A FORWARD -j HARDEN-FORWARD", "-A DOCKER-USER -j HARDEN-FORWARD"]);
    // DOCKER-USER is never named in a restore file (that would flush Docker's chain)
    const files = renderFirewall(policy("iptables"), new PayloadCache()).files.map((f) => f.content).join("\n");
    expect(files).not.toMatch(/^:DOCKER-USER/m);
  });

  it("undeclared accept ends in RETURN after the internal ports' drops", () => {
    const e = expectedFirewall(policy("iptables", "accept"));
    expect(e.rules["iptables HARDEN-PUBLISHED"].slice(-2)).toEqual([
      "-A HARDEN-PUBLISHED -p tcp -m conntrack --ctorigdstport 27017 -j DROP", "-A HARDEN-PUBLISHED -j RETURN",
    ]);
  });
});
