// Helpers for the incident, blocklist and judge scenarios: TCP probes and connect-latency runs (python3,
// present in both lab roots and on this machine for client namespaces), tiny listeners, sshd process
// accounting, log timestamps, and the FIGURE lines every measured number is printed as.
import type { ExecResult } from "../lab/lab";
import { shq } from "../lab/exec";

/** Anything that runs `sh -c` somewhere in the lab: a LabHost or a LabClient. */
export interface Runner {
  exec(cmd: string, opts?: { input?: string; timeoutMs?: number }): Promise<ExecResult>;
}

export const ROOTS = ["debian-12", "debian-13"] as const;

/** Every measured number goes through here: one greppable line, never an assertion. */
export function figure(scenario: string, root: string, what: string, value: string | number, unit = ""): void {
  console.log(`FIGURE ${scenario} [${root}] ${what}: ${value}${unit ? ` ${unit}` : ""}`);
}

export async function must(r: Runner, cmd: string, timeoutMs = 60_000): Promise<string> {
  const res = await r.exec(cmd, { timeoutMs });
  if (res.code !== 0) throw new Error(`command failed (rc ${res.code}): ${cmd}\n${res.stdout}${res.stderr}`);
  return res.stdout;
}

const py = (src: string) => `python3 -c ${shq(src)}`;

// One TCP connect, classified: "open", "refused" (RST: the port answered), "timeout" (dropped).
const PROBE_PY = `
import socket, sys, errno
ip, port, tmo = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET)
s.settimeout(tmo)
try:
    s.connect((ip, port)); print("open")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print("error-" + errno.errorcode.get(e.errno, str(e.errno)))
`;

export type ProbeResult = "open" | "refused" | "timeout" | string;

export async function probe(from: Runner, ip: string, port: number, timeoutS = 2): Promise<ProbeResult> {
  const r = await from.exec(`${py(PROBE_PY)} ${ip} ${port} ${timeoutS}`, { timeoutMs: (timeoutS + 10) * 1000 });
  if (r.code !== 0) throw new Error(`probe ${ip}:${port} failed: ${r.stderr}`);
  return r.stdout.trim();
}

// Connect latency to several targets, interleaved: rounds of 10 connects per target, after 20 unrecorded
// warm-up connects each, so that both targets see the same machine conditions (CPU frequency, other load).
// connect() returning = the SYN-ACK came back. Prints per-target microseconds.
const LATENCY_PY = `
import socket, sys, time, json
port, n, targets = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
out = {t: [] for t in targets}
def one(ip):
    s = socket.socket(); s.settimeout(2)
    t = time.perf_counter_ns()
    s.connect((ip, port))
    d = (time.perf_counter_ns() - t) / 1000
    s.close()
    return d
for ip in targets:
    for i in range(20): one(ip)
for r in range(n // 10):
    for ip in targets:
        for i in range(10): out[ip].append(one(ip))
print(json.dumps(out))
`;

export interface LatencyStats {
  n: number;
  medianUs: number;
  p99Us: number;
  meanUs: number;
}

export function stats(samples: number[]): LatencyStats {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))];
  return { n: s.length, medianUs: at(0.5), p99Us: at(0.99), meanUs: s.reduce((a, b) => a + b, 0) / s.length };
}

/** `n` connects to each of `ips` (same port), interleaved in rounds; stats per address. */
export async function connectLatency(from: Runner, ips: string[], port: number, n = 200): Promise<Record<string, LatencyStats>> {
  if (n > 1000 || ips.length > 4) throw new Error("connectLatency: bounded to 1000 connects to at most 4 targets");
  const r = await from.exec(`${py(LATENCY_PY)} ${port} ${n} ${ips.join(" ")}`, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`latency run to ${ips.join(", ")}:${port} failed: ${r.stderr}`);
  const raw = JSON.parse(r.stdout) as Record<string, number[]>;
  return Object.fromEntries(Object.entries(raw).map(([ip, v]) => [ip, stats(v)]));
}

// Accepts and closes connections forever (until its host/namespace is stopped).
const LISTEN_PY = `
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(256)
while True:
    c, _ = s.accept(); c.close()
`;

