// Observing a lab host from the inside, for the apply / idempotence / lockout scenarios: what sshd,
// the firewall, fail2ban and cron are running with right now, and whether a login works.
// Every helper reads the host (nsenter) or connects over the network: nothing trusts the plan's output.
import { createHash } from "node:crypto";
import type { HostPlan } from "../../src/plan/types";
import { runAsync, shq } from "../lab/exec";
import type { LabClient, LabHost } from "../lab/lab";
import { SSHD_LOG_CMD, type ScenarioLab } from "../lab/scenario-lab";
import type { StepResult } from "../lab/plan-runner";
import { sshArgs } from "../lab/ssh";

export const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** Runs a command inside the host and returns its stdout; throws with its stderr on failure. */
export async function inHost(h: LabHost, cmd: string, timeoutMs = 30_000): Promise<string> {
  const r = await h.exec(cmd, { timeoutMs });
  if (r.code !== 0) throw new Error(`${h.name}: \`${cmd}\` -> exit ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** `sshd -T` of the host's main configuration as keyword -> values (accumulating keywords keep all). */
export async function sshdEffective(h: LabHost): Promise<Map<string, string[]>> {
  const out = await inHost(h, "sshd -T -f /etc/ssh/sshd_config");
  const m = new Map<string, string[]>();
  for (const line of out.split("\n")) {
    const i = line.indexOf(" ");
    if (i <= 0) continue;
    const k = line.slice(0, i);
    m.set(k, [...(m.get(k) ?? []), line.slice(i + 1)]);
  }
  return m;
}

/** The PID of the running sshd listener (SIGHUP re-execs in place: the PID stays). */
export async function sshdPid(h: LabHost): Promise<number> {
  return Number((await inHost(h, "cat /run/sshd.pid")).trim());
}

/** TCP ports the host listens on (sorted, unique). */
export async function listeningPorts(h: LabHost): Promise<number[]> {
  const out = await inHost(h, "ss -Hltn | awk '{ n = split($4, a, \":\"); print a[n] }'");
  return [...new Set(out.split("\n").filter(Boolean).map(Number))].sort((a, b) => a - b);
}

/** Counts lines of a log file inside the host that match an extended regexp (0 when the file is missing). */
export async function logCount(h: LabHost, file: string, ere: string): Promise<number> {
  const r = await h.exec(`grep -cE ${shq(ere)} ${shq(file)} 2>/dev/null || true`);
  return Number(r.stdout.trim() || "0");
}

/** Counts lines of sshd's log (auth.log, or the journal on systemd hosts) that match an extended regexp. */
export async function sshdLogCount(h: LabHost, ere: string): Promise<number> {
  const r = await h.exec(`{ ${SSHD_LOG_CMD}; } 2>/dev/null | grep -cE ${shq(ere)} || true`);
  return Number(r.stdout.trim() || "0");
}

/** sshd restarts/reloads as sshd logs them (OpenSSH 9.2 and 10 both say "Received SIGHUP; restarting."). */
export const SSHD_SIGHUP = "Received SIGHUP";
/** fail2ban server reloads, starts and stops as its own log shows them. */
export const F2B_RELOAD = "Reload|Stopping all jails|Jail '[^']+' (started|stopped)|Starting Fail2ban";

/**
 * The firewall as the kernel has it: `nft list ruleset`, `iptables-save`/`ip6tables-save` (comments and
 * packet counters stripped, as in nft's view of iptables-nft rules) and `ipset save`. Dynamic meters carry expiry times: the lab fleets whitelist
 * SSH, so there are none.
 */
export async function firewallState(h: LabHost): Promise<{ nft: string; iptables: string; ipset: string }> {
  const strip = "sed -e '/^#/d' -e 's/\\[[0-9]*:[0-9]*\\]$/[-]/'";
  // iptables-nft rules carry packet counters: traffic, not configuration
  const nft = await inHost(h, "nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'");
  const iptables = await inHost(h, `{ iptables-save; ip6tables-save; } 2>/dev/null | ${strip}`);
  const ipset = await inHost(h, "ipset save 2>/dev/null | sort || true");
  return { nft, iptables, ipset };
}

export function firewallHash(s: { nft: string; iptables: string; ipset: string }): string {
  return sha(`${s.nft}\n--\n${s.iptables}\n--\n${s.ipset}`);
}

/** Per managed path: sha256 of the content, mode/owner, inode and nanosecond mtime ("absent" if missing). */
export async function fileStates(h: LabHost, paths: string[]): Promise<Record<string, string>> {
  const script = `for p in "$@"; do
  if [ -e "$p" ]; then printf '%s\\t%s %s %s\\n' "$p" "$(sha256sum < "$p" | cut -c1-16)" "$(stat -c '%a %U %G ino=%i mtime=%y' "$p")"
  else printf '%s\\tabsent\\n' "$p"; fi
done`;
  const out = await inHost(h, `sh -c ${shq(script)} sh ${paths.map(shq).join(" ")}`);
  return Object.fromEntries(out.split("\n").filter(Boolean).map((l) => l.split("\t") as [string, string]));
}

/** Every path a plan's units own: installed files, plus the paths whose permissions they enforce. */
export function managedPaths(plan: HostPlan): string[] {
  return [...new Set(plan.files.map((f) => f.path))].sort();
}

/** Everything that says what state the host runs in, for "old or new, never between". */
export interface HostSnapshot {
  sshdPid: number;
  ports: number[];
  sshdT: string;
  /** the kernel's firewall as text (see firewallState): nft, iptables-save, ipset save */
  firewall: string;
  fail2banJails: string;
  files: Record<string, string>;
}

/**
 * iptables-nft creates the tables `ip filter`/`ip6 filter` (and `mangle`, where harden's forward jump goes)
 * with empty ACCEPT base chains the first time an iptables command uses them; they stay when the last rule
 * goes (they are not ours to delete: Docker, fail2ban and cloud agents use them). Empty, they filter
 * nothing: a host with them is in the same state as without.
 */
export function withoutEmptyIptablesTables(firewall: string): string {
  const builtin = "PREROUTING|INPUT|FORWARD|OUTPUT|POSTROUTING";
  return firewall
    .replace(new RegExp(`^table ip6? (filter|mangle) \\{\\n(?:\\n|\\tchain (?:${builtin}) \\{\\n\\t\\ttype (?:filter|route) hook \\w+ priority \\1; policy accept;\\n\\t\\}\\n)*\\}\\n`, "gm"), "")
    .replace(new RegExp(`^\\*(?:filter|mangle)\\n(?::(?:${builtin}) ACCEPT \\[-\\]\\n)*COMMIT\\n`, "gm"), "");
}

export async function snapshot(h: LabHost, paths: string[]): Promise<HostSnapshot> {
  const t = await inHost(h, "sshd -T -f /etc/ssh/sshd_config | sort");
  const jails = await inHost(h, "for j in $(fail2ban-client status | sed -n 's/.*Jail list:[[:space:]]*//p' | tr ',' ' '); do " +
    "printf '%s maxretry=%s findtime=%s bantime=%s actions=%s\\n' $j \"$(fail2ban-client get $j maxretry)\" " +
    "\"$(fail2ban-client get $j findtime)\" \"$(fail2ban-client get $j bantime)\" \"$(fail2ban-client get $j actions | tail -n +2 | tr '\\n' ' ')\"; done");
  const files = await fileStates(h, paths);
  // content and permissions decide the state; inode/mtime legitimately change when a rollback restores
  const content = Object.fromEntries(Object.entries(files).map(([p, v]) => [p, v.replace(/ ino=.*$/, "")]));
  return { sshdPid: await sshdPid(h), ports: await listeningPorts(h), sshdT: t, firewall: withoutEmptyIptablesTables(Object.values(await firewallState(h)).join("\n--\n")), fail2banJails: jails, files: content };
}

/** A key login over the network; resolves to ssh's result (255 with its message on failure). */
export function tryLogin(lab: Pick<ScenarioLab, "adminKey">, h: LabHost, port: number, user = "root", command = "id -un", client?: LabClient) {
  return runSsh(sshArgs(h.endpoint(port, user), lab.adminKey), command, client);
}

/** A password login (no key offered), with sshpass: what a brute force does. */
export function tryPassword(h: LabHost, port: number, user: string, password: string, client?: LabClient) {
  const args = [
    "-F", "/dev/null", "-p", String(port), "-l", user,
    "-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive",
    "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "NumberOfPasswordPrompts=1", "-o", "ConnectTimeout=5", "-o", "LogLevel=ERROR", h.ip,
  ];
  return runSsh(args, "id -un", client, ["sshpass", "-p", password, "ssh"]);
}

function runSsh(args: string[], command: string, client?: LabClient, prefix = ["ssh"]) {
  const argv = [...prefix, ...args, command];
  const [cmd, ...rest] = client ? ["ip", "netns", "exec", client.netns, ...argv] : argv;
  return runAsync(cmd, rest, { timeoutMs: 20_000 });
}

/** Is a TCP port reachable (from the root namespace, the lab uplink)? "open" | "refused" | "timeout". */
export async function tcpProbe(h: LabHost, port: number, client?: LabClient, waitS = 2): Promise<"open" | "refused" | "timeout"> {
  const t0 = Date.now();
  const argv = ["nc", "-z", "-w", String(waitS), h.ip, String(port)];
  const [cmd, ...rest] = client ? ["ip", "netns", "exec", client.netns, ...argv] : argv;
  const r = await runAsync(cmd, rest, { timeoutMs: (waitS + 5) * 1000 });
  if (r.code === 0) return "open";
  return Date.now() - t0 >= waitS * 1000 - 100 ? "timeout" : "refused";
}

/** The combined output of every step, for assertion messages. */
export function stepLog(results: StepResult[]): string {
  return results.map((r) => `--- ${r.name} (rc ${r.code}, ${r.ms} ms)\n${r.stdout}${r.stderr}`).join("\n");
}

/** Polls `check` every 250 ms until it returns true or `ms` pass; returns the elapsed ms (throws on timeout). */
export async function waitFor(what: string, ms: number, check: () => Promise<boolean>): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (await check()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for: ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
