// The stack program on the example stack file, under mocks: what `pulumi up -s example` would register.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { allRegistered, isSecret, publicPart, reveal, settled, startRecording, type Recording } from "./recorder";
import { planFleet } from "../../src/plan/plan";
import type { HostPlan } from "../../src/plan/types";
import { validateFleet } from "../../src/policy/validate";
import { stepTriggers, type HardenedHost } from "../../src/pulumi/hardened-host";
import { hostDriftInputs } from "../../src/pulumi/drift-resource";
import { deployFleet } from "../../src/pulumi/program";
import type { NewResource } from "./recorder";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nDEFAULTKEYxyz\n-----END OPENSSH PRIVATE KEY-----\n";
const DB1_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nDB1OWNKEYabc\n-----END OPENSSH PRIVATE KEY-----\n";
const payloadDir = mkdtempSync(join(tmpdir(), "harden-payloads-"));
afterAll(() => rmSync(payloadDir, { recursive: true, force: true }));

/** The example stack's `hardening:fleet`, as `pulumi` hands it to the program. */
function exampleFleet(): any {
  const stack = parse(readFileSync(join(__dirname, "..", "..", "stacks", "Pulumi.example.yaml"), "utf8"));
  return stack.config["hardening:fleet"];
}

async function run(fleet: unknown, extra: Record<string, string> = {}, newResource?: NewResource): Promise<{ rec: Recording; hosts: HardenedHost[] }> {
  const rec = startRecording({
    config: { "hardening:fleet": fleet, "hardening:sshPrivateKey": KEY, ...extra },
    secretKeys: ["hardening:sshPrivateKey", ...Object.keys(extra)],
    newResource,
  });
  const hosts = deployFleet({ payloadDir });
  await allRegistered(hosts.flatMap((h) => [h, h.drift, ...h.uploads, ...h.steps, h.teardown]));
  await Promise.all(hosts.map((h) => settled(h.sshPort)));
  return { rec, hosts };
}

const DRIFT_TYPE = "pulumi-nodejs:dynamic/hardening:HostDrift";

/** A step's triggers on a fresh stack: its own, plus a heal count of 0 per unit it follows (itself, or all before confirm). */
const freshTriggers = (plan: HostPlan, i: number) =>
  [...stepTriggers(plan.steps, i), ...(plan.steps[i].name === "confirm" ? plan.steps.slice(0, i).map(() => 0) : [0])];

const triggersOf = (rec: Recording, host: string) => Object.fromEntries(rec.registrations
  .filter((r) => r.parent.endsWith(`::${host}`) && r.type === "command:remote:Command")
  .map((r) => [r.name.slice(host.length + 1), JSON.stringify(r.wire.triggers ?? null)]));

describe("the stack program on stacks/Pulumi.example.yaml", () => {
  let rec: Recording;
  let plans: HostPlan[];
  beforeAll(async () => {
    plans = planFleet(exampleFleet());
    ({ rec } = await run(exampleFleet()));
  });

  it("registers exactly one HardenedHost per host, each with its drift resource and its steps in order", () => {
    const components = rec.registrations.filter((r) => r.type === "hardening:index:HardenedHost");
    expect(components.map((c) => c.name)).toEqual(["web1", "db1", "mail1"]);
    for (const plan of plans) {
      const children = rec.registrations.filter((r) => r.parent === rec.byName(plan.host).urn);
      expect(children.map((c) => c.name)).toEqual([
        ...plan.uploads.map((u) => `${plan.host}-payload-${u.sha256.slice(0, 12)}`),
        `${plan.host}-drift`,
        ...["packages", "firewall", "sshd", "fail2ban", "cron", "confirm", "teardown"].map((s) => `${plan.host}-${s}`),
      ]);
      const drift = rec.byName(`${plan.host}-drift`);
      expect(drift.type).toBe(DRIFT_TYPE);
      expect(drift.dependencies).toEqual([]);
      const chain = children.filter((c) => c !== drift);
      for (let i = 1; i < chain.length; i++) {
        const deps = chain[i].name.endsWith("-teardown") ? [chain[i - 1].urn] : [chain[i - 1].urn, drift.urn];
        expect([...chain[i].dependencies].sort(), chain[i].name).toEqual(deps.sort());
      }
    }
    // one per host (hosts register side by side: their relative order is not fixed)
    expect(rec.registrations.filter((r) => r.type === DRIFT_TYPE).map((r) => r.name).sort()).toEqual(["db1-drift", "mail1-drift", "web1-drift"]);
    expect(rec.registrations).toHaveLength(3 * 9 + plans.reduce((n, p) => n + p.uploads.length, 0));
  });

  it("gives each host's drift resource that host's probe, expectations and endpoints, the key as a secret", () => {
    for (const plan of plans) {
      const drift = rec.byName(`${plan.host}-drift`);
      const { __provider: _p, ...inputs } = reveal(drift.wire);
      expect(inputs, plan.host).toEqual(hostDriftInputs(plan, KEY));
      expect(isSecret(drift.wire.privateKey), plan.host).toBe(true);
      expect(drift.additionalSecretOutputs).toContain("privateKey");
    }
  });

  it("sends the bytes the render CLI writes: stdin and triggers are the plan's script and sha256", () => {
    for (const plan of plans) {
      for (const step of plan.steps) {
        const r = rec.byName(`${plan.host}-${step.name}`);
        expect(r.wire.stdin, r.name).toBe(step.script);
        // a fresh stack: the script's sha256 (confirm: and what ran before it), then heal counts of 0
        expect(r.wire.triggers, r.name).toEqual(freshTriggers(plan, plan.steps.indexOf(step)));
        expect((r.wire.triggers as string[])[0]).toBe(step.sha256);
        expect(r.wire.create).toBe(step.command);
        expect(r.deleteBeforeReplace, r.name).toBe(true);
        expect(isSecret(r.wire.connection), r.name).toBe(true);
        expect(reveal(r.wire.connection)).toMatchObject({
          host: step.connection.address, port: step.connection.port, user: step.connection.user,
          hostKey: step.connection.hostKey, privateKey: KEY,
        });
      }
      expect(rec.byName(`${plan.host}-teardown`).wire.stdin).toBe(plan.teardown);
    }
  });

  it("reaches every host on 22 for packages, firewall and sshd, and on the policy's 2222 from fail2ban on", () => {
    for (const host of ["web1", "db1", "mail1"]) {
      const ports = ["packages", "firewall", "sshd", "fail2ban", "cron", "confirm", "teardown"]
        .map((s) => reveal(rec.byName(`${host}-${s}`).wire.connection).port);
      expect(ports, host).toEqual([22, 22, 22, 2222, 2222, 2222, 2222]);
    }
  });

  it("never shows the private key outside a secret, in inputs or outputs", () => {
    const all = [...rec.registrations.map((r) => r.wire), ...rec.outputs.values()];
    expect(JSON.stringify(all)).toContain("DEFAULTKEYxyz");
    expect(JSON.stringify(all.map(publicPart))).not.toContain("DEFAULTKEYxyz");
  });
});

