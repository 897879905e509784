// A real rootful Podman on a lab host. Podman has no daemon: a holder process (a shell's `sleep`) keeps a
// private mount namespace in the host's network namespace, chrooted into an overlay of the engine's root
// (this machine's / for Debian 12, a cached layer with Debian 13's podman over the Debian 13 lab root),
// writes landing in our dir. Every `podman` command enters that holder with nsenter (not `ip netns exec`,
// which remounts /sys), so netavark's rules land beside harden's, as on a server, the containers' netns
// bind mounts under /run/netns outlive the command, and conmon keeps the containers between commands.
// Storage, run and tmp dirs, the network config, containers.conf, the file-based locks and events are all
// ours (nothing in the machine's /var/lib/containers, /run, /etc/containers or /dev/shm), and containers
// and conmon run under a cgroup parent of their own, where a killed run's leftovers are found.
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAsync, shq, type ExecResult } from "../lab/exec";
import type { LabHost } from "../lab/lab";
import { RUN_DIR } from "../lab/paths";
import { isAlive } from "../lab/proc";
import type { LabRoot } from "../lab/roots";
import { busyboxFolder, chrootMounts, engineLower, removeCgroupParent } from "./container-engine";

export const IMAGE = "local/bb";
/** where our dir appears inside the chroot */
const INSIDE = "/hl-podman";
const READY_MS = 30_000;

/**
 * runc, not crun: crun refuses this machine's hybrid cgroups (a controller, hugetlb, sits in the unified
 * hierarchy: "cgroups in hybrid mode not supported"). A stock server (cgroup v2 only) runs crun.
 */
const RUNTIME = "runc";

/**
 * Podman's default ulimits (1048576 files and processes) cannot be set here without CAP_SYS_RESOURCE,
 * which this machine's root lacks; the containers get these instead.
 */
const ULIMITS = ["nofile=1024:1024", "nproc=4096:4096"];

/**
 * The overlay lowerdir podman runs chrooted in: this machine's / for debian-12 (podman installed by CI),
 * for other roots a cached layer with their release's podman (engine-layer.sh).
 */
export async function podmanLower(root: LabRoot): Promise<string> {
  return root === "debian-12" ? "/" : engineLower(root, "podman", ["podman", "netavark", "aardvark-dns", "conmon", "runc"]);
}

export class PodmanEngine {
  private holder = 0;
  readonly dir: string;
  readonly cgroup: string;

  /** `firewallDriver`: netavark's (podman 5's containers.conf firewall_driver); unset: the release's default */
  constructor(readonly host: LabHost, private readonly lower: string, private readonly firewallDriver?: "iptables" | "nftables") {
    this.dir = join(RUN_DIR, "podman", host.name);
    this.cgroup = `hl-podman-${host.name}`;
  }

