import { describe, expect, it } from "vitest";
import { exampleFleet } from "./fixtures";
import { resolveFleet, resolveHost } from "./resolve";
import { checkSchema } from "./schemaCheck";
import {
  allowUsersAdmitsLogin, blocklistNamesAreUnique, checkSemantics, blocklistsSpareAdmin, fail2banCanBan, hostAddressesAreUnique,
  hostNamesAreUnique, hostUnderCheck, internalServicesArePrivate, loginUserHasKey, maxStartupsIsConsistent,
  rootLoginHasHeir, servicesAreUnique, sshAllowAdmitsAdmin, sshListensOnHostAddress, sshPortIsFree,
  type FleetCheck, type HostCheck,
} from "./semantic";
import type { Fleet } from "./types";

const WEB1 = 0, DB1 = 1, MAIL1 = 2;

/** The example fleet after `change` (which must keep it schema-valid). */
function fleetAfter(change: (fleet: any) => void): Fleet {
  const fleet = exampleFleet();
  change(fleet);
  expect(checkSchema(fleet), "the change must keep the fleet schema-valid").toEqual([]);
  return fleet;
}

/** Runs one host check on hosts[index] of the example fleet after `change`. */
function run(check: HostCheck, index: number, change: (fleet: any) => void = () => {}): string[] {
  const fleet = fleetAfter(change);
  return check(hostUnderCheck(fleet, index, resolveHost(fleet, fleet.hosts[index])));
}

const runFleet = (check: FleetCheck, change: (fleet: any) => void = () => {}) => check(fleetAfter(change));

describe("loginUserHasKey", () => {
  it("refuses key-only login for a user without keys", () => {
    expect(run(loginUserHasKey, WEB1, (f) => (f.hosts[0].policy.ssh.authorizedKeys = { root: [] }))).toEqual([
      'host web1: key-only login (ssh.passwordAuthentication: false) but no authorized key for "root", the user that logs in after this apply; add ssh.authorizedKeys.root',
    ]);
    expect(run(loginUserHasKey, WEB1, (f) => (f.hosts[0].connection.user = "deploy"))).toEqual([
      'host web1: key-only login (ssh.passwordAuthentication: false) but no authorized key for "deploy", the user that logs in after this apply; add ssh.authorizedKeys.deploy',
    ]);
  });

  it("refuses root with prohibit-password and no key, even when passwords are allowed", () => {
    expect(
      run(loginUserHasKey, WEB1, (f) => {
        f.defaults.ssh.passwordAuthentication = true;
        f.defaults.ssh.authorizedKeys = {};
      }),
    ).toEqual([
      "host web1: root may log in with a key only (ssh.permitRootLogin: prohibit-password) but has no authorized key; add ssh.authorizedKeys.root",
    ]);
  });

  it("passes when the login user has a key, or a password login is allowed", () => {
    expect(run(loginUserHasKey, WEB1)).toEqual([]);
    expect(run(loginUserHasKey, MAIL1)).toEqual([]); // admin takes over from root and has a key
    expect(
      run(loginUserHasKey, WEB1, (f) => {
        f.defaults.ssh.passwordAuthentication = true;
        f.hosts[0].connection.user = "deploy";
      }),
    ).toEqual([]);
  });
});

describe("rootLoginHasHeir", () => {
  it("refuses permitRootLogin no for a root connection when no sudo user has keys", () => {
    expect(run(rootLoginHasHeir, MAIL1, (f) => (f.hosts[2].policy.ssh.authorizedKeys = { admin: [] }))).toEqual([
      'host mail1: ssh.permitRootLogin is "no" while the connection user is root, and no ssh.sudoUsers entry has authorized keys; add a sudo user with ssh.authorizedKeys, or use permitRootLogin "prohibit-password"',
    ]);
    // a key for a user who is not a sudo user does not help
    expect(run(rootLoginHasHeir, MAIL1, (f) => (f.hosts[2].policy.ssh.sudoUsers = ["ops"]))).toHaveLength(1);
  });

  it("passes with a sudo user who has keys, or a connection user who is not root", () => {
    expect(run(rootLoginHasHeir, MAIL1)).toEqual([]);
    expect(
      run(rootLoginHasHeir, MAIL1, (f) => {
        f.hosts[2].connection.user = "admin";
        f.hosts[2].policy.ssh.sudoUsers = [];
      }),
    ).toEqual([]);
  });
});

describe("allowUsersAdmitsLogin", () => {
  it("refuses an allowUsers list without the user that logs in", () => {
    expect(run(allowUsersAdmitsLogin, WEB1, (f) => (f.hosts[0].policy.ssh.allowUsers = ["deploy", "ops"]))).toEqual([
      'host web1: ssh.allowUsers (deploy, ops) excludes "root", the user that logs in after this apply; add it to allowUsers',
    ]);
    // on mail1 the login user after the apply is admin, not root
    expect(run(allowUsersAdmitsLogin, MAIL1, (f) => (f.hosts[2].policy.ssh.allowUsers = ["root"]))).toEqual([
      'host mail1: ssh.allowUsers (root) excludes "admin", the user that logs in after this apply; add it to allowUsers',
    ]);
  });

  it("passes when the login user is listed or the list is empty", () => {
    expect(run(allowUsersAdmitsLogin, MAIL1)).toEqual([]);
    expect(run(allowUsersAdmitsLogin, DB1)).toEqual([]);
    expect(run(allowUsersAdmitsLogin, WEB1)).toEqual([]);
  });
});

