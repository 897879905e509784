// HardenedHost against a hand-made plan: which resources, in which order, with which inputs and options.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ASSET_SIG, SIG_KEY, UNKNOWN, allRegistered, isSecret, publicPart, reveal, settled, startRecording, type Recording } from "./recorder";
import { fixturePlan, manyCidrs } from "./fixture-plan";
import { HardenedHost, stepTriggers } from "../../src/pulumi/hardened-host";
import { hostDriftInputs } from "../../src/pulumi/drift-resource";
import { sha256 } from "../../src/render/hash";
import type { NewResource } from "./recorder";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nFIXTUREKEYMATERIALxyz123\n-----END OPENSSH PRIVATE KEY-----\n";
const payloadDir = mkdtempSync(join(tmpdir(), "harden-payloads-"));
afterAll(() => rmSync(payloadDir, { recursive: true, force: true }));

const DRIFT_TYPE = "pulumi-nodejs:dynamic/hardening:HostDrift";

async function deliver(plan = fixturePlan(), newResource?: NewResource): Promise<{ rec: Recording; host: HardenedHost }> {
  const rec = startRecording({ newResource });
  const host = new HardenedHost(plan.host, { plan, privateKey: KEY, payloadDir });
  await allRegistered([host, host.drift, ...host.uploads, ...host.steps, host.teardown]);
  await settled(host.sshPort);
  return { rec, host };
}

/** The mock engine's default, except that `<host>-drift` has the heal counts a drifted refresh left in state. */
const withHeal = (host: string, heal: Record<string, number>): NewResource => (args) => ({
  id: args.custom ? `${args.name}-id` : undefined,
  state: args.name === `${host}-drift` ? { ...args.inputs, heal } : args.inputs,
});

const UNITS = ["firewall", "sshd", "fail2ban", "cron"];

