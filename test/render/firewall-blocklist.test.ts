// Address lists: normalised for interval sets (nft refuses overlaps), and a big list shared by many
// hosts is normalised and rendered once per backend, not once per host.
import { describe, expect, it } from "vitest";
import { listId, normaliseCidrs, PAYLOAD_THRESHOLD, PayloadCache } from "../../src/render/blocklist";
import { expectedFirewall, rateLimit, renderFirewall } from "../../src/render/firewall";
import { bigList, host } from "./firewall-fixtures";

describe("normaliseCidrs", () => {
  it("clears host bits, drops covered networks and duplicates, sorts numerically", () => {
    expect(normaliseCidrs(["10.1.0.0/16", "9.0.0.0/8", "10.0.0.7/8", "10.2.3.4", "9.0.0.0/8", "192.0.2.1/32"]))
      .toEqual({ v4: ["9.0.0.0/8", "10.0.0.0/8", "192.0.2.1"], v6: [] });
  });
  it("keeps adjacent networks (they do not overlap) and separates the families", () => {
    expect(normaliseCidrs(["1.2.4.0/24", "2001:DB8::/32", "1.2.3.0/24", "2001:db8:1::/48", "::1"]))
      .toEqual({ v4: ["1.2.3.0/24", "1.2.4.0/24"], v6: ["::1", "2001:db8::/32"] });
  });
  it("prints IPv6 the RFC 5952 way and splits /0, which ipset refuses", () => {
    expect(normaliseCidrs(["2001:db8:0:0:1:0:0:1", "fe80:0:0:1::/64"]).v6).toEqual(["2001:db8::1:0:0:1", "fe80:0:0:1::/64"]);
    expect(normaliseCidrs(["0.0.0.0/0", "::/0"])).toEqual({ v4: ["0.0.0.0/1", "128.0.0.0/1"], v6: ["::/1", "8000::/1"] });
  });
  it("refuses what is not a CIDR instead of writing it into a ruleset", () => {
    expect(() => normaliseCidrs(["10.0.0.0/8; flush ruleset"])).toThrow('not a CIDR: "10.0.0.0/8; flush ruleset"');
  });
});

describe("listId", () => {
  it("keeps simple names and hashes the others into distinct, short ids", () => {
    expect(listId("spamhaus")).toBe("spamhaus");
    expect(listId("a-b")).toMatch(/^a_b_[0-9a-f]{5}$/);
    expect(listId("a-b")).not.toBe(listId("a_b"));
    expect(listId("x".repeat(40)).length).toBeLessThanOrEqual(16);
  });
});

describe("rateLimit", () => {
  it("rounds to a unit nft and hashlimit know, never stricter than declared", () => {
    expect(rateLimit(10, 60)).toEqual({ rate: 10, unit: "minute", burst: 10, seconds: 60 });
    expect(rateLimit(3, 30)).toEqual({ rate: 1, unit: "second", burst: 3, seconds: 30 });
    expect(rateLimit(5, 7200)).toEqual({ rate: 3, unit: "hour", burst: 5, seconds: 7200 });
  });
});

describe("PayloadCache", () => {
  const cidrs = bigList(100_000);

  it.each(["nftables", "iptables"] as const)("renders a 100,000-CIDR list once for 50 hosts (%s)", (backend) => {
    const cache = new PayloadCache();
    const t0 = performance.now();
    // each host gets its own copy of the list, as resolve's merge gives it
    const units = Array.from({ length: 50 }, (_, i) =>
      renderFirewall(host({ backend, blocklists: [{ name: "drop100k", cidrs: [...cidrs] }] }, 22, `h${i}`), cache));
    const ms = performance.now() - t0;
    const first = units[0].payloads[0];
    expect(units.every((u) => u.payloads.length === 1 && u.payloads[0] === first)).toBe(true);
    expect(cache.builds.get("normalise")).toBe(1);
    expect(cache.builds.get(`payload-${backend}`)).toBe(1);
    expect(cache.payloads()).toEqual([first]);
    expect(first.remotePath).toBe(`/var/lib/harden/payload/${first.sha256}.${backend === "nftables" ? "nft" : "ipset"}`);
    // the unit's own files stay small: the list travels once, as the payload
    expect(Math.max(...units[0].files.map((f) => f.content.length))).toBeLessThan(10_000);
    console.log(`${backend}: 50 hosts sharing a 100,000-CIDR list rendered in ${ms.toFixed(0)} ms, payload ${(first.content.length / 1e6).toFixed(1)} MB`);
  });

  it("keeps small lists inline and gives different content its own payload", () => {
    const cache = new PayloadCache();
    const small = renderFirewall(host({ blocklists: [{ name: "few", cidrs: bigList(PAYLOAD_THRESHOLD) }] }), cache);
    expect(small.payloads).toEqual([]);
    expect(small.files[0].content).toContain("20.0.0.0/24, 20.0.1.0/24");
    const a = renderFirewall(host({ blocklists: [{ name: "l", cidrs: bigList(1000) }] }), cache);
    const b = renderFirewall(host({ blocklists: [{ name: "l", cidrs: bigList(1001) }] }), cache);
    expect(a.payloads[0].sha256).not.toBe(b.payloads[0].sha256);
    expect(expectedFirewall(host({ blocklists: [{ name: "l", cidrs: bigList(1001) }] }), cache).sets)
      .toEqual({ bl_l_v4: 997, bl_l_v6: 4, ssh_transition: 0 });
  });
});
