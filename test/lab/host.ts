// One lab host: its own netns on the lab bridge plus private mount/PID/UTS/IPC namespaces, an overlay root
// (lower: a Debian root, upper: a per-host dir) and real services started by its PID 1.
import { spawn } from "node:child_process";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ExecOptions, ExecResult, HOST_ENV, mustRun, nsenterExec, nsenterReadFile, nsenterWriteFile, runSync, shq } from "./exec";
import { PREFIX, unwire, wire } from "./net";
import { REPO_DIR, STATE_DIR } from "./paths";
import { ProcId, childrenOf, isSame, procId, signal, sleep, sleepSync } from "./proc";
import type { LabRoot } from "./roots";

export type LabService = "rsyslog" | "sshd" | "cron" | "fail2ban";
export const ALL_SERVICES: readonly LabService[] = ["rsyslog", "sshd", "cron", "fail2ban"];

/** How an SSH client reaches a host (same shape as the plan's Endpoint). */
export interface HostEndpoint {
  address: string;
  port: number;
  user: string;
  hostKey: string;
}

export interface LabHost {
  readonly name: string;
  readonly ip: string;
  readonly root: LabRoot;
  /** "ssh-ed25519 AAAA..." of this host's own sshd, generated fresh for it */
  readonly hostKey: string;
  /** the host's PID 1 as seen from the root namespace */
  readonly pid: number;
  /** milliseconds from host() to all services up */
  readonly upMs: number;
  /** the endpoint of this host's sshd as root on port 22 unless told otherwise */
  endpoint(port?: number, user?: string): HostEndpoint;
  /** `sh -c cmd` inside all of the host's namespaces */
  exec(cmd: string, opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
  readFile(path: string): string;
  writeFile(path: string, content: string, mode?: number): void;
  restart(service: LabService): Promise<void>;
  reload(service: LabService): Promise<void>;
  /** PID 1's stdout/stderr (service start errors land here) */
  console(): string;
  stop(): Promise<void>;
}

/** What the state dir remembers about a running host, so that a later run can stop it if this one is killed. */
export interface HostRecord {
  name: string;
  ns: string;
  unshare: ProcId;
  init?: ProcId;
}

const HERE = __dirname;
const READY_TIMEOUT_MS = 30_000;
const recordPath = (name: string) => join(STATE_DIR, "hosts", `${name}.json`);

// Real Debian hosts run fail2ban with the distro's jail.d/defaults-debian.conf. On Debian 13 that file
// sets `backend = systemd` for the sshd jail, which cannot start here (no journald: the lab has no
// systemd), so a pre-hardening Debian 13 host would have no fail2ban at all. This file sorts right after
// defaults-debian.conf (later .conf files win) and switches the jail to the auth.log that rsyslog writes.
// Any product config in jail.local, jail.d/*.local or a jail.d/*.conf sorting after it overrides it.
const FAIL2BAN_LAB_CONF = "# harden lab: no journald in lab hosts; read auth.log (rsyslog) instead\n[sshd]\nbackend = pyinotify\n";

export interface HostSpec {
  name: string;
  ip: string;
  root: LabRoot;
  lowerDir: string;
  services: readonly LabService[];
  hostDir: string;
  adminPubKey: string;
  /** rsa and ecdsa host keys shared by this run's hosts (fresh per run; ed25519 is fresh per host) */
  sharedKeyDir: string;
  portName: string;
  onStop: () => void;
}

const SERVICE_BINARY: Record<LabService, string> = {
  rsyslog: "usr/sbin/rsyslogd",
  sshd: "usr/sbin/sshd",
  cron: "usr/sbin/cron",
  fail2ban: "usr/bin/fail2ban-client",
};

/** Dirs hidden inside hosts by an empty tmpfs (/root always). HARDEN_LAB_MASK adds space-separated dirs. */
function masks(): string[] {
  const extra = (process.env.HARDEN_LAB_MASK ?? "").split(/\s+/).filter((d) => d.startsWith("/"));
  return ["/home", "/srv", "/opt", "/mnt", "/media", REPO_DIR, ...extra].filter((d) => !/\s/.test(d));
}

export class Host implements LabHost {
  readonly name: string;
  readonly ip: string;
  readonly root: LabRoot;
  readonly hostKey: string;
  readonly pid: number;
  readonly upMs: number;
  /** milliseconds the last stop() took */
  downMs = 0;
  private stopped = false;