describe("HardenedHost", () => {
  let rec: Recording;
  let host: HardenedHost;
  const plan = fixturePlan();
  beforeAll(async () => ({ rec, host } = await deliver(plan)));

  it("registers the payload, the drift resource, one command per step in plan order, then the teardown, all children of the host", () => {
    const names = rec.registrations.map((r) => `${r.type} ${r.name}`);
    expect(names).toEqual([
      "hardening:index:HardenedHost web1",
      `command:remote:CopyToRemote web1-payload-${plan.uploads[0].sha256.slice(0, 12)}`,
      `${DRIFT_TYPE} web1-drift`,
      "command:remote:Command web1-firewall",
      "command:remote:Command web1-sshd",
      "command:remote:Command web1-fail2ban",
      "command:remote:Command web1-cron",
      "command:remote:Command web1-confirm",
      "command:remote:Command web1-teardown",
    ]);
    const component = rec.byName("web1");
    for (const r of rec.registrations.slice(1)) expect(r.parent, r.name).toBe(component.urn);
  });

  it("chains every step on the one before it and the firewall on the payload; every unit step and confirm also read the drift resource", () => {
    const drift = rec.byName("web1-drift");
    const chain = rec.registrations.slice(1).filter((r) => r !== drift);
    expect(chain[0].dependencies).toEqual([]);
    expect(drift.dependencies).toEqual([]);
    for (let i = 1; i < chain.length; i++) {
      const deps = chain[i].name === "web1-teardown" ? [chain[i - 1].urn] : [chain[i - 1].urn, drift.urn];
      expect([...chain[i].dependencies].sort(), chain[i].name).toEqual(deps.sort());
    }
  });

  it("runs each step's command with its script on stdin, triggered by its sha256 (and heal count), replaced delete-first", () => {
    for (const step of plan.steps) {
      const r = rec.byName(`web1-${step.name}`);
      expect(r.wire.create).toBe(step.command);
      expect(r.wire.update).toBe(step.command);
      expect(r.wire.stdin).toBe(step.script);
      expect((r.wire.triggers as string[])[0]).toBe(step.sha256);
      // a unit: [sha256, heal count]; confirm: its 5 plus the 4 units' heal counts
      expect(r.wire.triggers).toHaveLength(step.name === "confirm" ? 9 : 2);
      if (step.name !== "confirm") expect(r.wire.triggers, r.name).toEqual([step.sha256, 0]); // a fresh stack: nothing healed
      expect(r.wire.addPreviousOutputInEnv).toBe(false);
      expect(r.wire).not.toHaveProperty("environment");
      expect(r.wire).not.toHaveProperty("delete");
      expect(r.deleteBeforeReplace).toBe(true);
      // @pulumi/command's own options survive ours: a trigger change is a replace, connection stays secret
      expect(r.replaceOnChanges).toContain("triggers[*]");
      expect(r.additionalSecretOutputs).toContain("connection");
    }
  });

  it("triggers confirm on every step before it and the connection it ran over", () => {
    const [firewall] = plan.steps;
    expect(rec.byName("web1-confirm").wire.triggers).toEqual([
      plan.steps[4].sha256,
      `firewall ${firewall.sha256} root@203.0.113.10:22`,
      `sshd ${plan.steps[1].sha256} root@203.0.113.10:22`,
      `fail2ban ${plan.steps[2].sha256} root@203.0.113.10:2222`,
      `cron ${plan.steps[3].sha256} root@203.0.113.10:2222`,
      0, 0, 0, 0, // the units' heal counts, in step order
    ]);
    // the operator moving `connection` to the new port re-runs firewall, sshd and so confirm; nothing else
    const moved = fixturePlan({ currentPort: 2222 }).steps;
    const changed = moved.filter((s, i) => JSON.stringify(stepTriggers(moved, i)) !== JSON.stringify(stepTriggers(plan.steps, i)));
    expect(changed.map((s) => s.name)).toEqual(["confirm"]);
  });

  it("connects over the pinned host key, as the step's endpoint says, with the key as a secret", () => {
    for (const step of plan.steps) {
      const r = rec.byName(`web1-${step.name}`);
      expect(isSecret(r.wire.connection), r.name).toBe(true);
      expect(reveal(r.wire.connection)).toEqual({
        host: "203.0.113.10", port: step.via === "current" ? 22 : 2222, user: "root",
        hostKey: plan.current.hostKey, privateKey: KEY, dialErrorLimit: 3, perDialTimeout: 15,
      });
    }
    expect(["firewall", "sshd", "fail2ban", "cron", "confirm"].map((s) => reveal(rec.byName(`web1-${s}`).wire.connection).port))
      .toEqual([22, 22, 2222, 2222, 2222]);
  });

  it("keeps the uninstall script in a teardown that runs it only on delete, over the post-apply endpoint", () => {
    const t = rec.byName("web1-teardown");
    expect(t.wire).toMatchObject({ create: "sh -n", update: "sh -n", delete: "sh -s", stdin: plan.teardown, addPreviousOutputInEnv: false });
    expect(t.wire).not.toHaveProperty("triggers");
    expect(reveal(t.wire.connection)).toMatchObject({ port: 2222, user: "root", hostKey: plan.target.hostKey });
  });

  it("uploads the blocklist as a file asset referenced by hash: state and stdin stay small", () => {
    const upload = plan.uploads[0];
    expect(upload.content.length).toBeGreaterThan(1_500_000);
    const copy = rec.byName(`web1-payload-${upload.sha256.slice(0, 12)}`);
    const source = copy.wire.source as Record<string, unknown>;
    expect(source[SIG_KEY]).toBe(ASSET_SIG);
    expect(source).not.toHaveProperty("text");
    expect(sha256(readFileSync(source.path as string, "utf8"))).toBe(upload.sha256);
    expect(copy.wire).toMatchObject({ remotePath: upload.remotePath, triggers: [upload.sha256] });
    expect(reveal(copy.wire.connection)).toMatchObject({ port: 22, hostKey: plan.current.hostKey });
    for (const r of rec.registrations) {
      // the drift resource also carries its serialized provider (its code, a few KB, the same for every host)
      const { __provider: _p, ...wire } = r.wire;
      expect(JSON.stringify(wire).length, r.name).toBeLessThan(4_000);
    }
    const drift = JSON.stringify(rec.byName("web1-drift").wire);
    for (const cidr of manyCidrs(100_000).filter((_, i) => i % 9973 === 0)) expect(drift).not.toContain(cidr);
    const firewall = String(rec.byName("web1-firewall").wire.stdin);
    expect(firewall).toContain(upload.remotePath);
    for (const cidr of manyCidrs(100_000).filter((_, i) => i % 9973 === 0)) expect(firewall).not.toContain(cidr);
  });

  it("never shows the private key outside a secret", () => {
    const everything = JSON.stringify([...rec.registrations.map((r) => r.wire), ...rec.outputs.values()]);
    expect(everything).toContain("FIXTUREKEYMATERIAL"); // the search can find it...
    const visible = JSON.stringify([...rec.registrations.map((r) => publicPart(r.wire)), ...[...rec.outputs.values()].map(publicPart)]);
    expect(visible).not.toContain("FIXTUREKEYMATERIAL"); // ...but only inside secrets
  });

  it("reports the post-apply port and user and the sha256 of each unit", async () => {
    expect(await settled(host.sshPort)).toBe(2222);
    const outputs = rec.outputs.get(rec.byName("web1").urn);
    expect(outputs).toEqual({
      address: "203.0.113.10", sshPort: 2222, sshUser: "root", policyHash: plan.policyHash,
      units: Object.fromEntries(plan.steps.map((s) => [s.name, s.sha256])),
    });
  });
});

