// Published ports (DNAT) in drift: read from the nat rules, judged against the policy and against whether
// harden's forward filter is in place. Rule texts as iptables-nft 1.8.9 prints Docker 20.10's rules.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkPublished, forwardFilterActive } from "../../src/drift/check-published";
import { liveFirewall } from "../../src/drift/live-firewall";
import type { Observation } from "../../src/drift/observation";
import { isLoopbackPublished, publishedPorts } from "../../src/drift/published";
import { planHost } from "../../src/plan/plan";
import { PayloadCache } from "../../src/render/blocklist";
import { host } from "../render/firewall-fixtures";

const NAT = [
  "-P PREROUTING ACCEPT", "-N DOCKER",
  "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
  "-A POSTROUTING -s 172.17.0.2/32 -d 172.17.0.2/32 -p tcp -m tcp --dport 6379 -j MASQUERADE",
  "-A DOCKER -i docker0 -j RETURN",
  "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 6379 -j DNAT --to-destination 172.17.0.2:6379",
  "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 172.17.0.3:8080",
  "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 16379 -j DNAT --to-destination 172.17.0.4:6379",
  "-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 9200 -j DNAT --to-destination 172.17.0.5:9200",
];

// the policy of the lab scenario: 6379 and 16379 from the private network, nothing else
const resolved = (undeclared: "drop" | "accept" = "drop") => host({
  backend: "iptables", services: [{ port: 6379, from: ["10.0.0.0/8"] }, { port: 16379, from: ["10.0.0.0/8"] }],
  publishedPorts: { undeclared },
});

/** iptables -S as the host prints it once harden's unit ran next to Docker (Docker's accepts first in FORWARD). */
function filterLines(rules: Record<string, string[]>, tool: string): string[] {
  const ours = Object.entries(rules).filter(([k]) => k.startsWith(`${tool} `)).flatMap(([, v]) => v);
  return [
    "-P INPUT ACCEPT", "-P FORWARD DROP", "-P OUTPUT ACCEPT", "-N DOCKER", "-N DOCKER-USER",
    ...ours,
    "-A INPUT -j HARDEN-INPUT", "-A OUTPUT -j HARDEN-OUTPUT",
    "-A FORWARD -j DOCKER-USER", "-A FORWARD -o docker0 -j DOCKER", "-A DOCKER-USER -j RETURN",
  ];
}

/** iptables -t mangle -S: harden's forward filter, hooked first (or `before` ahead of it). */
function mangleLines(rules: Record<string, string[]>, tool: string, before: string[]): string[] {
  const ours = Object.entries(rules).filter(([k]) => k.startsWith(`${tool}-mangle `)).flatMap(([, v]) => v);
  return ["-P PREROUTING ACCEPT", "-P INPUT ACCEPT", "-P FORWARD ACCEPT", ...ours, ...before, "-A FORWARD -j HARDEN-FORWARD"];
}

function setup(undeclared: "drop" | "accept" = "drop", before: string[] = []) {
  const plan = planHost(resolved(undeclared), new PayloadCache());
  const rules = plan.expect.firewall.rules;
  const fw: Observation["firewall"] = {
    error: null, rc: { iptables: 0, ip6tables: 0 }, sets: {},
    output: {
      iptables: filterLines(rules, "iptables"), ip6tables: filterLines(rules, "ip6tables"),
      "iptables-mangle": mangleLines(rules, "iptables", before), "ip6tables-mangle": mangleLines(rules, "ip6tables", before),
      "nat.iptables": NAT,
    },
  };
  return { expect: plan.expect, fw, live: liveFirewall(plan.expect, fw) };
}

