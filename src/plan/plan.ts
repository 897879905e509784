import { assertValidFleet } from "../policy/validate";
import type { ResolvedHost } from "../policy/types";
import { PayloadCache } from "../render/blocklist";
import { renderCron } from "../render/cron";
import { renderFail2ban } from "../render/fail2ban";
import { closeTransition, renderFirewall } from "../render/firewall";
import { sha256, stableJson } from "../render/hash";
import { osProfile } from "../render/os";
import { renderPackages } from "../render/packages";
import { renderSshd } from "../render/sshd";
import type { UnitSpec } from "../render/unit";
import type { Endpoint, HostPlan, Step, StepName } from "./types";
import { confirmScript, packagesScript, teardownScript, unitScript } from "./unit-script";
import { driftExpect } from "./drift-expect";
import { probeScript } from "./probe";

export interface PlanOptions {
  rollbackSeconds?: number;
  /** how long the packages step waits for another package run's lock (default 120 s) */
  packageLockSeconds?: number;
}

/** Names the policy in every generated header: same policy, same hash, whatever the key order. */
export function policyHash(host: ResolvedHost): string {
  return sha256(stableJson({ name: host.name, os: host.os, policy: host.policy }));
}

export function renderUnits(host: ResolvedHost, payloads: PayloadCache): UnitSpec[] {
  const units = [renderFirewall(host, payloads), renderSshd(host)];
  if (host.policy.fail2ban.enabled) units.push(renderFail2ban(host));
  units.push(renderCron(host));
  return units;
}

function endpoint(host: ResolvedHost, which: "current" | "target"): Endpoint {
  const c = which === "current" ? host.connection : host.target;
  return { address: host.address, port: c.port, user: c.user, hostKey: host.hostKey };
}

/**
 * Firewall and sshd run over today's connection: the firewall opens the new port while keeping the
 * current one, sshd moves. Everything after runs over the new one, and confirm proves it works.
 */
const VIA: Record<StepName, "current" | "target"> = {
  packages: "current", firewall: "current", sshd: "current", fail2ban: "target", cron: "target", confirm: "target",
};

function step(name: StepName, script: string, host: ResolvedHost): Step {
  const connection = endpoint(host, VIA[name]);
  return {
    name,
    command: connection.user === "root" ? "sh -s" : "sudo -n sh -s",
    script,
    sha256: sha256(script),
    via: VIA[name],
    connection,
  };
}

export function planHost(host: ResolvedHost, payloads: PayloadCache, options: PlanOptions = {}): HostPlan {
  const os = osProfile(host.os);
  const hash = policyHash(host);
  const ctx = {
    host: host.name, policyHash: hash, os, rollbackSeconds: options.rollbackSeconds, packageLockSeconds: options.packageLockSeconds,
  };
  const packages = renderPackages(host);
  const units = renderUnits(host, payloads);
  // packages first: nothing changes on the host before everything the units need is installed
  const steps = [step("packages", packagesScript(packages, ctx), host), ...units.map((u) => step(u.name, unitScript(u, ctx), host))];
  steps.push(step("confirm", confirmScript({
    ...ctx, port: host.target.port, closeTransition: closeTransition(host.policy.firewall.backend),
  }), host));
  // what drift compares a host with is part of the plan: drift/ only compares
  const expect = driftExpect(host, units, payloads);
  const uploads = [...new Map(units.flatMap((u) => u.payloads).map((p) => [p.sha256, p])).values()];
  return {
    host: host.name,
    os: host.os,
    policyHash: hash,
    current: endpoint(host, "current"),
    target: endpoint(host, "target"),
    uploads,
    steps,
    teardown: teardownScript(units, { host: host.name }),
    files: units.flatMap((u) => u.files),
    summary: { packages: packages.summary, ...Object.fromEntries(units.map((u) => [u.name, u.summary])) } as HostPlan["summary"],
    expect,
    probe: probeScript(expect, { host: host.name, policyHash: hash }),
  };
}

/** validate -> resolve -> render -> plan, for a whole fleet. Throws FleetInvalid with every error. */
export function planFleet(input: unknown, options: PlanOptions = {}): HostPlan[] {
  const { hosts } = assertValidFleet(input);
  const payloads = new PayloadCache();
  return hosts.map((h) => planHost(h, payloads, options));
}
