import { describe, expect, it } from "vitest";
import { FleetInvalid, formatList, formatPath, formatValue } from "./errors";

describe("formatPath", () => {
  it("writes paths the way the fleet is written", () => {
    expect(formatPath(["hosts", 2, "policy", "firewall", "sshAllow", 1])).toBe("hosts[2].policy.firewall.sshAllow[1]");
    expect(formatPath(["groups", "web-prod", "ssh"])).toBe("groups.web-prod.ssh");
    expect(formatPath(["groups", "a b", "ssh"])).toBe('groups["a b"].ssh');
    expect(formatPath([])).toBe("fleet");
  });
});

describe("formatValue", () => {
  it("prints strings as escaped JSON that cannot break a line or a terminal", () => {
    expect(formatValue("a\nb\u0000\u202e")).toBe('"a\\nb\\u0000\\u202e"');
    expect(formatValue("é")).toBe('"\\u00e9"');
    expect(formatValue("x".repeat(100))).toBe(`"${"x".repeat(80)}..."`);
    expect([formatValue(70000), formatValue(true), formatValue([1]), formatValue({}), formatValue(null)]).toEqual([
      "70000", "true", "a list", "an object", "null",
    ]);
  });
});

describe("FleetInvalid", () => {
  it("carries every error and lists them in its message", () => {
    const e = new FleetInvalid(["a: x", "b: y"]);
    expect(e).toBeInstanceOf(Error);
    expect(e.errors).toEqual(["a: x", "b: y"]);
    expect(e.message).toBe("invalid fleet (2 errors):\n  a: x\n  b: y");
  });
});

describe("formatList", () => {
  it("prints plain words bare and quotes anything else", () => {
    expect(formatList(["no", "prohibit-password", "ubuntu-22.04"])).toBe("no, prohibit-password, ubuntu-22.04");
    expect(formatList(["web", "a\nb", "x y", 3])).toBe('web, "a\\nb", "x y", 3');
  });
});