/** Starts a tiny TCP listener (the "Redis" of incident 3, the SMTP server, the latency target) and waits for it. */
export async function startListener(where: Runner, port: number): Promise<void> {
  await must(where, `nohup ${py(LISTEN_PY)} ${port} >/dev/null 2>&1 &`);
  for (let i = 0; i < 50; i++) {
    const r = await where.exec(`ss -Hltn 'sport = :${port}' | grep -q LISTEN`);
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`listener on :${port} did not come up`);
}

// A brute force: up to n connects, one every `gap` s, each given `tmo` s, all of it within `budget` s.
// Connections that open are HELD until `budget` s have passed, as a slowloris-style attacker would (so if the firewall
// let them through, sshd would have forked for each of them while we count).
const ATTACK_PY = `
import socket, sys, time, json, errno, selectors
ip, port, n, gap, tmo, budget = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
assert n <= 200 and budget <= 20
res = {"open": 0, "refused": 0, "timeout": 0, "other": 0}
pend, held = {}, []
sel = selectors.DefaultSelector()
t0 = time.monotonic(); started = 0
def done(s, kind):
    res[kind] += 1
    if kind == "open": held.append(s)
    else: s.close()
while (started < n or pend) and time.monotonic() - t0 < budget:
    now = time.monotonic()
    while started < n and now >= t0 + started * gap:
        s = socket.socket(); s.setblocking(False)
        e = s.connect_ex((ip, port)); started += 1
        if e == errno.EINPROGRESS:
            pend[s] = now; sel.register(s, selectors.EVENT_WRITE)
        elif e == 0: done(s, "open")
        elif e == errno.ECONNREFUSED: done(s, "refused")
        else: done(s, "other")
    for key, _ in sel.select(timeout=0.005):
        s = key.fileobj; sel.unregister(s); del pend[s]
        err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        done(s, "open" if err == 0 else "refused" if err == errno.ECONNREFUSED else "timeout" if err == errno.ETIMEDOUT else "other")
    now = time.monotonic()
    for s, st in list(pend.items()):
        if now - st >= tmo:
            sel.unregister(s); del pend[s]; done(s, "timeout")
for s in list(pend): done(s, "timeout")
res["started"] = started; res["seconds"] = round(time.monotonic() - t0, 3)
print(json.dumps(res), flush=True)
if held: time.sleep(max(0, budget - (time.monotonic() - t0)))
for s in held: s.close()
`;

export interface AttackResult {
  open: number;
  refused: number;
  timeout: number;
  other: number;
  started: number;
  seconds: number;
}

/** Runs the bounded attack from `from` (never more than 200 connects, never longer than 20 s). */
export async function bruteForce(from: Runner, ip: string, port: number, o: { n: number; gap: number; tmo: number; budget: number }): Promise<AttackResult> {
  if (o.n > 200 || o.budget > 20 || o.tmo > o.budget) throw new Error("bruteForce: bounds are 200 connects and 20 s");
  const r = await from.exec(`${py(ATTACK_PY)} ${ip} ${port} ${o.n} ${o.gap} ${o.tmo} ${o.budget}`, { timeoutMs: (o.budget + 10) * 1000 });
  if (r.code !== 0) throw new Error(`attack failed: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop()!) as AttackResult;
}

export interface SshdProcs {
  count: number;
  rssKb: number;
}

/**
 * sshd processes in a host (sshd, and OpenSSH 9.8+'s sshd-session / sshd-auth), zombies excluded (a reaped
 * child may linger for a moment), with their summed RSS. Same names as `pgrep -c -x 'sshd|sshd-session|sshd-auth'`.
 */
export async function sshdProcs(host: Runner): Promise<SshdProcs> {
  const out = await must(host, `ps -e -o stat=,rss=,comm= | awk '$3 ~ /^sshd(-session|-auth)?$/ && $1 !~ /^Z/ { n++; r += $2 } END { print n + 0, r + 0 }'`);
  const [count, rssKb] = out.trim().split(/\s+/).map(Number);
  return { count, rssKb };
}

/** Milliseconds since the epoch for a log timestamp, converted by the host's own `date` (its timezone). */
export async function hostEpochMs(host: Runner, stamp: string): Promise<number> {
  const out = await must(host, `date -d ${shq(stamp)} +%s%3N`);
  return Number(out.trim());
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
