// What drift compares a host with: a compact, JSON-safe summary of the plan, computed when the plan
// is made (HostPlan.expect), so that the CLI and the Pulumi provider need nothing but the plan.
import type { ExpectedCronEntry, Proto, ResolvedHost } from "../policy/types";
import type { PayloadCache } from "../render/blocklist";
import { cronInventoryPaths } from "../render/cron";
import { expectedFirewall, type ExpectedFirewall } from "../render/firewall";
import { sha256 } from "../render/hash";
import { NFT_RULESET } from "../render/nftables";
import { osProfile, type OsProfile } from "../render/os";
import { expectedSshdSettings, SSHD_MAIN_CONFIG } from "../render/sshd";
import type { UnitName, UnitSpec } from "../render/unit";
import { distroCronEntries } from "./distro-cron";

export interface FileExpect {
  unit: UnitName;
  path: string;
  /** four octal digits, "0640" */
  mode: string;
  owner: string;
  /** "@primary": the owner's primary group */
  group: string;
  /** null: only mode and ownership are enforced (a directory, the cron spool) */
  sha256: string | null;
}

export interface PortExpect {
  port: number;
  proto: Proto;
}

export interface DriftExpect {
  files: FileExpect[];
  sshd: {
    mainConfig: string;
    /** [keyword, value] as `sshd -T` prints them; repeated keywords accumulate */
    settings: Array<[string, string]>;
  };
  firewall: ExpectedFirewall & {
    /** nftables: "type ... policy ...;" line of each base chain of table inet harden */
    chainHeaders: Record<string, string>;
  };
  /** what the policy opens to everyone (services without `from`, SSH without sshAllow) */
  publicPorts: PortExpect[];
  /** every port the policy opens to someone (SSH and services) */
  declaredPorts: PortExpect[];
  fail2ban: null | { jails: { name: string; maxretry: number; findtime: number; bantime: number; port: number | null }[] };
  cron: {
    spool: string;
    atSpool: string;
    allow: string[];
    atAllow: string[];
    /** declared by the policy */
    expected: ExpectedCronEntry[];
    /** the distribution's own entries (distro-cron.ts), never reported */
    distro: ExpectedCronEntry[];
  };
}

/** Where at(1) keeps its jobs. */
export function atSpool(profile: OsProfile): string {
  return profile.osRelease.id === "rhel" ? "/var/spool/at" : "/var/spool/cron/atjobs";
}

/** Base chain headers as written in the ruleset file; `nft list` prints them the same way. */
function nftChainHeaders(units: UnitSpec[]): Record<string, string> {
  const file = units.flatMap((u) => u.files).find((f) => f.path === NFT_RULESET);
  const headers: Record<string, string> = {};
  if (!file) return headers;
  let chain: string | null = null;
  for (const raw of file.content.split("\n")) {
    const line = raw.trim();
    const open = /^chain (\S+) \{$/.exec(line);
    if (open) chain = open[1];
    else if (chain && line.startsWith("type ")) {
      headers[chain] = line;
      chain = null;
    }
  }
  return headers;
}

export function driftExpect(host: ResolvedHost, units: UnitSpec[], payloads: PayloadCache): DriftExpect {
  const profile = osProfile(host.os);
  const policy = host.policy;
  const files: FileExpect[] = [];
  for (const unit of units) {
    for (const f of unit.files) files.push({ unit: unit.name, path: f.path, mode: f.mode, owner: f.owner, group: f.group, sha256: sha256(f.content) });
    for (const p of unit.permissions) files.push({ unit: unit.name, path: p.path, mode: p.mode, owner: p.owner, group: p.group, sha256: null });
  }
  const ssh: PortExpect = { port: policy.ssh.port, proto: "tcp" };
  const services = policy.firewall.services.map((s) => ({ port: s.port, proto: s.proto, public: !s.from || s.from.length === 0 }));
  const f2b = policy.fail2ban;
  const jail = (name: "sshd" | "recidive") => ({
    name,
    maxretry: f2b[name].maxRetry,
    findtime: f2b[name].findTime,
    bantime: f2b[name].banTime,
    // recidive bans every port
    port: name === "sshd" ? policy.ssh.port : null,
  });
  const spool = cronInventoryPaths(profile).find((l) => l.kind === "user-spool")!.path;
  return {
    files,
    sshd: { mainConfig: SSHD_MAIN_CONFIG, settings: expectedSshdSettings(host) },
    firewall: { ...expectedFirewall(host, payloads), chainHeaders: nftChainHeaders(units) },
    publicPorts: [
      ...(policy.firewall.sshAllow.length === 0 ? [ssh] : []),
      ...services.filter((s) => s.public).map(({ port, proto }) => ({ port, proto })),
    ],
    declaredPorts: [ssh, ...services.map(({ port, proto }) => ({ port, proto }))],
    fail2ban: f2b.enabled
      ? { jails: (["sshd", "recidive"] as const).filter((n) => f2b[n].enabled).map(jail) }
      : null,
    cron: {
      spool,
      atSpool: atSpool(profile),
      allow: [...new Set(policy.cron.allow)],
      atAllow: [...new Set(policy.cron.atAllow)],
      expected: policy.cron.expected,
      distro: distroCronEntries(host.os),
    },
  };
}
