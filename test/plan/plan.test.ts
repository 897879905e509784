import { describe, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import { exampleFleet } from "../../src/policy/fixtures";
import type { HostPlan } from "../../src/plan/types";

const shaByStep = (plan: HostPlan) => Object.fromEntries(plan.steps.map((s) => [s.name, s.sha256]));

describe("host plans", () => {
  it("orders the steps, packages first, and runs packages, firewall and sshd over today's connection, the rest over the new one", () => {
    const [web1] = planFleet(exampleFleet());
    expect(web1.steps.map((s) => `${s.name}:${s.via}:${s.connection.port}`)).toEqual([
      "packages:current:22", "firewall:current:22", "sshd:current:22", "fail2ban:target:2222", "cron:target:2222", "confirm:target:2222",
    ]);
  });

  it("changes only the changed unit's script (and confirm's) when one part of the policy changes", () => {
    const before = planFleet(exampleFleet()).map(shaByStep);
    const fleet = exampleFleet();
    // the last layer wins, so the change goes into each host's own policy
    for (const h of fleet.hosts) h.policy = { ...h.policy, cron: { ...h.policy?.cron, atAllow: ["root", "backup"] } };
    const after = planFleet(fleet).map(shaByStep);
    for (const [i, host] of before.entries()) {
      const changed = Object.keys(host).filter((step) => host[step] !== after[i][step]);
      expect(changed).toEqual(["cron", "confirm"]);
    }
  });

  it("keeps every script independent of how the host is reached today", () => {
    const before = planFleet(exampleFleet()).map(shaByStep);
    const fleet = exampleFleet();
    for (const h of fleet.hosts) h.connection = { ...h.connection, port: 2222 };
    const after = planFleet(fleet).map(shaByStep);
    expect(after).toEqual(before);
  });

  it("renders the same bytes on every run", () => {
    expect(JSON.stringify(planFleet(exampleFleet()))).toBe(JSON.stringify(planFleet(exampleFleet())));
  });
});
