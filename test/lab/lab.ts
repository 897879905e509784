// The project's lab of real hosts: throwaway Debian hosts made of Linux namespaces, reachable over SSH from
// the test runner, plus bare "client" namespaces (admin, attacker) on the same bridge. See README.md here.
import { AddressPool } from "./address-pool";
import { ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ExecOptions, ExecResult, HOST_ENV, mustRun, runAsync, runSync } from "./exec";
import { ALL_SERVICES, Host, HostEndpoint, LabHost, LabService, readRecords, stopRecorded } from "./host";
import { LAB_NS, PREFIX, checkNetFree, labNetDown, labNetUp, ourNetns, unwire, wire } from "./net";
import { LOCK_FILE, RUN_DIR, STATE_DIR } from "./paths";
import { isAlive, sleepSync } from "./proc";
import { LabRoot, ensureRoot } from "./roots";
import { SshRunOptions, sshRun } from "./ssh";

export { sshArgs, sshRun, sshSessions, resetSshSessions } from "./ssh";
export type { SshEndpoint } from "./ssh";
export type { LabHost, LabService, HostEndpoint } from "./host";
export type { LabRoot } from "./roots";
export { ensureRoot, ROOTS } from "./roots";
export type { ExecResult } from "./exec";

export interface LabHostOptions {
  name: string;
  /** default: the next free address from .11 in the lab /24 */
  ip?: string;
  root?: LabRoot;
  /** default: all four */
  services?: LabService[];
}

export interface LabClient {
  readonly name: string;
  readonly ip: string;
  /** the netns name, for `ip netns exec` or sshRun's netns option */
  readonly netns: string;
  /** `sh -c cmd` in the client's netns (this machine's files and binaries) */
  exec(cmd: string, opts?: ExecOptions): Promise<ExecResult>;
  stop(): Promise<void>;
}

const NAME_RE = /^[a-z][a-z0-9-]{0,11}$/; // also the bridge port name: at most 15 chars with room to spare

