// The fleet and policy shape operators write (TypeScript objects or stack YAML).
// Every policy field is optional here: defaults <- groups <- host are merged by resolve.ts
// into a ResolvedPolicy where everything is present.
import type { Duration } from "./duration";

export type { Duration };

export type OsId = "debian-12" | "debian-13" | "ubuntu-22.04" | "ubuntu-24.04" | "rhel-9";

export type CryptoPreset = "modern" | "compatible";
export interface CryptoLists {
  kex: string[];
  ciphers: string[];
  macs: string[];
  hostKeyAlgorithms: string[];
  pubkeyAcceptedAlgorithms?: string[];
}

export interface SshPolicy {
  port?: number;
  listenAddresses?: string[];
  permitRootLogin?: "no" | "prohibit-password";
  /** false = key-only: also KbdInteractiveAuthentication no, AuthenticationMethods publickey */
  passwordAuthentication?: boolean;
  /** user -> public keys; the listed users' authorized_keys are managed exclusively */
  authorizedKeys?: Record<string, string[]>;
  allowUsers?: string[];
  allowGroups?: string[];
  maxAuthTries?: number;
  loginGraceTime?: Duration;
  /** "start:rate:full", e.g. "10:30:60" */
  maxStartups?: string;
  perSourceMaxStartups?: number;
  maxSessions?: number;
  clientAliveInterval?: Duration;
  clientAliveCountMax?: number;
  crypto?: CryptoPreset | CryptoLists;
  /** false -> DisableForwarding yes */
  forwarding?: boolean;
  sftpChroot?: { group: string; directory: string };
  logLevel?: "QUIET" | "FATAL" | "ERROR" | "INFO" | "VERBOSE" | "DEBUG";
  /** users that may use sudo; used by the lockout check for permitRootLogin: no */
  sudoUsers?: string[];
}

export type Proto = "tcp" | "udp";
export interface ServiceRule {
  port: number;
  proto?: Proto;
  /** CIDRs allowed to reach the port; absent = from anywhere */
  from?: string[];
  comment?: string;
}
export interface ResolvedService {
  port: number;
  proto: Proto;
  from?: string[];
  comment?: string;
}
export interface Blocklist {
  name: string;
  cidrs: string[];
}
export interface EgressPolicy {
  /** "deny": outbound SMTP (25, 465, 587) is dropped unless this host declares "allow" */
  smtp?: "allow" | "deny";
  /** "allowlist": only the listed destinations are reachable (plus established traffic, DNS, NTP as listed) */
  mode?: "accept" | "allowlist";
  allow?: { to: string[]; ports?: number[]; proto?: Proto }[];
}
export interface FirewallPolicy {
  backend?: "nftables" | "iptables";
  /** CIDRs (v4 and v6) that may reach SSH; empty = from anywhere, rate-limited */
  sshAllow?: string[];
  /** new SSH connections per source and window */
  sshRateLimit?: { connections: number; perSeconds: Duration };
  services?: ServiceRule[];
  blocklists?: Blocklist[];
  egress?: EgressPolicy;
  /**
   * Ports published by a container runtime (DNAT, e.g. `docker run -p`) are filtered like local ports:
   * a declared service admits its `from`. "drop" (default): undeclared published ports are dropped.
   * "accept": they stay reachable (containers managed elsewhere), but internal ports (Redis, ...) never do.
   */
  publishedPorts?: { undeclared?: "drop" | "accept" };
}

export interface JailPolicy {
  enabled?: boolean;
  maxRetry?: number;
  findTime?: Duration;
  banTime?: Duration;
  banTimeIncrement?: boolean;
}
export interface Fail2banPolicy {
  enabled?: boolean;
  sshd?: JailPolicy;
  recidive?: JailPolicy;
  /** addresses never banned, besides loopback and the host itself */
  ignore?: string[];
  /**
   * where the jails read sshd's failures: "journal" (backend systemd) or "file" (the distribution's
   * auth log, written by rsyslog). Default: what a stock install of the host's OS has (journal on Debian).
   */
  logBackend?: "journal" | "file";
}

export interface CronPolicy {
  /** users allowed to use crontab (root is always allowed) */
  allow?: string[];
  /** users allowed to use at (root is always allowed) */
  atAllow?: string[];
  /** declared crontab entries; anything else found is drift */
  expected?: ExpectedCronEntry[];
}
export interface ExpectedCronEntry {
  /** "root", a user name, or a file: "/etc/crontab", "/etc/cron.d/NAME" */
  source: string;
  /** the entry as written, whitespace-normalised when compared */
  line: string;
}

export interface Policy {
  ssh?: SshPolicy;
  firewall?: FirewallPolicy;
  fail2ban?: Fail2banPolicy;
  cron?: CronPolicy;
}

export interface Connection {
  user: string;
  port: number;
  /** a host may name its own private key: a config key (secret) in Pulumi, a file for the CLI */
  privateKey?: string;
}

export interface HostSpec {
  name: string;
  address: string;
  groups?: string[];
  os: OsId;
  /** how the host is reached today */
  connection: Connection;
  /** pinned host key, "ssh-ed25519 AAAA..." */
  hostKey: string;
  policy?: Policy;
  /** CIDRs the operator connects from; replaces Fleet.adminSources for this host (lockout check) */
  adminSources?: string[];
}

export interface Fleet {
  defaults?: Policy;
  groups?: Record<string, Policy>;
  hosts: HostSpec[];
  /** CIDRs the operator connects from: validation refuses an sshAllow that none of them can reach */
  adminSources?: string[];
}

/** A jail after merge: durations in seconds. */
export interface ResolvedJail {
  enabled: boolean;
  maxRetry: number;
  findTime: number;
  banTime: number;
  banTimeIncrement: boolean;
}

/** Deep-required policy after merge and defaults (durations in seconds): renderers never see undefined. */
export interface ResolvedPolicy {
  ssh: Required<Omit<SshPolicy, "sftpChroot" | "listenAddresses" | "crypto" | "loginGraceTime" | "clientAliveInterval">> & {
    loginGraceTime: number;
    clientAliveInterval: number;
    listenAddresses: string[];
    crypto: CryptoPreset | CryptoLists;
    sftpChroot?: { group: string; directory: string };
  };
  firewall: {
    backend: "nftables" | "iptables";
    sshAllow: string[];
    sshRateLimit: { connections: number; perSeconds: number };
    services: ResolvedService[];
    blocklists: Blocklist[];
    egress: { smtp: "allow" | "deny"; mode: "accept" | "allowlist"; allow: { to: string[]; ports: number[]; proto: Proto }[] };
    publishedPorts: { undeclared: "drop" | "accept" };
  };
  fail2ban: {
    enabled: boolean;
    sshd: ResolvedJail;
    recidive: ResolvedJail;
    ignore: string[];
    /** absent: the OS profile decides */
    logBackend?: "journal" | "file";
  };
  cron: { allow: string[]; atAllow: string[]; expected: ExpectedCronEntry[] };
}

/** One host, merged and completed: the input of every renderer. */
export interface ResolvedHost {
  name: string;
  address: string;
  os: OsId;
  hostKey: string;
  /** how the host is reached before this apply */
  connection: Connection;
  /** how the host will be reached after this apply (port from policy, same user) */
  target: Connection;
  policy: ResolvedPolicy;
}