describe("sshListensOnHostAddress", () => {
  it("refuses listen addresses that leave out the address the plan connects to", () => {
    expect(run(sshListensOnHostAddress, DB1, (f) => (f.hosts[1].policy.ssh.listenAddresses = ["10.0.0.20"]))).toEqual([
      "host db1: ssh.listenAddresses (10.0.0.20) does not include the host's address 203.0.113.20, which the plan connects to; add it",
    ]);
  });

  it("passes with the host's address, a wildcard, or an address that is a DNS name", () => {
    expect(run(sshListensOnHostAddress, DB1)).toEqual([]);
    expect(run(sshListensOnHostAddress, DB1, (f) => (f.hosts[1].policy.ssh.listenAddresses = ["0.0.0.0"]))).toEqual([]);
    expect(
      run(sshListensOnHostAddress, DB1, (f) => {
        f.hosts[1].address = "db1.example.org";
        f.hosts[1].policy.ssh.listenAddresses = ["10.0.0.20"];
      }),
    ).toEqual([]);
  });
});

describe("sshAllowAdmitsAdmin", () => {
  it("refuses an SSH whitelist that none of the admin sources falls in", () => {
    expect(run(sshAllowAdmitsAdmin, WEB1, (f) => (f.hosts[0].policy.firewall = { sshAllow: ["10.0.0.0/8", "198.51.100.8/29"] }))).toEqual([
      "host web1: firewall.sshAllow (10.0.0.0/8, 198.51.100.8/29) admits none of the admin sources (198.51.100.7/32); add one of them to sshAllow",
    ]);
  });

  it("passes when one admin source is inside, the whitelist is empty, or no source is declared", () => {
    expect(run(sshAllowAdmitsAdmin, WEB1)).toEqual([]);
    expect(run(sshAllowAdmitsAdmin, WEB1, (f) => (f.hosts[0].policy.firewall = { sshAllow: [] }))).toEqual([]);
    expect(
      run(sshAllowAdmitsAdmin, WEB1, (f) => {
        f.hosts[0].policy.firewall = { sshAllow: ["10.0.0.0/8"] };
        f.hosts[0].adminSources = ["192.0.2.1/32", "10.1.2.3/32"]; // the host's own list replaces the fleet's
      }),
    ).toEqual([]);
    expect(
      run(sshAllowAdmitsAdmin, WEB1, (f) => {
        f.hosts[0].policy.firewall = { sshAllow: ["10.0.0.0/8"] };
        delete f.adminSources;
      }),
    ).toEqual([]);
  });
});

describe("blocklistsSpareAdmin", () => {
  it("refuses a blocklist entry that covers an admin source", () => {
    expect(
      run(blocklistsSpareAdmin, WEB1, (f) => (f.defaults.firewall.blocklists[0].cidrs = ["192.0.2.0/24", "198.51.0.0/16"])),
    ).toEqual([
      'host web1: blocklist "spamhaus_drop" contains 198.51.0.0/16, which covers admin source 198.51.100.7/32; remove it from the blocklist or fix adminSources',
    ]);
  });

  it("passes when no entry touches an admin source", () => {
    expect(run(blocklistsSpareAdmin, WEB1)).toEqual([]);
  });

  it("scans a shared list once per run, yet names every host it blocks", () => {
    const fleet = fleetAfter((f) => (f.defaults.firewall.blocklists[0].cidrs = ["198.51.100.0/24"]));
    const errors = checkSemantics(fleet, resolveFleet(fleet)).filter((e) => e.includes("blocklist"));
    expect(errors).toEqual(["web1", "db1", "mail1"].map((name) =>
      `host ${name}: blocklist "spamhaus_drop" contains 198.51.100.0/24, which covers admin source 198.51.100.7/32; remove it from the blocklist or fix adminSources`));
  });
});

describe("sshPortIsFree", () => {
  it("refuses a service declared on the SSH port", () => {
    expect(run(sshPortIsFree, WEB1, (f) => (f.hosts[0].policy.ssh.port = 443))).toEqual([
      "host web1: ssh.port 443 is also declared as firewall.services[1] (443/tcp); pick another SSH port or remove the service (SSH is opened from sshAllow by itself)",
    ]);
  });

  it("passes when the SSH port is only shared with a UDP service", () => {
    expect(run(sshPortIsFree, WEB1)).toEqual([]);
    expect(run(sshPortIsFree, WEB1, (f) => f.groups.web.firewall.services.push({ port: 2222, proto: "udp" }))).toEqual([]);
  });
});

