// One systemd lab host: a machine booted by systemd-nspawn (systemd as PID 1, journald, dbus, sshd as the
// stock unit starts it) from a cached root as the lower layer of a per-machine overlay, plugged into the
// lab bridge. Each boot is a fresh nspawn with a fresh network namespace over the same upper dir (its
// "disk"), so a reboot or a power cycle loses what a real one loses: processes, the firewall, /run.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, copyFileSync, existsSync, chmodSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { join } from "node:path";
import { ExecOptions, ExecResult, HOST_ENV, mustRun, nsenterExec, nsenterReadFile, nsenterWriteFile, runAsync, shq } from "../exec";
import type { HostEndpoint, LabHost, LabService } from "../host";
import { macFor } from "../net";
import { childrenOf, isAlive, nsOf, sleep, sleepSync } from "../proc";
import type { HostKind, Release } from "./cache";
import { killCgroups, machineCgroups, removeCgroups } from "./cgroup";
import { REPO_HOST, SWITCH_NS } from "./net";

/** Debian's unit names for the lab's service names. */
const UNIT: Record<LabService, string> = { sshd: "ssh", fail2ban: "fail2ban", cron: "cron", rsyslog: "rsyslog" };
const BOOT_TIMEOUT_MS = 90_000;

/**
 * nspawn options beyond the stock set, per kind (see test/lab/README.md's list of differences). Docker's
 * runc needs two system calls nspawn's filter refuses (EPERM): keyctl, to give each container a session
 * keyring ("unable to join session keyring"), and bpf, for cgroup v2's device filter
 * ("bpf_prog_query(BPF_CGROUP_DEVICE) failed"). Nothing else: cgroups, capabilities and storage as nspawn has them.
 */
export const KIND_NSPAWN_OPTIONS: Record<HostKind, string[]> = {
  stock: [],
  fail2ban: [],
  docker: ["--system-call-filter=keyctl bpf"],
};

export interface SystemdHostSpec {
  name: string;
  ip: string;
  net: string;
  release: Release;
  kind: HostKind;
  lowerDir: string;
  hostDir: string;
  nspawn: string;
  adminPubKey: string;
  /** rsa and ecdsa host keys shared by this run's hosts (ed25519 is fresh per host and pinned) */
  sharedKeyDir: string;
  onStop: () => void;
}

export interface Boot {
  /** 1 for the first boot, then one more per reboot or power cycle */
  n: number;
  /** the nspawn process of this boot */
  nspawnPid: number;
  /** the guest's systemd (PID 1 inside), as seen from the root namespace */
  leader: number;
  /** `systemctl is-system-running --wait`: running, or degraded when a unit failed (Debian 12's fail2ban) */
  state: string;
  /** ms from the start of this boot (or of the reboot request) to systemd's end of boot / to an SSH banner */
  runningMs: number;
  sshMs: number;
}

/** Waits until `ip:port` sends an SSH banner: the event that says sshd accepts connections. */
async function waitBanner(ip: string, port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = new Socket();
      let buf = "";
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.setTimeout(3000, () => done(false));
      s.on("data", (b) => {
        buf += b.toString("latin1");
        if (buf.startsWith("SSH-")) done(true);
      });
      s.on("error", () => done(false));
      s.on("close", () => done(false));
      s.connect(port, ip);
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`no SSH banner from ${ip}:${port}`);
    await sleep(50);
  }
}

/** The guest's PID 1 below an nspawn process: a descendant whose innermost PID is 1. */
function findLeader(nspawnPid: number): number | undefined {
  const todo = [...childrenOf(nspawnPid)];
  for (let i = 0; i < todo.length && i < 50; i++) {
    const pid = todo[i];
    try {
      const nspid = /^NSpid:\s+(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1].trim().split(/\s+/) ?? [];
      const comm = readFileSync(`/proc/${pid}/comm`, "utf8").trim();
      if (nspid.length > 1 && nspid[nspid.length - 1] === "1" && comm === "systemd") return pid;
    } catch {
      /* gone */
    }
    todo.push(...childrenOf(pid));
  }
  return undefined;
}

