// What the lab's container engines (docker-engine.ts, podman-engine.ts) share: the engine's own release
// as a cached layer over a lab root, the mounts of a chroot into it, the busybox image folder (no registry
// here) and the removal of the cgroups an engine put its containers in.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmdirSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAsync, shq } from "../lab/exec";
import { labCacheDir } from "../lab/paths";
import { rootDir, type LabRoot } from "../lab/roots";

const LAYER_SCRIPT = join(__dirname, "engine-layer.sh");

/**
 * The overlay lowerdir of `root` with `packages` installed (engine-layer.sh caches the layer as
 * `<root>-<name>.layer`), so an engine runs its release's packages chrooted in there.
 */
export async function engineLower(root: LabRoot, name: string, packages: string[]): Promise<string> {
  const layer = join(labCacheDir(), "roots", `${root}-${name}.layer`);
  const r = await runAsync("bash", [LAYER_SCRIPT, rootDir(root), layer, ...packages], { timeoutMs: 15 * 60_000 });
  if (r.code !== 0) throw new Error(`${name} layer for ${root} failed (exit ${r.code}): ${(r.stderr + r.stdout).trim().slice(-1500)}`);
  return `${join(layer, "upper")}:${rootDir(root)}`;
}

/**
 * Shell lines (for a private mount namespace) that mount an overlay of `lower` at `merged`, writes going to
 * `work`/upper, with its own proc, /run and /tmp, the machine's /sys and /dev, and `dir` bound at `inside`.
 */
export function chrootMounts(lower: string, work: string, merged: string, dir: string, inside: string): string[] {
  const opts = `lowerdir=${lower},upperdir=${join(work, "upper")},workdir=${join(work, "work")}`;
  const m = shq(merged);
  return [`mount -t overlay overlay -o ${shq(opts)} ${m}`, `mount -t proc proc ${m}/proc`,
    `mount --rbind /sys ${m}/sys`, `mount --rbind /dev ${m}/dev`, `mount -t tmpfs tmpfs ${m}/run`,
    `mount -t tmpfs tmpfs ${m}/tmp`, `mkdir -p ${m}${inside}`, `mount --bind ${shq(dir)} ${m}${inside}`];
}

/** A root folder for a busybox image made of Debian's busybox-static: `tar -C DIR -c .` imports it. */
/** what the image holds besides busybox itself: symlinks to it */
export const IMAGE_TOOLS = ["sh", "nc", "sleep", "echo", "cat"];

export function busyboxFolder(dir: string): string {
  mkdirSync(join(dir, "bin"), { recursive: true });
  const bb = "/bin/busybox";
  if (!existsSync(bb)) throw new Error("busybox-static is not installed (/bin/busybox missing)");
  writeFileSync(join(dir, "bin", "busybox"), readFileSync(bb), { mode: 0o755 });
  for (const tool of IMAGE_TOOLS) {
    const link = join(dir, "bin", tool);
    if (!existsSync(link)) symlinkSync("busybox", link);
  }
  return dir;
}

/**
 * Removes the cgroup `parent` in every hierarchy (v1 controllers and the unified one); `kill`: first
 * SIGKILLs what still runs in it, so a killed run's containers die with the next run's cleanup.
 */
export function removeCgroupParent(parent: string, kill: boolean): void {
  const trees = existsSync("/sys/fs/cgroup") ? readdirSync("/sys/fs/cgroup").map((h) => join("/sys/fs/cgroup", h, parent)) : [];
  for (const tree of [...trees, join("/sys/fs/cgroup", parent)]) removeTree(tree, kill);
}

/** cgroup dirs are removed leaves first with rmdir (their files cannot be unlinked). */
function removeTree(dir: string, kill: boolean): void {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return;
  if (kill && existsSync(join(dir, "cgroup.procs"))) {
    for (const pid of readFileSync(join(dir, "cgroup.procs"), "utf8").split("\n").filter(Boolean).map(Number)) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // gone meanwhile
      }
    }
  }
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeTree(join(dir, e.name), kill);
  try {
    rmdirSync(dir);
  } catch {
    // still busy: left for the machine's cleanup
  }
}
