import ipaddr from "ipaddr.js";
import type { CryptoLists, ResolvedHost } from "../policy/types";
import type { Artifact, Permission } from "./artifact";
import { ALGORITHM_QUERIES, algorithmsForKeyType, cryptoLists, hostKeyFiles } from "./crypto";
import { osProfile, type OsProfile } from "./os";
import { renderTemplate } from "./templates";
import type { UnitSpec } from "./unit";

// sshd: one drop-in that sorts first (first value wins for most keywords), plus, before OpenSSH 9.8,
// one that sorts last for the two keywords where the LAST value wins. Nothing here trusts the files:
// verify compares every declared value with what `sshd -T` says is in effect.

export const SSHD_MAIN_CONFIG = "/etc/ssh/sshd_config";

/** "Who owns this" marker the unit skeleton resolves on the host to the owner's primary group. */
const PRIMARY_GROUP = "@primary";

/** Key type of the pinned host key -> the name part of its default file /etc/ssh/ssh_host_<x>_key. */
const HOST_KEY_FILE_TYPE: Record<string, string> = {
  "ssh-ed25519": "ed25519",
  "ssh-rsa": "rsa",
  "ecdsa-sha2-nistp256": "ecdsa",
  "ecdsa-sha2-nistp384": "ecdsa",
  "ecdsa-sha2-nistp521": "ecdsa",
};

const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/** The drop-in harden owns; named 00- so it is read before every other drop-in and the main file. */
export function sshdDropInPath(profile: OsProfile): string {
  return `${profile.sshdDropInDir}/00-harden.conf`;
}

/** Read after every other drop-in: only for the keywords that are last-wins on this OpenSSH. */
export function sshdLastDropInPath(profile: OsProfile): string {
  return `${profile.sshdDropInDir}/zz-harden-last.conf`;
}

/**
 * Keywords whose LAST value wins. OpenSSH 9.8 made MaxStartups and PerSourceMaxStartups
 * first-wins like the rest; our generation 9 (8.7-9.6) still has the old behaviour.
 */
export function lastWinsKeywords(profile: OsProfile): string[] {
  return profile.openssh >= 10 ? [] : ["MaxStartups", "PerSourceMaxStartups"];
}

/** Where a user's keys live: the skeleton resolves owner and primary group on the host. */
export function authorizedKeysPath(user: string): string {
  return user === "root" ? "/root/.ssh/authorized_keys" : `/home/${user}/.ssh/authorized_keys`;
}

