// One SSH session with the system ssh client, as an operator would run it: the host key pinned
// (a temporary known_hosts holding only the plan's key, under a HostKeyAlias so the port does not
// matter), no password prompts, bounded connect and total time.
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Endpoint } from "../plan/types";

export interface SshOptions {
  /** private key file; default: whatever ssh would use (agent, ~/.ssh/id_*) */
  identityFile?: string;
  /** ssh-agent socket (IdentityAgent); default: SSH_AUTH_SOCK, as ssh does */
  identityAgent?: string;
  connectTimeoutSeconds?: number;
  /** the whole session, connect included */
  timeoutMs?: number;
}

export interface SshResult {
  code: number;
  stdout: string;
  stderr: string;
  timedOut: boolean;
  ms: number;
}

const ALIAS = "harden-pinned";

export function sshArgs(endpoint: Endpoint, knownHosts: string, opts: SshOptions): string[] {
  return [
    "-F", "/dev/null",
    ...(opts.identityFile ? ["-i", opts.identityFile, "-o", "IdentitiesOnly=yes"] : []),
    ...(opts.identityAgent ? ["-o", `IdentityAgent=${opts.identityAgent}`] : []),
    "-p", String(endpoint.port),
    "-l", endpoint.user,
    "-o", "BatchMode=yes",
    "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`,
    "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", `HostKeyAlias=${ALIAS}`,
    "-o", "UpdateHostKeys=no",
    "-o", "ControlMaster=no",
    "-o", "ControlPath=none",
    "-o", `ConnectTimeout=${opts.connectTimeoutSeconds ?? 10}`,
    "-o", "ServerAliveInterval=10",
    "-o", "LogLevel=ERROR",
    "--",
    endpoint.address,
  ];
}

/** Runs `command` on the endpoint with `input` on stdin. Never throws for ssh's own failures (code 255). */
export async function sshExec(endpoint: Endpoint, command: string, input: string, opts: SshOptions = {}): Promise<SshResult> {
  const [type, blob] = endpoint.hostKey.trim().split(/\s+/);
  if (!type || !blob) throw new Error(`no pinned host key for ${endpoint.address}: refusing to connect unchecked`);
  const dir = mkdtempSync(join(tmpdir(), "harden-ssh-"));
  const knownHosts = join(dir, "known_hosts");
  writeFileSync(knownHosts, `${ALIAS} ${type} ${blob}\n`, { mode: 0o600 });
  const t0 = Date.now();
  try {
    return await new Promise<SshResult>((resolve) => {
      const child = spawn("ssh", [...sshArgs(endpoint, knownHosts, opts), command], { stdio: ["pipe", "pipe", "pipe"] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill("SIGKILL");
      }, opts.timeoutMs ?? 60_000);
      child.stdout.on("data", (d: Buffer) => out.push(d));
      child.stderr.on("data", (d: Buffer) => err.push(d));
      child.stdin.on("error", () => {}); // the remote side may close stdin early (auth failure)
      child.on("error", (e) => {
        clearTimeout(timer);
        resolve({ code: 127, stdout: "", stderr: `ssh: ${e.message}`, timedOut, ms: Date.now() - t0 });
      });
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({
          code: timedOut ? 124 : code ?? 255,
          stdout: Buffer.concat(out).toString("utf8"),
          stderr: Buffer.concat(err).toString("utf8"),
          timedOut,
          ms: Date.now() - t0,
        });
      });
      child.stdin.end(input);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
