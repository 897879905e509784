// The systemd lab: hosts that boot systemd as PID 1 with systemd-nspawn, from roots built like Debian's
// cloud images (stock) or with Debian's fail2ban added, on a bridge of their own, with a local apt
// repository served on the lab network and bare client netns (admin, attacker). See ../README.md.
import { AddressPool } from "../address-pool";
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { ExecOptions, ExecResult, HOST_ENV, mustRun, runAsync, runSync } from "../exec";
import type { HostEndpoint, LabHost } from "../host";
import type { LabClient } from "../lab";
import { LAB_DIR } from "../paths";
import { sleep } from "../proc";
import { SshRunOptions, sshRun } from "../ssh";
import { HostKind, KINDS, RELEASES, Release, ReleaseFiles, ensureNspawn, ensureRelease, rootOf } from "./cache";
import { allMachineCgroups, killCgroups, removeCgroups } from "./cgroup";
import { SystemdHost } from "./host";
import { PREFIX, SWITCH_NS, checkNetFree, clientPort, ourNetns, removeNetns, switchDown, switchUp, wireClient } from "./net";

export { SystemdHost } from "./host";
export type { Boot } from "./host";
export type { HostKind, Release } from "./cache";
export { RELEASES, KINDS, ensureRelease, ensureNspawn, cacheDir } from "./cache";

/** per-run files of this lab (upper dirs, keys, the repo's served folder), apart from the namespace lab's */
export const SYS_RUN_DIR = join(LAB_DIR, "systemd-run");
/** machine-wide: this lab's bridge, netns names and /24 are machine-wide (the namespace lab has its own lock) */
export const SYS_LOCK_FILE = join(existsSync("/run/lock") ? "/run/lock" : "/tmp", "harden-syslab.lock");

export interface SystemdHostOptions {
  /** [a-z][a-z0-9-]{0,10}: the machine name, hostname and (as vb-NAME) its bridge port */
  name: string;
  release?: Release;
  /** the namespace lab's name for the release (either may be given) */
  root?: Release;
  kind?: HostKind;
  /** default: the next free address from .11 in the lab /24 */
  ip?: string;
}

const NAME_RE = /^[a-z][a-z0-9-]{0,10}$/;
const REPO_PORT = 80;