  private constructor(private spec: HostSpec, private rec: HostRecord, hostKey: string, upMs: number) {
    this.name = spec.name;
    this.ip = spec.ip;
    this.root = spec.root;
    this.hostKey = hostKey;
    this.pid = rec.init!.pid;
    this.upMs = upMs;
  }

  static async start(spec: HostSpec): Promise<Host> {
    const t0 = Date.now();
    for (const s of spec.services) {
      if (!existsSync(join(spec.lowerDir, SERVICE_BINARY[s]))) {
        throw new Error(`lab: host ${spec.name}: service ${s} needs /${SERVICE_BINARY[s]}, missing in root ${spec.root} (${spec.lowerDir})`);
      }
    }
    const hd = spec.hostDir;
    const ns = PREFIX + spec.name;
    rmSync(hd, { recursive: true, force: true });
    const upper = join(hd, "upper");
    for (const d of ["usr/local/sbin", "etc/ssh", "etc/fail2ban/jail.d"]) mkdirSync(join(upper, d), { recursive: true });
    mkdirSync(join(hd, "work"));
    mkdirSync(join(hd, "merged"));
    // Seeded into the upper dir before the overlay is mounted: they shadow the lower root's files.
    copyFileSync(join(HERE, "host-pid1.sh"), join(upper, "usr/local/sbin/hl-init"));
    copyFileSync(join(HERE, "host-service.sh"), join(upper, "usr/local/sbin/hl-service"));
    chmodSync(join(upper, "usr/local/sbin/hl-init"), 0o755);
    chmodSync(join(upper, "usr/local/sbin/hl-service"), 0o755);
    // Host keys: never the machine's (the live / is the lower layer of debian-12 hosts).
    const keyBase = join(upper, "etc/ssh/ssh_host_ed25519_key");
    mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", `root@${spec.name}`, "-f", keyBase]);
    for (const t of ["rsa", "ecdsa"]) {
      for (const ext of ["", ".pub"]) copyFileSync(join(spec.sharedKeyDir, `ssh_host_${t}_key${ext}`), join(upper, `etc/ssh/ssh_host_${t}_key${ext}`));
      chmodSync(join(upper, `etc/ssh/ssh_host_${t}_key`), 0o600);
    }
    const hostKey = readFileSync(`${keyBase}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    writeFileSync(join(upper, "etc/fail2ban/jail.d/defaults-lab.conf"), FAIL2BAN_LAB_CONF);
    writeFileSync(join(hd, "authorized_keys"), spec.adminPubKey, { mode: 0o600 });

    mustRun("ip", ["netns", "add", ns]);
    const rec: HostRecord = { name: spec.name, ns, unshare: { pid: 0, start: "", comm: "" } };
    try {
      wire(ns, spec.portName, spec.ip);
      const logPath = join(hd, "console.log");
      const log = openSync(logPath, "w");
      // detached: own session, so a Ctrl-C of the test runner reaches the lab's handlers, not the host.
      // stdin: the lease pipe (see host-pid1.sh). --kill-child: if unshare dies, the host's PID 1 dies too.
      const child = spawn(
        "ip",
        ["netns", "exec", ns, "unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "--kill-child", "--propagation", "private",
          "/bin/bash", join(HERE, "host-init.sh"), spec.name, hd, spec.lowerDir, spec.services.join(" "), masks().join(" ")],
        { detached: true, stdio: ["pipe", log, log], env: HOST_ENV },
      );
      closeSync(log);
      child.unref();
      (child.stdin as unknown as { unref?: () => void }).unref?.();
      child.stdin!.on("error", () => {});
      let exited = false;
      child.on("exit", () => (exited = true));
      // ip netns exec execs unshare in place, so this PID is unshare's.
      rec.unshare = procId(child.pid!) ?? { pid: child.pid!, start: "", comm: "unshare" };
      writeRecord(rec);
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (;;) {
        const out = existsSync(logPath) ? readFileSync(logPath, "utf8") : "";
        if (/^HL-READY$/m.test(out)) break;
        if (/^HL-FAIL/m.test(out) || exited || Date.now() > deadline) {
          throw new Error(`lab: host ${spec.name} (${spec.root}) did not come up${exited ? " (its init exited)" : ""}:\n${out.trim()}`);
        }
        await sleep(10);
      }
      const initPid = childrenOf(child.pid!)[0];
      const init = initPid ? procId(initPid) : undefined;
      if (!init || init.comm !== "hl-init") throw new Error(`lab: host ${spec.name}: cannot find its PID 1 (children of unshare: ${initPid})`);
      rec.init = init;
      writeRecord(rec);
      return new Host(spec, rec, hostKey, Date.now() - t0);
    } catch (e) {
      stopRecorded(rec, spec.portName);
      rmSync(hd, { recursive: true, force: true });
      throw e;
    }
  }

  endpoint(port = 22, user = "root"): HostEndpoint {
    return { address: this.ip, port, user, hostKey: this.hostKey };
  }

  private nsenter(): string[] {
    this.assertRunning();
    return ["-t", String(this.pid), "-m", "-u", "-i", "-n", "-p", "--"];
  }

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
    await this.service("restart", service);
  }

  async reload(service: LabService): Promise<void> {
    await this.service("reload", service);
  }

  private async service(action: string, service: LabService): Promise<void> {
    const r = await this.exec(`hl-service ${action} ${shq(service)}`, { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`lab: ${this.name}: hl-service ${action} ${service} -> exit ${r.code}: ${r.stderr}${r.stdout}`);
  }

  console(): string {
    try {
      return readFileSync(join(this.spec.hostDir, "console.log"), "utf8");
    } catch {
      return "";
    }
  }

  async stop(): Promise<void> {
    this.stopSync();
  }

  /** Synchronous so that it can run from a process 'exit' handler. */
  stopSync(): void {
    if (this.stopped) return;
    this.stopped = true;
    const t0 = Date.now();
    stopRecorded(this.rec, this.spec.portName);
    rmSync(this.spec.hostDir, { recursive: true, force: true });
    this.downMs = Date.now() - t0;
    this.spec.onStop();
  }

  private assertRunning(): void {
    if (this.stopped) throw new Error(`lab: host ${this.name} is stopped`);
  }
}

function writeRecord(rec: HostRecord): void {
  mkdirSync(join(STATE_DIR, "hosts"), { recursive: true });
  writeFileSync(recordPath(rec.name), JSON.stringify(rec));
}

export function readRecords(): HostRecord[] {
  const dir = join(STATE_DIR, "hosts");
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith(".json")).flatMap((f) => {
    try {
      return [JSON.parse(readFileSync(join(dir, f), "utf8")) as HostRecord];
    } catch {
      return [];
    }
  });
}

function waitGone(id: ProcId, ms: number): boolean {
  const deadline = Date.now() + ms;
  while (isSame(id)) {
    if (Date.now() > deadline) return false;
    sleepSync(5);
  }
  return true;
}

/**
 * Stops a host from its record: TERM its PID 1 (unshare --fork ignores TERM while it waits for its child;
 * when PID 1 exits the kernel kills the whole PID namespace, and with it the private mount namespace),
 * KILL if it lingers, then remove the veth and netns. Only PIDs whose start time still matches are signalled.
 * What else still runs in the host's netns was started there by a lab run (a container engine, its conmon)
 * and is killed before the netns loses its name, which is how a later run would find it.
 */
export function stopRecorded(rec: HostRecord, portName: string): void {
  if (rec.init) {
    signal(rec.init, "SIGTERM");
    if (!waitGone(rec.init, 2000)) signal(rec.init, "SIGKILL");
    waitGone(rec.init, 2000);
  }
  if (rec.unshare.start && !waitGone(rec.unshare, 1000)) {
    signal(rec.unshare, "SIGKILL");
    waitGone(rec.unshare, 1000);
  }
  for (const pid of runSync("ip", ["netns", "pids", rec.ns]).stdout.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  unwire(rec.ns, portName);
  try {
    unlinkSync(recordPath(rec.name));
  } catch {
    /* no record */
  }
}