describe("servicesAreUnique", () => {
  it("refuses one port and protocol declared twice", () => {
    expect(run(servicesAreUnique, DB1, (f) => f.groups.db.firewall.services.push({ port: 5432, from: ["192.168.0.0/16"] }))).toEqual([
      "host db1: firewall.services[1] and [2] both declare 5432/tcp; merge their from lists",
    ]);
  });

  it("passes for the same port over tcp and udp", () => {
    expect(run(servicesAreUnique, DB1)).toEqual([]);
    expect(run(servicesAreUnique, DB1, (f) => f.groups.db.firewall.services.push({ port: 5432, proto: "udp", from: ["10.0.0.0/8"] }))).toEqual([]);
  });
});

describe("internalServicesArePrivate", () => {
  it("refuses internal services open to everyone", () => {
    expect(
      run(internalServicesArePrivate, DB1, (f) => {
        delete f.groups.db.firewall.services[0].from;
        f.groups.db.firewall.services[1].from = ["10.0.0.0/8", "::/0"];
        f.groups.db.firewall.services.push({ port: 11211, proto: "udp", from: ["0.0.0.0/0"] });
      }),
    ).toEqual([
      "host db1: firewall.services[0] exposes Redis (6379/tcp) to everyone (no from); set from to the private networks that need it",
      "host db1: firewall.services[1] exposes PostgreSQL (5432/tcp) to ::/0; set from to the private networks that need it",
      "host db1: firewall.services[2] exposes memcached (11211/udp) to 0.0.0.0/0; set from to the private networks that need it",
    ]);
  });

  it("passes for internal services with a private from and public services open to all", () => {
    expect(run(internalServicesArePrivate, DB1)).toEqual([]);
    expect(run(internalServicesArePrivate, WEB1)).toEqual([]);
  });
});

describe("blocklistNamesAreUnique", () => {
  it("refuses two blocklists with one name", () => {
    expect(
      run(blocklistNamesAreUnique, WEB1, (f) => f.defaults.firewall.blocklists.push({ name: "spamhaus_drop", cidrs: ["203.0.113.128/25"] })),
    ).toEqual(['host web1: firewall.blocklists names "spamhaus_drop" twice; give each list its own name']);
  });

  it("passes with distinct names", () => {
    expect(run(blocklistNamesAreUnique, WEB1, (f) => f.defaults.firewall.blocklists.push({ name: "spamhaus_edrop", cidrs: [] }))).toEqual([]);
  });
});

describe("fail2banCanBan", () => {
  it("refuses an ignore list that exempts everyone", () => {
    expect(run(fail2banCanBan, WEB1, (f) => (f.defaults.fail2ban.ignore = ["198.51.100.0/24", "::/0"]))).toEqual([
      "host web1: fail2ban.ignore contains ::/0, which exempts every address from banning; list the admin networks instead",
    ]);
  });

  it("passes with narrow ignores, or when fail2ban is off", () => {
    expect(run(fail2banCanBan, WEB1)).toEqual([]);
    expect(
      run(fail2banCanBan, WEB1, (f) => {
        f.defaults.fail2ban.ignore = ["0.0.0.0/0"];
        f.defaults.fail2ban.enabled = false;
      }),
    ).toEqual([]);
  });
});

describe("maxStartupsIsConsistent", () => {
  it("refuses what sshd refuses", () => {
    for (const value of ["60:30:10", "10:0:60", "10:101:60"]) {
      expect(run(maxStartupsIsConsistent, WEB1, (f) => (f.defaults.ssh.maxStartups = value))).toEqual([
        `host web1: ssh.maxStartups "${value}" is refused by sshd; start must not exceed full and rate must be 1-100 (e.g. "10:30:60")`,
      ]);
    }
  });

  it("passes a single number and a consistent triple", () => {
    expect(run(maxStartupsIsConsistent, WEB1, (f) => (f.defaults.ssh.maxStartups = "10"))).toEqual([]);
    expect(run(maxStartupsIsConsistent, WEB1, (f) => (f.defaults.ssh.maxStartups = "10:100:10"))).toEqual([]);
  });
});

describe("hostNamesAreUnique", () => {
  it("refuses a name used twice", () => {
    expect(runFleet(hostNamesAreUnique, (f) => (f.hosts[2].name = "web1"))).toEqual([
      'hosts[2].name: "web1" is already the name of hosts[0]; host names must be unique',
    ]);
  });
  it("passes distinct names", () => {
    expect(runFleet(hostNamesAreUnique)).toEqual([]);
  });
});

describe("hostAddressesAreUnique", () => {
  it("refuses one address used twice, however it is spelled", () => {
    expect(
      runFleet(hostAddressesAreUnique, (f) => {
        f.hosts[0].address = "2001:db8::10";
        f.hosts[2].address = "2001:DB8:0:0::10";
        f.hosts[1].address = "DB1.example.org";
        f.hosts.push({ ...structuredClone(f.hosts[1]), name: "db2", address: "db1.example.org" });
      }),
    ).toEqual([
      'hosts[2].address: "2001:DB8:0:0::10" is already the address of hosts[0] (web1); each host needs its own address',
      'hosts[3].address: "db1.example.org" is already the address of hosts[1] (db1); each host needs its own address',
    ]);
  });
  it("passes distinct addresses", () => {
    expect(runFleet(hostAddressesAreUnique)).toEqual([]);
  });
});
