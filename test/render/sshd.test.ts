import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveHost } from "../../src/policy/resolve";
import type { Fleet, ResolvedHost } from "../../src/policy/types";
import { expectedSshdSettings, renderSshd } from "../../src/render/sshd";
import type { UnitSpec } from "../../src/render/unit";
import { goldenSuite } from "./golden";

// Real OpenSSH on this machine, never its /etc: every config lives in a scratch copy of /etc/ssh, and
// sshd runs in fresh mount, network and PID namespaces (tmpfs /run for its pid file and privsep dir).

const fleet: Fleet = {
  defaults: { ssh: { authorizedKeys: { root: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHardenTestKeyOnlyNotReal root@admin"] } } },
  groups: { mail: { ssh: { sftpChroot: { group: "sftponly", directory: "/srv/sftp" } } } },
  hosts: [
    {
      name: "web1", address: "203.0.113.10", os: "debian-12", connection: { user: "root", port: 22 },
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIWeb1", policy: { ssh: { port: 2222, allowUsers: ["root", "deploy"] } },
    },
    {
      name: "mail1", address: "203.0.113.25", os: "debian-13", groups: ["mail"], connection: { user: "root", port: 22 },
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMail1", policy: { ssh: { port: 2200, permitRootLogin: "no", sudoUsers: ["admin"], authorizedKeys: { admin: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAdmin admin@laptop"] } } },
    },
    {
      name: "db1", address: "10.0.0.5", os: "rhel-9", connection: { user: "admin", port: 22 },
      hostKey: "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDb1",
      policy: { ssh: { listenAddresses: ["10.0.0.5", "2001:0db8::0005"], crypto: "compatible", forwarding: true, passwordAuthentication: true } },
    },
  ],
};
const hosts = Object.fromEntries(fleet.hosts.map((h) => [h.name, resolveHost(fleet, h)])) as Record<string, ResolvedHost>;

goldenSuite("sshd", hosts, renderSshd);

describe("sshd rendering rules", () => {
  it("puts last-wins keywords in a zz- drop-in only before OpenSSH 9.8", () => {
    const nine = renderSshd(hosts.web1).files.map((f) => f.path);
    const ten = renderSshd(hosts.mail1);
    expect(nine).toContain("/etc/ssh/sshd_config.d/zz-harden-last.conf");
    expect(ten.files.map((f) => f.path)).not.toContain("/etc/ssh/sshd_config.d/zz-harden-last.conf");
    expect(ten.files[0].content).toMatch(/^MaxStartups 10:30:60$/m);
  });
  it("uses ML-KEM first on OpenSSH 10 and never DSA", () => {
    const kex = expectedSshdSettings(hosts.mail1).find(([k]) => k === "kexalgorithms")?.[1];
    expect(kex?.split(",")[0]).toBe("mlkem768x25519-sha256");
    expect(renderSshd(hosts.mail1).files[0].content).not.toMatch(/dss|dsa/i);
  });
  it("writes authorized_keys for the owner with the host-resolved primary group", () => {
    const keys = renderSshd(hosts.web1).files.find((f) => f.path === "/root/.ssh/authorized_keys");
    expect(keys).toMatchObject({ mode: "0600", owner: "root", group: "root" });
    const withUser = resolveHost(fleet, { ...fleet.hosts[0], policy: { ssh: { authorizedKeys: { deploy: ["ssh-ed25519 AAAA d@x"] } } } });
    expect(renderSshd(withUser).files.find((f) => f.path === "/home/deploy/.ssh/authorized_keys"))
      .toMatchObject({ owner: "deploy", group: "@primary" });
  });
  it("refuses values that would add lines or words to sshd_config", () => {
    const bad = (ssh: object) => () => renderSshd(resolveHost(fleet, { ...fleet.hosts[0], policy: { ssh } }));
    expect(bad({ allowUsers: ["root\nPasswordAuthentication yes"] })).toThrow(/allowUsers\[0\].*one word/);
    expect(bad({ listenAddresses: ["0.0.0.0 ; x"] })).toThrow(/listenAddresses\[0\].*not an IP address/);
    expect(bad({ maxStartups: "10:30" })).toThrow(/maxStartups.*start:rate:full/);
    expect(bad({ authorizedKeys: { "../etc": ["k"] } })).toThrow(/not a user name/);
    expect(bad({ crypto: { kex: ["curve25519-sha256"], ciphers: ["aes128-ctr"], macs: ["hmac-sha2-256-etm@openssh.com"], hostKeyAlgorithms: ["ecdsa-sha2-nistp256"] } }))
      .toThrow(/pinned host key is ssh-ed25519/);
  });
  it("summarises what a reviewer must see", () => {
    expect(renderSshd(hosts.web1).summary.slice(0, 4)).toEqual(["port 2222 (from 22)", "key-only", "root login: keys only", "allow users: root, deploy"]);
    expect(renderSshd(hosts.mail1).summary.slice(0, 3)).toEqual(["port 2200 (from 22)", "key-only", "root login: no"]);
  });
});

