// fail2ban: the server answers, the declared jails run with the declared settings, and the sshd
// jail's ban actions cover the SSH port.
import type { DriftExpect } from "../plan/drift-expect";
import type { DriftItem } from "./item";
import type { Observation } from "./observation";

/** Does an action's `port` value ("2222", "2222,2223", "0:65535", "ssh") cover `port`? */
export function portCovers(value: string, port: number): boolean {
  return value.replace(/[[\]\s]/g, "").split(",").some((p) => {
    if (p === "ssh") return port === 22;
    const [a, b] = p.split(/[:-]/).map(Number);
    return Number.isInteger(a) && port >= a && port <= (Number.isInteger(b) ? b : a);
  });
}

export function checkFail2ban(expect: DriftExpect["fail2ban"], f2b: Observation["fail2ban"]): DriftItem[] {
  if (!expect) return [];
  const item = (key: string, expected: string | null, found: string | null, message: string): DriftItem =>
    ({ unit: "fail2ban", key: `fail2ban${key}`, expected, found, message: `fail2ban${key}: ${message}` });
  if (f2b.error) return [item("", "running", "missing", f2b.error)];
  const a = f2b.answers;
  if (!(a.ping ?? []).some((l) => /pong/.test(l))) return [item("", "running", "not running", "not running")];
  const list = (a.status ?? []).find((l) => /Jail list:/.test(l))?.split(":")[1] ?? "";
  const running = list.split(",").map((j) => j.trim()).filter(Boolean);
  const items: DriftItem[] = [];
  for (const jail of expect.jails) {
    if (!running.includes(jail.name)) {
      items.push(item(` ${jail.name}`, "running", "not running", `jail not running (running: ${running.join(", ") || "none"})`));
      continue;
    }
    for (const k of ["maxretry", "findtime", "bantime"] as const) {
      const found = (a[`get ${jail.name} ${k}`] ?? [])[0]?.trim() ?? "(no answer)";
      if (found !== String(jail[k])) items.push(item(` ${jail.name} ${k}`, String(jail[k]), found, `expected ${jail[k]}, found ${found}`));
    }
    if (jail.port === null) continue;
    const actions = (a[`get ${jail.name} actions`] ?? []).slice(1).map((l) => l.trim()).filter(Boolean);
    if (actions.length === 0) {
      items.push(item(` ${jail.name} actions`, "a ban action", "none", "no ban action: nothing is ever banned"));
      continue;
    }
    for (const action of actions) {
      const port = (a[`get ${jail.name} action ${action} port`] ?? [])[0]?.trim() ?? "(no answer)";
      if (!portCovers(port, jail.port)) {
        items.push(item(` ${jail.name} port`, String(jail.port), port, `expected ${jail.port}, found ${port} (action ${action})`));
      }
    }
  }
  return items;
}