export class SystemdLab {
  readonly adminKey: string;
  readonly net: string;
  private readonly addresses: AddressPool;
  readonly uplink: string;
  /** the address serving the local apt repository (hosts know it as harden-lab-repo) */
  readonly repoIp: string;
  private hosts = new Map<string, SystemdHost | undefined>();
  private clients = new Map<string, string>();
  private stopped = false;
  private repoServer?: ChildProcess;
  private readonly onExit = () => this.stopSync();
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.stopSync();
    process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGHUP" ? 1 : 15));
  };

  private constructor(net: string, private lock: ChildProcess, private keyDir: string, private nspawn: string) {
    this.net = net;
    this.addresses = new AddressPool(net, "systemd lab", [1, 2], ".1 uplink, .2 repository");
    this.uplink = `${net}.1`;
    this.repoIp = `${net}.2`;
    this.adminKey = join(keyDir, "admin_ed25519");
  }

  /**
   * Checks that the lab can work here (throws saying why not), fetches nspawn into the cache if needed,
   * waits for any other systemd lab run on this machine, removes what killed runs left, brings up the
   * bridge, the uplink and the repository server. Roots are built on first use (by host()).
   */
  static async start(opts: { net?: string } = {}): Promise<SystemdLab> {
    const net = opts.net ?? process.env.HARDEN_SYSLAB_NET ?? "10.251.0";
    if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(net) || net.split(".").some((o) => Number(o) > 255)) {
      throw new Error(`systemd lab: net must be a /24 prefix like "10.251.0", got "${net}"`);
    }
    preflight();
    const nspawn = await ensureNspawn();
    const lock = await acquireLock();
    try {
      cleanStale();
      checkNetFree(net);
      const keyDir = join(SYS_RUN_DIR, "keys");
      mkdirSync(keyDir, { recursive: true, mode: 0o700 });
      mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "harden-lab-admin", "-f", join(keyDir, "admin_ed25519")]);
      mustRun("ssh-keygen", ["-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "harden-lab-host", "-f", join(keyDir, "ssh_host_rsa_key")]);
      mustRun("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-C", "harden-lab-host", "-f", join(keyDir, "ssh_host_ecdsa_key")]);
      switchUp(net);
      const lab = new SystemdLab(net, lock, keyDir, nspawn);
      process.once("exit", lab.onExit);
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(s, lab.onSignal);
      try {
        await lab.startRepoServer();
      } catch (e) {
        lab.stopSync();
        throw e;
      }
      return lab;
    } catch (e) {
      if (!existsSync(SYS_RUN_DIR)) switchDown();
      lock.stdin?.end();
      throw e;
    }
  }

  /** python3's http.server on the bridge address, in the switch netns; it dies with the lease pipe. */
  private async startRepoServer(): Promise<void> {
    const dir = join(SYS_RUN_DIR, "repo");
    mkdirSync(dir, { recursive: true });
    const log = join(SYS_RUN_DIR, "repo-server.log");
    this.repoServer = spawn("ip", ["netns", "exec", SWITCH_NS, "sh", "-c",
      `python3 -m http.server ${REPO_PORT} --bind "$1" --directory "$2" >>"$3" 2>&1 & p=$!; cat >/dev/null; kill $p`, "repo", this.repoIp, dir, log],
    { detached: true, stdio: ["pipe", "ignore", "ignore"], env: HOST_ENV });
    this.repoServer.unref();
    this.repoServer.stdin!.on("error", () => {});
    (this.repoServer.stdin as unknown as { unref?: () => void }).unref?.();
    const deadline = Date.now() + 15_000;
    while (!(await connects(this.repoIp, REPO_PORT))) {
      if (Date.now() > deadline) {
        throw new Error(`systemd lab: the repository server did not listen on ${this.repoIp}:${REPO_PORT}: ${existsSync(log) ? readFileSync(log, "utf8") : ""}`);
      }
      await sleep(20);
    }
  }

  /** Builds (first use on this machine) or reuses the roots and repository of `release`, and serves the repository. */
  async release(release: Release): Promise<ReleaseFiles> {
    const files = await ensureRelease(release);
    const link = join(SYS_RUN_DIR, "repo", release);
    if (!existsSync(link)) symlinkSync(join(files.dir, "repo"), link);
    return files;
  }

  private checkName(name: string): void {
    if (this.stopped) throw new Error("systemd lab: stopped");
    if (!NAME_RE.test(name) || name === "sw" || name === "up") {
      throw new Error(`systemd lab: bad name "${name}" (lowercase letter first, then [a-z0-9-], at most 11 chars; not "sw" or "up")`);
    }
    if (this.hosts.has(name) || this.clients.has(name)) throw new Error(`systemd lab: name "${name}" is already in use`);
  }

  /** A booted machine: about a second once its release is built (the first use on a machine builds it). */
  async host(opts: SystemdHostOptions): Promise<SystemdHost> {
    this.checkName(opts.name);
    const release = opts.release ?? opts.root ?? "debian-12";
    const kind = opts.kind ?? "stock";
    if (!RELEASES.includes(release)) throw new Error(`systemd lab: unknown release "${release}" (known: ${RELEASES.join(", ")})`);
    if (!KINDS.includes(kind)) throw new Error(`systemd lab: unknown kind "${kind}" (known: ${KINDS.join(", ")})`);
    this.hosts.set(opts.name, undefined);
    let ip: string | undefined;
    try {
      const files = await this.release(release);
      ip = this.addresses.take(opts.ip, 11);
      const addr = ip;
      const h = await SystemdHost.start({
        name: opts.name,
        ip: addr,
        net: this.net,
        release,
        kind,
        lowerDir: rootOf(files, kind),
        hostDir: join(SYS_RUN_DIR, "hosts", opts.name),
        nspawn: this.nspawn,
        adminPubKey: readFileSync(`${this.adminKey}.pub`, "utf8"),
        sharedKeyDir: this.keyDir,
        onStop: () => {
          this.hosts.delete(opts.name);
          this.addresses.give(addr);
        },
      });
      this.hosts.set(opts.name, h);
      return h;
    } catch (e) {
      this.hosts.delete(opts.name);
      if (ip) this.addresses.give(ip);
      throw e;
    }
  }

  /** A bare netns on the lab bridge (an admin workstation or an attacker); runs this machine's binaries. */
  async client(name: string, ip?: string): Promise<LabClient> {
    this.checkName(name);
    const addr = this.addresses.take(ip, 100);
    const ns = PREFIX + name;
    try {
      mustRun("ip", ["netns", "add", ns]);
      wireClient(ns, name, addr);
    } catch (e) {
      removeNetns(ns, clientPort(name));
      this.addresses.give(addr);
      throw e;
    }
    this.clients.set(name, ns);
    return {
      name,
      ip: addr,
      netns: ns,
      exec: (cmd: string, o: ExecOptions = {}) => runAsync("ip", ["netns", "exec", ns, "/bin/sh", "-c", cmd], { ...o, env: { ...HOST_ENV, ...o.env } }),
      stop: async () => {
        if (!this.clients.has(name)) return;
        removeNetns(ns, clientPort(name));
        this.clients.delete(name);
        this.addresses.give(addr);
      },
    };
  }

  /** One fresh SSH session to `host` (root, port 22 unless given) with the lab admin key and the pinned host key. */
  ssh(host: LabHost | HostEndpoint, command: string, opts: SshRunOptions = {}): Promise<ExecResult> {
    const ep = "endpoint" in host ? host.endpoint() : host;
    return sshRun(ep, this.adminKey, command, opts);
  }

  get hostNames(): string[] {
    return [...this.hosts.keys()];
  }

  /** Halts every host cleanly (in parallel), then removes everything the lab made. */
  async stop(opts: { beforeUnlock?: () => void } = {}): Promise<void> {
    if (this.stopped) return;
    await Promise.all([...this.hosts.values()].map((h) => h?.stop().catch(() => h.stopSync())));
    this.stopSync(opts.beforeUnlock);
  }

  /** Removes every host (killed), client, the bridge, the uplink and this run's files; synchronous for exit handlers. */
  stopSync(beforeUnlock?: () => void): void {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener("exit", this.onExit);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.removeListener(s, this.onSignal);
    try {
      for (const h of [...this.hosts.values()]) h?.stopSync();
      for (const [name, ns] of this.clients) removeNetns(ns, clientPort(name));
      this.clients.clear();
      this.repoServer?.stdin?.end();
      cleanStale();
      beforeUnlock?.();
    } finally {
      this.lock.stdin?.end();
    }
  }
}