// ---- real sshd ----

const SSHD = "/usr/sbin/sshd"; // re-exec on SIGHUP needs the absolute path
let root: string;

/** A scratch /etc/ssh: the machine's main file with its Include pointed at the scratch drop-ins. */
function scratchEtc(name: string): string {
  const dir = mkdtempSync(join(root, `${name}-`));
  const etc = join(dir, "etc/ssh");
  mkdirSync(join(etc, "sshd_config.d"), { recursive: true });
  const main = readFileSync("/etc/ssh/sshd_config", "utf8");
  expect(main).toMatch(/^Include \/etc\/ssh\/sshd_config\.d\/\*\.conf$/m);
  writeFileSync(join(etc, "sshd_config"), main.replace("/etc/ssh/", `${etc}/`));
  for (const type of ["ed25519", "rsa", "ecdsa"]) {
    execFileSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "", "-f", join(etc, `ssh_host_${type}_key`)]);
  }
  return dir;
}

/** A rendered text with every /etc/ssh path moved into the scratch dir. */
const moved = (dir: string, text: string) => text.replaceAll("/etc/ssh/", `${dir}/etc/ssh/`);

function installDropIns(dir: string, unit: UnitSpec): void {
  for (const f of unit.files.filter((f) => f.path.startsWith("/etc/ssh/"))) writeFileSync(dir + f.path, moved(dir, f.content));
}

/** Stand-ins for the unit skeleton's helpers: no init system drives a scratch sshd. */
const PRELUDE = `UNIT=sshd
say() { printf '%s: %s\\n' "$UNIT" "$*"; }
die() { printf '%s: FAILED: %s\\n' "$UNIT" "$*" >&2; exit 1; }
service_reload() { return 1; }
has_systemd() { false; }
`;

/** Runs sh in fresh mount/net/PID namespaces; everything started inside dies with it. */
function inNamespaces(dir: string, script: string, env: Record<string, string> = {}) {
  writeFileSync(join(dir, "run.sh"), `set -u\nmount -t tmpfs tmpfs /run && mkdir /run/sshd && ip link set lo up || exit 99\n${script}`);
  const r = spawnSync("unshare", ["--mount", "--net", "--pid", "--fork", "--propagation", "private", "sh", join(dir, "run.sh")], {
    encoding: "utf8", timeout: 60_000, env: { ...process.env, ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const sshdT = (dir: string, extra = "") =>
  inNamespaces(dir, `${SSHD} -T -f ${dir}/etc/ssh/sshd_config ${extra}`);

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "harden-sshd-"));
});
afterAll(() => {
  if (root && existsSync(root)) rmSync(root, { recursive: true, force: true });
});

