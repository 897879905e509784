// Fleets and plans for lab hosts: the same validate -> resolve -> render -> plan path a user's
// fleet takes, with the lab's addresses, pinned host keys and admin key filled in.
import { readFileSync } from "node:fs";
import { planFleet, planHost, type PlanOptions } from "../../src/plan/plan";
import type { HostPlan } from "../../src/plan/types";
import { resolveHost } from "../../src/policy/resolve";
import type { Fleet, HostSpec, Policy } from "../../src/policy/types";
import { PayloadCache } from "../../src/render/blocklist";
import type { LabHost } from "../lab/lab";
import type { ScenarioLab } from "../lab/scenario-lab";
import { runPlan, type StepResult } from "../lab/plan-runner";

/** A lab host as a fleet entry, reached today as root on port 22 with the lab's admin key. */
export function labHostSpec(host: LabHost, policy: Policy = {}, groups: string[] = []): HostSpec {
  return {
    name: host.name,
    address: host.ip,
    groups,
    os: host.root,
    connection: { user: "root", port: 22 },
    hostKey: host.hostKey,
    policy,
  };
}

/**
 * The defaults every lab fleet starts from: key-only, SSH on 2222 from the admin (the root namespace)
 * and the admin client namespace, fail2ban on. Tests add their own layers on top. Namespace hosts
 * have no journal (rsyslog writes auth.log), so fail2ban reads the file there; systemd hosts
 * (`hostLog: "journal"`) use the OS default (the journal), as a user's policy would.
 */
export function labDefaults(lab: Pick<ScenarioLab, "adminKey" | "uplink" | "hostLog">, adminClientIp?: string): Policy {
  const adminKey = readFileSync(`${lab.adminKey}.pub`, "utf8").trim();
  const sources = [`${lab.uplink}/32`, ...(adminClientIp ? [`${adminClientIp}/32`] : [])];
  return {
    ssh: { port: 2222, passwordAuthentication: false, permitRootLogin: "prohibit-password", authorizedKeys: { root: [adminKey] } },
    firewall: { sshAllow: sources },
    fail2ban: { ignore: sources, ...(lab.hostLog === "journal" ? {} : { logBackend: "file" as const }) },
  };
}

export function labFleet(lab: Pick<ScenarioLab, "adminKey" | "uplink" | "hostLog">, hosts: HostSpec[], defaults: Policy = labDefaults(lab), groups: Fleet["groups"] = {}): Fleet {
  return { defaults, groups, hosts, adminSources: [`${lab.uplink}/32`] };
}

/** Validated plans, as `harden render` and Pulumi would build them. */
export function labPlans(fleet: Fleet, options: PlanOptions = {}): HostPlan[] {
  return planFleet(fleet, options);
}

/**
 * A plan built WITHOUT validation, for the lockout tests: the semantic checks would refuse these
 * fleets, and the point is to show the host protects itself anyway.
 */
export function unvalidatedPlan(fleet: Fleet, name: string, options: PlanOptions = {}): HostPlan {
  const spec = fleet.hosts.find((h) => h.name === name);
  if (!spec) throw new Error(`no host ${name} in fleet`);
  return planHost(resolveHost(fleet, spec), new PayloadCache(), options);
}

/** Runs a plan and fails with every step's output when a step fails. */
export async function applyOrThrow(lab: Pick<ScenarioLab, "adminKey">, plan: HostPlan): Promise<StepResult[]> {
  const results = await runPlan(plan, { identityFile: lab.adminKey });
  const failed = results.find((r) => r.code !== 0);
  if (failed) {
    const log = results.map((r) => `--- ${r.name} (rc ${r.code})\n${r.stdout}${r.stderr}`).join("\n");
    throw new Error(`${plan.host}: step ${failed.name} failed\n${log}`);
  }
  return results;
}
