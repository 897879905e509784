// Hosts and helpers shared by the firewall render tests.
import { execFileSync, spawnSync } from "node:child_process";
import { resolveHost } from "../../src/policy/resolve";
import type { FirewallPolicy, Fleet, ResolvedHost } from "../../src/policy/types";

export function host(firewall: FirewallPolicy, sshPort = 22, name = "web1"): ResolvedHost {
  const fleet: Fleet = {
    hosts: [{
      name, address: "203.0.113.10", os: "debian-12", connection: { user: "root", port: 22 },
      hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample", policy: { ssh: { port: sshPort }, firewall },
    }],
  };
  return resolveHost(fleet, fleet.hosts[0]);
}

/** The example incidents: web (whitelisted SSH, public web), db (internal ports), mail (SMTP out). */
export const web = (backend: "nftables" | "iptables") => host({
  backend, sshAllow: ["198.51.100.0/24", "10.0.0.0/8", "2001:db8:1::/48"],
  services: [{ port: 443 }, { port: 80 }],
  blocklists: [{ name: "abusers", cidrs: ["192.0.2.0/24", "192.0.2.7", "2001:db8:dead::/48"] }],
}, 2222);
export const db = (backend: "nftables" | "iptables") => host({
  backend, services: [{ port: 6379, from: ["10.0.0.0/8"] }, { port: 5432, from: ["10.0.0.0/8", "fd00::/8"] }],
  egress: { mode: "allowlist", allow: [{ to: ["10.0.0.53"], ports: [53], proto: "udp" }, { to: ["10.0.0.0/8"] }] },
}, 22, "db1");
export const mail = (backend: "nftables" | "iptables") => host({
  backend, sshAllow: ["10.0.0.0/8"], services: [{ port: 25 }], egress: { smtp: "allow" },
}, 22, "mail1");

/** n distinct, non-overlapping IPv4 /24s starting at 20.0.0.0 (plus a few IPv6 /48s). */
export function bigList(n: number): string[] {
  const out: string[] = [];
  for (let i = 0; i < n - 4; i++) out.push(`${20 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`);
  for (let i = 0; i < 4; i++) out.push(`2001:db8:${i.toString(16)}::/48`);
  return out;
}

/** Runs a shell script as root inside a fresh, throwaway network namespace. */
export function inNetns(script: string, env: Record<string, string> = {}): { code: number; out: string; err: string } {
  const r = spawnSync("unshare", ["-n", "sh", "-c", script], { encoding: "utf8", env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

export function canUseNetns(): boolean {
  try { execFileSync("unshare", ["-n", "true"]); return true; } catch { return false; }
}

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { UnitSpec } from "../../src/render/unit";

export interface RunOptions {
  /** copy the staged files to their absolute paths first */
  install?: boolean;
  /** false: leave the payloads out of /var/lib/harden/payload */
  payloads?: boolean;
  /** ports the stub `sshd -T` reports */
  sshdPorts?: number[];
  /** the stub `sshd -T` fails, as with a broken sshd config */
  sshdFails?: boolean;
}
const shPorts = (ports: number[] = []) => `'${ports.join(" ")}'`;

export type Snippet = "validate" | "snapshot" | "activate" | "verify" | "restore" | "uninstall";

/**
 * A stand-in for the unit script around the snippets: a private mount namespace where /etc is an
 * overlay (writes land in a temp dir, never in this machine's /etc) and /var/lib a tmpfs holding the
 * payloads. `install` copies the staged files to their absolute paths, as the unit would.
 */
export class UnitHarness {
  readonly dir = mkdtempSync(join(tmpdir(), "harden-fw-"));
  constructor(readonly unit: UnitSpec, readonly netns: string) {
    for (const d of ["stage", "backup", "state", "etc-u", "etc-w", "payload", "bin"]) mkdirSync(join(this.dir, d));
    // a stand-in for `sshd -T`: reports the ports in $SSHD_PORTS (default: none)
    writeFileSync(join(this.dir, "bin", "sshd"),
      "#!/bin/sh\n[ \"$1\" = -T ] || exit 1\n[ -z \"${SSHD_FAILS:-}\" ] || { echo 'sshd: no hostkeys available' >&2; exit 1; }\nfor p in ${SSHD_PORTS:-}; do echo \"port $p\"; done\necho 'permitrootlogin no'\n", { mode: 0o755 });
    for (const f of unit.files) {
      const path = join(this.dir, "stage", f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.content, { mode: parseInt(f.mode, 8) });
    }
    for (const p of unit.payloads) writeFileSync(join(this.dir, "payload", p.remotePath.split("/").pop()!), p.content);
  }

  /** Runs shell code (snippets joined by the caller) in the host netns with the helpers defined. */
  run(body: string, opts: RunOptions = {}) {
    const d = this.dir;
    const script = [
      "set -u",
      "say() { echo \"say: $*\"; }",
      "die() { echo \"die: $*\" >&2; exit 1; }",
      "service_reload() { :; }",
      `STAGE=${d}/stage BACKUP=${d}/backup STATE=${d}/state`,
      `mount -t overlay overlay -o lowerdir=/etc,upperdir=${d}/etc-u,workdir=${d}/etc-w /etc || exit 90`,
      "mount -t tmpfs tmpfs /var/lib || exit 91",
      "mkdir -p /var/lib/harden/payload",
      opts.payloads === false ? "" : `cp ${d}/payload/* /var/lib/harden/payload/ 2>/dev/null || true`,
      opts.install ? this.unit.files.map((f) => `mkdir -p ${dirname(f.path)} && cp -p "$STAGE${f.path}" ${f.path}`).join("\n") : "",
      `export PATH=${d}/bin:$PATH SSHD_PORTS=${shPorts(opts.sshdPorts)} SSHD_FAILS=${opts.sshdFails ? 1 : "''"}`,
      body,
    ].join("\n");
    const r = spawnSync("ip", ["netns", "exec", this.netns, "unshare", "-m", "sh", "-c", script], {
      encoding: "utf8", maxBuffer: 1 << 28,
    });
    return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
  }

  /** Runs snippets as the unit script does: function bodies failing by status, restore at top level. */
  snippet(names: Snippet[], opts: RunOptions = {}) {
    return this.run(names.map((n) => n === "restore"
      ? this.unit.restore
      : `step_${n}() {\n  :\n${this.unit[n]}}\nstep_${n} || exit $?`).join("\n"), opts);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A named netns for a test, removed by `drop` (the link first: deletion is otherwise async). */
export function netnsAdd(name: string): void {
  spawnSync("ip", ["netns", "del", name]);
  execFileSync("ip", ["netns", "add", name]);
  execFileSync("ip", ["-n", name, "link", "set", "lo", "up"]);
}
export function netnsDel(name: string): void {
  spawnSync("ip", ["netns", "del", name]);
}
export function nsx(name: string, script: string): { code: number; out: string; err: string } {
  const r = spawnSync("ip", ["netns", "exec", name, "sh", "-c", script], { encoding: "utf8", maxBuffer: 1 << 28 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}
