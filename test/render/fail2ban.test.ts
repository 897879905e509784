import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveHost } from "../../src/policy/resolve";
import type { Fleet, ResolvedHost } from "../../src/policy/types";
import { renderFail2ban } from "../../src/render/fail2ban";
import type { UnitSpec } from "../../src/render/unit";
import { goldenSuite } from "./golden";

// Real fail2ban 1.0.2 on this machine, never its /etc: a scratch copy of /etc/fail2ban plus the rendered
// files. The live test runs fail2ban in fresh mount/net/PID namespaces with tmpfs /run, /var/log and
// /var/lib/fail2ban, and the scratch copy bound over /etc/fail2ban inside that mount namespace only.

const fleet: Fleet = {
  defaults: { fail2ban: { ignore: ["192.0.2.0/24"] } },
  hosts: [
    { name: "web1", address: "203.0.113.10", os: "debian-12", connection: { user: "root", port: 22 }, hostKey: "ssh-ed25519 AAAA",
      policy: { ssh: { port: 2222 } } },
    { name: "mail1", address: "203.0.113.25", os: "debian-13", connection: { user: "root", port: 22 }, hostKey: "ssh-ed25519 AAAA",
      policy: { ssh: { port: 2200 }, fail2ban: { sshd: { maxRetry: 5, banTimeIncrement: false } } } },
    { name: "db1", address: "10.0.0.5", os: "rhel-9", connection: { user: "root", port: 22 }, hostKey: "ssh-ed25519 AAAA",
      policy: { firewall: { backend: "iptables" }, fail2ban: { recidive: { enabled: false } } } },
  ],
};
const hosts = Object.fromEntries(fleet.hosts.map((h) => [h.name, resolveHost(fleet, h)])) as Record<string, ResolvedHost>;

/** The scratch namespaces below have no journal: fail2ban reads auth.log there, as where rsyslog runs. */
function fileLog(host: ResolvedHost): ResolvedHost {
  const copy = structuredClone(host);
  copy.policy.fail2ban.logBackend = "file";
  return copy;
}

goldenSuite("fail2ban", hosts, renderFail2ban);

describe("fail2ban rendering rules", () => {
  it("never bans loopback or the host, and does not imply the SSH whitelist", () => {
    const host = structuredClone(hosts.web1);
    host.policy.firewall.sshAllow = ["198.51.100.0/24"];
    const jail = renderFail2ban(host).files[0].content;
    expect(jail).toMatch(/^ignoreip = 127\.0\.0\.1\/8 ::1 203\.0\.113\.10 192\.0\.2\.0\/24$/m);
  });
  it("follows the SSH port and the firewall backend", () => {
    expect(renderFail2ban(hosts.mail1).files[0].content).toMatch(/^port = 2200$/m);
    const db = renderFail2ban(hosts.db1);
    expect(db.files.map((f) => f.path)).toContain("/etc/fail2ban/action.d/iptables.local");
    expect(db.files[0].content).toMatch(/^banaction = iptables-ipset-proto6$/m);
    expect(db.files[0].content).toMatch(/^logpath = \/var\/log\/secure$/m);
  });
  it("reads the journal on Debian (sshd's unit and this OpenSSH's process names), the auth log where the profile or the policy says so", () => {
    const web1 = renderFail2ban(hosts.web1);
    const jail12 = web1.files[0].content;
    // every jail reads the journal; recidive finds fail2ban's own ban lines there (logtarget SYSLOG)
    expect(jail12.match(/^backend = systemd$/gm)).toHaveLength(2);
    expect(jail12).toMatch(/^journalmatch = _SYSTEMD_UNIT=ssh\.service \+ _COMM=sshd$/m);
    expect(jail12).not.toMatch(/^logpath/m);
    expect(web1.files.find((f) => f.path === "/etc/fail2ban/fail2ban.d/zz-harden.local")?.content).toMatch(/^logtarget = SYSLOG$/m);
    expect(web1.summary.join("\n")).toContain("reads the journal (backend systemd)");
    const mail = renderFail2ban(structuredClone({ ...hosts.mail1, policy: { ...hosts.mail1.policy, fail2ban: { ...hosts.mail1.policy.fail2ban, logBackend: undefined } } }));
    expect(mail.files[0].content).toMatch(/^journalmatch = _SYSTEMD_UNIT=ssh\.service \+ _COMM=sshd \+ _COMM=sshd-session \+ _COMM=sshd-auth$/m);
    const file = renderFail2ban(fileLog(hosts.web1));
    expect(file.files[0].content).toMatch(/^backend = auto\nlogpath = \/var\/log\/auth\.log$/m);
    expect(file.files.map((f) => f.path)).not.toContain("/etc/fail2ban/fail2ban.d/zz-harden.local");
    expect(file.summary.join("\n")).toContain("reads /var/log/auth.log (backend auto");
    // RHEL's profile: /var/log/secure, the unit is sshd.service
    expect(renderFail2ban(hosts.db1).files[0].content).toMatch(/^logpath = \/var\/log\/secure$/m);
  });
  it("refuses an ignore entry that is not an address", () => {
    const host = structuredClone(hosts.web1);
    host.policy.fail2ban.ignore = ["10.0.0.0/8\nbanaction = dummy"];
    expect(() => renderFail2ban(host)).toThrow(/ignore entry 3: .* is not an address or CIDR/);
  });
});

