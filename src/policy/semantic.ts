// Semantic checks: a fleet the schema accepts can still lock its operator out or expose what the
// incidents exposed. Each check is one small function over a resolved host (or the whole fleet),
// returning messages that name the host and the fix. They run only on schema-valid input.
//
// Not checked, by construction: a fail2ban jail on a port sshd does not use. The sshd jail's port
// is always rendered from ssh.port, so there is no separate jail port to contradict it. What can
// silently disable fail2ban is an `ignore` of everyone, which is checked instead.
import { canonicalIp, cidrContains, cidrOverlaps, isEverywhere, parseCidr, parseIp } from "./cidr";
import { formatPath, formatValue } from "./errors";
import type { Fleet, HostSpec, ResolvedHost } from "./types";

/** A host as the checks see it: resolved policy plus what only the spec and fleet know. */
export interface HostUnderCheck {
  host: ResolvedHost;
  spec: HostSpec;
  /** host.adminSources, else fleet.adminSources, else none */
  adminSources: string[];
  /** results shared by the hosts of one run: 50 hosts with one 100,000-entry blocklist scan it once */
  memo: Map<string, unknown>;
}

export type HostCheck = (h: HostUnderCheck) => string[];
export type FleetCheck = (fleet: Fleet) => string[];

/** Ports of services that must never face the internet (the Redis cryptominer incident). */
export const INTERNAL_PORTS: Readonly<Record<number, string>> = {
  6379: "Redis", 5432: "PostgreSQL", 3306: "MySQL", 27017: "MongoDB", 9200: "Elasticsearch", 11211: "memcached",
};

const list = (values: readonly string[]) => values.join(", ");
const cidrs = (values: readonly string[]) => values.map((v) => parseCidr(v)!);

function keysOf(host: ResolvedHost, user: string): string[] {
  const keys = host.policy.ssh.authorizedKeys;
  return Object.hasOwn(keys, user) ? keys[user] : [];
}

/** Key-only login (or root with prohibit-password) while the user who logs in has no key. */
export const loginUserHasKey: HostCheck = ({ host }) => {
  const ssh = host.policy.ssh;
  const user = host.target.user;
  if (keysOf(host, user).length > 0) return [];
  if (!ssh.passwordAuthentication) {
    return [`host ${host.name}: key-only login (ssh.passwordAuthentication: false) but no authorized key for ${formatValue(user)}, the user that logs in after this apply; add ssh.authorizedKeys.${user}`];
  }
  if (user === "root" && ssh.permitRootLogin === "prohibit-password") {
    return [`host ${host.name}: root may log in with a key only (ssh.permitRootLogin: prohibit-password) but has no authorized key; add ssh.authorizedKeys.root`];
  }
  return [];
};

/** Root login turned off for a root connection, with no sudo user (with keys) to take over. */
export const rootLoginHasHeir: HostCheck = ({ host }) => {
  const ssh = host.policy.ssh;
  if (host.connection.user !== "root" || ssh.permitRootLogin !== "no") return [];
  if (ssh.sudoUsers.some((u) => keysOf(host, u).length > 0)) return [];
  return [`host ${host.name}: ssh.permitRootLogin is "no" while the connection user is root, and no ssh.sudoUsers entry has authorized keys; add a sudo user with ssh.authorizedKeys, or use permitRootLogin "prohibit-password"`];
};

/** AllowUsers that leaves out the user who logs in. (AllowGroups needs the host's groups: not checked.) */
export const allowUsersAdmitsLogin: HostCheck = ({ host }) => {
  const allow = host.policy.ssh.allowUsers;
  const user = host.target.user;
  if (allow.length === 0 || allow.includes(user)) return [];
  return [`host ${host.name}: ssh.allowUsers (${list(allow)}) excludes ${formatValue(user)}, the user that logs in after this apply; add it to allowUsers`];
};

