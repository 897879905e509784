// Own cgroups for each nspawn machine. With --keep-unit (there is no system bus to ask for a scope) nspawn
// runs the container in its caller's cgroup, so the caller moves into a cgroup of its own first, one per
// machine. `cgroup.kill` of that cgroup is the lab's power switch: every process of the machine dies at once.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sleepSync } from "../proc";

const BASE = "harden-syslab";

/** The hierarchies nspawn needs: the cgroup2 tree, plus the named systemd v1 tree on a hybrid machine. */
function hierarchies(): string[] {
  if (existsSync("/sys/fs/cgroup/cgroup.controllers")) return ["/sys/fs/cgroup"]; // pure cgroup2
  const h = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd"].filter((d) => existsSync(join(d, "cgroup.procs")));
  if (!h.includes("/sys/fs/cgroup/unified")) throw new Error("systemd lab: no cgroup2 hierarchy (neither /sys/fs/cgroup nor /sys/fs/cgroup/unified is cgroup2)");
  return h;
}

/** The cgroup dirs of machine `name`, created; the cgroup2 one first (it has cgroup.kill). */
export function machineCgroups(name: string): string[] {
  const dirs = hierarchies().map((h) => join(h, BASE, name));
  for (const d of dirs) mkdirSync(d, { recursive: true });
  return dirs;
}

function procs(dir: string): number[] {
  const pids: number[] = [];
  const walk = (d: string) => {
    try {
      pids.push(...readFileSync(join(d, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number));
      for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) walk(join(d, e.name));
    } catch {
      /* removed meanwhile */
    }
  };
  walk(dir);
  return pids;
}

export function cgroupEmpty(dirs: string[]): boolean {
  return dirs.every((d) => !existsSync(d) || procs(d).length === 0);
}

/** Kills every process of the cgroups (the whole machine: nspawn and all the guest runs). */
export function killCgroups(dirs: string[]): void {
  for (const d of dirs) {
    if (existsSync(join(d, "cgroup.kill"))) writeFileSync(join(d, "cgroup.kill"), "1");
  }
  // cgroup v1 has no cgroup.kill: what is left there (nothing, normally: the processes are the same) gets SIGKILL
  for (const d of dirs) {
    for (const pid of existsSync(d) ? procs(d) : []) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  }
}

/** Waits (bounded) until the cgroups hold no process, then removes them and the sub-cgroups the guest made. */
export function removeCgroups(dirs: string[], waitMs = 5000): void {
  const deadline = Date.now() + waitMs;
  while (!cgroupEmpty(dirs)) {
    if (Date.now() > deadline) {
      killCgroups(dirs);
      if (Date.now() > deadline + 3000) throw new Error(`systemd lab: processes left in ${dirs.join(", ")}: ${dirs.flatMap(procs).join(" ")}`);
    }
    sleepSync(10);
  }
  const rmTree = (d: string) => {
    if (!existsSync(d)) return;
    for (const e of readdirSync(d, { withFileTypes: true })) if (e.isDirectory()) rmTree(join(d, e.name));
    try {
      rmdirSync(d);
    } catch {
      /* a cgroup whose last process is still being reaped: removed on the next start */
    }
  };
  for (const d of dirs) rmTree(d);
}

/** Every machine cgroup this lab ever made on this machine (leftovers of killed runs included). */
export function allMachineCgroups(): string[][] {
  const names = new Set<string>();
  for (const h of hierarchies()) {
    const b = join(h, BASE);
    if (existsSync(b)) for (const e of readdirSync(b, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
  }
  return [...names].map((n) => hierarchies().map((h) => join(h, BASE, n)));
}
