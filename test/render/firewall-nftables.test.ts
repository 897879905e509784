// The nftables render against the real nft 1.0.6, inside throwaway network namespaces: the staged
// file passes `nft -c` with and without the table, loads, reloads identically, leaves a
// fail2ban-like table alone, rolls back to the snapshot (also "absent"), and uninstalls cleanly.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PayloadCache } from "../../src/render/blocklist";
import { expectedFirewall, renderFirewall } from "../../src/render/firewall";
import { bigList, db, host, netnsAdd, netnsDel, nsx, UnitHarness, web } from "./firewall-fixtures";

const NS = `harden-fwt-nft-${process.pid}`;
// what fail2ban's nftables action creates; it must survive every step
const F2B = `table inet f2b-table {
	set addr-set-sshd {
		type ipv4_addr
		elements = { 192.0.2.99 }
	}

	chain f2b-chain {
		type filter hook input priority filter - 1; policy accept;
		tcp dport 22 ip saddr @addr-set-sshd drop
	}
}`;

function rulesOf(listing: string): Record<string, string[]> {
  const rules: Record<string, string[]> = {};
  let chain: string | null = null;
  for (const raw of listing.split("\n")) {
    const line = raw.trim();
    const open = /^chain (\S+) \{$/.exec(line);
    if (open) { chain = open[1]; rules[chain] = []; continue; }
    if (!chain || line === "" || line.startsWith("type ")) continue;
    if (line === "}") { chain = null; continue; }
    rules[chain].push(line);
  }
  return rules;
}

describe("nftables firewall in a network namespace", () => {
  const cache = new PayloadCache();
  const big = host({ backend: "nftables", sshAllow: ["10.0.0.0/8"], blocklists: [{ name: "drop100k", cidrs: bigList(100_000) }] });
  const harnesses: UnitHarness[] = [];
  const harness = (h = web("nftables")) => {
    const x = new UnitHarness(renderFirewall(h, cache), NS);
    harnesses.push(x);
    return x;
  };

  beforeAll(() => {
    netnsAdd(NS);
    expect(nsx(NS, `nft -f - <<'X'\n${F2B}\nX`).code).toBe(0);
  });
  afterAll(() => {
    netnsDel(NS);
    for (const h of harnesses) h.cleanup();
  });
  const f2bIntact = () => expect(nsx(NS, "nft list table inet f2b-table").out.trim()).toBe(F2B);

  it("validates with nft -c while the table is absent, and changes nothing", () => {
    const u = harness();
    const r = u.snippet(["validate"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(nsx(NS, "nft list tables").out.trim()).toBe("table inet f2b-table");
  });

  it("refuses a broken staged ruleset", () => {
    const u = harness();
    const r = u.run(`sed -i 's/policy drop;/policy dorp;/' "$STAGE/etc/harden/firewall.nft"\n${u.unit.validate}`);
    expect(r.code).toBe(1);
    expect(r.err).toContain("firewall: FAILED: the staged ruleset was refused");
  });

  it("snapshots absent, activates, verifies, and lists exactly the expected rules", () => {
    const u = harness();
    const r = u.snippet(["snapshot", "activate", "verify"], { install: true, sshdPorts: [2222] });
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    const listing = nsx(NS, "nft list table inet harden").out;
    expect(rulesOf(listing)).toEqual(expectedFirewall(web("nftables")).rules);
    f2bIntact();
  });

  it("validates again with the table present, reloads to an identical ruleset", () => {
    const u = harness();
    const before = nsx(NS, "nft list table inet harden").out;
    expect(u.snippet(["validate"]).code).toBe(0);
    const r = u.snippet(["activate", "verify"], { install: true });
    expect(r.code).toBe(0);
    expect(nsx(NS, "nft list table inet harden").out).toBe(before);
    f2bIntact();
  });

  it("verify compares the live table with the installed file: an inserted rule or a swapped whitelist entry fails it, a reload heals", () => {
    const u = harness();
    expect(u.snippet(["activate", "verify"], { install: true, sshdPorts: [2222] }).code).toBe(0);
    // fail2ban's bans in its own table and the transition port are not drift
    nsx(NS, "nft add element inet harden ssh_transition '{ 22 }'");
    expect(u.snippet(["verify"], { install: true }).err).toBe("");
    nsx(NS, "nft flush set inet harden ssh_transition");
    expect(nsx(NS, "nft insert rule inet harden input tcp dport 6379 accept").code).toBe(0);
    const rule = u.snippet(["verify"], { install: true });
    expect(rule.code).not.toBe(0);
    expect(rule.err).toContain("firewall: FAILED: table inet harden differs from /etc/harden/firewall.nft: +tcp dport 6379 accept");
    expect(u.snippet(["activate", "verify"], { install: true }).err).toBe("");
    // same size, other content: only the contents of a small set show it
    expect(nsx(NS, "nft delete element inet harden ssh_allow_v4 '{ 10.0.0.0/8 }' && nft add element inet harden ssh_allow_v4 '{ 11.0.0.0/8 }'").code).toBe(0);
    const swapped = u.snippet(["verify"], { install: true });
    expect(swapped.err).toMatch(/table inet harden differs from \/etc\/harden\/firewall.nft: -elements = \{ 10\.0\.0\.0\/8, .* \+elements = \{ 11\.0\.0\.0\/8, /);
    expect(u.snippet(["activate", "verify"], { install: true }).err).toBe("");
    f2bIntact();
  });

  it("fails activation by status, not exit, when it cannot learn sshd's ports", () => {
    const u = harness();
    // as in the unit script: a failed activate returns, so the caller can restore at once
    const r = u.run(`step() {\n:\n${u.unit.activate}}\nstep || echo "caller restores"`, { install: true, sshdFails: true });
    expect(r.err).toContain("firewall: FAILED: cannot read sshd's ports (sshd -T failed): sshd: no hostkeys available");
    expect(r.out).toContain("caller restores");
  });

  it("restores the snapshot after a change, and restores absence", () => {
    const first = harness();
    expect(first.snippet(["snapshot"]).code).toBe(0); // web ruleset is live
    const before = nsx(NS, "nft list table inet harden").out;
    const other = harness(db("nftables"));
    expect(other.snippet(["activate"], { install: true }).code).toBe(0);
    expect(nsx(NS, "nft list table inet harden").out).not.toBe(before);
    expect(first.snippet(["restore"]).code).toBe(0);
    expect(nsx(NS, "nft list table inet harden").out).toBe(before);

    const fresh = harness();
    expect(fresh.snippet(["uninstall"]).code).toBe(0);
    expect(fresh.snippet(["snapshot"]).code).toBe(0); // absent
    expect(fresh.snippet(["activate"], { install: true }).code).toBe(0);
    expect(fresh.snippet(["restore"]).code).toBe(0);
    expect(nsx(NS, "nft list tables").out.trim()).toBe("table inet f2b-table");
    f2bIntact();
  });

  it("fails clearly when a payload is missing or altered", () => {
    const u = harness(big);
    const missing = u.snippet(["validate"], { payloads: false });
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/payload \/var\/lib\/harden\/payload\/[0-9a-f]{64}\.nft is missing/);
    const altered = u.run(`echo '# x' >> ${u.unit.payloads[0].remotePath}\n${u.unit.validate}`);
    expect(altered.code).toBe(1);
    expect(altered.err).toContain("does not match sha256");
  });

  it("loads a 100,000-CIDR blocklist from its payload, verifies its size, uninstalls", () => {
    const u = harness(big);
    expect(u.unit.payloads).toHaveLength(1);
    expect(u.unit.files.every((f) => f.content.length < 10_000)).toBe(true);
    const t0 = Date.now();
    const r = u.snippet(["validate"]);
    const tCheck = Date.now() - t0;
    expect(r.code).toBe(0);
    const t1 = Date.now();
    const load = u.run("sh /etc/harden/firewall-load load", { install: true });
    const tLoad = Date.now() - t1;
    expect(load.err).toBe("");
    const t2 = Date.now();
    const v = u.snippet(["verify"]);
    const tVerify = Date.now() - t2;
    expect(v.err).toBe("");
    expect(expectedFirewall(big, cache).sets.bl_drop100k_v4).toBe(99_996);
    console.log(`nft 100k: nft -c ${tCheck} ms, load ${tLoad} ms, verify ${tVerify} ms`);
    expect(tLoad).toBeLessThan(5000);
    expect(u.snippet(["uninstall"], { install: true }).code).toBe(0);
    expect(nsx(NS, "nft list tables").out.trim()).toBe("table inet f2b-table");
    f2bIntact();
  });
});
