// A real Docker engine on a lab host: Debian's dockerd started in the host's network namespace (so its
// netfilter rules land beside harden's, as on a server), with every path of its own. The daemon runs in a
// private mount namespace with its own /run (containerd's shim sockets and its key.json stay
// out of this machine's; /etc is an overlay whose writes stay in our dir), its containers under a cgroup parent of their own. Images come from a folder
// holding Debian's static busybox, imported without a registry.
import { spawn } from "node:child_process";
import { mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runAsync, shq, type ExecResult } from "../lab/exec";
import type { LabHost } from "../lab/lab";
import { RUN_DIR } from "../lab/paths";
import type { LabRoot } from "../lab/roots";
import { isAlive } from "../lab/proc";
import { busyboxFolder, chrootMounts, engineLower, removeCgroupParent } from "./container-engine";

/** Debian's client; another `docker` may come first on PATH */
const CLIENT = "/usr/bin/docker";
export const IMAGE = "local/bb";
export { IMAGE_TOOLS } from "./container-engine";

/** `docker run` arguments of a container answering PONG on `port` inside, published as `publish` (-p syntax). */
export function listenerRun(name: string, publish: string, port: number): string {
  return `run -d --name ${shq(name)} --restart always --stop-timeout 1 -p ${shq(publish)} ${IMAGE} nc -ll -p ${port} -e echo PONG`;
}
const READY_MS = 60_000;
/** the containers' IPv6 network */
export const CONTAINER_NET6 = "fd00:d0c::/64";
const DAEMON_CONFIG = { ipv6: true, "fixed-cidr-v6": CONTAINER_NET6, experimental: true, ip6tables: true };

/**
 * Where the host's own Docker comes from. debian-12 hosts share this machine's / (docker.io installed by
 * CI); other roots get a cached overlay layer with their release's docker.io (engine-layer.sh), and the
 * daemon runs chrooted into that layer over the root, so a Debian 13 host runs Debian 13's Docker.
 */
export async function dockerLower(root: LabRoot): Promise<string | null> {
  return root === "debian-12" ? null : engineLower(root, "docker", ["docker.io", "busybox-static"]);
}

export class DockerEngine {
  private pid = 0;
  readonly dir: string;
  readonly sock: string;
  readonly cgroup: string;

  /** `lower`: overlay lowerdir of the root dockerd runs chrooted in (null: this machine's /) */
  constructor(readonly host: LabHost, private readonly lower: string | null = null) {
    this.dir = join(RUN_DIR, "docker", host.name);
    this.sock = join(this.dir, "docker.sock");
    this.cgroup = `hl-docker-${host.name}`;
  }

  /** Starts dockerd in the host's netns and waits until it answers. */
  async start(): Promise<void> {
    // a killed run's lab cleanup ends dockerd and its shims (they are in the host's netns) but not the
    // containers (netns of their own): they are found by the cgroup parent this harness gave them
    this.cleanup(true);
    await this.launch();
  }

