import { describe, expect, it } from "vitest";
import { canonicalIp, cidrContains, cidrOverlaps, hasHostBits, isCidr, isIp, networkOf, parseCidr } from "./cidr";

const cidr = (text: string) => {
  const parsed = parseCidr(text);
  if (!parsed) throw new Error(`test setup: ${text} is not a CIDR`);
  return parsed;
};

describe("cidr", () => {
  it("reads a bare address as a network of one", () => {
    expect(cidr("192.0.2.7").prefix).toBe(32);
    expect(cidr("2001:db8::7").prefix).toBe(128);
    expect(cidr("2001:db8::7").family).toBe(6);
  });

  it("accepts only plainly written addresses and prefixes", () => {
    expect(["10.0.0.0/8", "0.0.0.0/0", "::/0", "2001:db8::/32", "::ffff:192.0.2.1/128", "192.0.2.7"].filter(isCidr)).toHaveLength(6);
    const refused = ["10.0.0.300/8", "10.1/8", "010.0.0.0/8", "0x0a.0.0.0/8", "10.0.0.0/08", "10.0.0.0/33",
      "2001:db8::/129", "fe80::1%eth0", "10.0.0.0/", "/8", "10.0.0.0/8/8", " 10.0.0.0/8", "10.0.0.0/-1", ""];
    expect(refused.filter(isCidr)).toEqual([]);
    expect(["192.0.2.7", "2001:db8::1"].filter(isIp)).toHaveLength(2);
    expect(["192.0.2.7/32", "192.0.2.256", "1.2.3"].filter(isIp)).toEqual([]);
  });

  it("finds host bits and the network that was probably meant", () => {
    expect(hasHostBits(cidr("10.0.0.1/8"))).toBe(true);
    expect(networkOf(cidr("10.0.0.1/8"))).toBe("10.0.0.0/8");
    expect(networkOf(cidr("192.168.1.130/25"))).toBe("192.168.1.128/25");
    expect(networkOf(cidr("2001:db8:1:2::1/60"))).toBe("2001:db8:1::/60");
    expect(hasHostBits(cidr("10.0.0.0/8"))).toBe(false);
    expect(hasHostBits(cidr("192.0.2.7"))).toBe(false);
    expect(hasHostBits(cidr("::/0"))).toBe(false);
  });

  it("tells containment and overlap, never across families", () => {
    expect(cidrContains(cidr("198.51.100.0/24"), cidr("198.51.100.7"))).toBe(true);
    expect(cidrContains(cidr("198.51.100.7"), cidr("198.51.100.0/24"))).toBe(false);
    expect(cidrContains(cidr("0.0.0.0/0"), cidr("::1"))).toBe(false);
    expect(cidrOverlaps(cidr("198.51.100.7"), cidr("198.51.100.0/24"))).toBe(true);
    expect(cidrOverlaps(cidr("198.51.100.0/25"), cidr("198.51.100.128/25"))).toBe(false);
  });

  it("spells one address one way", () => {
    expect(canonicalIp("2001:DB8:0::1")).toBe(canonicalIp("2001:db8::1"));
    expect(canonicalIp("db1.example.org")).toBeNull();
  });
});