/** An SSH whitelist that none of the operator's declared sources falls in. */
export const sshAllowAdmitsAdmin: HostCheck = ({ host, adminSources }) => {
  const allow = host.policy.firewall.sshAllow;
  if (allow.length === 0 || adminSources.length === 0) return [];
  const allowed = cidrs(allow);
  if (cidrs(adminSources).some((src) => allowed.some((net) => cidrContains(net, src)))) return [];
  return [`host ${host.name}: firewall.sshAllow (${list(allow)}) admits none of the admin sources (${list(adminSources)}); add one of them to sshAllow`];
};

/** A blocklist that drops an admin source before SSH is ever reached. */
export const blocklistsSpareAdmin: HostCheck = ({ host, adminSources, memo }) => {
  if (adminSources.length === 0) return [];
  return host.policy.firewall.blocklists.flatMap((blocklist) => {
    const key = `blocklist-admin\n${adminSources.join(",")}\n${blocklist.cidrs.join(",")}`;
    let hits = memo.get(key) as [entry: string, admin: string][] | undefined;
    if (hits === undefined) {
      hits = blockedAdmins(blocklist.cidrs, adminSources);
      memo.set(key, hits);
    }
    return hits.map(([entry, admin]) =>
      `host ${host.name}: blocklist ${formatValue(blocklist.name)} contains ${entry}, which covers admin source ${admin}; remove it from the blocklist or fix adminSources`);
  });
};

function blockedAdmins(entries: readonly string[], adminSources: readonly string[]): [string, string][] {
  const admins = adminSources.map((text) => ({ text, cidr: parseCidr(text)! }));
  const hits: [string, string][] = [];
  for (const entry of entries) {
    const blocked = parseCidr(entry)!;
    for (const admin of admins) if (cidrOverlaps(blocked, admin.cidr)) hits.push([entry, admin.text]);
  }
  return hits;
}

/** The new SSH port must belong to SSH alone: a service rule on it would contradict sshAllow. */
export const sshPortIsFree: HostCheck = ({ host }) => {
  const port = host.policy.ssh.port;
  return host.policy.firewall.services.flatMap((s, i) =>
    s.port === port && s.proto === "tcp"
      ? [`host ${host.name}: ssh.port ${port} is also declared as firewall.services[${i}] (${port}/tcp); pick another SSH port or remove the service (SSH is opened from sshAllow by itself)`]
      : [],
  );
};

/** sshd bound to addresses that do not include the one the plan connects to. */
export const sshListensOnHostAddress: HostCheck = ({ host }) => {
  const listen = host.policy.ssh.listenAddresses;
  const address = canonicalIp(host.address);
  if (listen.length === 0 || address === null) return [];
  const bound = listen.map((a) => parseIp(a)!);
  if (bound.some((ip) => ip.toString() === address || ip.toString() === "0.0.0.0" || ip.toString() === "::")) return [];
  return [`host ${host.name}: ssh.listenAddresses (${list(listen)}) does not include the host's address ${host.address}, which the plan connects to; add it`];
};

/** Redis and friends reachable from everyone. */
export const internalServicesArePrivate: HostCheck = ({ host }) =>
  host.policy.firewall.services.flatMap((s, i) => {
    const name = INTERNAL_PORTS[s.port];
    if (name === undefined) return [];
    const open = s.from === undefined ? "everyone (no from)" : s.from.find((c) => isEverywhere(parseCidr(c)!));
    if (open === undefined) return [];
    return [`host ${host.name}: firewall.services[${i}] exposes ${name} (${s.port}/${s.proto}) to ${open}; set from to the private networks that need it`];
  });

/** The same port and protocol declared twice: which from list wins would be an accident. */
export const servicesAreUnique: HostCheck = ({ host }) => {
  const seen = new Map<string, number>();
  const errors: string[] = [];
  host.policy.firewall.services.forEach((s, i) => {
    const key = `${s.port}/${s.proto}`;
    const first = seen.get(key);
    if (first === undefined) seen.set(key, i);
    else errors.push(`host ${host.name}: firewall.services[${first}] and [${i}] both declare ${key}; merge their from lists`);
  });
  return errors;
};

