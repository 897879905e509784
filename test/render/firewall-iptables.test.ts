// The iptables + ipset render against real iptables-nft 1.8.9 and ipset 7.17 in throwaway network
// namespaces: validate changes nothing, the load leaves a fail2ban chain and its jump alone, sets are
// swapped in, reload is identical, snapshot/restore and uninstall remove only what is ours.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PayloadCache } from "../../src/render/blocklist";
import { expectedFirewall, renderFirewall } from "../../src/render/firewall";
import { bigList, db, host, netnsAdd, netnsDel, nsx, UnitHarness, web } from "./firewall-fixtures";

const NS = `harden-fwt-ipt-${process.pid}`;
// what fail2ban's iptables action creates; it must survive every step
const F2B = "iptables -N f2b-sshd && iptables -A f2b-sshd -s 192.0.2.99/32 -j DROP && iptables -A f2b-sshd -j RETURN"
  + " && iptables -I INPUT 1 -p tcp -m multiport --dports 22 -j f2b-sshd"
  // and what dockerd makes (IPv4 only, as Debian 12's Docker without ip6tables): never flushed, never edited
  + " && iptables -N DOCKER-USER && iptables -A DOCKER-USER -j RETURN && iptables -I FORWARD 1 -j DOCKER-USER";
const foreign = () => nsx(NS, "iptables -S | grep -v HARDEN").out;
const state = () => nsx(NS, "iptables-save | grep -v '^#' | sed 's/\\[[0-9:]*\\]//'; ip6tables-save | grep -v '^#' | sed 's/\\[[0-9:]*\\]//'; ipset list -t | grep -v '^Size in memory' | sed 's/ initval 0x[0-9a-f]*//'").out;