describe("sshd accepts the rendered drop-ins (OpenSSH 9.2 here)", () => {
  it("sshd -t passes and sshd -T shows every expected value, for Debian and RHEL renders", () => {
    for (const host of [hosts.web1, hosts.db1]) {
      const dir = scratchEtc(host.name);
      installDropIns(dir, renderSshd(host));
      const t = inNamespaces(dir, `${SSHD} -t -f ${dir}/etc/ssh/sshd_config`);
      expect(t.stderr).toBe("");
      expect(t.status).toBe(0);
      const effective = sshdT(dir, "-C user=root,host=x,addr=10.0.0.1");
      expect(effective.status).toBe(0);
      const lines = new Set(effective.stdout.split("\n").map((l) => l.replace(/^permitrootlogin prohibit-password$/, "permitrootlogin without-password")));
      for (const [k, v] of expectedSshdSettings(host)) expect(lines, `${host.name}: ${k} ${v}`).toContain(`${k} ${v}`);
    }
  });

  it("applies the sftp chroot only inside its Match block, keeping the main file's Subsystem", () => {
    // group root: the only group this machine surely has, so -C user=root exercises the Match block
    const host = resolveHost(fleet, { ...fleet.hosts[0], policy: { ssh: { sftpChroot: { group: "root", directory: "/srv/sftp" } } } });
    const dir = scratchEtc("chroot");
    installDropIns(dir, renderSshd(host));
    expect(inNamespaces(dir, `${SSHD} -t -f ${dir}/etc/ssh/sshd_config`).status).toBe(0);
    const rootView = sshdT(dir, "-C user=root,host=x,addr=10.0.0.1").stdout;
    expect(rootView).toMatch(/^chrootdirectory \/srv\/sftp$/m);
    expect(rootView).toMatch(/^forcecommand internal-sftp$/m);
    expect(rootView).toMatch(/^subsystem sftp \/usr\/lib\/openssh\/sftp-server$/m);
    const other = sshdT(dir, "-C user=nobody,host=x,addr=10.0.0.1").stdout;
    expect(other).toMatch(/^chrootdirectory none$/m);
    // the reason the drop-in never says "Subsystem": sshd refuses a second definition
    appendFileSync(`${dir}/etc/ssh/sshd_config.d/50-sftp.conf`, "Subsystem sftp internal-sftp\n");
    expect(inNamespaces(dir, `${SSHD} -t -f ${dir}/etc/ssh/sshd_config`).stderr).toMatch(/Subsystem 'sftp' already defined/);
  });
});