function connects(ip: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = new Socket();
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
    s.connect(port, ip);
  });
}

/** Fails loudly, saying exactly what is missing. */
function preflight(): void {
  const skip = "Run the lab tests as root on Linux, or skip them explicitly with HARDEN_SKIP_LAB=1.";
  if (process.platform !== "linux") throw new Error(`systemd lab: needs Linux; this is ${process.platform}. ${skip}`);
  if (process.getuid?.() !== 0) throw new Error(`systemd lab: needs root (running as uid ${process.getuid?.()}). ${skip}`);
  const tools = ["ip", "unshare", "nsenter", "flock", "bash", "ssh", "ssh-keygen", "python3", "debootstrap", "dpkg-scanpackages", "apt-get", "dpkg-deb"];
  const missing = tools.filter((t) => runSync("sh", ["-c", `command -v ${t}`]).code !== 0);
  if (missing.length) {
    throw new Error(`systemd lab: missing tools: ${missing.join(", ")} (Debian: iproute2, util-linux, bash, openssh-client, python3, debootstrap, dpkg-dev, apt). ${skip}`);
  }
}

/** Holds the machine-wide lock of this lab for the life of this process (see ../lab.ts: same scheme, own file). */
async function acquireLock(): Promise<ChildProcess> {
  const wait = Number(process.env.HARDEN_LAB_LOCK_WAIT);
  const secs = Number.isFinite(wait) && wait >= 0 ? wait : 600;
  const child = spawn("flock", ["-w", String(secs), SYS_LOCK_FILE, "sh", "-c", "echo locked; exec cat >/dev/null"], { stdio: ["pipe", "pipe", "pipe"] });
  child.stdin!.on("error", () => {});
  const ok = await new Promise<boolean>((resolve) => {
    child.stdout!.once("data", () => resolve(true));
    child.once("exit", () => resolve(false));
    child.once("error", () => resolve(false));
  });
  if (!ok) throw new Error(`systemd lab: another run still holds ${SYS_LOCK_FILE} after ${secs} s; HARDEN_LAB_LOCK_WAIT sets the wait`);
  child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void }).unref?.();
  mkdirSync(SYS_RUN_DIR, { recursive: true });
  writeFileSync(join(LAB_DIR, "systemd-owner"), `pid ${process.pid} since ${new Date().toISOString()}\n`);
  return child;
}

/**
 * Removes what this lab (a killed earlier run, or this one at its end) left: every machine cgroup (killed
 * at once), every hs-* netns with what runs in it, the uplink, the run dir. Only while holding the lock.
 */
function cleanStale(): void {
  for (const dirs of allMachineCgroups()) {
    killCgroups(dirs);
    removeCgroups(dirs);
  }
  for (const ns of ourNetns()) if (ns !== SWITCH_NS) removeNetns(ns);
  if (ourNetns().includes(SWITCH_NS)) removeNetns(SWITCH_NS);
  switchDown();
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4]).filter(Boolean);
  const inside = mounts.filter((m) => m === SYS_RUN_DIR || m.startsWith(`${SYS_RUN_DIR}/`));
  if (inside.length) throw new Error(`systemd lab: refusing to delete ${SYS_RUN_DIR}: mounts under it in the root namespace: ${inside.join(", ")}`);
  rmSync(SYS_RUN_DIR, { recursive: true, force: true });
}
