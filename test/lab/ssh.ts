// SSH from the test runner the way an operator (or @pulumi/command with `hostKey`) connects: a pinned host
// key, key-only auth, no agent, no user or system ssh config, a fresh connection every time.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExecResult, runAsync } from "./exec";

export interface SshEndpoint {
  address: string;
  port: number;
  user: string;
  /** "ssh-ed25519 AAAA..." */
  hostKey: string;
}

/** the name under which the pinned key is stored: one alias, so the port never matters for the match */
const ALIAS = "harden-pinned-host";
let knownDir: string | undefined;

function knownHostsFile(hostKey: string): string {
  const [type, blob] = hostKey.trim().split(/\s+/);
  if (!type || !blob) throw new Error(`ssh: not a host key: "${hostKey}"`);
  if (!knownDir) {
    knownDir = mkdtempSync(join(tmpdir(), "harden-known-hosts-"));
    const dir = knownDir;
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  const file = join(knownDir, createHash("sha256").update(`${type} ${blob}`).digest("hex").slice(0, 16));
  writeFileSync(file, `${ALIAS} ${type} ${blob}\n`);
  return file;
}

/**
 * ssh(1) arguments for `endpoint`, the destination last (append the remote command).
 * The host key is pinned: a known_hosts file holding only `endpoint.hostKey` under a HostKeyAlias and
 * StrictHostKeyChecking=yes, so any other key fails the connection.
 */
export function sshArgs(endpoint: SshEndpoint, identityFile: string): string[] {
  return [
    "-F", "/dev/null", // no user/system client config can change what is tested
    "-i", identityFile,
    "-p", String(endpoint.port),
    "-l", endpoint.user,
    "-o", "IdentitiesOnly=yes",
    "-o", "IdentityAgent=none",
    "-o", "BatchMode=yes",
    "-o", "PasswordAuthentication=no",
    "-o", "KbdInteractiveAuthentication=no",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHostsFile(endpoint.hostKey)}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", `HostKeyAlias=${ALIAS}`,
    "-o", "UpdateHostKeys=no",
    "-o", "ControlMaster=no",
    "-o", "ControlPath=none",
    "-o", "ConnectTimeout=5",
    "-o", "LogLevel=ERROR",
    endpoint.address,
  ];
}

const sessions = new Map<string, number>();

/** SSH sessions opened through sshRun (and so runPlan) since the last reset: per address, or in total. */
export function sshSessions(address?: string): number {
  if (address !== undefined) return sessions.get(address) ?? 0;
  let n = 0;
  for (const v of sessions.values()) n += v;
  return n;
}

export function resetSshSessions(): void {
  sessions.clear();
}

export interface SshRunOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  /** run ssh inside this netns (a lab client) instead of the root namespace */
  netns?: string;
}

/** One fresh SSH session running `command`; counted. ssh's own failures come back as code 255. */
export function sshRun(endpoint: SshEndpoint, identityFile: string, command: string, opts: SshRunOptions = {}): Promise<ExecResult> {
  sessions.set(endpoint.address, (sessions.get(endpoint.address) ?? 0) + 1);
  const args = [...sshArgs(endpoint, identityFile), command];
  const [cmd, argv] = opts.netns ? ["ip", ["netns", "exec", opts.netns, "ssh", ...args]] : ["ssh", args];
  return runAsync(cmd as string, argv as string[], { input: opts.input, timeoutMs: opts.timeoutMs ?? 60_000 });
}