describe("sshd unit snippets against a running scratch sshd", () => {
  /** validate -> start sshd on the old config -> install -> activate (SIGHUP) -> verify. */
  function applyScript(dir: string, unit: UnitSpec, afterInstall = ""): string {
    const stage = join(dir, "stage");
    for (const f of unit.files.filter((f) => f.path.startsWith("/etc/ssh/"))) {
      mkdirSync(dirname(stage + dir + f.path), { recursive: true });
      writeFileSync(stage + dir + f.path, moved(dir, f.content));
    }
    return `${PRELUDE}STAGE=${stage}
validate() {
${moved(dir, unit.validate)}
}
activate() {
${moved(dir, unit.activate)}
}
verify() {
${moved(dir, unit.verify)}
}
(validate) || exit 10
${SSHD} -f ${dir}/etc/ssh/sshd_config || exit 11
# sshd writes its pid file after it forks; a real host's sshd has long been running
for i in $(seq 100); do [ -s /run/sshd.pid ] && break; sleep 0.05; done
cp ${stage}${dir}/etc/ssh/sshd_config.d/*.conf ${dir}/etc/ssh/sshd_config.d/
${afterInstall}
(activate) || exit 12
sleep 1
(verify) || exit 13
echo applied
`;
  }
  // Without authorized keys: activate would otherwise fix the owner of this machine's /root/.ssh.
  const withoutKeys = (host: ResolvedHost): ResolvedHost => {
    const copy = structuredClone(host);
    copy.policy.ssh.authorizedKeys = {};
    return copy;
  };
  const webRootOnly = () => renderSshd(withoutKeys(hosts.web1));

  it("validates, reloads by SIGHUP and verifies the effective values and the listener", () => {
    const dir = scratchEtc("apply");
    const r = inNamespaces(dir, applyScript(dir, webRootOnly()));
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("applied");
    expect(r.status).toBe(0);
  });

  it("a later drop-in cannot turn passwords back on, but an extra Port accumulates and verify names its file", () => {
    const dir = scratchEtc("override");
    const cloud = `${dir}/etc/ssh/sshd_config.d/50-cloud-init.conf`;
    writeFileSync(cloud, "PasswordAuthentication yes\n");
    const ok = inNamespaces(dir, applyScript(dir, webRootOnly()));
    expect(ok.stdout, `exit ${ok.status}: ${ok.stderr}`).toContain("applied");
    appendFileSync(cloud, "Port 22\n");
    const r = inNamespaces(dir, applyScript(dir, webRootOnly()));
    expect(r.status).toBe(13);
    expect(r.stderr).toContain(`sshd: FAILED: sshd: effective port is '22 2222', expected '2222' (also set in: ${cloud})`);
  });

  it("converge sets aside foreign drop-ins that override a managed keyword; restore renames them back, and so does teardown", () => {
    const dir = scratchEtc("converge");
    const d = `${dir}/etc/ssh/sshd_config.d`;
    writeFileSync(`${d}/00-cloud-init.conf`, "PasswordAuthentication yes\n"); // sorts before 00-harden.conf
    writeFileSync(`${d}/00-a-port.conf`, "Port 22\n"); // Port accumulates wherever it is
    writeFileSync(`${d}/10-banner.conf`, "Banner none\nMatch User nobody\n  PasswordAuthentication yes\n"); // nothing we manage outside Match
    const unit = webRootOnly();
    const converge = `BACKUP=${dir}/backup; mkdir -p "$BACKUP"\n(\n${moved(dir, unit.converge!)}\n) || exit 14`;
    const r = inNamespaces(dir, `${applyScript(dir, unit, converge)}
ls ${d}
(
${moved(dir, unit.restore)}
) || exit 15
ls ${d}
${SSHD} -T -f ${dir}/etc/ssh/sshd_config | grep -E '^(port|passwordauthentication) '
(
${moved(dir, unit.converge!)}
) > /dev/null || exit 16
echo teardown
(
${moved(dir, unit.uninstall)}
) || exit 17
ls ${d}`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain(`sshd: set aside ${d}/00-a-port.conf as ${d}/00-a-port.conf.harden-disabled: it sets port (effective '22 2222', expected '2222')`);
    expect(r.stdout).toContain(`sshd: set aside ${d}/00-cloud-init.conf as ${d}/00-cloud-init.conf.harden-disabled: it sets passwordauthentication (effective 'yes', expected 'no')`);
    expect(r.stdout).toContain("applied\n00-a-port.conf.harden-disabled\n00-cloud-init.conf.harden-disabled\n00-harden.conf\n10-banner.conf\nzz-harden-last.conf\n");
    expect(r.stdout).toContain("00-a-port.conf\n00-cloud-init.conf\n00-harden.conf\n10-banner.conf\nzz-harden-last.conf\nport 22\nport 2222\npasswordauthentication yes\n");
    // teardown (UNIT=teardown there, sshd here): harden's drop-ins go, the ones it set aside come back
    expect(r.stdout).toMatch(/teardown\nsshd: sshd: put back \S+\/00-a-port.conf\nsshd: sshd: put back \S+\/00-cloud-init.conf\n00-a-port.conf\n00-cloud-init.conf\n10-banner.conf\n$/);
    expect(r.status).toBe(0);
  });

  it("a conflict in the main file is not edited: converge leaves it, verify names it", () => {
    const dir = scratchEtc("mainconflict");
    const unit = webRootOnly();
    const main = `${dir}/etc/ssh/sshd_config`;
    const r = inNamespaces(dir, applyScript(dir, unit, `echo 'Port 22' >> ${main}
BACKUP=${dir}/backup; mkdir -p "$BACKUP"
(
${moved(dir, unit.converge!)}
) || exit 14`));
    expect(r.stdout).not.toContain("set aside");
    expect(r.status).toBe(13);
    expect(r.stderr).toContain(`effective port is '22 2222', expected '2222' (also set in: ${main})`);
  });

  it("a MaxStartups below the Include line wins on 9.2 (last-wins) and verify names the main file", () => {
    const dir = scratchEtc("laststarts");
    const r = inNamespaces(dir, applyScript(dir, webRootOnly(), `echo 'MaxStartups 100:30:200' >> ${dir}/etc/ssh/sshd_config`));
    expect(r.status).toBe(13);
    expect(r.stderr).toContain(`effective maxstartups is '100:30:200', expected '10:30:60' (also set in: ${dir}/etc/ssh/sshd_config)`);
  });

  it("the zz- drop-in wins over another drop-in's MaxStartups", () => {
    const dir = scratchEtc("zz");
    writeFileSync(`${dir}/etc/ssh/sshd_config.d/60-tuning.conf`, "MaxStartups 50:30:100\nPerSourceMaxStartups 20\n");
    const r = inNamespaces(dir, applyScript(dir, webRootOnly()));
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("validate stops a broken live drop-in with sshd -t's file and line, before anything changes", () => {
    const dir = scratchEtc("broken");
    writeFileSync(`${dir}/etc/ssh/sshd_config.d/40-broken.conf`, "MaxAuthTries lots\n");
    const r = inNamespaces(dir, applyScript(dir, webRootOnly()));
    expect(r.status).toBe(10);
    expect(r.stderr).toMatch(/sshd -t rejects the new configuration: .*40-broken\.conf line 1: .*integer/s);
  });

  it("validate refuses a main file that does not include the drop-in dir", () => {
    const dir = scratchEtc("noinclude");
    const main = `${dir}/etc/ssh/sshd_config`;
    writeFileSync(main, readFileSync(main, "utf8").replace(/^Include .*$/m, ""));
    const r = inNamespaces(dir, applyScript(dir, webRootOnly()));
    expect(r.status).toBe(10);
    expect(r.stderr).toContain(`sshd_config does not include ${dir}/etc/ssh/sshd_config.d: the drop-in would be ignored`);
  });

  it("the OpenSSH 10 list fails the algorithm check here, naming the missing algorithm", () => {
    const dir = scratchEtc("ten");
    const r = inNamespaces(dir, applyScript(dir, renderSshd(withoutKeys(hosts.mail1))));
    expect(r.status).toBe(10);
    expect(r.stderr).toMatch(/^sshd: FAILED: sshd: kex algorithm mlkem768x25519-sha256 is not supported by this host \(OpenSSH_9\.2/m);
  });
});

describe("ssh-audit on the modern preset", () => {
  const audit = (dir: string) =>
    inNamespaces(dir, `${SSHD} -f ${dir}/etc/ssh/sshd_config -o Port=2222 && sleep 0.5 && ssh-audit -n -p 2222 127.0.0.1`).stdout;

  it("fails Debian's defaults and finds no failure in what the hardened sshd offers", () => {
    const before = audit(scratchEtc("audit-default"));
    expect(before).toContain("OpenSSH_9.2");
    expect(before).toMatch(/\[fail\]/);
    const host = structuredClone(hosts.web1);
    host.policy.ssh.authorizedKeys = {};
    const dir = scratchEtc("audit");
    installDropIns(dir, renderSshd(host));
    const after = audit(dir);
    expect(after).toContain("OpenSSH_9.2");
    expect(after).not.toContain("[fail]");
    // ssh-audit 2.5.0 calls sntrup761 "experimental" and does not know the strict-kex marker
    const warns = after.split("\n").filter((l) => l.includes("[warn]")).map((l) => l.split(/\s+/)[1]);
    expect(warns.sort()).toEqual(["kex-strict-s-v00@openssh.com", "sntrup761x25519-sha512@openssh.com"]);
  });
});
