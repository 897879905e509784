import { describe, expect, it } from "vitest";
import { exampleFleet } from "./fixtures";
import { resolveFleet } from "./resolve";
import { assertValidFleet, FleetInvalid, validateFleet } from "./validate";

describe("validateFleet", () => {
  it("accepts the example fleet and returns its resolved hosts", () => {
    const input = exampleFleet();
    const result = validateFleet(input);
    if (!result.ok) throw new Error(result.errors.join("\n"));
    // durations normalised in a copy: the example has seconds only, so the copy equals the input
    expect(result.fleet).toEqual(input);
    expect(result.hosts).toEqual(resolveFleet(exampleFleet()));
    expect(result.hosts.map((h) => [h.name, h.target.user, h.target.port])).toEqual([
      ["web1", "root", 2222],
      ["db1", "root", 2222],
      ["mail1", "admin", 2222],
    ]);
    expect(result.hosts[1].policy.firewall.services.map((s) => [s.port, s.from])).toEqual([
      [6379, ["10.0.0.0/8"]],
      [5432, ["10.0.0.0/8"]],
    ]);
  });

  it("reports group references with the schema errors", () => {
    const fleet: any = exampleFleet();
    fleet.hosts[0].groups = ["webb"];
    fleet.hosts[1].groups = ["constructor"]; // a name found on Object.prototype is still not a group
    fleet.hosts[2].os = "debian-11";
    expect(validateFleet(fleet)).toEqual({
      ok: false,
      errors: [
        'hosts[2].os: "debian-11" is not one of debian-12, debian-13, ubuntu-22.04, ubuntu-24.04, rhel-9',
        'hosts[0].groups[0]: "webb" is not a group of this fleet (defined: db, mail, web)',
        'hosts[1].groups[0]: "constructor" is not a group of this fleet (defined: db, mail, web)',
      ],
    });
    delete fleet.groups;
    fleet.hosts[2].os = "debian-12";
    expect(validateFleet(fleet)).toMatchObject({ ok: false, errors: expect.arrayContaining([
      'hosts[2].groups[0]: "mail" is not a group of this fleet (no groups are defined)',
    ]) });
  });

  it("runs semantic checks only when the schema passes", () => {
    const fleet: any = exampleFleet();
    fleet.groups.db.firewall.services[0] = { port: 6379 }; // semantic: Redis open to everyone
    expect(validateFleet(fleet)).toEqual({
      ok: false,
      errors: ["host db1: firewall.services[0] exposes Redis (6379/tcp) to everyone (no from); set from to the private networks that need it"],
    });
    fleet.hosts[0].connection.port = 0; // schema
    expect(validateFleet(fleet)).toEqual({ ok: false, errors: ["hosts[0].connection.port: 0 is not a port (1-65535)"] });
  });

  it("lists semantic errors fleet-wide first, then host by host, the same way every time", () => {
    const fleet: any = exampleFleet();
    fleet.hosts[2].name = "web1";
    fleet.hosts[2].policy.ssh.allowUsers = ["root"];
    fleet.hosts[0].policy.ssh.allowUsers = ["deploy"];
    fleet.defaults.fail2ban.ignore = ["0.0.0.0/0"];
    const expected = [
      'hosts[2].name: "web1" is already the name of hosts[0]; host names must be unique',
      'host web1: ssh.allowUsers (deploy) excludes "root", the user that logs in after this apply; add it to allowUsers',
      "host web1: fail2ban.ignore contains 0.0.0.0/0, which exempts every address from banning; list the admin networks instead",
      "host db1: fail2ban.ignore contains 0.0.0.0/0, which exempts every address from banning; list the admin networks instead",
      'host web1: ssh.allowUsers (root) excludes "admin", the user that logs in after this apply; add it to allowUsers',
      "host web1: fail2ban.ignore contains 0.0.0.0/0, which exempts every address from banning; list the admin networks instead",
    ];
    expect(validateFleet(fleet)).toEqual({ ok: false, errors: expected });
    expect(validateFleet(structuredClone(fleet))).toEqual({ ok: false, errors: expected });
  });

  it("accepts a fleet that was written as JSON and parsed back", () => {
    expect(validateFleet(JSON.parse(JSON.stringify(exampleFleet()))).ok).toBe(true);
  });
});

describe("assertValidFleet", () => {
  it("returns the fleet and its hosts when valid", () => {
    const { fleet, hosts } = assertValidFleet(exampleFleet());
    expect(fleet.hosts.map((h) => h.name)).toEqual(["web1", "db1", "mail1"]);
    expect(hosts).toHaveLength(3);
  });

  it("throws FleetInvalid carrying every error", () => {
    const fleet: any = exampleFleet();
    fleet.hosts[0].connection.port = 70000;
    fleet.defaults.ssh.permitRootLogin = "yes";
    let thrown: unknown;
    try {
      assertValidFleet(fleet);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(FleetInvalid);
    expect((thrown as FleetInvalid).errors).toEqual([
      'defaults.ssh.permitRootLogin: "yes" is not one of no, prohibit-password',
      "hosts[0].connection.port: 70000 is not a port (1-65535)",
    ]);
  });
});