describe("an invalid fleet", () => {
  it("stops the program with the validator's path-named errors before any resource is registered", async () => {
    const fleet = exampleFleet();
    fleet.hosts[0].connection.port = 70000;
    fleet.defaults.firewall.sshAllow[1] = "10.0.0.300/8";
    const expected = validateFleet(fleet);
    expect(expected.ok).toBe(false);
    const errors = expected.ok ? [] : expected.errors;
    expect(errors.length).toBeGreaterThanOrEqual(2);

    const rec = startRecording({ config: { "hardening:fleet": fleet, "hardening:sshPrivateKey": KEY }, secretKeys: ["hardening:sshPrivateKey"] });
    let thrown: unknown;
    try { deployFleet({ payloadDir }); } catch (err) { thrown = err; }
    expect(pulumi.RunError.isInstance(thrown)).toBe(true);
    for (const line of errors) expect((thrown as Error).message).toContain(line);
    await new Promise((r) => setTimeout(r, 50));
    expect(rec.registrations).toEqual([]);
  });
});

describe("a change to one unit's policy", () => {
  it("changes that unit's trigger (and confirm's, which follows every unit) and nothing else", async () => {
    const before = triggersOf((await run(exampleFleet())).rec, "web1");
    const fleet = exampleFleet();
    fleet.hosts[0].policy = { cron: { allow: ["root", "www-data"] } };
    const { rec } = await run(fleet);
    const after = triggersOf(rec, "web1");
    const changed = Object.keys(before).filter((k) => before[k] !== after[k]);
    expect(changed).toEqual(["cron", "confirm"]);
    // other hosts: untouched
    const other = (await run(exampleFleet())).rec;
    expect(triggersOf(rec, "db1")).toEqual(triggersOf(other, "db1"));
  });
});

describe("a refresh that found one unit drifted on one host", () => {
  it("changes that unit's trigger and that host's confirm, nothing else in the fleet", async () => {
    const hosts = ["web1", "db1", "mail1"];
    const fresh = (await run(exampleFleet())).rec;
    // db1-drift's state after `pulumi refresh` found its firewall drifted (read() bumped the count)
    const drifted: NewResource = (args) => ({
      id: args.custom ? `${args.name}-id` : undefined,
      state: args.name === "db1-drift" ? { ...args.inputs, heal: { firewall: 1 } } : args.inputs,
    });
    const { rec } = await run(exampleFleet(), {}, drifted);
    const changed = hosts.flatMap((h) => {
      const [a, b] = [triggersOf(fresh, h), triggersOf(rec, h)];
      return Object.keys(a).filter((k) => a[k] !== b[k]).map((k) => `${h}-${k}`);
    });
    expect(changed).toEqual(["db1-firewall", "db1-confirm"]);
    const db1 = planFleet(exampleFleet())[1];
    expect(db1.steps[1].name).toBe("firewall");
    expect(rec.byName("db1-firewall").wire.triggers).toEqual([db1.steps[1].sha256, 1]);
    // confirm follows every step before it: packages (0), firewall (1), sshd, fail2ban, cron (0)
    expect(rec.byName("db1-confirm").wire.triggers).toEqual([...stepTriggers(db1.steps, db1.steps.length - 1), 0, 1, 0, 0, 0]);
  });
});

describe("a host that names its own key", () => {
  it("logs in to that host with it, and to the others with the default key", async () => {
    const fleet = exampleFleet();
    fleet.hosts[1].connection.privateKey = "db1Key";
    const { rec } = await run(fleet, { "hardening:db1Key": DB1_KEY });
    expect(reveal(rec.byName("db1-firewall").wire.connection).privateKey).toBe(DB1_KEY);
    expect(reveal(rec.byName("db1-teardown").wire.connection).privateKey).toBe(DB1_KEY);
    expect(reveal(rec.byName("web1-firewall").wire.connection).privateKey).toBe(KEY);
    const visible = JSON.stringify(rec.registrations.map((r) => publicPart(r.wire)));
    expect(visible).not.toContain("DB1OWNKEY");
  });
});