  /** Starts the holder in the host's netns and waits until podman answers in it. */
  async start(): Promise<void> {
    // a killed run's lab cleanup ends the holder (it is in the host's netns); the containers and their
    // conmon are found by the cgroup parent this harness gives them
    this.cleanup(true);
    for (const d of ["root/upper", "root/work", "root/merged", "storage", "runroot", "libpod", "networks", "tmp"]) {
      mkdirSync(join(this.dir, d), { recursive: true });
    }
    writeFileSync(join(this.dir, "containers.conf"), [
      "[containers]",
      `default_ulimits = [${ULIMITS.map((u) => `"${u}"`).join(", ")}]`,
      "[engine]",
      // file locks live in --tmpdir; the default shm locks would share the machine's /dev/shm/libpod_lock
      'lock_type = "file"',
      'events_logger = "file"',
      'cgroup_manager = "cgroupfs"',
      `runtime = "${RUNTIME}"`,
      "[network]",
      'network_backend = "netavark"',
      ...(this.firewallDriver ? [`firewall_driver = "${this.firewallDriver}"`] : []),
      "",
    ].join("\n"));
    const m = join(this.dir, "root", "merged");
    // the conf is copied into the chroot's /etc (an overlay: the copy lands in our dir), where conmon's
    // `podman container cleanup` finds it too
    const inner = ["set -e", ...chrootMounts(this.lower, join(this.dir, "root"), m, this.dir, INSIDE),
      `mkdir -p ${shq(m)}/etc/containers`, `cp ${shq(join(this.dir, "containers.conf"))} ${shq(m)}/etc/containers/containers.conf`,
      `exec chroot ${shq(m)} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin sleep infinity`].join("; ");
    const log = join(this.dir, "holder.log");
    const out = openSync(log, "a");
    // nsenter and unshare exec (no fork) and so does the shell's last command: the child's pid is the holder
    const child = spawn("nsenter", [`--net=/run/netns/hl-${this.host.name}`, "unshare", "--mount", "--propagation", "private",
      "sh", "-c", inner], { stdio: ["ignore", out, out], detached: true });
    child.unref();
    const pid = child.pid ?? 0;
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (pid && isChrootedSleep(pid, m)) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`podman holder on ${this.host.name} did not come up: ${readFileSync(log, "utf8").slice(-2000)}`);
      }
      await new Promise((res) => setTimeout(res, 20));
    }
    this.holder = pid;
  }

  /** podman's version, its network backend and netavark's version */
  async versions(): Promise<{ podman: string; backend: string; netavark: string }> {
    const info = (await this.must("info --format '{{.Version.Version}} {{.Host.NetworkBackend}}'")).trim().split(" ");
    const netavark = (await this.inside("/usr/lib/podman/netavark --version")).stdout.trim();
    return { podman: info[0], backend: info[1], netavark };
  }

  /** The busybox image, built from Debian's busybox-static (no registry here). */
  async importImage(): Promise<void> {
    const root = busyboxFolder(join(this.dir, "image"));
    const r = await runAsync("sh", ["-c", `tar -C ${shq(root)} -c . | ${this.command("import - " + IMAGE)}`]);
    if (r.code !== 0) throw new Error(`podman import failed: ${r.stderr}`);
  }

  /** A shell command line that runs `podman ARGS` in the holder's namespaces and root. */
  private command(args: string): string {
    const global = [
      "--root", `${INSIDE}/storage`, "--runroot", `${INSIDE}/runroot`, "--tmpdir", `${INSIDE}/libpod`,
      "--network-config-dir", `${INSIDE}/networks`, "--storage-driver", "vfs",
      "--cgroup-manager", "cgroupfs", "--events-backend", "file", "--runtime", RUNTIME,
    ];
    return `nsenter --target ${this.holder} --mount --net --root --wd /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin TMPDIR=${INSIDE}/tmp podman ${global.join(" ")} ${args}`;
  }

  /** Any command in the holder's namespaces and root. */
  inside(cmd: string, timeoutMs = 60_000): Promise<ExecResult> {
    if (!this.holder) throw new Error(`podman on ${this.host.name} is not started`);
    return runAsync("nsenter", ["--target", String(this.holder), "--mount", "--net", "--root", "--wd", "sh", "-c", cmd], { timeoutMs });
  }

  podman(args: string, timeoutMs = 60_000): Promise<ExecResult> {
    if (!this.holder) throw new Error(`podman on ${this.host.name} is not started`);
    return runAsync("sh", ["-c", this.command(args)], { timeoutMs });
  }

  async must(args: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.podman(args, timeoutMs);
    if (r.code !== 0) throw new Error(`podman ${args} failed (rc ${r.code}): ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** A container answering PONG on `port` inside, published as `publish` (podman's -p syntax). */
  async listener(name: string, publish: string, port: number): Promise<void> {
    await this.must(`run -d --name ${shq(name)} --cgroup-parent /${this.cgroup} --stop-timeout 1 -p ${shq(publish)} ${IMAGE} nc -ll -p ${port} -e echo PONG`);
  }

  async ip(name: string): Promise<string> {
    return (await this.must(`inspect -f '{{.NetworkSettings.IPAddress}}' ${shq(name)}`)).trim();
  }

  /** Removes every container (netavark takes its rules down), then ends the holder. */
  async stop(): Promise<void> {
    if (!this.holder) return;
    await this.podman("rm --all --force --time 1", 60_000);
    try {
      process.kill(this.holder, "SIGKILL");
    } catch {
      // already gone
    }
    const deadline = Date.now() + 10_000;
    while (isAlive(this.holder) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 20));
    this.holder = 0;
  }

  /** After stop(): the cgroups of the containers and conmon (`kill`: and what still runs in them), our files. */
  cleanup(kill = false): void {
    removeCgroupParent(this.cgroup, kill);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function isChrootedSleep(pid: number, merged: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim() === "sleep" && readlinkSync(`/proc/${pid}/root`) === merged;
  } catch {
    return false;
  }
}