describe("HardenedHost's drift resource", () => {
  let rec: Recording;
  let host: HardenedHost;
  const plan = fixturePlan({ host: "web2", cidrs: 10 });
  beforeAll(async () => ({ rec, host } = await deliver(plan)));

  it("is one HostDrift per host, a child of the host that depends on nothing, with the plan's probe and expectations", () => {
    const drifts = rec.registrations.filter((r) => r.type === DRIFT_TYPE);
    expect(drifts.map((r) => r.name)).toEqual(["web2-drift"]);
    const [drift] = drifts;
    expect(drift.custom).toBe(true);
    expect(drift.parent).toBe(rec.byName("web2").urn);
    expect(drift.dependencies).toEqual([]);
    const { __provider, ...inputs } = reveal(drift.wire);
    // desired state: nothing drifted; heal and checkedVia are filled by the provider
    expect(inputs).toEqual(hostDriftInputs(plan, KEY));
    expect(inputs.drift).toEqual({});
    expect(inputs.driftModule).toBe("src/drift/check-host.ts"); // relative: no machine path in state
    expect(typeof __provider).toBe("string");
  });

  it("holds the private key only as a secret: input, output and the serialized provider", () => {
    const drift = rec.byName("web2-drift");
    expect(isSecret(drift.wire.privateKey)).toBe(true);
    expect(reveal(drift.wire.privateKey)).toBe(KEY);
    expect(drift.additionalSecretOutputs).toContain("privateKey");
    expect(JSON.stringify(publicPart(drift.wire))).not.toContain("FIXTUREKEYMATERIAL");
    // the provider is code only: it captured no key, no plan, no absolute path
    const provider = String(drift.wire.__provider);
    expect(provider).not.toContain("FIXTUREKEYMATERIAL");
    expect(provider).not.toContain(plan.target.address);
    expect(provider).not.toContain(process.cwd());
    expect(provider).toMatch(/require\("tsx\/cjs\/api"\)/); // modules are required inside its functions
  });

  it("exposes the heal counts the steps read: none on a fresh stack", async () => {
    // the default mock echoes the inputs: heal is not one of them (the provider fills it), read as 0
    expect(await settled(host.drift.heal)).toBeUndefined();
    expect(rec.byName("web2-sshd").wire.triggers).toEqual([plan.steps[1].sha256, 0]);
    // what create() returns on a real first up: heal {}, the same triggers
    const created = await deliver(plan, withHeal("web2", {}));
    expect(await settled(created.host.drift.heal)).toEqual({});
    expect(await settled(created.host.drift.drift)).toEqual({});
    for (const unit of UNITS) {
      const step = plan.steps.find((s) => s.name === unit)!;
      expect(created.rec.byName(`web2-${unit}`).wire.triggers, unit).toEqual([step.sha256, 0]);
    }
  });
});