export class SystemdHost implements LabHost {
  readonly name: string;
  readonly ip: string;
  readonly release: Release;
  readonly kind: HostKind;
  /** the same names as the namespace lab's roots, so helpers that branch on the release keep working */
  readonly root: Release;
  readonly hostKey: string;
  /** ms from host() to the first SSH banner */
  upMs = 0;
  readonly boots: Boot[] = [];
  private stopped = false;
  private eventsRead = 0;
  private readonly cgroups: string[];

  private constructor(private spec: SystemdHostSpec, hostKey: string, private lease: ReturnType<typeof spawn>) {
    this.name = spec.name;
    this.ip = spec.ip;
    this.release = spec.release;
    this.kind = spec.kind;
    this.root = spec.release;
    this.hostKey = hostKey;
    this.cgroups = machineCgroups(spec.name);
  }

  /** Seeds the machine's upper dir (its identity: hostname, machine-id, keys, address), then boots it. */
  static async start(spec: SystemdHostSpec): Promise<SystemdHost> {
    const t0 = Date.now();
    const hd = spec.hostDir;
    rmSync(hd, { recursive: true, force: true });
    const up = join(hd, "upper");
    for (const d of ["etc/ssh", "etc/systemd/network", "root/.ssh"]) mkdirSync(join(up, d), { recursive: true });
    chmodSync(join(up, "root"), 0o700);
    chmodSync(join(up, "root/.ssh"), 0o700);
    mkdirSync(join(hd, "work"));
    mkdirSync(join(hd, "merged"));
    writeFileSync(join(up, "etc/hostname"), `${spec.name}\n`);
    writeFileSync(join(up, "etc/machine-id"), `${randomBytes(16).toString("hex")}\n`, { mode: 0o444 });
    writeFileSync(join(up, "etc/hosts"),
      `127.0.0.1\tlocalhost\n127.0.1.1\t${spec.name}\n::1\t\tlocalhost ip6-localhost ip6-loopback\n${spec.net}.2\t${REPO_HOST}\n`);
    // Static address on nspawn's host0 (no gateway: a lab host reaches only the lab /24), and a MAC from the
    // address: nspawn's own is derived from the machine name, so a new machine on a reused address would
    // meet stale ARP entries in its peers (SSH then took 40 to 50 s to answer).
    writeFileSync(join(up, "etc/systemd/network/10-lab.network"),
      `[Match]\nName=host0\n\n[Link]\nMACAddress=${macFor(spec.ip)}\n\n[Network]\nAddress=${spec.ip}/24\nDHCP=no\nLinkLocalAddressing=no\nIPv6AcceptRA=no\n`);
    const keyBase = join(up, "etc/ssh/ssh_host_ed25519_key");
    mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${spec.name}`, "-f", keyBase]);
    for (const t of ["rsa", "ecdsa"]) {
      for (const ext of ["", ".pub"]) copyFileSync(join(spec.sharedKeyDir, `ssh_host_${t}_key${ext}`), join(up, `etc/ssh/ssh_host_${t}_key${ext}`));
      chmodSync(join(up, `etc/ssh/ssh_host_${t}_key`), 0o600);
    }
    writeFileSync(join(up, "root/.ssh/authorized_keys"), spec.adminPubKey, { mode: 0o600 });
    const hostKey = readFileSync(`${keyBase}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");

    const cgroups = machineCgroups(spec.name);
    const log = openSync(join(hd, "supervisor.log"), "w");
    // detached: a Ctrl-C of the test runner reaches the lab's handlers, not the machine. stdin: the lease.
    const child = spawn("bash", [join(__dirname, "machine.sh"), spec.name, hd, spec.lowerDir, SWITCH_NS, spec.nspawn, cgroups.join(" "), ...KIND_NSPAWN_OPTIONS[spec.kind]],
      { detached: true, stdio: ["pipe", log, log], env: HOST_ENV });
    closeSync(log);
    child.unref();
    child.stdin!.on("error", () => {});
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    const h = new SystemdHost(spec, hostKey, child);
    try {
      await h.waitBoot(1, t0);
      h.upMs = Date.now() - t0;
      return h;
    } catch (e) {
      h.stopSync();
      throw e;
    }
  }

  private events(): string[][] {
    try {
      return readFileSync(join(this.spec.hostDir, "events"), "utf8").split("\n").filter(Boolean).map((l) => l.split(" "));
    } catch {
      return [];
    }
  }

  /** The current boot (throws when the machine is down). */
  get boot(): Boot {
    const b = this.boots[this.boots.length - 1];
    if (!b || this.stopped) throw new Error(`systemd lab: host ${this.name} is not running`);
    return b;
  }

