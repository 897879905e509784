// SSH logins as the hosts themselves saw them: sshd's "Accepted publickey" lines in each host's
// auth.log (rsyslog), not the client's count. A marker sent through logger(1) proves rsyslog has
// written everything logged before it, so a count never misses a late line.
import type { LabHost } from "../lab/lab";

const ACCEPTED = /(?:sshd|sshd-session)\[\d+\]: Accepted publickey for \S+ from /;
let markers = 0;

/** Logins on `host` up to now (a marker is logged and waited for first). */
export async function loginsSoFar(host: LabHost, timeoutMs = 15_000): Promise<number> {
  const mark = `harden-engine-mark-${process.pid}-${++markers}`;
  const sent = await host.exec(`logger -p auth.info ${mark}`);
  if (sent.code !== 0) throw new Error(`${host.name}: logger failed: ${sent.stderr}`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const log = await host.exec("cat /var/log/auth.log");
    const at = log.stdout.indexOf(mark);
    if (at >= 0) return log.stdout.slice(0, at).split("\n").filter((l) => ACCEPTED.test(l)).length;
    if (Date.now() > deadline) throw new Error(`${host.name}: rsyslog did not write ${mark} to /var/log/auth.log within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Counts the logins each host sees while `fn` runs. */
export async function countLogins<T>(hosts: LabHost[], fn: () => Promise<T>): Promise<{ result: T; logins: Record<string, number> }> {
  const before = await Promise.all(hosts.map((h) => loginsSoFar(h)));
  const result = await fn();
  const after = await Promise.all(hosts.map((h) => loginsSoFar(h)));
  return { result, logins: Object.fromEntries(hosts.map((h, i) => [h.name, after[i] - before[i]])) };
}