// ---- real fail2ban ----

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "harden-f2b-"));
});
afterAll(() => {
  if (root && existsSync(root)) rmSync(root, { recursive: true, force: true });
});

/** A copy of /etc/fail2ban, optionally with the unit's files written into it. */
function scratchConf(name: string, unit?: UnitSpec): string {
  const dir = mkdtempSync(join(root, `${name}-`));
  cpSync("/etc/fail2ban", join(dir, "etc/fail2ban"), { recursive: true });
  for (const f of unit?.files ?? []) writeFileSync(dir + f.path, f.content);
  return join(dir, "etc/fail2ban");
}

/** fresh mount/net/PID namespaces: fail2ban, its sockets, logs, database and nft table die with them */
function inNamespaces(conf: string, script: string) {
  const runner = join(dirname(dirname(conf)), "run.sh");
  writeFileSync(runner, `set -u
mount -t tmpfs tmpfs /run && mkdir -p /run/fail2ban &&
mount -t tmpfs tmpfs /var/log && touch /var/log/auth.log /var/log/fail2ban.log &&
mount -t tmpfs tmpfs /var/lib/fail2ban &&
mount --bind ${conf} /etc/fail2ban && ip link set lo up || exit 99
${script}`);
  const r = spawnSync("unshare", ["--mount", "--net", "--pid", "--fork", "--propagation", "private", "sh", runner], {
    encoding: "utf8", timeout: 90_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("fail2ban's config test accepts the rendered files", () => {
  for (const name of Object.keys(hosts)) {
    it(`${name}: fail2ban-client -t passes and the sshd jail bans with DROP`, () => {
      const conf = scratchConf(name, renderFail2ban(hosts[name]));
      const r = inNamespaces(conf, `touch /var/log/secure; fail2ban-client -c ${conf} -t && fail2ban-client -c ${conf} -d`);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout).toContain(`['set', 'sshd', 'maxretry', ${hosts[name].policy.fail2ban.sshd.maxRetry}]`);
      if (name === "db1") {
        expect(r.stdout).toContain("['blocktype', 'DROP']");
        expect(r.stdout).toContain("['blocktype?family=inet6', 'DROP']");
        expect(r.stdout).toContain("src -j <blocktype>");
      } else {
        expect(r.stdout).toContain("saddr @<addr_set> drop");
      }
      expect(r.stdout).not.toMatch(/REJECT|reject/);
    });
  }
});

// Failures as OpenSSH 9.2 (sshd[pid]) and 10 (sshd-session[pid]) log them: a wrong password, and a
// key-only login that offers an unknown key and gives up.
const SAMPLE = `Nov 21 06:00:01 web1 sshd[1001]: Failed password for root from 198.51.100.7 port 50001 ssh2
Nov 21 06:00:02 web1 sshd[1002]: Failed publickey for root from 198.51.100.7 port 50002 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
Nov 21 06:00:02 web1 sshd[1002]: Connection closed by authenticating user root 198.51.100.7 port 50002 [preauth]
Nov 21 06:00:03 web1 sshd-session[1003]: Failed password for root from 198.51.100.8 port 50003 ssh2
Nov 21 06:00:04 web1 sshd-session[1004]: Failed publickey for root from 198.51.100.8 port 50004 ssh2: ED25519 SHA256:abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG
Nov 21 06:00:04 web1 sshd-session[1004]: Connection closed by authenticating user root 198.51.100.8 port 50004 [preauth]
`;

describe("the sshd filter as rendered counts both OpenSSH generations", () => {
  const regex = (conf: string) => {
    const log = join(dirname(dirname(conf)), "auth.log");
    writeFileSync(log, SAMPLE);
    const jail = readFileSync(join(conf, "jail.d/zz-harden.local"), "utf8");
    const filter = jail.match(/^filter = (.*)$/m)?.[1].replace("%(mode)s", jail.match(/^mode = (.*)$/m)?.[1] ?? "?");
    const r = spawnSync("fail2ban-regex", ["-o", "ip", "-c", conf, log, filter ?? "?"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trim().split("\n").filter(Boolean);
  };

  it("one failure per wrong password and per failed key-only session, for sshd and sshd-session", () => {
    const hits = regex(scratchConf("regex", renderFail2ban(hosts.mail1)));
    expect(hits).toEqual(["198.51.100.7", "198.51.100.7", "198.51.100.8", "198.51.100.8"]);
  });

  it("without the rendered filter.d/sshd.local, fail2ban 1.0.2 misses every sshd-session line", () => {
    const unit = renderFail2ban(hosts.mail1);
    const hits = regex(scratchConf("regex-stock", { ...unit, files: unit.files.filter((f) => !f.path.startsWith("/etc/fail2ban/filter.d/")) }));
    expect(hits).toEqual(["198.51.100.7", "198.51.100.7"]);
  });
});

describe("fail2ban unit snippets against a running scratch fail2ban", () => {
  it("validates, starts, verifies both jails, and bans an sshd-session brute force with an nft DROP", () => {
    const unit = renderFail2ban(fileLog(hosts.web1));
    const conf = scratchConf("live");
    const stage = join(dirname(dirname(conf)), "stage");
    for (const f of unit.files) {
      mkdirSync(dirname(stage + f.path), { recursive: true });
      writeFileSync(stage + f.path, f.content);
    }
    const r = inNamespaces(conf, `UNIT=fail2ban
say() { printf '%s: %s\\n' "$UNIT" "$*"; }
die() { printf '%s: FAILED: %s\\n' "$UNIT" "$*" >&2; exit 1; }
service_restart() { return 1; }
has_systemd() { false; }
STAGE=${stage}
(
${unit.validate}
) || exit 10
cp -R ${stage}/etc/fail2ban/. /etc/fail2ban/
(
${unit.activate}
) || exit 12
(
${unit.verify}
) || exit 13
echo verified
t0=$(date +%s.%N)
for port in 50001 50002 50003; do
  printf '%s web1 sshd-session[4%s]: Failed password for root from 198.51.100.9 port %s ssh2\\n' "$(date '+%b %e %H:%M:%S')" "$port" "$port" >> /var/log/auth.log
done
n=0
# banned = the DROP is in place: status may list the address before the action has added it to the set
until nft list set inet f2b-table addr-set-sshd 2>/dev/null | grep -q 198.51.100.9; do n=$((n + 1)); [ $n -le 100 ] || exit 14; sleep 0.1; done
echo "banned after $(echo "$(date +%s.%N) - $t0" | bc) s"
nft list table inet f2b-table
fail2ban-client stop >/dev/null
`);
    // fail2ban 1.0.2 warns that its own fail2ban.conf lacks "allowipv6": noise, not an error
    expect(r.stderr).not.toMatch(/ERROR|FAILED/);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain("verified");
    expect(r.stdout).toMatch(/tcp dport 2222 ip saddr @addr-set-sshd drop/);
    // before DNAT, so a ban also covers ports published by containers (forward hook, never input)
    expect(r.stdout).toMatch(/type filter hook prerouting priority raw; policy accept;/);
    expect(r.stdout).toMatch(/elements = \{ 198\.51\.100\.9 \}/);
    console.log(r.stdout.match(/banned after .*/)?.[0]);
  });

  it("validate refuses the journal backend on a host without a journal, and the auth log where there is none", () => {
    const journal = renderFail2ban(hosts.web1);
    const r = inNamespaces(scratchConf("nojournal"), `UNIT=fail2ban
die() { printf '%s: FAILED: %s\\n' "$UNIT" "$*" >&2; exit 1; }
mount -t tmpfs tmpfs /run/systemd 2>/dev/null || mkdir -p /run/systemd
STAGE=/nonexistent
(
${journal.validate}
) || exit 10
`);
    expect(r.status).toBe(10);
    expect(r.stderr).toContain("fail2ban: FAILED: fail2ban: the policy has the jails read the journal, but this host runs no systemd journal; set fail2ban.logBackend to file");
    const file = renderFail2ban(fileLog(hosts.web1));
    const r2 = inNamespaces(scratchConf("noauthlog"), `UNIT=fail2ban
die() { printf '%s: FAILED: %s\\n' "$UNIT" "$*" >&2; exit 1; }
rm -f /var/log/auth.log
(
${file.validate}
) || exit 10
`);
    expect(r2.status).toBe(10);
    expect(r2.stderr).toContain("fail2ban: the policy has the jails read /var/log/auth.log, which does not exist");
  });

  it("activate fails with fail2ban's reason when a reloaded jail cannot start", () => {
    const unit = renderFail2ban(fileLog(hosts.web1));
    const conf = scratchConf("nolog", unit);
    const r = inNamespaces(conf, `UNIT=fail2ban
die() { printf '%s: FAILED: %s\\n' "$UNIT" "$*" >&2; exit 1; }
service_restart() { return 1; }
has_systemd() { false; }
fail2ban-client -x start >/dev/null 2>&1 || exit 98
rm /var/log/auth.log
(
${unit.activate}
) || exit 12
`);
    expect(r.status).toBe(12);
    expect(r.stderr).toMatch(/fail2ban: FAILED: fail2ban: reload --restart failed: .*Have not found any log file for sshd jail/s);
  });
});