describe("published ports from the nat rules", () => {
  it("reads Docker's DNAT rules: host port, target, loopback-only", () => {
    const p = publishedPorts({ error: null, rc: {}, sets: {}, output: { "nat.iptables": NAT } });
    expect(p.map((x) => [x.port, x.address, x.to])).toEqual([
      [6379, null, "172.17.0.2:6379"], [8080, null, "172.17.0.3:8080"], [16379, null, "172.17.0.4:6379"], [9200, "127.0.0.1", "172.17.0.5:9200"],
    ]);
    expect(p.map(isLoopbackPublished)).toEqual([false, false, false, true]);
  });

  it("reads native nft DNAT (netavark, kube-proxy)", () => {
    const nft = ["table ip nat {", "\tchain PREROUTING {", "\t\ttype nat hook prerouting priority dstnat; policy accept;",
      "\t\tip daddr 203.0.113.10 tcp dport 8443 dnat to 10.88.0.2:443", "\t\tudp dport 5353 counter packets 1 bytes 60 dnat to 10.88.0.3:53", "\t}", "}"];
    const p = publishedPorts({ error: null, rc: {}, sets: {}, output: { nft } });
    expect(p.map((x) => [x.proto, x.port, x.address, x.to])).toEqual([["tcp", 8443, "203.0.113.10", "10.88.0.2:443"], ["udp", 5353, null, "10.88.0.3:53"]]);
  });
});

// netavark's rules as captured on lab hosts with five containers published (6379, 8080, 16379 to 6379, 9200,
// 127.0.0.1:11211): Podman 4.3 / netavark 1.4 (iptables driver, `iptables -t nat -S`, Debian 12) and
// Podman 5.4 / netavark 1.14 (nftables driver, its `table inet netavark`, Debian 13)
const fixture = (name: string) => readFileSync(join(__dirname, "fixtures", name), "utf8").trimEnd().split("\n");
const NETAVARK_IPTABLES = fixture("netavark-1.4-nat.iptables");
const NETAVARK_NFT = fixture("netavark-1.14.nft");
const PODMAN_PORTS = [
  [6379, null, "10.88.0.5:6379"], [8080, null, "10.88.0.6:8080"], [16379, null, "10.88.0.7:6379"], [9200, null, "10.88.0.8:9200"],
  [11211, "127.0.0.1", "10.88.0.9:11211"],
];

describe("ports published by Podman (netavark)", () => {
  it("reads netavark 1.4's NETAVARK-DN-* DNAT rules, not its SETMARK jumps or the HOSTPORT-DNAT dispatch", () => {
    const p = publishedPorts({ error: null, rc: {}, sets: {}, output: { "nat.iptables": NETAVARK_IPTABLES } });
    expect(p.map((x) => [x.port, x.address, x.to])).toEqual(PODMAN_PORTS);
    expect(p.every((x) => x.rule.startsWith("-A NETAVARK-DN-1D8721804F16F ") && x.family === 4 && x.proto === "tcp")).toBe(true);
    expect(p.map(isLoopbackPublished)).toEqual([false, false, false, false, true]);
  });

  it("reads netavark 1.14's nft table, as the nftables backend's whole ruleset or beside iptables rules (nat.nft)", () => {
    for (const output of [{ nft: NETAVARK_NFT }, { "nat.nft": NETAVARK_NFT }] as Record<string, string[]>[]) {
      const p = publishedPorts({ error: null, rc: {}, sets: {}, output });
      expect(p.map((x) => [x.port, x.address, x.to])).toEqual(PODMAN_PORTS);
      expect(p[0].rule).toBe("tcp dport 6379 dnat ip to 10.88.0.5:6379");
    }
  });

  it("the probe records the nft ruleset on iptables hosts too (nat.nft), where netavark's nft driver DNATs", () => {
    const probeOf = (backend: "iptables" | "nftables") => planHost(host({ backend, services: [{ port: 6379, from: ["10.0.0.0/8"] }] }), new PayloadCache()).probe;
    expect(probeOf("iptables")).toMatch(/if has nft; then out=\$\(nft -t list ruleset 2> \/dev\/null\) && printf '%s\\n' "\$out" \| rec fw nat\.nft; fi/);
    // an nftables host records the whole ruleset as `nft` already
    expect(probeOf("nftables")).not.toContain("nat.nft");
    expect(probeOf("nftables")).toContain("rec fw nft");
  });

  it("an iptables host with netavark's nft table: undeclared ports are information while our filter holds, drift once it is bypassed", () => {
    const { expect: e, fw } = setup();
    fw.output["nat.iptables"] = [];
    fw.output["nat.nft"] = NETAVARK_NFT;
    const info = checkPublished(e, fw, liveFirewall(e, fw));
    expect(info.map((i) => [i.key, i.info ?? false])).toEqual([["published tcp *:8080 v4", true], ["published tcp *:9200 v4", true]]);
    expect(info[1].message).toContain("published 0.0.0.0:9200/tcp (DNAT to 10.88.0.8:9200, Elasticsearch port) is not in the policy");
    // no Docker here: our jump gone from mangle FORWARD leaves netavark's accept-by-default forward hook alone
    fw.output["iptables-mangle"] = fw.output["iptables-mangle"].filter((l) => l !== "-A FORWARD -j HARDEN-FORWARD");
    const bypassed = checkPublished(e, fw, liveFirewall(e, fw));
    expect(bypassed.map((i) => [i.key, i.info ?? false])).toEqual([
      ["published tcp *:6379 v4", false], ["published tcp *:8080 v4", false], ["published tcp *:16379 v4", false], ["published tcp *:9200 v4", false],
    ]);
  });
});

