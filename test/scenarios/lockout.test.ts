// Scenario 3 (issue 3), on Debian 12 and Debian 13 (issue 6): applies that would lock the operator out.
// Each must end with the host reachable on its OLD settings (port 22, root with the key, no harden
// firewall, distribution sshd/fail2ban/cron config) and a run error that says what failed and that the
// host restores itself. The plans are built WITHOUT validation (unvalidatedPlan): the semantic checks would
// refuse them, and the point is that the host protects itself anyway. Rollback timeout: 8 s.
//
//   a) whitelist without the admin      the sshd step (first NEW login, port 22) times out -> rollback
//   b) firewall opens 2223, sshd moves  fail2ban (first login on 2222) times out -> rollback
//      to 2222 (steps of two plans)
//   c) allowUsers without root          the confirm step (run right after sshd) is refused -> rollback
//   c') the same, whole plan            fail2ban, the first step over the new login, is refused -> rollback
//   d) MaxStartups 60:30:10             sshd -t refuses it (file and line): sshd never reloaded; the
//                                       firewall, applied before it, rolls back
//   e) run killed during fail2ban       ssh client and remote sh killed -> all back after the timeout
//   e') run ends after cron (no confirm) firewall (iptables + ipset here), sshd, fail2ban and cron all back
//   e'') killed during firewall validate before the watchdog is armed: nothing changed, nothing rolls back
//
// The cases of one root run concurrently on their own hosts (each needs a rollback timeout of waiting).
import { execFileSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import type { PlanOptions } from "../../src/plan/plan";
import type { HostPlan, Step } from "../../src/plan/types";
import type { Policy } from "../../src/policy/types";
import type { LabHost, LabRoot } from "../lab/lab";
import { runPlan, type RunnablePlan, type StepResult } from "../lab/plan-runner";
import { type ScenarioLab, scenarioSuite } from "../lab/scenario-lab";
import { exampleFleet } from "./example-fleet";
import { type HostSnapshot, SSHD_SIGHUP, inHost, snapshot, sshdLogCount, stepLog, tryLogin, waitFor } from "./host-state";
import { unvalidatedPlan } from "./lab-fleet";

const ROOTS: LabRoot[] = ["debian-12", "debian-13"];
const ROLLBACK_SECONDS = 8;
const OPTS: PlanOptions = { rollbackSeconds: ROLLBACK_SECONDS };
/** Everything the example plan manages, plus the cron paths whose permissions it enforces. */
const EXTRA_PATHS = ["/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs", "/etc/cron.allow", "/etc/at.allow", "/etc/fail2ban/jail.local"];

interface Outcome {
  host: LabHost;
  before: HostSnapshot;
  results: StepResult[];
  /** the failing step's run error (runPlan's message) */
  message: string;
  /** ms from the run's end (its failing step) to the host restored: old login works and the rollback log is there */
  restoreMs: number;
  /** ms from the last "rollback armed" step's end to the host restored */
  sinceArmedMs: number;
  after: HostSnapshot;
  rollbackLog: string;
  extra?: Record<string, unknown>;
}

function plan(lab: ScenarioLab, h: LabHost, policy: Policy): HostPlan {
  return unvalidatedPlan(exampleFleet(lab, [{ host: h, policy }]), h.name, OPTS);
}

function paths(p: HostPlan): string[] {
  return [...new Set([...p.files.map((f) => f.path), ...EXTRA_PATHS])].sort();
}

/**
 * On systemd hosts (stock: no nftables, fail2ban or cron) the plan's own packages step runs first, and the
 * "old settings" are taken after it: a rollback restores the units' files and services, and leaves installed
 * packages installed (so the packages step of the failing run itself changes nothing). Namespace hosts have
 * every package from the start, so both flavours test the same thing: the units' rollback.
 */
async function preinstall(lab: ScenarioLab, h: LabHost, p: RunnablePlan): Promise<void> {
  if (lab.flavour !== "systemd") return;
  const r = await runPlan(p, { identityFile: lab.adminKey, onlySteps: ["packages"] });
  const failed = r.find((x) => x.code !== 0);
  if (failed || !r.some((x) => x.name === "packages")) throw new Error(`${h.name}: the packages step did not run cleanly before the lockout case\n${stepLog(r)}`);
}

/**
 * The rollback moves the transaction to rolled-back/ (the timer or watchdog: no confirm in time) or to
 * aborted/ (a unit of the run failed and rolled the whole transaction back at once) after it restored every unit.
 */
const ROLLBACK_LOGS = ["/var/lib/harden/rolled-back/rollback.log", "/var/lib/harden/aborted/rollback.log"];
async function restored(h: LabHost): Promise<boolean> {
  return (await h.exec(ROLLBACK_LOGS.map((f) => `test -f ${f}`).join(" || "))).code === 0;
}

/** Runs a failing plan on a fresh host, then waits for the host to restore itself and observes it. */
async function lockout(lab: ScenarioLab, h: LabHost, p: RunnablePlan & { files: HostPlan["files"] }, opts: {
  onlySteps?: string[];
  during?: (run: Promise<StepResult[]>) => Promise<Record<string, unknown>>;
} = {}): Promise<Outcome> {
  await preinstall(lab, h, p);
  const before = await snapshot(h, paths(p as HostPlan));
  let tEnd = 0;
  const run = runPlan(p, { identityFile: lab.adminKey, onlySteps: opts.onlySteps }).then((r) => {
    tEnd = Date.now();
    return r;
  });
  const extra = opts.during ? await opts.during(run) : undefined;
  const results = await run;
  // every unit that changes something (re)sets the deadline: time the rollback from the last one's end
  const lastArm = results.filter((r) => /^\w+: changes:/m.test(r.stdout) && !/nothing was changed/.test(r.stderr)).pop();
  let tArmed = tEnd;
  let acc = 0;
  for (let i = results.length - 1; i >= 0; i--) {
    if (results[i] === lastArm) tArmed = tEnd - acc;
    acc += results[i].ms;
  }
  await waitFor(`${h.name} restores itself`, (ROLLBACK_SECONDS + 20) * 1000, () => restored(h));
  const restoreMs = Date.now() - tEnd;
  const login = await tryLogin(lab, h, 22, "root", "id -un");
  if (login.stdout.trim() !== "root") throw new Error(`${h.name}: rolled back, but root cannot log in on port 22: ${login.stderr}`);
  const failed = results.find((r) => r.code !== 0);
  return {
    host: h,
    before,
    results,
    message: failed?.message ?? "(no step failed)",
    restoreMs,
    sinceArmedMs: tEnd + restoreMs - tArmed,
    after: await snapshot(h, paths(p as HostPlan)),
    rollbackLog: (await h.exec(`cat ${ROLLBACK_LOGS.join(" ")} 2>/dev/null`)).stdout,
    extra,
  };
}

/** SIGKILLs this test process's ssh clients connected to `h` (only ever the runner's), by PID. */
function killSshClients(h: LabHost): number[] {
  let out = "";
  try {
    out = execFileSync("pgrep", ["-P", String(process.pid), "-x", "ssh"], { encoding: "utf8" });
  } catch {
    return [];
  }
  const pids = out.split("\n").filter(Boolean).map(Number).filter((pid) => {
    try {
      return execFileSync("cat", [`/proc/${pid}/cmdline`], { encoding: "utf8" }).split("\0").includes(h.ip);
    } catch {
      return false;
    }
  });
  for (const pid of pids) process.kill(pid, "SIGKILL");
  return pids;
}

/** Kills the unit's remote shell inside the host (the `sh -s` under sshd), by PID. */
async function killRemoteShell(h: LabHost): Promise<string> {
  return (await h.exec("for p in $(ps -eo pid=,args= | awk '$2 == \"sh\" && $3 == \"-s\" && NF == 3 { print $1 }'); do kill -KILL $p && echo $p; done")).stdout.trim();
}

/** `validate_unit` of a unit script, made to announce itself and linger, so a test can kill the run there. */
function slowValidate(step: Step): Step {
  const marker = "validate_unit() {\n  :\n";
  if (!step.script.includes(marker)) throw new Error(`${step.name}: no validate_unit in the script`);
  return { ...step, script: step.script.replace(marker, `${marker}  : > /tmp/harden-test-validating; sleep 6\n`) };
}

function expectOld(o: Outcome, units: string[]): void {
  const log = `${stepLog(o.results)}\nrun error: ${o.message}\nrollback.log:\n${o.rollbackLog}`;
  expect(o.after.ports, log).toEqual(o.before.ports);
  expect(o.after.sshdPid, log).toBe(o.before.sshdPid);
  expect(o.after.sshdT, log).toBe(o.before.sshdT);
  expect(o.after.firewall, log).toBe(o.before.firewall);
  expect(o.after.fail2banJails, log).toBe(o.before.fail2banJails);
  expect(o.after.files, log).toEqual(o.before.files);
  // the rollback (timer, or a failing unit at once) restored newest first and says why
  expect(o.rollbackLog, log).toMatch(/^rollback at \S+: (no confirmed login before the deadline|\w+ failed)$/m);
  expect([...o.rollbackLog.matchAll(/^restoring (\S+)$/gm)].map((m) => m[1]), log).toEqual([...units].reverse());
}

scenarioSuite("scenario 3: lockouts end with the host back on its old settings", (lab) => {
  for (const root of ROOTS) {
    describe(root, () => {
      const tag = root.replace("debian-", "");
      const out: Record<string, Outcome | Error> = {};
      const get = (k: string): Outcome => {
        const o = out[k];
        if (!o) throw new Error(`case ${k} did not run`);
        if (o instanceof Error) throw o;
        return o;
      };

      beforeAll(async () => {
        const L = lab();
        const host = (c: string) => L.host({ name: `lo${tag}${c}`, root });
        const cases: Record<string, () => Promise<Outcome>> = {
          a: async () => {
            const h = await host("a");
            return lockout(L, h, plan(L, h, { firewall: { sshAllow: ["192.0.2.0/24"] }, fail2ban: { ignore: ["192.0.2.0/24"] } }));
          },
          b: async () => {
            const h = await host("b");
            const fw = plan(L, h, { ssh: { port: 2223 } });
            const rest = plan(L, h, {});
            const mixed = { ...rest, steps: rest.steps.map((s) => (s.name === "firewall" ? fw.steps.find((f) => f.name === "firewall")! : s)) };
            return lockout(L, h, mixed);
          },
          c: async () => {
            const h = await host("c");
            return lockout(L, h, plan(L, h, { ssh: { allowUsers: ["admin"] } }), { onlySteps: ["packages", "firewall", "sshd", "confirm"] });
          },
          c2: async () => {
            const h = await host("c2");
            return lockout(L, h, plan(L, h, { ssh: { allowUsers: ["admin"] } }));
          },
          d: async () => {
            const h = await host("d");
            const sighups = await sshdLogCount(h, SSHD_SIGHUP);
            // passes the JSON schema (pattern \d+:\d+:\d+); only the semantic check refuses it, hence unvalidatedPlan
            const p = plan(L, h, { ssh: { maxStartups: "60:30:10" } });
            const o = await lockout(L, h, p, {
              during: async () => {
                // while the run is failing: the drop-in never lands, not even for a moment
                const seen = await h.exec("for i in $(seq 1 40); do test -e /etc/ssh/sshd_config.d/00-harden.conf && echo seen && break; sleep 0.1; done");
                return { seen: seen.stdout.trim() };
              },
            });
            return { ...o, extra: { ...o.extra, plan: p, sighupsBefore: sighups, sighupsAfter: await sshdLogCount(h, SSHD_SIGHUP) } };
          },
          e: async () => {
            const h = await host("e");
            return lockout(L, h, plan(L, h, {}), {
              during: async () => {
                await waitFor(`${h.name}: fail2ban step under way`, 60_000, async () =>
                  (await h.exec("grep -qx fail2ban /var/lib/harden/txn/units")).code === 0);
                const killed = killSshClients(h);
                const remote = await killRemoteShell(h);
                return { killed, remote, txnUnits: (await inHost(h, "cat /var/lib/harden/txn/units")).trim().split("\n") };
              },
            });
          },
          e2: async () => {
            const h = await host("e2");
            // the iptables + ipset backend: its restore must take our chains, the INPUT jump and the sets away again
            return lockout(L, h, plan(L, h, { firewall: { backend: "iptables" } }), { onlySteps: ["packages", "firewall", "sshd", "fail2ban", "cron"] });
          },
        };
        await Promise.all(Object.entries(cases).map(async ([k, run]) => {
          try {
            out[k] = await run();
            const o = out[k] as Outcome;
            console.log(`[lockout] ${root} ${k}: ${o.message}\n[lockout] ${root} ${k}: restored ${o.restoreMs} ms after the run failed, ` +
              `${o.sinceArmedMs} ms after the last arming step (rollbackSeconds ${ROLLBACK_SECONDS})`);
          } catch (e) {
            out[k] = e as Error;
          }
        }));
      }, 170_000);

      it("a) a whitelist that excludes the admin: the first new login times out, the host restores itself", () => {
        const o = get("a");
        expect(o.results.map((r) => [r.name, r.code])).toEqual([["packages", 0], ["firewall", 0], ["sshd", 255]]);
        expect(o.message).toBe(`sshd could not log in as root on ${o.host.ip}:22 (ssh: connect to host ${o.host.ip} port 22: Connection timed out); ` +
          `the host restores its previous state within ${ROLLBACK_SECONDS} s (rollback armed by firewall; applied before: firewall)`);
        expectOld(o, ["firewall"]);
        expect(o.rollbackLog).toMatch(/^restoring firewall$/m);
      });

      it("b) a port the firewall does not open: sshd moves to 2222, the login there times out, all back", () => {
        const o = get("b");
        expect(o.results.map((r) => [r.name, r.code])).toEqual([["packages", 0], ["firewall", 0], ["sshd", 0], ["fail2ban", 255]]);
        expect(o.message).toBe(`fail2ban could not log in as root on ${o.host.ip}:2222 (ssh: connect to host ${o.host.ip} port 2222: Connection timed out); ` +
          `the host restores its previous state within ${ROLLBACK_SECONDS} s (rollback armed by firewall, sshd; applied before: firewall, sshd)`);
        expectOld(o, ["firewall", "sshd"]);
      });

      it("c) allowUsers without the login user: confirm is refused (Permission denied), the host restores itself", () => {
        const o = get("c");
        expect(o.results.map((r) => [r.name, r.code])).toEqual([["packages", 0], ["firewall", 0], ["sshd", 0], ["confirm", 255]]);
        expect(o.message).toBe(`confirm could not log in as root on ${o.host.ip}:2222 (root@${o.host.ip}: Permission denied (publickey).); ` +
          `the host restores its previous state within ${ROLLBACK_SECONDS} s (rollback armed by firewall, sshd; applied before: firewall, sshd)`);
        expectOld(o, ["firewall", "sshd"]);
      });

      it("c') the same with the whole plan: fail2ban is the first step over the new login, refused, all back", () => {
        const o = get("c2");
        expect(o.results.map((r) => [r.name, r.code])).toEqual([["packages", 0], ["firewall", 0], ["sshd", 0], ["fail2ban", 255]]);
        expect(o.message).toMatch(/^fail2ban could not log in as root on \S+:2222 \(root@\S+: Permission denied \(publickey\)\.\); the host restores/);
        expectOld(o, ["firewall", "sshd"]);
      });

      it("d) a setting sshd -t refuses is never activated: sshd's file:line error, sshd not reloaded", () => {
        const o = get("d");
        const sshd = o.results.find((r) => r.name === "sshd")!;
        expect(o.results.map((r) => [r.name, r.code])).toEqual([["packages", 0], ["firewall", 0], ["sshd", 1]]);
        // sshd's own error, naming the real drop-in and line (not the staged copy sshd -t read)
        const m = /sshd -t rejects the new configuration: (\/etc\/ssh\/sshd_config\.d\/(?:00-harden|zz-harden-last)\.conf) line (\d+): Invalid MaxStartups spec\. \(not installed; nothing was changed\)$/m.exec(sshd.stderr);
        expect(m, sshd.stderr).not.toBeNull();
        const file = (o.extra!.plan as HostPlan).files.find((f) => f.path === m![1])!;
        expect(file.content.split("\n")[Number(m![2]) - 1]).toBe("MaxStartups 60:30:10");
        expect(o.extra!.seen).toBe("");
        expect(sshd.stdout).not.toMatch(/rollback armed/);
        // the refusal rolls the firewall back at once (the whole transaction), not after the timer
        expect(sshd.stderr).toContain("sshd: rolling back every unit of this apply: firewall\n");
        expect(o.rollbackLog).toMatch(/: sshd failed\nrestoring firewall\n/);
        expect(o.restoreMs).toBeLessThan(ROLLBACK_SECONDS * 1000);
        expect(o.message).toMatch(/^sshd failed with exit 1 /);
        // never reloaded: no SIGHUP was logged by the run (only the firewall's rollback touched the host)
        expect(o.extra!.sighupsAfter).toBe(o.extra!.sighupsBefore);
        expectOld(o, ["firewall"]);
      });

      it("e) the run killed during the fail2ban step: firewall, sshd and fail2ban all back after the timeout", () => {
        const o = get("e");
        const x = o.extra as { killed: number[]; remote: string; txnUnits: string[] };
        expect(x.killed.length, "the runner's ssh client was killed").toBe(1);
        expect(x.txnUnits).toEqual(["firewall", "sshd", "fail2ban"]);
        expect(o.results.map((r) => r.name)).toEqual(["packages", "firewall", "sshd", "fail2ban"]);
        expect(o.results[3].code).not.toBe(0);
        expectOld(o, ["firewall", "sshd", "fail2ban"]);
      });

      it("e') the run ends after cron, before confirm: all four units back after the timeout", () => {
        const o = get("e2");
        expect(o.results.map((r) => [r.name, r.code])).toEqual([["packages", 0], ["firewall", 0], ["sshd", 0], ["fail2ban", 0], ["cron", 0]]);
        expectOld(o, ["firewall", "sshd", "fail2ban", "cron"]);
        expect(o.after.files["/etc/cron.allow"]).toBe("absent");
      });
    });
  }

  it("e'') killed during the firewall's validate, before arming: nothing changed, nothing to roll back", async () => {
    const outcomes = await Promise.all(ROOTS.map(async (root) => {
      const h = await lab().host({ name: `lo${root.replace("debian-", "")}v`, root });
      const p = plan(lab(), h, {});
      const slow = { ...p, steps: p.steps.map((s) => (s.name === "firewall" ? slowValidate(s) : s)) };
      await preinstall(lab(), h, p);
      const before = await snapshot(h, paths(p));
      const run = runPlan(slow, { identityFile: lab().adminKey });
      await waitFor(`${h.name}: firewall validate under way`, 30_000, async () => (await h.exec("test -f /tmp/harden-test-validating")).code === 0);
      const killed = killSshClients(h);
      const remote = await killRemoteShell(h);
      const results = await run;
      const now = (await inHost(h, "ls -A /var/lib/harden; pgrep -f '^sh /var/lib/harden/watchdog' || echo no-watchdog")).trim().split("\n");
      // wait past the rollback timeout: nothing may happen
      await new Promise((r) => setTimeout(r, (ROLLBACK_SECONDS + 2) * 1000));
      return { root, h, before, results, killed, remote, now, after: await snapshot(h, paths(p)),
        later: (await inHost(h, "ls -A /var/lib/harden")).trim().split("\n") };
    }));
    for (const o of outcomes) {
      expect(o.killed.length, o.root).toBe(1);
      expect(o.results.map((r) => r.name)).toEqual(["packages", "firewall"]);
      expect(o.results[1].code).not.toBe(0);
      expect(o.now).not.toContain("txn");
      expect(o.now).toContain("no-watchdog");
      expect(o.later).not.toContain("rolled-back");
      expect(o.later).not.toContain("aborted");
      expect(o.later).not.toContain("txn");
      expect(o.after).toEqual(o.before);
      expect((await tryLogin(lab(), o.h, 22)).stdout.trim()).toBe("root");
    }
  }, 60_000);
});
