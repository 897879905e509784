import { DEFAULT_POLICY } from "./defaults";
import type { Connection, Fleet, HostSpec, Policy, ResolvedHost, ResolvedPolicy } from "./types";

type Plain = Record<string, unknown>;
const isPlain = (v: unknown): v is Plain => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Later layers win; objects merge key by key, lists and scalars replace. Lists are shared, not copied
 * (a 100,000-CIDR blocklist used by 50 hosts stays one array): resolved policies are read-only.
 */
function mergeLayers(base: unknown, layer: unknown): unknown {
  if (layer === undefined) return base;
  if (!isPlain(base) || !isPlain(layer)) return layer;
  const out: Plain = { ...base };
  for (const [key, value] of Object.entries(layer)) out[key] = mergeLayers(base[key], value);
  return out;
}

/** The layers that apply to a host, in merge order: defaults, its groups in order, its own policy. */
export function policyLayers(fleet: Fleet, host: HostSpec): Policy[] {
  const groups = (host.groups ?? []).map((g) => fleet.groups?.[g] ?? {});
  return [fleet.defaults ?? {}, ...groups, host.policy ?? {}];
}

export function resolvePolicy(layers: Policy[]): ResolvedPolicy {
  let merged: unknown = structuredClone(DEFAULT_POLICY);
  for (const layer of layers) merged = mergeLayers(merged, layer);
  const policy = merged as ResolvedPolicy;
  // root may always use cron and at: listing it is not the operator's job
  policy.cron.allow = withRootFirst(policy.cron.allow);
  policy.cron.atAllow = withRootFirst(policy.cron.atAllow);
  policy.firewall.services = policy.firewall.services.map((s) => ({ ...s, proto: s.proto ?? "tcp" }));
  policy.firewall.egress.allow = policy.firewall.egress.allow.map((a) => ({
    to: a.to, ports: a.ports ?? [], proto: a.proto ?? "tcp",
  }));
  return policy;
}

function withRootFirst(users: string[]): string[] {
  return ["root", ...users.filter((u) => u !== "root")];
}

/**
 * Who logs in after this apply: the same user, unless root login is being turned off for root,
 * in which case the first sudo user with authorized keys takes over (validation guarantees one).
 */
export function targetUser(connection: Connection, policy: ResolvedPolicy): string {
  if (connection.user !== "root" || policy.ssh.permitRootLogin !== "no") return connection.user;
  const keys = policy.ssh.authorizedKeys;
  const heir = policy.ssh.sudoUsers.find((u) => Object.hasOwn(keys, u) && keys[u].length > 0);
  return heir ?? connection.user;
}

export function resolveHost(fleet: Fleet, host: HostSpec): ResolvedHost {
  const policy = resolvePolicy(policyLayers(fleet, host));
  return {
    name: host.name,
    address: host.address,
    os: host.os,
    hostKey: host.hostKey,
    connection: { ...host.connection },
    target: { ...host.connection, port: policy.ssh.port, user: targetUser(host.connection, policy) },
    policy,
  };
}

export function resolveFleet(fleet: Fleet): ResolvedHost[] {
  return fleet.hosts.map((h) => resolveHost(fleet, h));
}