describe("published ports against the policy", () => {
  it("filter in place: an undeclared published port is information, declared ones and loopback say nothing", () => {
    const { expect: e, fw, live } = setup();
    expect(forwardFilterActive(e, live, 4)).toBe(true);
    const items = checkPublished(e, fw, live);
    expect(items.map((i) => [i.key, i.info ?? false])).toEqual([["published tcp *:8080 v4", true]]);
    expect(items[0].message).toContain("published 0.0.0.0:8080/tcp (DNAT to 172.17.0.3:8080) is not in the policy: harden's forward filter drops it");
  });

  it("filter bypassed (an ACCEPT ahead of our jump in mangle FORWARD): every exposure is drift", () => {
    const { expect: e, fw, live } = setup("drop", ["-A FORWARD -o docker0 -j ACCEPT"]);
    expect(forwardFilterActive(e, live, 4)).toBe(false);
    const items = checkPublished(e, fw, live);
    expect(items.map((i) => [i.key, i.unit, i.info ?? false])).toEqual([
      ["published tcp *:6379 v4", "firewall", false], ["published tcp *:8080 v4", "firewall", false], ["published tcp *:16379 v4", "firewall", false],
    ]);
    expect(items[0].message).toContain("(DNAT to 172.17.0.2:6379, Redis port) reachable from anywhere against the policy");
  });

  it("a rule changed in HARDEN-PUBLISHED means the filter is not the planned one", () => {
    const { expect: e, fw } = setup();
    fw.output["iptables-mangle"] = fw.output["iptables-mangle"].map((l) => (l === "-A HARDEN-PUBLISHED -j DROP" ? "-A HARDEN-PUBLISHED -j RETURN" : l));
    const live = liveFirewall(e, fw);
    expect(forwardFilterActive(e, live, 4)).toBe(false);
    expect(checkPublished(e, fw, live).every((i) => !i.info)).toBe(true);
  });

  it("publishedPorts.undeclared accept: undeclared 8080 is allowed, internal ports are not", () => {
    const { expect: e, fw, live } = setup("accept");
    expect(checkPublished(e, fw, live)).toEqual([]);
    fw.output["nat.iptables"] = [...NAT, "-A DOCKER ! -i docker0 -p tcp -m tcp --dport 27017 -j DNAT --to-destination 172.17.0.9:27017"];
    expect(checkPublished(e, fw, live).map((i) => [i.key, i.info])).toEqual([["published tcp *:27017 v4", true]]);
  });

  it("a mark or log rule ahead of our jump does not bypass it; the jump missing does", () => {
    const marked = setup("drop", ["-A FORWARD -j MARK --set-xmark 0x1/0xffffffff"]);
    expect(forwardFilterActive(marked.expect, marked.live, 4)).toBe(true);
    const { expect: e, fw } = setup();
    fw.output["iptables-mangle"] = fw.output["iptables-mangle"].filter((l) => l !== "-A FORWARD -j HARDEN-FORWARD");
    expect(forwardFilterActive(e, liveFirewall(e, fw), 4)).toBe(false);
  });
});
