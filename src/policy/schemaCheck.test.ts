import { describe, expect, it } from "vitest";
import { exampleFleet } from "./fixtures";
import { isDnsName } from "./cidr";
import { checkSchema, pathSegments } from "./schemaCheck";
import type { Fleet } from "./types";

/** Schema errors of the example fleet after `change`; the fixture itself is valid. */
function errorsAfter(change: (fleet: any) => void): string[] {
  const fleet: Fleet = exampleFleet();
  change(fleet);
  return checkSchema(fleet);
}

describe("checkSchema", () => {
  it("accepts the example fleet", () => {
    expect(checkSchema(exampleFleet())).toEqual([]);
  });

  it("reports every error at once, each naming its path and value", () => {
    expect(
      errorsAfter((f) => {
        f.hosts[2].policy.firewall = { sshAllow: ["198.51.100.0/24", "10.0.0.300/8"] };
        f.hosts[0].connection.port = 70000;
        f.defaults.ssh.permitRootLogin = "yes";
        f.groups.web.firewall.bogus = 1;
      }),
    ).toEqual([
      'defaults.ssh.permitRootLogin: "yes" is not one of no, prohibit-password',
      "groups.web.firewall.bogus: unknown key",
      "hosts[0].connection.port: 70000 is not a port (1-65535)",
      'hosts[2].policy.firewall.sshAllow[1]: "10.0.0.300/8" is not a CIDR',
    ]);
  });

  it("checks the published-ports switch", () => {
    expect(errorsAfter((f) => {
      f.hosts[0].policy.firewall = { publishedPorts: { undeclared: "allow" } };
      f.hosts[1].policy.firewall = { publishedPorts: { undeclared: "accept", internal: "accept" } };
    })).toEqual([
      'hosts[0].policy.firewall.publishedPorts.undeclared: "allow" is not one of drop, accept',
      "hosts[1].policy.firewall.publishedPorts.internal: unknown key",
    ]);
  });

  it("names missing keys", () => {
    expect(
      errorsAfter((f) => {
        delete f.hosts[1].hostKey;
        delete f.hosts[1].connection.user;
      }),
    ).toEqual(["hosts[1].hostKey: missing (required)", "hosts[1].connection.user: missing (required)"]);
    expect(checkSchema({ hosts: [{}] })).toEqual([
      "hosts[0].name: missing (required)",
      "hosts[0].address: missing (required)",
      "hosts[0].os: missing (required)",
      "hosts[0].connection: missing (required)",
      "hosts[0].hostKey: missing (required)",
    ]);
  });

  it("names wrong types and numbers out of range", () => {
    expect(
      errorsAfter((f) => {
        f.hosts[0].connection.port = "22";
        f.defaults.ssh.passwordAuthentication = "no";
        f.defaults.ssh.maxAuthTries = 0;
        f.defaults.ssh.loginGraceTime = 1.5;
        f.defaults.firewall.sshAllow = "10.0.0.0/8";
        f.groups.web = [];
      }),
    ).toEqual([
      'defaults.ssh.passwordAuthentication: "no" is not true or false',
      "defaults.ssh.maxAuthTries: 0 is not between 1 and 100",
      'defaults.ssh.loginGraceTime: 1.5 is not a duration of 1 to 3600 seconds (or like "10m", "1h30m")',
      'defaults.firewall.sshAllow: "10.0.0.0/8" is not a list',
      "groups.web: a list is not an object",
      'hosts[0].connection.port: "22" is not a port (1-65535)',
    ]);
    expect(checkSchema(null)).toEqual(["fleet: null is not an object"]);
    expect(checkSchema({ hosts: [], extra: 1 })).toEqual(["extra: unknown key", "hosts: must list at least 1 entry"]);
  });

  it("refuses bad user names and duplicates in lists", () => {
    expect(
      errorsAfter((f) => {
        f.hosts[0].groups = ["web", "web"];
        f.defaults.cron.allow = ["root", "Bob"];
        f.defaults.cron.atAllow = ["root", "-x"];
        f.hosts[2].policy.ssh.sudoUsers = ["admin", "a".repeat(33)];
      }),
    ).toEqual([
      'defaults.cron.allow[1]: "Bob" is not a user name (a-z or _, then up to 31 of a-z 0-9 _ -)',
      'defaults.cron.atAllow[1]: "-x" is not a user name (a-z or _, then up to 31 of a-z 0-9 _ -)',
      'hosts[0].groups[1]: "web" is listed twice',
      `hosts[2].policy.ssh.sudoUsers[1]: "${"a".repeat(33)}" is not a user name (a-z or _, then up to 31 of a-z 0-9 _ -)`,
    ]);
  });

  it("parses CIDRs strictly and names the network meant when host bits are set", () => {
    expect(
      errorsAfter((f) => {
        f.defaults.fail2ban.ignore = [
          "10.0.0.1/8", "2001:db8::1/32", "010.0.0.0/8", "10.0.0.0/08", "fe80::1%eth0", "10.1/8", "10.0.0.0/33",
          "::/0", "192.0.2.7", "2001:db8::7",
        ];
      }),
    ).toEqual([
      'defaults.fail2ban.ignore[0]: "10.0.0.1/8" has host bits set; did you mean 10.0.0.0/8?',
      'defaults.fail2ban.ignore[1]: "2001:db8::1/32" has host bits set; did you mean 2001:db8::/32?',
      'defaults.fail2ban.ignore[2]: "010.0.0.0/8" is not a CIDR',
      'defaults.fail2ban.ignore[3]: "10.0.0.0/08" is not a CIDR',
      'defaults.fail2ban.ignore[4]: "fe80::1%eth0" is not a CIDR',
      'defaults.fail2ban.ignore[5]: "10.1/8" is not a CIDR',
      'defaults.fail2ban.ignore[6]: "10.0.0.0/33" is not a CIDR',
    ]);
  });

  it("checks addresses: IP or DNS name for hosts, IP only for listenAddresses", () => {
    expect(
      errorsAfter((f) => {
        f.hosts[0].address = "10.0.0.300";
        f.hosts[1].address = "db1.example.org";
        f.hosts[2].address = "bad host";
        f.hosts[1].policy.ssh.listenAddresses = ["203.0.113.20", "db1.example.org"];
      }),
    ).toEqual([
      'hosts[0].address: "10.0.0.300" is not an IP address or DNS name',
      'hosts[1].policy.ssh.listenAddresses[1]: "db1.example.org" is not an IP address',
      'hosts[2].address: "bad host" is not an IP address or DNS name',
    ]);
  });

  it("holds keys to their shapes, map keys included", () => {
    expect(
      errorsAfter((f) => {
        f.defaults.ssh.authorizedKeys = { root: ["ssh-ed25519 AAAA $(reboot)"], "a\nb": [] };
        f.hosts[0].hostKey = "ssh-ed25519 AAAA comment";
        f.hosts[1].hostKey = "ssh-dss AAAA";
        f.groups["Web Servers"] = {};
      }),
    ).toEqual([
      'defaults.ssh.authorizedKeys: key "a\\nb" is not a user name (a-z or _, then up to 31 of a-z 0-9 _ -)',
      'defaults.ssh.authorizedKeys.root[0]: "ssh-ed25519 AAAA $(reboot)" is not a public key ("ssh-ed25519 AAAA... comment", comment of letters, digits, space and @._+:=,/-)',
      'groups: key "Web Servers" is not a group name (a-z or 0-9, then up to 62 of a-z 0-9 _ -)',
      'hosts[0].hostKey: "ssh-ed25519 AAAA comment" is not a host key ("ssh-ed25519 AAAA...", no comment)',
      'hosts[1].hostKey: "ssh-dss AAAA" is not a host key ("ssh-ed25519 AAAA...", no comment)',
    ]);
  });

  it("keeps strings that reach files and scripts to safe shapes", () => {
    expect(
      errorsAfter((f) => {
        f.hosts[0].name = "web1;reboot";
        f.defaults.cron.expected[0].line = "a\nb";
        f.defaults.cron.expected[0].source = "/etc/cron.d/../x";
        f.hosts[0].policy.ssh.sftpChroot.directory = "/srv/../etc";
        f.hosts[1].connection.privateKey = "keys/db1 key";
        f.groups.web.firewall.services[0].comment = 'http "public"';
        f.defaults.firewall.blocklists[0].name = "spamhaus-drop";
        f.defaults.ssh.maxStartups = "10:30";
      }),
    ).toEqual([
      'defaults.ssh.maxStartups: "10:30" is not a MaxStartups value ("10" or "10:30:60")',
      'defaults.firewall.blocklists[0].name: "spamhaus-drop" is not a blocklist name (a-z, then up to 23 of a-z 0-9 _)',
      'defaults.cron.expected[0].source: "/etc/cron.d/../x" is not root, a user name, /etc/crontab or /etc/cron.d/NAME',
      'defaults.cron.expected[0].line: "a\\nb" is not a single-line crontab entry',
      'groups.web.firewall.services[0].comment: "http \\"public\\"" is not a comment (letters, digits, space and _.,:/+@-, at most 128)',
      'hosts[0].name: "web1;reboot" is not a host name (a-z or 0-9, then up to 62 of a-z 0-9 . -)',
      'hosts[0].policy.ssh.sftpChroot.directory: "/srv/../etc" is not an absolute path (segments of letters, digits and _%.-, not starting with .)',
      'hosts[1].connection.privateKey: "keys/db1 key" is not a key reference (a file path or config key of letters, digits and _./:@+-)',
    ]);
  });

  it("accepts crontab lines with shell syntax but not line breaks or control characters", () => {
    expect(errorsAfter((f) => (f.defaults.cron.expected[0].line = "*/5 * * * * root test -x /x && /x >/dev/null 2>&1 # $(ok)"))).toEqual([]);
    expect(errorsAfter((f) => (f.defaults.cron.expected[0].line = "* * * * * root x\r"))).toEqual([
      'defaults.cron.expected[0].line: "* * * * * root x\\r" is not a single-line crontab entry',
    ]);
    expect(errorsAfter((f) => (f.defaults.cron.expected[0].line = "* * * * * root x\u0000y"))).toEqual([
      'defaults.cron.expected[0].line: "* * * * * root x\\u0000y" is not a single-line crontab entry',
    ]);
  });

  it("says crypto is a preset or lists, once", () => {
    expect(
      errorsAfter((f) => {
        f.hosts[1].policy.ssh.crypto = "strong";
        f.hosts[0].policy.ssh.crypto = 5;
        f.defaults.ssh.crypto = { kex: [], ciphers: ["x y"], macs: ["a"] };
      }),
    ).toEqual([
      "defaults.ssh.crypto.hostKeyAlgorithms: missing (required)",
      "defaults.ssh.crypto.kex: must list at least 1 entry",
      'defaults.ssh.crypto.ciphers[0]: "x y" is not an algorithm name ("aes256-gcm@openssh.com")',
      "hosts[0].policy.ssh.crypto: 5 is not modern, compatible or an object of algorithm lists",
      'hosts[1].policy.ssh.crypto: "strong" is not one of modern, compatible',
    ]);
  });

  it("prints hostile values escaped and keys quoted in paths", () => {
    expect(
      errorsAfter((f) => {
        f.hosts[0].policy["x\u202e;`id`"] = 1;
        f.hosts[0].os = "debian\u0000😀";
      }),
    ).toEqual([
      'hosts[0].os: "debian\\u0000\\ud83d\\ude00" is not one of debian-12, debian-13, ubuntu-22.04, ubuntu-24.04, rhel-9',
      'hosts[0].policy["x\\u202e;`id`"]: unknown key',
    ]);
  });
});

describe("pathSegments", () => {
  it("tells list indexes from map keys that look like numbers", () => {
    const data = { groups: { "7": { a: [1, 2] } } };
    expect(pathSegments("/groups/7/a/1", data)).toEqual(["groups", "7", "a", 1]);
    expect(pathSegments("/a~1b/c~0d", {})).toEqual(["a/b", "c~d"]);
  });
});

describe("isDnsName", () => {
  it("accepts host names and refuses what only looks like one", () => {
    expect(["db1.example.org", "localhost", "a-b.c"].filter(isDnsName)).toEqual(["db1.example.org", "localhost", "a-b.c"]);
    expect(["10.0.0.300", "-a.org", "a..b", "a_b.org", "a".repeat(64) + ".org", ""].filter(isDnsName)).toEqual([]);
  });
});
