// Reading live rulesets: what opens a port to anyone, per backend semantics. Rule texts are as
// nft 1.0.6 and iptables-nft 1.8.9 print them (copied from lab hosts).
import { describe, expect, it } from "vitest";
import { liveFirewall, reachable, foreignAccepts } from "../../src/drift/live-firewall";
import type { DriftExpect } from "../../src/plan/drift-expect";
import type { Observation } from "../../src/drift/observation";

const HARDEN = `table inet harden {
	set ssh_allow_v4 {
		type ipv4_addr
		flags interval
	}
	chain input {
		type filter hook input priority filter; policy drop;
		iif "lo" accept
		ct state established,related accept
		icmp type { destination-unreachable, echo-request, time-exceeded, parameter-problem } accept
		ct state invalid drop
		tcp dport 2222 ip saddr @ssh_allow_v4 accept
		tcp dport 6379 ip saddr 10.0.0.0/8 accept
		tcp dport { 80, 443 } counter packets 3 bytes 180 accept
	}
}`;
const FOREIGN = `table ip filter {
	chain INPUT {
		type filter hook input priority filter; policy accept;
		tcp dport 6379 counter packets 0 bytes 0 accept
	}
}`;

const nft = (text: string) => liveFirewall({ firewall: { backend: "nftables" } } as DriftExpect,
  { error: null, rc: { nft: 0 }, output: { nft: text.split("\n") }, sets: {} } as Observation["firewall"]);
const ipt = (v4: string) => liveFirewall({ firewall: { backend: "iptables" } } as DriftExpect,
  { error: null, rc: {}, output: { iptables: v4.split("\n"), ip6tables: [] }, sets: {} } as Observation["firewall"]);

describe("nftables", () => {
  it("our drop policy closes what no rule opens to anyone; a public service is open", () => {
    const live = nft(HARDEN);
    expect(reachable(live, 4, 6379, "tcp").open).toBe(false);
    expect(reachable(live, 4, 2222, "tcp").open).toBe(false);
    expect(reachable(live, 4, 443, "tcp")).toMatchObject({ open: true, hit: { rule: "tcp dport { 80, 443 } counter accept" } });
    expect(reachable(live, 4, 443, "udp").open).toBe(false);
  });

  it("a foreign table's accept is reported but cannot open what our table drops", () => {
    const live = nft(`${HARDEN}\n${FOREIGN}`);
    expect(reachable(live, 4, 6379, "tcp").open).toBe(false);
    expect(foreignAccepts(live, 6379, "tcp")).toMatchObject([{ rule: "tcp dport 6379 counter accept", bypass: false }]);
    expect(foreignAccepts(live, 2222, "tcp")).toEqual([]);
  });

  it("a rule inserted into our table does open it; without our table everything is open", () => {
    const inserted = HARDEN.replace('iif "lo" accept', 'iif "lo" accept\n\t\ttcp dport 6379 accept');
    expect(reachable(nft(inserted), 4, 6379, "tcp")).toMatchObject({ open: true, hit: { rule: "tcp dport 6379 accept" } });
    expect(reachable(nft(FOREIGN), 4, 5432, "tcp").open).toBe(true);
  });
});

describe("iptables", () => {
  const base = [
    "-P INPUT ACCEPT", "-P FORWARD ACCEPT", "-P OUTPUT ACCEPT", "-N HARDEN-INPUT", "-N f2b-sshd",
    "-A INPUT -p tcp -m multiport --dports 2222 -j f2b-sshd",
    "-A INPUT -j HARDEN-INPUT",
    "-A HARDEN-INPUT -i lo -j RETURN",
    "-A HARDEN-INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
    "-A HARDEN-INPUT -p tcp -m tcp --dport 2222 -m set --match-set harden-ssh4 src -j RETURN",
    "-A HARDEN-INPUT -p tcp -m tcp --dport 443 -j RETURN",
    "-A HARDEN-INPUT -j DROP",
    "-A f2b-sshd -j RETURN",
  ];
  it("HARDEN-INPUT decides; fail2ban's jump before it does not bypass", () => {
    const live = ipt(base.join("\n"));
    expect(reachable(live, 4, 6379, "tcp").open).toBe(false);
    expect(reachable(live, 4, 443, "tcp").open).toBe(true);
    expect(foreignAccepts(live, 6379, "tcp")).toEqual([]);
  });
  it("an ACCEPT inserted in INPUT before the jump bypasses harden, and is named", () => {
    const rules = [...base];
    rules.splice(5, 0, "-A INPUT -p tcp -m tcp --dport 6379 -j ACCEPT");
    const live = ipt(rules.join("\n"));
    expect(reachable(live, 4, 6379, "tcp")).toMatchObject({ open: true, hit: { rule: "-A INPUT -p tcp -m tcp --dport 6379 -j ACCEPT" } });
    expect(foreignAccepts(live, 6379, "tcp")).toMatchObject([{ bypass: true }]);
  });
  it("the same ACCEPT after the jump is only reached by what harden allowed", () => {
    const live = ipt([...base, "-A INPUT -p tcp -m tcp --dport 6379 -j ACCEPT"].join("\n"));
    expect(reachable(live, 4, 6379, "tcp").open).toBe(false);
    expect(foreignAccepts(live, 6379, "tcp")).toEqual([]);
  });
});