/** A value that goes into sshd_config as one word: anything else could add lines or split words. */
function word(field: string, value: string): string {
  if (!/^[^\s#"'\\\x00-\x1f\x7f]+$/.test(value)) {
    throw new Error(`sshd: ${field}: ${JSON.stringify(value)} cannot be written into sshd_config as one word`);
  }
  return value;
}

function userName(field: string, value: string): string {
  if (!USER_NAME.test(value)) throw new Error(`sshd: ${field}: ${JSON.stringify(value)} is not a user name`);
  return value;
}

function integer(field: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new Error(`sshd: ${field}: ${value} is not an integer >= ${min}`);
  return value;
}

function ip(field: string, value: string): ipaddr.IPv4 | ipaddr.IPv6 {
  if (!ipaddr.isValid(value) || value.includes("%")) throw new Error(`sshd: ${field}: ${JSON.stringify(value)} is not an IP address`);
  return ipaddr.parse(value);
}

/** How `sshd -T` prints a listen address: IPv6 in brackets, compressed (RFC 5952). */
function listenAddress(field: string, value: string, port: number): string {
  const addr = ip(field, value);
  return addr.kind() === "ipv6" ? `[${(addr as ipaddr.IPv6).toRFC5952String()}]:${port}` : `${addr.toString()}:${port}`;
}

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

/** Everything the templates and the expected `sshd -T` values are made from, checked once. */
function sshdModel(host: ResolvedHost) {
  const ssh = host.policy.ssh;
  const profile = osProfile(host.os);
  const lists = cryptoLists(ssh.crypto, profile);
  for (const [name, algs] of Object.entries(lists) as [keyof CryptoLists, string[] | undefined][]) {
    if (algs === undefined) continue;
    if (algs.length === 0) throw new Error(`sshd: crypto.${name} is empty`);
    algs.forEach((a, i) => word(`crypto.${name}[${i}]`, a));
  }
  // The operator's pinned host key must still be offered, or the next connection is refused.
  const pinnedType = host.hostKey.split(" ")[0] ?? "";
  if (!algorithmsForKeyType(pinnedType).some((a) => lists.hostKeyAlgorithms.includes(a))) {
    throw new Error(
      `sshd: host ${host.name}: the pinned host key is ${pinnedType} but crypto offers only ` +
        `${lists.hostKeyAlgorithms.join(", ")}: pin a key of an offered type`,
    );
  }
  const maxStartups = word("ssh.maxStartups", ssh.maxStartups);
  if (!/^\d+(:\d+:\d+)?$/.test(maxStartups)) throw new Error(`sshd: ssh.maxStartups: "${maxStartups}" is not start:rate:full`);
  const sftpChroot = ssh.sftpChroot
    ? { group: word("ssh.sftpChroot.group", ssh.sftpChroot.group), directory: word("ssh.sftpChroot.directory", ssh.sftpChroot.directory) }
    : null;
  if (sftpChroot && !sftpChroot.directory.startsWith("/")) {
    throw new Error(`sshd: ssh.sftpChroot.directory: "${sftpChroot.directory}" is not an absolute path`);
  }
  return {
    profile,
    lists,
    port: integer("ssh.port", ssh.port, 1),
    listenAddresses: ssh.listenAddresses.map((a, i) => ip(`ssh.listenAddresses[${i}]`, a).toString()),
    hostKeys: hostKeyFiles(lists),
    permitRootLogin: ssh.permitRootLogin,
    keyOnly: !ssh.passwordAuthentication,
    allowUsers: ssh.allowUsers.map((u, i) => word(`ssh.allowUsers[${i}]`, u)),
    allowGroups: ssh.allowGroups.map((g, i) => word(`ssh.allowGroups[${i}]`, g)),
    maxAuthTries: integer("ssh.maxAuthTries", ssh.maxAuthTries, 1),
    loginGraceTime: integer("ssh.loginGraceTime", ssh.loginGraceTime, 0),
    maxStartups,
    perSourceMaxStartups: integer("ssh.perSourceMaxStartups", ssh.perSourceMaxStartups, 1),
    maxSessions: integer("ssh.maxSessions", ssh.maxSessions, 0),
    clientAliveInterval: integer("ssh.clientAliveInterval", ssh.clientAliveInterval, 0),
    clientAliveCountMax: integer("ssh.clientAliveCountMax", ssh.clientAliveCountMax, 0),
    noForwarding: !ssh.forwarding,
    sftpChroot,
    logLevel: ssh.logLevel,
    startupsLast: lastWinsKeywords(profile).length > 0,
  };
}

/**
 * The lines `sshd -T` (no Match context) must print for this host, as [keyword, value], in the
 * order of the drop-in. A keyword listed more than once (port, listenaddress, allowusers,
 * allowgroups) accumulates: the effective set must equal exactly the listed values.
 * permitrootlogin prohibit-password is printed by sshd -T as "without-password".
 */
export function expectedSshdSettings(host: ResolvedHost): Array<[string, string]> {
  const m = sshdModel(host);
  const out: Array<[string, string]> = [["port", String(m.port)]];
  const listen = m.listenAddresses.length > 0 ? m.listenAddresses : ["::", "0.0.0.0"];
  for (const [i, a] of listen.entries()) out.push(["listenaddress", listenAddress(`ssh.listenAddresses[${i}]`, a, m.port)]);
  out.push(
    ["permitrootlogin", m.permitRootLogin === "prohibit-password" ? "without-password" : m.permitRootLogin],
    ["pubkeyauthentication", "yes"],
    ["authorizedkeysfile", ".ssh/authorized_keys"],
    ["passwordauthentication", yesNo(!m.keyOnly)],
  );
  if (m.keyOnly) out.push(["kbdinteractiveauthentication", "no"], ["authenticationmethods", "publickey"]);
  out.push(
    ["permitemptypasswords", "no"],
    ["hostbasedauthentication", "no"],
    ["ignorerhosts", "yes"],
    ["permituserenvironment", "no"],
    ["strictmodes", "yes"],
  );
  for (const u of m.allowUsers) out.push(["allowusers", u]);
  for (const g of m.allowGroups) out.push(["allowgroups", g]);
  out.push(
    ["maxauthtries", String(m.maxAuthTries)],
    ["logingracetime", String(m.loginGraceTime)],
    ["maxsessions", String(m.maxSessions)],
    ["clientaliveinterval", String(m.clientAliveInterval)],
    ["clientalivecountmax", String(m.clientAliveCountMax)],
    ["tcpkeepalive", "no"],
    ["usedns", "no"],
    ["compression", "no"],
    ["maxstartups", m.maxStartups],
    ["persourcemaxstartups", String(m.perSourceMaxStartups)],
    ["loglevel", m.logLevel],
    ["kexalgorithms", m.lists.kex.join(",")],
    ["ciphers", m.lists.ciphers.join(",")],
    ["macs", m.lists.macs.join(",")],
    ["hostkeyalgorithms", m.lists.hostKeyAlgorithms.join(",")],
  );
  if (m.lists.pubkeyAcceptedAlgorithms) out.push(["pubkeyacceptedalgorithms", m.lists.pubkeyAcceptedAlgorithms.join(",")]);
  if (m.noForwarding) {
    out.push(
      ["disableforwarding", "yes"],
      ["allowtcpforwarding", "no"],
      ["allowagentforwarding", "no"],
      ["allowstreamlocalforwarding", "no"],
      ["x11forwarding", "no"],
      ["permittunnel", "no"],
    );
  }
  return out;
}

/** expectedSshdSettings grouped by keyword, first-appearance order: one check per keyword. */
function groupedSettings(settings: Array<[string, string]>): { keyword: string; values: string[] }[] {
  const groups = new Map<string, string[]>();
  for (const [k, v] of settings) groups.set(k, [...(groups.get(k) ?? []), v]);
  return [...groups].map(([keyword, values]) => ({ keyword, values }));
}

function authorizedKeys(host: ResolvedHost): { files: Artifact[]; users: { name: string; home: string; sshDir: string }[] } {
  const entries = Object.entries(host.policy.ssh.authorizedKeys).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const files: Artifact[] = [];
  const users: { name: string; home: string; sshDir: string }[] = [];
  for (const [user, keys] of entries) {
    userName(`ssh.authorizedKeys.${user}`, user);
    keys.forEach((k, i) => {
      if (!/^[^\r\n\0]+$/.test(k)) throw new Error(`sshd: ssh.authorizedKeys.${user}[${i}] must be one line`);
    });
    const path = authorizedKeysPath(user);
    const sshDir = path.slice(0, path.lastIndexOf("/"));
    users.push({ name: user, home: sshDir.slice(0, sshDir.lastIndexOf("/")), sshDir });
    files.push({
      path,
      mode: "0600",
      owner: user,
      group: user === "root" ? "root" : PRIMARY_GROUP,
      content: renderTemplate("sshd/authorized_keys.hbs", { user, keys }),
    });
  }
  return { files, users };
}

export function renderSshd(host: ResolvedHost): UnitSpec {
  const m = sshdModel(host);
  const profile = m.profile;
  const dropIn = sshdDropInPath(profile);
  const lastDropIn = sshdLastDropInPath(profile);
  const keys = authorizedKeys(host);

  const files: Artifact[] = [
    { path: dropIn, mode: "0644", owner: "root", group: "root", content: renderTemplate("sshd/00-harden.conf.hbs", m) },
  ];
  if (m.startupsLast) {
    files.push({ path: lastDropIn, mode: "0644", owner: "root", group: "root", content: renderTemplate("sshd/zz-harden-last.conf.hbs", m) });
  }
  files.push(...keys.files);
  const permissions: Permission[] = [];
  const ownFiles = files.filter((f) => f.path.startsWith(profile.sshdDropInDir + "/")).map((f) => f.path);

  const algorithmChecks = (Object.keys(ALGORITHM_QUERIES) as (keyof CryptoLists)[])
    .filter((k) => m.lists[k] !== undefined)
    .map((k) => ({ query: ALGORITHM_QUERIES[k], list: k, algorithms: m.lists[k] as string[] }));
  const pinnedType = host.hostKey.split(" ")[0];
  const pinnedKeyFile = m.hostKeys.find((f) => f.endsWith(`_${HOST_KEY_FILE_TYPE[pinnedType] ?? "?"}_key`));
  const reload = renderTemplate("sshd/reload.sh.hbs", { service: profile.sshService }).trimEnd();
  const ctx = {
    mainConfig: SSHD_MAIN_CONFIG,
    dropInDir: profile.sshdDropInDir,
    ownFiles,
    algorithmChecks,
    pinnedKeyFile: pinnedKeyFile ?? null,
    users: keys.users,
    port: m.port,
    selinux: profile.selinux && m.port !== 22,
    socketActivated: profile.sshSocketActivated,
    expected: groupedSettings(expectedSshdSettings(host)),
    service: profile.sshService,
    reload,
  };

  const summary = [
    m.port === host.connection.port ? `port ${m.port}` : `port ${m.port} (from ${host.connection.port})`,
    m.keyOnly ? "key-only" : "passwords allowed",
    `root login: ${m.permitRootLogin === "no" ? "no" : "keys only"}`,
  ];
  if (m.allowUsers.length) summary.push(`allow users: ${m.allowUsers.join(", ")}`);
  if (m.allowGroups.length) summary.push(`allow groups: ${m.allowGroups.join(", ")}`);
  summary.push(`crypto: ${typeof host.policy.ssh.crypto === "string" ? host.policy.ssh.crypto : "explicit lists"} (OpenSSH ${profile.opensshVersion})`);
  if (m.noForwarding) summary.push("forwarding: off");
  if (m.sftpChroot) summary.push(`sftp chroot: group ${m.sftpChroot.group} -> ${m.sftpChroot.directory}`);
  if (keys.users.length) summary.push(`authorized keys managed for: ${keys.users.map((u) => u.name).join(", ")}`);

  return {
    name: "sshd",
    files,
    permissions,
    payloads: [],
    requires: ["sshd", "ssh", "awk"],
    validate: renderTemplate("sshd/validate.sh.hbs", ctx),
    snapshot: "",
    activate: renderTemplate("sshd/activate.sh.hbs", ctx),
    verify: renderTemplate("sshd/verify.sh.hbs", ctx),
    converge: renderTemplate("sshd/converge.sh.hbs", ctx),
    restore: renderTemplate("sshd/restore.sh.hbs", ctx),
    uninstall: renderTemplate("sshd/uninstall.sh.hbs", { ...ctx, removeFiles: [dropIn, lastDropIn] }),
    summary,
  };
}