describe("iptables + ipset firewall in a network namespace", () => {
  const cache = new PayloadCache();
  const harnesses: UnitHarness[] = [];
  const harness = (h = web("iptables")) => {
    const x = new UnitHarness(renderFirewall(h, cache), NS);
    harnesses.push(x);
    return x;
  };
  let f2bBefore = "";

  beforeAll(() => {
    netnsAdd(NS);
    expect(nsx(NS, F2B).code).toBe(0);
    f2bBefore = foreign();
  });
  afterAll(() => {
    netnsDel(NS);
    for (const h of harnesses) h.cleanup();
  });

  it("validates in a throwaway namespace, leaving this one untouched", () => {
    const u = harness();
    const before = state();
    const r = u.snippet(["validate"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(state()).toBe(before);
  });

  it("refuses a broken staged rules file", () => {
    const u = harness();
    const r = u.run(`sed -i 's/-j RETURN/-j RETRUN/' "$STAGE/etc/harden/firewall4.rules"\n${u.unit.validate}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain("firewall: FAILED: the staged ruleset was refused");
  });

  it("activates next to fail2ban's chain, and the chains read exactly as expected", () => {
    const u = harness();
    const r = u.snippet(["snapshot", "activate", "verify"], { install: true, sshdPorts: [2222] });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const want = expectedFirewall(web("iptables"));
    for (const [key, lines] of Object.entries(want.rules)) {
      const [tool, chain] = key.split(" ");
      const list = tool.endsWith("-mangle") ? `${tool.replace("-mangle", "")} -t mangle` : tool;
      expect(nsx(NS, `${list} -S ${chain}`).out.trim().split("\n"), key).toEqual(lines);
    }
    for (const [set, size] of Object.entries(want.sets)) {
      expect(nsx(NS, `ipset list -t ${set} | awk -F': ' '/^Number of entries/ {print $2}'`).out.trim(), set).toBe(String(size));
    }
    // our jump first, fail2ban's after it: its bans still apply to what we RETURN
    expect(nsx(NS, "iptables -S INPUT").out).toMatch(/-A INPUT -j HARDEN-INPUT\n-A INPUT -p tcp -m multiport --dports 22 -j f2b-sshd/);
    expect(nsx(NS, "iptables -S f2b-sshd").out).toBe("-N f2b-sshd\n-A f2b-sshd -s 192.0.2.99/32 -j DROP\n-A f2b-sshd -j RETURN\n");
  });

  it("verify compares our chains and small sets with the installed files: an inserted rule or a swapped whitelist entry fails it, a reload heals", () => {
    const u = harness();
    expect(u.snippet(["activate", "verify"], { install: true, sshdPorts: [2222] }).err).toBe("");
    expect(nsx(NS, "iptables -I HARDEN-INPUT 1 -p tcp --dport 6379 -j RETURN").code).toBe(0);
    const rule = u.snippet(["verify"]);
    expect(rule.code).not.toBe(0);
    expect(rule.err).toContain("firewall: FAILED: chains HARDEN-* or sets differ from the installed rules: +iptables filter -A HARDEN-INPUT -p tcp -m tcp --dport 6379 -j RETURN");
    expect(u.snippet(["activate", "verify"], { install: true, sshdPorts: [2222] }).err).toBe("");
    expect(nsx(NS, "ipset del harden-ssh-4 10.0.0.0/8 && ipset add harden-ssh-4 11.0.0.0/8").code).toBe(0);
    const swapped = u.snippet(["verify"]);
    expect(swapped.err).toContain("-add harden-ssh-4 10.0.0.0/8 +add harden-ssh-4 11.0.0.0/8");
    expect(u.snippet(["activate", "verify"], { install: true, sshdPorts: [2222] }).err).toBe("");
    expect(foreign()).toBe(f2bBefore);
  });

  it("hooks HARDEN-FORWARD first into mangle FORWARD, leaves Docker's DOCKER-USER and FORWARD alone, takes over from an earlier version's filter-table hooks; uninstall takes back only its own", () => {
    const u = harness();
    // what an earlier harden left: its forward filter in the filter table, hooked from FORWARD and DOCKER-USER
    expect(nsx(NS, "iptables -N HARDEN-FORWARD && iptables -A HARDEN-FORWARD -j RETURN && iptables -I FORWARD 1 -j HARDEN-FORWARD"
      + " && iptables -I DOCKER-USER 1 -j HARDEN-FORWARD && ip6tables -N HARDEN-PUBLISHED").code).toBe(0);
    expect(u.snippet(["activate", "verify"], { install: true, sshdPorts: [2222] }).err).toBe("");
    expect(nsx(NS, "iptables -t mangle -S FORWARD; ip6tables -t mangle -S FORWARD").out.trim().split("\n"))
      .toEqual(["-P FORWARD ACCEPT", "-A FORWARD -j HARDEN-FORWARD", "-P FORWARD ACCEPT", "-A FORWARD -j HARDEN-FORWARD"]);
    expect(nsx(NS, "iptables -S DOCKER-USER").out.trim().split("\n")).toEqual(["-N DOCKER-USER", "-A DOCKER-USER -j RETURN"]);
    expect(nsx(NS, "iptables -S FORWARD").out.trim().split("\n")).toEqual(["-P FORWARD ACCEPT", "-A FORWARD -j DOCKER-USER"]);
    expect(nsx(NS, "iptables -S; ip6tables -S").out).not.toMatch(/HARDEN-(FORWARD|PUBLISHED)/);
    // a second load adds no duplicate jump
    expect(u.snippet(["activate"], { install: true, sshdPorts: [2222] }).code).toBe(0);
    expect(nsx(NS, "iptables -t mangle -S | grep -c -- '-j HARDEN-FORWARD'").out.trim()).toBe("1");
    expect(u.snippet(["uninstall"]).code).toBe(0);
    expect(nsx(NS, "iptables -t mangle -S; ip6tables -t mangle -S").out).not.toContain("HARDEN");
    expect(nsx(NS, "iptables -S DOCKER-USER").out.trim().split("\n")).toEqual(["-N DOCKER-USER", "-A DOCKER-USER -j RETURN"]);
    expect(foreign()).toBe(f2bBefore);
    expect(u.snippet(["activate"], { install: true, sshdPorts: [2222] }).code).toBe(0); // as the next test expects
  });

  it("reloads to an identical state (no duplicate jumps or rules, sets swapped)", () => {
    const u = harness();
    const before = state();
    const r = u.snippet(["validate", "activate", "verify"], { install: true, sshdPorts: [2222] });
    expect(r.code).toBe(0);
    expect(state()).toBe(before);
    expect(nsx(NS, "ipset list -n").out.split("\n").filter((s) => s.endsWith("-n"))).toEqual([]);
  });

  it("restores the snapshot after a change, and restores absence", () => {
    const first = harness();
    expect(first.snippet(["snapshot"]).code).toBe(0);
    const before = state();
    const other = harness(db("iptables"));
    expect(other.snippet(["activate"], { install: true }).code).toBe(0);
    expect(state()).not.toBe(before);
    // web's sets are gone once db's chains no longer reference them
    expect(nsx(NS, "ipset list -n").out).not.toContain("harden-ssh-4");
    const back = first.snippet(["restore"]);
    expect(back.err).toBe("");
    expect(state()).toBe(before);

    const fresh = harness();
    expect(fresh.snippet(["uninstall"]).code).toBe(0);
    expect(fresh.snippet(["snapshot"]).code).toBe(0); // absent
    expect(fresh.snippet(["activate"], { install: true }).code).toBe(0);
    expect(fresh.snippet(["restore"]).code).toBe(0);
    expect(nsx(NS, "ipset list -n").out.trim()).toBe("");
    expect(nsx(NS, "iptables -S; ip6tables -S; iptables -t mangle -S; ip6tables -t mangle -S").out).not.toContain("HARDEN");
    expect(foreign()).toBe(f2bBefore);
  });

  it("rolls back to an earlier harden's layout (forward filter in the filter table, hooked from FORWARD and DOCKER-USER)", () => {
    const u = harness();
    expect(u.snippet(["uninstall"]).code).toBe(0);
    expect(nsx(NS, "iptables -N HARDEN-FORWARD && iptables -A HARDEN-FORWARD -m conntrack --ctstate DNAT -j DROP"
      + " && iptables -I FORWARD 1 -j HARDEN-FORWARD && iptables -I DOCKER-USER 1 -j HARDEN-FORWARD").code).toBe(0);
    const before = state();
    expect(u.snippet(["snapshot", "activate"], { install: true }).code).toBe(0);
    expect(nsx(NS, "iptables -S").out).not.toContain("HARDEN-FORWARD");
    const back = u.snippet(["restore"]);
    expect(back.err).toBe("");
    expect(state()).toBe(before);
    expect(u.snippet(["uninstall"]).code).toBe(0);
    expect(foreign()).toBe(f2bBefore);
  });

  it("loads a 100,000-CIDR blocklist with ipset restore + swap, verifies, uninstalls", () => {
    const big = host({ backend: "iptables", sshAllow: ["10.0.0.0/8"], blocklists: [{ name: "drop100k", cidrs: bigList(100_000) }] });
    const u = harness(big);
    expect(u.unit.payloads).toHaveLength(1);
    const t0 = Date.now();
    const check = u.snippet(["validate"]);
    expect(check.err).toBe("");
    const tCheck = Date.now() - t0;
    const t1 = Date.now();
    const load = u.run("sh /etc/harden/firewall-load load", { install: true });
    const tLoad = Date.now() - t1;
    expect(load.err).toBe("");
    const t2 = Date.now();
    const again = u.run("sh /etc/harden/firewall-load load", { install: true });
    const tReload = Date.now() - t2;
    expect(again.err).toBe("");
    const t3 = Date.now();
    expect(u.snippet(["verify"]).err).toBe("");
    const tVerify = Date.now() - t3;
    console.log(`ipset 100k: check (throwaway netns) ${tCheck} ms, load ${tLoad} ms, reload+swap ${tReload} ms, verify ${tVerify} ms`);
    expect(tLoad).toBeLessThan(5000);
    expect(u.snippet(["uninstall"], { install: true }).code).toBe(0);
    expect(nsx(NS, "ipset list -n").out.trim()).toBe("");
    expect(foreign()).toBe(f2bBefore);
  });
});