export class Lab {
  readonly adminKey: string;
  readonly uplink: string;
  readonly net: string;
  private readonly addresses: AddressPool;
  private hosts = new Map<string, Host>();
  private clients = new Map<string, { ns: string; ip: string }>();
  private stopped = false;
  private readonly onExit = () => this.stopSync();
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.stopSync();
    process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGHUP" ? 1 : 15));
  };

  private constructor(net: string, private lock: ChildProcess, private keyDir: string) {
    this.net = net;
    this.addresses = new AddressPool(net, "lab", [1], ".1 is the uplink");
    this.uplink = `${net}.1`;
    this.adminKey = join(keyDir, "admin_ed25519");
  }

  /**
   * Checks that the lab can work here (throws saying why not), waits for any other lab run on this machine,
   * removes what killed runs left behind, and brings up the lab bridge with the root-namespace uplink.
   */
  static async start(opts: { net?: string } = {}): Promise<Lab> {
    const net = opts.net ?? process.env.HARDEN_LAB_NET ?? "10.250.0";
    if (!/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(net) || net.split(".").some((o) => Number(o) > 255)) {
      throw new Error(`lab: net must be a /24 prefix like "10.250.0", got "${net}"`);
    }
    preflight();
    const lock = await acquireLock();
    try {
      cleanStale();
      checkNetFree(net);
      const keyDir = join(RUN_DIR, "keys");
      mkdirSync(keyDir, { recursive: true, mode: 0o700 });
      mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "harden-lab-admin", "-f", join(keyDir, "admin_ed25519")]);
      mustRun("ssh-keygen", ["-q", "-t", "rsa", "-b", "3072", "-N", "", "-C", "harden-lab-host", "-f", join(keyDir, "ssh_host_rsa_key")]);
      mustRun("ssh-keygen", ["-q", "-t", "ecdsa", "-N", "", "-C", "harden-lab-host", "-f", join(keyDir, "ssh_host_ecdsa_key")]);
      labNetUp(net);
      const lab = new Lab(net, lock, keyDir);
      process.once("exit", lab.onExit);
      for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.once(s, lab.onSignal);
      return lab;
    } catch (e) {
      labNetDown();
      releaseLock(lock);
      throw e;
    }
  }

  private checkName(name: string): void {
    if (this.stopped) throw new Error("lab: stopped");
    if (!NAME_RE.test(name) || name === "lab" || name === "up") {
      throw new Error(`lab: bad name "${name}" (lowercase letter first, then [a-z0-9-], at most 12 chars; not "lab" or "up")`);
    }
    if (this.hosts.has(name) || this.clients.has(name)) throw new Error(`lab: name "${name}" is already in use`);
  }

  /** A host with real services; about half a second. The first debian-13 host may build that root first. */
  async host(opts: LabHostOptions): Promise<LabHost> {
    this.checkName(opts.name);
    const root = opts.root ?? "debian-12";
    const { dir: lowerDir } = await ensureRoot(root);
    const ip = this.addresses.take(opts.ip, 11);
    // Reserve the name before awaiting so parallel host() calls with one name fail fast.
    this.hosts.set(opts.name, undefined as unknown as Host);
    try {
      const h = await Host.start({
        name: opts.name,
        ip,
        root,
        lowerDir,
        services: opts.services ?? ALL_SERVICES,
        hostDir: join(RUN_DIR, "hosts", opts.name),
        adminPubKey: readFileSync(`${this.adminKey}.pub`, "utf8"),
        sharedKeyDir: this.keyDir,
        portName: opts.name,
        onStop: () => {
          this.hosts.delete(opts.name);
          this.addresses.give(ip);
        },
      });
      this.hosts.set(opts.name, h);
      return h;
    } catch (e) {
      this.hosts.delete(opts.name);
      this.addresses.give(ip);
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
      wire(ns, name, addr);
    } catch (e) {
      unwire(ns, name);
      this.addresses.give(addr);
      throw e;
    }
    this.clients.set(name, { ns, ip: addr });
    const stop = async () => {
      if (!this.clients.has(name)) return;
      stopClient(ns, name);
      this.clients.delete(name);
      this.addresses.give(addr);
    };
    return {
      name,
      ip: addr,
      netns: ns,
      exec: (cmd, o = {}) => runAsync("ip", ["netns", "exec", ns, "/bin/sh", "-c", cmd], { ...o, env: { ...HOST_ENV, ...o.env } }),
      stop,
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

  async stop(): Promise<void> {
    this.stopSync();
  }

  /** Removes every host, client, the bridge, the uplink and this run's files; synchronous for exit handlers. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    process.removeListener("exit", this.onExit);
    for (const s of ["SIGINT", "SIGTERM", "SIGHUP"] as const) process.removeListener(s, this.onSignal);
    try {
      for (const h of [...this.hosts.values()]) h?.stopSync();
      for (const [name, c] of this.clients) stopClient(c.ns, name);
      this.clients.clear();
      labNetDown();
      removeRunDir();
    } finally {
      releaseLock(this.lock);
    }
  }
}

/** Fails loudly, saying exactly what is missing, instead of letting a half-made lab fail later. */
function preflight(): void {
  const skip = "Run the lab tests as root on Linux, or skip them explicitly with HARDEN_SKIP_LAB=1.";
  if (process.platform !== "linux") throw new Error(`lab: needs Linux namespaces; this is ${process.platform}. ${skip}`);
  const uid = process.getuid?.();
  if (uid !== 0) {
    throw new Error(`lab: needs root (running as uid ${uid}): network/mount/PID namespaces, overlayfs and pivot_root need CAP_SYS_ADMIN. ${skip}`);
  }
  const tools = ["ip", "unshare", "nsenter", "flock", "bash", "ssh", "ssh-keygen"];
  const missing = tools.filter((t) => runSync("sh", ["-c", `command -v ${t}`]).code !== 0);
  if (missing.length) throw new Error(`lab: missing tools: ${missing.join(", ")} (Debian: iproute2, util-linux, bash, openssh-client). ${skip}`);
  const ns = runSync("unshare", ["--mount", "--pid", "--uts", "--ipc", "--net", "--fork", "--propagation", "private", "true"]);
  if (ns.code !== 0) throw new Error(`lab: cannot create mount/PID/UTS/IPC/net namespaces: ${ns.stderr.trim()}. ${skip}`);
  const d = mkdtempSync(join(tmpdir(), "harden-lab-overlay-"));
  try {
    for (const s of ["l", "u", "w", "m"]) mkdirSync(join(d, s));
    const ov = runSync("unshare", ["--mount", "--propagation", "private", "mount", "-t", "overlay", "overlay", "-o",
      `lowerdir=${d}/l,upperdir=${d}/u,workdir=${d}/w`, `${d}/m`]);
    if (ov.code !== 0) throw new Error(`lab: cannot mount overlayfs: ${ov.stderr.trim()}. ${skip}`);
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
}

/**
 * Holds the machine-wide lab lock for the life of this process: `flock` runs `cat`, which ends when our
 * end of its stdin closes - on stop(), or when this process dies in any way - and the lock goes with it.
 */
async function acquireLock(): Promise<ChildProcess> {
  const wait = Number(process.env.HARDEN_LAB_LOCK_WAIT);
  const LOCK_WAIT_S = Number.isFinite(wait) && wait >= 0 ? wait : 600;
  const owner = join(STATE_DIR, "owner");
  const child = spawn("flock", ["-w", String(LOCK_WAIT_S), LOCK_FILE, "sh", "-c", "echo locked; exec cat >/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin!.on("error", () => {});
  const ok = await new Promise<boolean>((resolve) => {
    child.stdout!.once("data", () => resolve(true));
    child.once("exit", () => resolve(false));
    child.once("error", () => resolve(false));
  });
  if (!ok) {
    const who = existsSync(owner) ? readFileSync(owner, "utf8").trim() : "unknown";
    throw new Error(`lab: another lab run still holds ${LOCK_FILE} after ${LOCK_WAIT_S} s (owner: ${who}); HARDEN_LAB_LOCK_WAIT sets the wait`);
  }
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  (child.stdout as unknown as { unref?: () => void }).unref?.();
  (child.stderr as unknown as { unref?: () => void }).unref?.();
  mkdirSync(STATE_DIR, { recursive: true });
  writeFileSync(owner, `pid ${process.pid} since ${new Date().toISOString()}\n`);
  return child;
}

function releaseLock(lock: ChildProcess): void {
  lock.stdin?.end();
}

/** Kills what runs in a client netns (only ever processes a test started there), then removes it. */
function stopClient(ns: string, port: string): void {
  const pids = runSync("ip", ["netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  unwire(ns, port);
}

/**
 * Removes what earlier, killed runs left: recorded hosts (by PID + start time), then anything still in a
 * netns named with our prefix - every process there was started by a lab run - then the bridge and uplink.
 * Runs only while holding the machine-wide lock, so no live lab is affected.
 */
function cleanStale(): void {
  for (const rec of readRecords()) stopRecorded(rec, rec.name);
  for (const ns of ourNetns()) {
    if (ns === LAB_NS) continue;
    const pids = () => runSync("ip", ["netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
    // A host's PID 1 first (its exit takes the whole PID namespace along), then whatever else is left.
    for (const pid of pids()) {
      if (readComm(pid) === "hl-init") process.kill(pid, "SIGTERM");
    }
    const deadline = Date.now() + 2000;
    while (pids().some(isAlive) && Date.now() < deadline) sleepSync(20);
    for (const pid of pids()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
    unwire(ns, ns.slice(PREFIX.length));
  }
  labNetDown();
  removeRunDir();
}

function readComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return "";
  }
}

/** Deletes the run dir, but never across a mount point (hosts mount only in their own mount namespaces). */
function removeRunDir(): void {
  const mounts = readFileSync("/proc/self/mountinfo", "utf8").split("\n").map((l) => l.split(" ")[4]).filter(Boolean);
  const inside = mounts.filter((m) => m === RUN_DIR || m.startsWith(`${RUN_DIR}/`));
  if (inside.length) throw new Error(`lab: refusing to delete ${RUN_DIR}: mounts under it in the root namespace: ${inside.join(", ")}`);
  rmSync(RUN_DIR, { recursive: true, force: true });
}