  /** the guest's PID 1 as seen from the root namespace (changes with every boot) */
  get pid(): number {
    return this.boot.leader;
  }

  /** Waits for boot number `n`: its nspawn, the guest's PID 1, the end of boot, then an SSH banner on `sshPort`. */
  private async waitBoot(n: number, t0: number, sshPort = 22): Promise<Boot> {
    const deadline = Date.now() + BOOT_TIMEOUT_MS;
    const fail = (why: string) =>
      new Error(`systemd lab: host ${this.name} (${this.release}, ${this.kind}) boot ${n}: ${why}\n--- console ---\n${this.console().split("\n").slice(-40).join("\n")}`);
    let nspawnPid = 0;
    while (!nspawnPid) {
      const ev = this.events();
      const exit = ev.find((e) => e[0] === "exit" && Number(e[1]) >= n);
      if (exit) throw fail(`nspawn exited (${exit[2]}) before the guest was up`);
      const b = ev.find((e) => e[0] === "boot" && Number(e[1]) === n);
      if (b) nspawnPid = Number(b[2]);
      else if (Date.now() > deadline || this.stopped) throw fail("never started");
      else await sleep(10);
    }
    let leader: number | undefined;
    while (!(leader = findLeader(nspawnPid))) {
      if (!isAlive(nspawnPid)) throw fail("nspawn exited before the guest's PID 1 appeared");
      if (Date.now() > deadline) throw fail("no guest PID 1");
      await sleep(10);
    }
    // "offline" or "Failed to connect to bus" until the guest's systemd listens on its private socket: ask again
    let r: ExecResult;
    for (;;) {
      r = await runAsync("nsenter", ["-t", String(leader), "-m", "-u", "-i", "-n", "-p", "--", "systemctl", "is-system-running", "--wait"],
        { env: HOST_ENV, timeoutMs: Math.max(1000, deadline - Date.now()) });
      const early = r.stdout.trim() === "offline" || /Failed to connect to/.test(r.stderr);
      if (!early || Date.now() > deadline || !isAlive(leader)) break;
      await sleep(20);
    }
    const state = r.stdout.trim();
    if (state !== "running" && state !== "degraded") throw fail(`systemctl is-system-running --wait: ${state || r.stderr.trim()} (exit ${r.code})`);
    const runningMs = Date.now() - t0;
    try {
      await waitBanner(this.ip, sshPort, deadline);
    } catch (e) {
      throw fail((e as Error).message);
    }
    const boot: Boot = { n, nspawnPid, leader, state, runningMs, sshMs: Date.now() - t0 };
    this.boots.push(boot);
    return boot;
  }

  endpoint(port = 22, user = "root"): HostEndpoint {
    return { address: this.ip, port, user, hostKey: this.hostKey };
  }

  private nsenter(): string[] {
    return ["-t", String(this.pid), "-m", "-u", "-i", "-n", "-p", "-C", "--"];
  }

  /** `sh -c cmd` in the guest's namespaces (not through SSH: it adds no login to the journal) */
  exec(cmd: string, opts: ExecOptions = {}): Promise<ExecResult> {
    return nsenterExec(this.nsenter(), cmd, opts);
  }

  readFile(path: string): string {
    return nsenterReadFile(this.nsenter(), path);
  }

  writeFile(path: string, content: string, mode?: number): void {
    nsenterWriteFile(this.nsenter(), path, content, mode);
  }

  async restart(service: LabService): Promise<void> {
    await this.systemctl("restart", UNIT[service]);
  }

  async reload(service: LabService): Promise<void> {
    await this.systemctl("reload", UNIT[service]);
  }

  async systemctl(...args: string[]): Promise<string> {
    const r = await this.exec(`systemctl ${args.map(shq).join(" ")}`, { timeoutMs: 60_000 });
    if (r.code !== 0) throw new Error(`systemd lab: ${this.name}: systemctl ${args.join(" ")} -> exit ${r.code}: ${r.stderr}${r.stdout}`);
    return r.stdout;
  }

