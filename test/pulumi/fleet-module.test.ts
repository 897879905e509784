// hardening:fleetModule: the stack program takes its fleet from a module (fleets/example.ts, relative
// to the project) and registers exactly what the example stack's YAML fleet plans. One program run
// per file: a second run in the same process would race the first one's late registrations.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import { settled, startRecording } from "./recorder";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nMODULEKEY\n-----END OPENSSH PRIVATE KEY-----\n";
const repo = join(__dirname, "..", "..");

describe("hardening:fleetModule", () => {
  it("registers every host of the module with the scripts the YAML twin plans", async () => {
    const rec = startRecording({
      config: { "hardening:fleetModule": "fleets/example.ts", "hardening:sshPrivateKey": KEY },
      secretKeys: ["hardening:sshPrivateKey"],
    });
    const outputs = await (await import("../../src/index.js")).default();
    const plans = planFleet(parse(readFileSync(join(repo, "stacks", "Pulumi.example.yaml"), "utf8")).config["hardening:fleet"]);
    expect(Object.keys(outputs.hosts)).toEqual(plans.map((p) => p.host));
    for (const plan of plans) {
      expect(await settled(outputs.hosts[plan.host].sshPort)).toBe(2222);
      expect(outputs.hosts[plan.host].policyHash).toBe(plan.policyHash);
      for (const step of plan.steps) expect(rec.byName(`${plan.host}-${step.name}`).wire.stdin, step.name).toBe(step.script);
      expect(rec.byName(`${plan.host}-drift`).wire.probe).toBe(plan.probe);
    }
  });
});
