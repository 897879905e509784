// Running processes for the lab: synchronous helpers for short setup commands (ip, ssh-keygen) and an
// async runner with input and a timeout for commands inside hosts, clients and over SSH.
import { spawn, spawnSync } from "node:child_process";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** The environment of commands run inside hosts: nothing of the test runner's leaks in. */
export const HOST_ENV: NodeJS.ProcessEnv = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  HOME: "/root",
  USER: "root",
  LOGNAME: "root",
  SHELL: "/bin/sh",
  LC_ALL: "C",
};

/** Runs a command to completion; never throws. */
export function runSync(cmd: string, args: string[], opts: ExecOptions = {}): ExecResult {
  const r = spawnSync(cmd, args, {
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
    env: opts.env ?? process.env,
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    return { code: 127, stdout: "", stderr: `${cmd}: not found` };
  }
  return { code: r.status ?? (r.signal ? 128 : 1), stdout: r.stdout ?? "", stderr: (r.stderr ?? "") + (r.error ? String(r.error) : "") };
}

/** Runs a command and returns its stdout; throws with the command line and stderr on failure. */
export function mustRun(cmd: string, args: string[], opts: ExecOptions = {}): string {
  const r = runSync(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(" ")} -> exit ${r.code}: ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/**
 * Runs a command asynchronously. On timeout the whole process group is killed (nsenter forks its child
 * into the host's PID namespace: killing nsenter alone would leave the child running) and code is 124.
 */
export function runAsync(cmd: string, args: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, detached: true, stdio: ["pipe", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, "SIGKILL");
      } catch {
        /* already gone */
      }
    }, opts.timeoutMs ?? 60_000);
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.stdin.on("error", () => {}); // the command may exit before reading all of its input
    child.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout: "", stderr: String(e) });
    });
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdout.destroy();
      child.stderr.destroy();
      const stderr = Buffer.concat(err).toString("utf8");
      resolve({
        code: timedOut ? 124 : (code ?? (signal ? 128 : 1)),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: timedOut ? `${stderr}[lab] killed after ${opts.timeoutMs ?? 60_000} ms\n` : stderr,
      });
    };
    child.on("close", finish);
    // A daemon started by the command (`cmd &`) may keep our stdout open for good: once the command
    // itself has exited, take what has arrived shortly after instead of waiting for the pipe to close.
    child.on("exit", (code, signal) => setTimeout(() => finish(code, signal), 200).unref());
    child.stdin.end(opts.input ?? "");
  });
}

/** Quotes one word for a POSIX shell. */
export function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

// Commands and files inside a lab host, through nsenter with the host's namespaces (`nsArgs`, ending in
// "--"). Files go through a process inside the host, never through /proc/<pid>/root: an absolute symlink
// met on such a path resolves against the CALLER's root, so a write could land in this machine's real /etc.
export function nsenterExec(nsArgs: string[], cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
  return runAsync("nsenter", [...nsArgs, "/bin/sh", "-c", cmd], { ...opts, env: HOST_ENV });
}

export function nsenterReadFile(nsArgs: string[], path: string): string {
  return mustRun("nsenter", [...nsArgs, "cat", "--", path], { env: HOST_ENV });
}

export function nsenterWriteFile(nsArgs: string[], path: string, content: string, mode?: number): void {
  const chmod = mode === undefined ? "" : ` && chmod ${mode.toString(8)} "$1"`;
  mustRun("nsenter", [...nsArgs, "/bin/sh", "-c", `cat >"$1"${chmod}`, "sh", path], { input: content, env: HOST_ENV });
}