/** Blocklist names become set names: two lists with one name would overwrite each other. */
export const blocklistNamesAreUnique: HostCheck = ({ host }) => {
  const seen = new Set<string>();
  const errors: string[] = [];
  for (const { name } of host.policy.firewall.blocklists) {
    if (seen.has(name)) errors.push(`host ${host.name}: firewall.blocklists names ${formatValue(name)} twice; give each list its own name`);
    seen.add(name);
  }
  return errors;
};

/** fail2ban.ignore of 0.0.0.0/0 or ::/0 exempts every address: banning is off without saying so. */
export const fail2banCanBan: HostCheck = ({ host }) => {
  const f2b = host.policy.fail2ban;
  if (!f2b.enabled) return [];
  return f2b.ignore
    .filter((c) => isEverywhere(parseCidr(c)!))
    .map((c) => `host ${host.name}: fail2ban.ignore contains ${c}, which exempts every address from banning; list the admin networks instead`);
};

/** sshd refuses "start:rate:full" unless start <= full and 1 <= rate <= 100 (sshd -t fails). */
export const maxStartupsIsConsistent: HostCheck = ({ host }) => {
  const value = host.policy.ssh.maxStartups;
  const [start, rate, full] = value.split(":").map(Number);
  if (rate === undefined || (start <= full && rate >= 1 && rate <= 100)) return [];
  return [`host ${host.name}: ssh.maxStartups ${formatValue(value)} is refused by sshd; start must not exceed full and rate must be 1-100 (e.g. "10:30:60")`];
};

/** Host names name output folders and Pulumi resources: they must be unique. */
export const hostNamesAreUnique: FleetCheck = (fleet) => {
  const first = new Map<string, number>();
  return fleet.hosts.flatMap((h, i) => {
    const earlier = first.get(h.name);
    if (earlier === undefined) first.set(h.name, i);
    return earlier === undefined ? [] : [`${formatPath(["hosts", i, "name"])}: ${formatValue(h.name)} is already the name of hosts[${earlier}]; host names must be unique`];
  });
};

/** Two hosts at one address would be converged twice with different policies. */
export const hostAddressesAreUnique: FleetCheck = (fleet) => {
  const first = new Map<string, number>();
  return fleet.hosts.flatMap((h, i) => {
    const key = canonicalIp(h.address) ?? h.address.toLowerCase();
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, i);
    return earlier === undefined ? [] : [`${formatPath(["hosts", i, "address"])}: ${formatValue(h.address)} is already the address of hosts[${earlier}] (${fleet.hosts[earlier].name}); each host needs its own address`];
  });
};

export const FLEET_CHECKS: readonly FleetCheck[] = [hostNamesAreUnique, hostAddressesAreUnique];

/** In the order their messages appear. */
export const HOST_CHECKS: readonly HostCheck[] = [
  loginUserHasKey,
  rootLoginHasHeir,
  allowUsersAdmitsLogin,
  sshListensOnHostAddress,
  sshAllowAdmitsAdmin,
  blocklistsSpareAdmin,
  sshPortIsFree,
  servicesAreUnique,
  internalServicesArePrivate,
  blocklistNamesAreUnique,
  fail2banCanBan,
  maxStartupsIsConsistent,
];

/** What the host checks need about hosts[index], whose resolved form is `host`. */
export function hostUnderCheck(fleet: Fleet, index: number, host: ResolvedHost, memo = new Map<string, unknown>()): HostUnderCheck {
  const spec = fleet.hosts[index];
  return { host, spec, adminSources: spec.adminSources ?? fleet.adminSources ?? [], memo };
}

/** All semantic errors of a schema-valid fleet: fleet-wide first, then host by host. */
export function checkSemantics(fleet: Fleet, hosts: readonly ResolvedHost[]): string[] {
  const errors = FLEET_CHECKS.flatMap((check) => check(fleet));
  const memo = new Map<string, unknown>();
  hosts.forEach((host, i) => {
    const h = hostUnderCheck(fleet, i, host, memo);
    for (const check of HOST_CHECKS) errors.push(...check(h));
  });
  return errors;
}