describe("a heal count for one unit (left in state by a refresh that found it drifted)", () => {
  it("changes that unit's triggers and confirm's, nothing else", async () => {
    const plan = fixturePlan({ host: "web3", cidrs: 10 });
    const triggers = (r: Recording) => Object.fromEntries(plan.steps.map((s) => [s.name, r.byName(`web3-${s.name}`).wire.triggers]));
    const fresh = triggers((await deliver(plan)).rec);
    const healed = triggers((await deliver(plan, withHeal("web3", { sshd: 1 }))).rec);
    expect(plan.steps.map((s) => s.name).filter((n) => JSON.stringify(fresh[n]) !== JSON.stringify(healed[n])))
      .toEqual(["sshd", "confirm"]);
    expect(healed.sshd).toEqual([plan.steps[1].sha256, 1]);
    expect(healed.confirm).toEqual([...stepTriggers(plan.steps, 4), 0, 1, 0, 0]);
    for (const unit of UNITS.filter((u) => u !== "sshd")) expect(healed[unit]).toEqual(fresh[unit]);
    // and the next refresh that finds sshd drifted again: only sshd's count moves
    const again = triggers((await deliver(plan, withHeal("web3", { sshd: 2, cron: 1 }))).rec);
    expect(again.sshd).toEqual([plan.steps[1].sha256, 2]);
    expect(again.cron).toEqual([plan.steps[3].sha256, 1]);
    expect(again.firewall).toEqual(fresh.firewall);
  });
});

describe("a preview in which the drift resource changes (KNOWN LIMITATION)", () => {
  // Without provider-side preview support (dynamic providers have none) the engine answers a preview's
  // create or update with the resource's new inputs (pulumi/pkg/resource/plugin/provider_plugin.go,
  // Update: `!protocol.supportsPreview` -> NewInputs). `heal` is not an input, so it is unknown and so is
  // every unit's trigger: a preview of a plan change, or `preview --refresh` of a drifted host, lists
  // every unit of that host (and confirm) as a possible replace, while the up re-runs only the units
  // whose trigger really changed (execution.test.ts). Fix direction: carry `heal` in the inputs
  // (provider check() copying it from the old inputs, read() returning inputs with the bumped count).
  it("shows every unit step's heal trigger of that host as unknown", async () => {
    const plan = fixturePlan({ host: "web4", cidrs: 10 });
    const rec = startRecording({ preview: true }); // the mock echoes inputs: what the engine returns here
    const host = new HardenedHost("web4", { plan, privateKey: KEY, payloadDir });
    await allRegistered([host, host.drift, ...host.uploads, ...host.steps, host.teardown]);
    for (const step of plan.steps) {
      const triggers = rec.byName(`web4-${step.name}`).wire.triggers as unknown[];
      expect(triggers[0]).toBe(step.sha256);
      expect(triggers.slice(step.name === "confirm" ? 5 : 1), step.name).toEqual(step.name === "confirm" ? [UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN] : [UNKNOWN]);
    }
  });
});

describe("HardenedHost with extra triggers", () => {
  it("replace the heal count of that unit, in that unit and in confirm only", async () => {
    const plan = fixturePlan({ host: "db1", cidrs: 10 });
    const rec = startRecording({});
    const host = new HardenedHost("db1", { plan, privateKey: KEY, payloadDir, extraTriggers: { sshd: settledLater(3) } });
    await allRegistered([host, host.drift, ...host.uploads, ...host.steps, host.teardown]);
    expect(rec.byName("db1-sshd").wire.triggers).toEqual([plan.steps[1].sha256, 3]);
    expect(rec.byName("db1-firewall").wire.triggers).toEqual([plan.steps[0].sha256, 0]);
    expect(rec.byName("db1-cron").wire.triggers).toEqual([plan.steps[3].sha256, 0]);
    expect(rec.byName("db1-confirm").wire.triggers).toEqual([...stepTriggers(plan.steps, 4), 0, 3, 0, 0]);
  });
});

/** an Output that resolves a little later, as a provider's output would */
function settledLater(value: number): pulumi.Output<number> {
  return pulumi.output(new Promise<number>((r) => setTimeout(() => r(value), 10)));
}

describe("HardenedHost for a non-root login", () => {
  it("tears down through sudo, as the steps run", async () => {
    const plan = fixturePlan({ host: "mail1", targetUser: "admin", cidrs: 10 });
    const { rec } = await deliver(plan);
    expect(rec.byName("mail1-confirm").wire.create).toBe("sudo -n sh -s");
    expect(rec.byName("mail1-teardown").wire.delete).toBe("sudo -n sh -s");
    expect(reveal(rec.byName("mail1-teardown").wire.connection).user).toBe("admin");
  });
});