  /** The journal of `unit` (all units without one), this boot only unless `allBoots`, as `short-iso-precise` lines. */
  async journal(unit?: string, opts: { allBoots?: boolean; grep?: string } = {}): Promise<string> {
    const args = ["journalctl", "--no-pager", "-q", "-o", "short-iso-precise", ...(opts.allBoots ? [] : ["-b"]),
      ...(unit ? ["-u", unit] : []), ...(opts.grep ? ["-g", opts.grep] : [])];
    const r = await this.exec(args.map(shq).join(" "), { timeoutMs: 30_000 });
    // journalctl -g exits 1 when nothing matched
    if (r.code !== 0 && !(opts.grep && r.code === 1 && !r.stderr.trim())) throw new Error(`systemd lab: ${this.name}: ${args.join(" ")} -> exit ${r.code}: ${r.stderr}`);
    return r.stdout;
  }

  /** Successful SSH logins sshd logged to the journal ("Accepted ..."), over all boots of this host. */
  async sshLogins(): Promise<number> {
    const r = await this.exec("journalctl --no-pager -q -o cat -t sshd -t sshd-session | grep -c '^Accepted '", { timeoutMs: 30_000 });
    return Number(r.stdout.trim() || "0");
  }

  /** The guest's network namespace, e.g. "net:[4026532301]": a new one every boot. */
  netns(): string {
    return nsOf(this.pid, "net") ?? "";
  }

  /** `systemctl reboot` inside; resolves when the next boot answers SSH on `sshPort` (a hardened host's port). */
  async reboot(opts: { sshPort?: number } = {}): Promise<Boot> {
    const n = this.boot.n + 1;
    const t0 = Date.now();
    const r = await this.exec("systemctl reboot", { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`systemd lab: ${this.name}: systemctl reboot -> exit ${r.code}: ${r.stderr}`);
    return this.waitBoot(n, t0, opts.sshPort);
  }

  /**
   * A power loss and power-on: every process of the machine is SIGKILLed at once (no shutdown, no
   * unmount), then it boots again from the same upper dir. Written files survive even when nobody
   * synced them: the upper dir lives in this machine's page cache (see README, "How lab hosts differ").
   */
  async powerCycle(): Promise<Boot> {
    const n = this.boot.n + 1;
    const t0 = Date.now();
    writeFileSync(join(this.spec.hostDir, "again"), "");
    killCgroups(this.cgroups);
    return this.waitBoot(n, t0);
  }

  console(): string {
    try {
      return readFileSync(join(this.spec.hostDir, "console.log"), "utf8");
    } catch {
      return "";
    }
  }

  /** how the last boot ended, as machine.sh saw nspawn exit ("0" after a clean halt; "" while it runs) */
  lastExit = "";
  /** ms the last clean halt (stop()) took */
  haltMs = 0;

  /** Clean halt: SIGTERM to nspawn makes the guest power off (SIGRTMIN+3 to its PID 1); resolves when it is down. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    const t0 = Date.now();
    const b = this.boots[this.boots.length - 1];
    writeFileSync(join(this.spec.hostDir, "halt"), "");
    if (b && isAlive(b.nspawnPid)) {
      try {
        process.kill(b.nspawnPid, "SIGTERM");
      } catch {
        /* gone */
      }
      const deadline = Date.now() + 30_000;
      let exit: string[] | undefined;
      while (!(exit = this.events().find((e) => e[0] === "exit" && Number(e[1]) === b.n)) && Date.now() < deadline) await sleep(20);
      this.lastExit = exit?.[2] ?? "";
      this.haltMs = Date.now() - t0;
    }
    this.stopSync();
  }

  /** Synchronous (for exit handlers): kills whatever still runs, removes the cgroups, the veth and the upper dir. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (existsSync(this.spec.hostDir)) writeFileSync(join(this.spec.hostDir, "halt"), "");
    killCgroups(this.cgroups);
    this.lease.stdin?.end();
    const deadline = Date.now() + 5000;
    while (this.lease.pid && isAlive(this.lease.pid) && Date.now() < deadline) sleepSync(10);
    removeCgroups(this.cgroups);
    mustRunQuiet("ip", ["-n", SWITCH_NS, "link", "del", `vb-${this.name.slice(0, 11)}`]);
    rmSync(this.spec.hostDir, { recursive: true, force: true });
    this.spec.onStop();
  }
}

function mustRunQuiet(cmd: string, args: string[]): void {
  try {
    mustRun(cmd, args);
  } catch {
    /* already gone */
  }
}

