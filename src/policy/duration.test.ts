import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planFleet } from "../plan/plan";
import { closestKey } from "./did-you-mean";
import { DURATION_FIELDS, formatDuration, normaliseDurations, parseDuration } from "./duration";
import { formatValue } from "./errors";
import { exampleFleet } from "./fixtures";
import { FLEET_SCHEMA } from "./schema";
import { validateFleet } from "./validate";

const UNIT_SECONDS = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 } as const;
const UNITS = Object.keys(UNIT_SECONDS) as (keyof typeof UNIT_SECONDS)[];

/** Any accepted written form: a subset of the units, in order, each with a count. */
const writtenDuration = fc
  .subarray(UNITS, { minLength: 1 })
  .chain((units) => fc.tuple(...units.map((u) => fc.tuple(fc.constant(u), fc.nat({ max: 10_000 })))))
  .map((parts) => ({
    text: parts.map(([u, n]) => `${n}${u}`).join(""),
    seconds: parts.reduce((sum, [u, n]) => sum + n * UNIT_SECONDS[u], 0),
  }));

const fleetWith = (jail: Record<string, unknown>) => {
  const fleet = exampleFleet() as unknown as { defaults: { fail2ban: { sshd: Record<string, unknown> } } };
  fleet.defaults.fail2ban.sshd = { ...fleet.defaults.fail2ban.sshd, ...jail };
  return fleet;
};

describe("durations", () => {
  it("every accepted form parses to the seconds it names", () => {
    fc.assert(fc.property(writtenDuration, ({ text, seconds }) => {
      expect(parseDuration(text)?.seconds).toBe(seconds);
    }));
  });

  it("the canonical form of any number of seconds round-trips, and so does the plain number", () => {
    fc.assert(fc.property(fc.nat({ max: 100_000_000 }), (seconds) => {
      expect(parseDuration(formatDuration(seconds))?.seconds).toBe(seconds);
      expect(parseDuration(String(seconds))?.seconds).toBe(seconds);
    }));
    expect(formatDuration(5400)).toBe("1h30m");
    expect(formatDuration(694_861)).toBe("1w1d1h1m1s");
  });

  it("every rejected form names the field and the value", () => {
    const rejected = fc.oneof(
      // a unit out of order, twice, unknown, upper case, a sign, a fraction, spaces, nothing
      writtenDuration.filter((d) => d.text.length > 2).map((d) => d.text.split(/(?<=[a-z])/).reverse().join("")),
      fc.tuple(writtenDuration, fc.constantFrom("y", "M", "H", "ms", "sec", " ")).map(([d, junk]) => `${d.text}${junk}`),
      fc.tuple(fc.constantFrom("-", "+", "1.5", " ", "m"), writtenDuration).map(([junk, d]) => `${junk}${d.text}`),
      fc.constantFrom("", "h", "10mm", "1h1h", "1m1h", "ten minutes", "1e3", "1h;reboot", "10m\n"),
      // anything at all, hostile strings included: refused and named, never reaching a script
      fc.string({ maxLength: 30, unit: "binary" }),
    ).filter((text) => parseDuration(text) === null);
    fc.assert(fc.property(rejected, fc.constantFrom(...DURATION_FIELDS), (text, field) => {
      const fleet = exampleFleet() as unknown as Record<string, Record<string, unknown>>;
      let node = fleet.defaults;
      for (const p of field.path.slice(0, -1)) node = (node[p] ??= {}) as Record<string, unknown>;
      node[field.path[field.path.length - 1]] = text;
      const result = validateFleet(fleet);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.errors).toEqual([`defaults.${field.path.join(".")}: ${formatValue(text)} is not a duration (seconds, or a number per unit w d h m s, largest first ("10m", "1h30m"))`]);
    }));
  });

  it("range errors speak the operator's unit; numbers keep their seconds", () => {
    const errors = (jail: Record<string, unknown>) => {
      const r = validateFleet(fleetWith(jail));
      return r.ok ? [] : r.errors;
    };
    expect(errors({ banTime: "2w", findTime: "53w" })).toEqual([
      // a year is not a whole number of weeks, so the limit reads in its canonical form
      'defaults.fail2ban.sshd.findTime: "53w" is more than the maximum of 52w1d',
    ]);
    expect(errors({ findTime: "0m" })).toEqual(['defaults.fail2ban.sshd.findTime: "0m" is less than the minimum of 1s']);
    const grace = exampleFleet();
    grace.defaults!.ssh!.loginGraceTime = "90m";
    expect(validateFleet(grace)).toEqual({ ok: false, errors: ['defaults.ssh.loginGraceTime: "90m" is more than the maximum of 60m'] });
    grace.defaults!.ssh!.loginGraceTime = 7200;
    expect(validateFleet(grace)).toEqual({
      ok: false, errors: ['defaults.ssh.loginGraceTime: 7200 is not a duration of 1 to 3600 seconds (or like "10m", "1h30m")'],
    });
  });

  it("600 and \"10m\" give the same plan, byte for byte: changing one to the other re-runs nothing", () => {
    const seconds = planFleet(fleetWith({ findTime: 600, banTime: 3600 }));
    const written = fleetWith({ findTime: "10m", banTime: "1h" });
    const before = structuredClone(written);
    expect(planFleet(written)).toEqual(seconds);
    expect(written).toEqual(before); // the operator's object is not rewritten
    const rendered = seconds.find((p) => p.host === "web1")!.files.find((f) => f.path.endsWith("zz-harden.local"))!;
    expect(rendered.content).toMatch(/^findtime = 600$/m);
  });

  it("every duration field of the schema is listed with the schema's own range", () => {
    const defs = FLEET_SCHEMA.$defs.policy.properties as Record<string, { properties: Record<string, unknown> }>;
    for (const field of DURATION_FIELDS) {
      let node: unknown = defs[field.path[0]];
      for (const p of field.path.slice(1)) node = (node as { properties: Record<string, unknown> }).properties[p];
      expect(node, field.path.join(".")).toMatchObject({ type: "integer", minimum: field.min, maximum: field.max });
    }
    const normalised = normaliseDurations(fleetWith({ banTime: "1d" })).fleet as ReturnType<typeof fleetWith>;
    expect(normalised.defaults.fail2ban.sshd.banTime).toBe(86_400);
  });
});

describe("unknown keys", () => {
  it("name the closest known key", () => {
    const fleet = exampleFleet() as unknown as { defaults: { ssh: Record<string, unknown> } };
    fleet.defaults.ssh.passwordAuthentification = false;
    fleet.defaults.ssh.zzz = 1;
    const result = validateFleet(fleet);
    expect(result.ok ? [] : result.errors).toEqual([
      "defaults.ssh.passwordAuthentification: unknown key; did you mean passwordAuthentication?",
      "defaults.ssh.zzz: unknown key",
    ]);
    expect(closestKey("bantime", ["findTime", "banTime"])).toBe("banTime");
    expect(closestKey("prot", ["port", "proto"])).toBe("port");
    expect(closestKey("frobnicate", ["port", "proto"])).toBeUndefined();
  });
});
