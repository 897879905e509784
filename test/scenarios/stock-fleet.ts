// What the stock-server scenarios share: the example's web group on systemd lab hosts, a plan runner
// that fails with every step's output, and the jails' actions once fail2ban answers.
import { readFileSync } from "node:fs";
import type { HostPlan } from "../../src/plan/types";
import type { Fleet, Policy } from "../../src/policy/types";
import type { SystemdHost, SystemdLab } from "../lab/systemd/lab";
import { runPlan, type StepResult } from "../lab/plan-runner";
import { labHostSpec } from "./lab-fleet";
import { WEB } from "./example-fleet";

/**
 * The example's web group on lab addresses, with `extra` layered on it: SSH 2222 from the runner and one
 * attacker, who is not ignored. Each host is reached today on `port`, with its own `policy` on top.
 */
export function stockFleet(lab: SystemdLab, hosts: { host: SystemdHost; port: number; policy?: Policy }[], attackerIp: string, extra: Policy = {}): Fleet {
  const adminKey = readFileSync(`${lab.adminKey}.pub`, "utf8").trim();
  return {
    defaults: {
      ssh: { port: 2222, passwordAuthentication: false, permitRootLogin: "prohibit-password", authorizedKeys: { root: [adminKey] } },
      firewall: { sshAllow: [`${lab.uplink}/32`, `${attackerIp}/32`] },
      fail2ban: { ignore: [`${lab.uplink}/32`] },
    },
    groups: { web: { ...WEB, ...extra, firewall: { ...WEB.firewall, ...extra.firewall } } },
    hosts: hosts.map(({ host, port, policy }) => ({ ...labHostSpec(host, policy ?? {}, ["web"]), connection: { user: "root", port } })),
    adminSources: [`${lab.uplink}/32`],
  };
}

/** Runs the plan (or only `onlySteps`) and fails with every step's output when a step fails. */
export async function applyStock(lab: SystemdLab, plan: HostPlan, onlySteps?: string[]): Promise<StepResult[]> {
  const results = await runPlan(plan, { identityFile: lab.adminKey, onlySteps });
  const failed = results.find((r) => r.code !== 0);
  if (failed) throw new Error(`${plan.host}: ${failed.message}\n${results.map((r) => `--- ${r.name} (rc ${r.code}, ${r.ms} ms)\n${r.stdout}${r.stderr}`).join("\n")}`);
  return results;
}

/** The jail's actions once the server answers for it (bounded wait). */
export async function jailActions(h: SystemdHost, jail: string): Promise<string> {
  const r = await h.exec(`timeout 60 sh -c 'until fail2ban-client status ${jail} >/dev/null 2>&1; do sleep 0.2; done'; fail2ban-client get ${jail} actions`, { timeoutMs: 70_000 });
  return r.stdout;
}
