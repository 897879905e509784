// Identifying processes safely: a PID is only trusted together with its start time and command name,
// so a recorded PID that the kernel has since reused for someone else's process is never signalled.
import { readFileSync, readdirSync, readlinkSync } from "node:fs";

export interface ProcId {
  pid: number;
  /** field 22 of /proc/<pid>/stat: clock ticks since boot, unique per PID incarnation */
  start: string;
  comm: string;
}

function stat(pid: number): { state: string; start: string; comm: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const close = s.lastIndexOf(")");
    const comm = s.slice(s.indexOf("(") + 1, close);
    const rest = s.slice(close + 2).split(" ");
    return { state: rest[0], start: rest[19], comm };
  } catch {
    return undefined;
  }
}

export function procId(pid: number): ProcId | undefined {
  const s = stat(pid);
  return s && { pid, start: s.start, comm: s.comm };
}

/** Alive and still the same process (a zombie counts as gone: only its reaping is pending). */
export function isSame(id: ProcId): boolean {
  const s = stat(id.pid);
  return !!s && s.state !== "Z" && s.start === id.start && s.comm === id.comm;
}

export function isAlive(pid: number): boolean {
  const s = stat(pid);
  return !!s && s.state !== "Z";
}

export function signal(id: ProcId, sig: NodeJS.Signals): void {
  if (!isSame(id)) return;
  try {
    process.kill(id.pid, sig);
  } catch {
    /* exited meanwhile */
  }
}

/** Children of a process, from the kernel's own list. */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** The namespace inode of a process, e.g. nsOf(pid, "pid") -> "pid:[4026532301]". */
export function nsOf(pid: number, kind: "pid" | "net" | "mnt"): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

/** Live (non-zombie) processes whose namespace of `kind` is `ns`. */
export function processesInNs(kind: "pid" | "net" | "mnt", ns: string): number[] {
  return readdirSync("/proc")
    .filter((d) => /^\d+$/.test(d))
    .map(Number)
    .filter((pid) => nsOf(pid, kind) === ns && isAlive(pid));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Blocks the thread briefly; only for teardown paths that must stay synchronous (process exit handlers). */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