  private async launch(): Promise<void> {
    for (const d of ["data", "exec", "etc/upper", "etc/work", "root/upper", "root/work", "root/merged"]) mkdirSync(join(this.dir, d), { recursive: true });
    // IPv6 as a server with IPv6 would run it: containers get addresses of their own and ports are
    // published by ip6tables DNAT too (experimental before Docker 27)
    writeFileSync(join(this.dir, "daemon.json"), `${JSON.stringify(DAEMON_CONFIG)}\n`);
    // chrooted, the daemon sees our dir as /hl-docker
    const d = this.lower ? "/hl-docker" : this.dir;
    const args = [
      "-H", `unix://${d}/docker.sock`, "--data-root", `${d}/data`, "--exec-root", `${d}/exec`,
      "--pidfile", `${d}/dockerd.pid`, "--config-file", `${d}/daemon.json`,
      "--storage-driver", "vfs", "--cgroup-parent", `/${this.cgroup}`, "--shutdown-timeout", "2",
    ];
    // nsenter, not `ip netns exec`: the latter remounts /sys and dockerd then finds no cgroups
    // /etc as an overlay whose writes land in our dir: dockerd 20.10 writes /etc/docker/key.json
    const etc = `lowerdir=/etc,upperdir=${join(this.dir, "etc", "upper")},workdir=${join(this.dir, "etc", "work")}`;
    const dockerd = `dockerd ${args.map(shq).join(" ")}`;
    const m = join(this.dir, "root", "merged");
    const inner = this.lower === null
      ? `mount -t tmpfs tmpfs /run && mount -t overlay overlay -o ${shq(etc)} /etc && exec ${dockerd}`
      : ["set -e", ...chrootMounts(this.lower, join(this.dir, "root"), m, this.dir, "/hl-docker"),
        `exec chroot ${shq(m)} /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin ${dockerd}`].join("; ");
    const log = join(this.dir, "dockerd.log");
    const out = openSync(log, "a");
    const child = spawn("nsenter", [`--net=/run/netns/hl-${this.host.name}`, "unshare", "--mount", "--propagation", "private",
      "sh", "-c", inner], { stdio: ["ignore", out, out], detached: true });
    child.unref();
    const deadline = Date.now() + READY_MS;
    for (;;) {
      const r = await this.docker("version --format '{{.Server.Version}}'");
      if (r.code === 0) break;
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`dockerd on ${this.host.name} did not come up: ${readFileSync(log, "utf8").slice(-2000)}`);
      }
      await new Promise((res) => setTimeout(res, 100));
    }
    this.pid = Number(readFileSync(join(this.dir, "dockerd.pid"), "utf8").trim());
  }

  async version(): Promise<string> {
    return (await this.must("version --format '{{.Server.Version}}'")).trim();
  }

  /** The busybox image, built from Debian's busybox-static (no registry here). */
  async importImage(): Promise<void> {
    const root = busyboxFolder(join(this.dir, "image"));
    const r = await runAsync("sh", ["-c", `tar -C ${shq(root)} -c . | ${CLIENT} -H unix://${shq(this.sock)} import - ${IMAGE}`]);
    if (r.code !== 0) throw new Error(`docker import failed: ${r.stderr}`);
  }

  docker(cmd: string, timeoutMs = 60_000): Promise<ExecResult> {
    return runAsync("sh", ["-c", `${CLIENT} -H unix://${shq(this.sock)} ${cmd}`], { timeoutMs });
  }

  async must(cmd: string, timeoutMs = 60_000): Promise<string> {
    const r = await this.docker(cmd, timeoutMs);
    if (r.code !== 0) throw new Error(`docker ${cmd} failed (rc ${r.code}): ${r.stdout}${r.stderr}`);
    return r.stdout;
  }

  /** A container answering PONG on `port` inside, published as `publish` (see listenerRun). */
  async listener(name: string, publish: string, port: number): Promise<void> {
    await this.must(listenerRun(name, publish, port));
  }

  async ip(name: string): Promise<string> {
    return (await this.must(`inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' ${shq(name)}`)).trim();
  }

  /** Stops dockerd (it stops its containers) and waits for it to exit. */
  async stop(): Promise<void> {
    if (!this.pid) return;
    try {
      process.kill(this.pid, "SIGTERM");
    } catch {
      // already gone
    }
    const deadline = Date.now() + 30_000;
    while (isAlive(this.pid) && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    if (isAlive(this.pid)) process.kill(this.pid, "SIGKILL");
    this.pid = 0;
  }

  /** Restarts the daemon the way a package upgrade or `systemctl restart docker` would. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  /** After stop(): the cgroups docker made for its containers (`kill`: and what still runs in them), our files. */
  cleanup(kill = false): void {
    removeCgroupParent(this.cgroup, kill);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
