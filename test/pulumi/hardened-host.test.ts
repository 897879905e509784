// HardenedHost against a hand-made plan: which resources, in which order, with which inputs and options.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ASSET_SIG, SIG_KEY, allRegistered, isSecret, publicPart, reveal, settled, startRecording, type Recording } from "./recorder";
import { fixturePlan, manyCidrs } from "./fixture-plan";
import { HardenedHost, stepTriggers } from "../../src/pulumi/hardened-host";
import { sha256 } from "../../src/render/hash";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nFIXTUREKEYMATERIALxyz123\n-----END OPENSSH PRIVATE KEY-----\n";
const payloadDir = mkdtempSync(join(tmpdir(), "harden-payloads-"));
afterAll(() => rmSync(payloadDir, { recursive: true, force: true }));

async function deliver(plan = fixturePlan()): Promise<{ rec: Recording; host: HardenedHost }> {
  const rec = startRecording({});
  const host = new HardenedHost(plan.host, { plan, privateKey: KEY, payloadDir });
  await allRegistered([host, ...host.uploads, ...host.steps, host.teardown]);
  await settled(host.sshPort);
  return { rec, host };
}

describe("HardenedHost", () => {
  let rec: Recording;
  let host: HardenedHost;
  const plan = fixturePlan();
  beforeAll(async () => ({ rec, host } = await deliver(plan)));

  it("registers the payload, one command per step in plan order, then the teardown, all children of the host", () => {
    const names = rec.registrations.map((r) => `${r.type} ${r.name}`);
    expect(names).toEqual([
      "hardening:index:HardenedHost web1",
      `command:remote:CopyToRemote web1-payload-${plan.uploads[0].sha256.slice(0, 12)}`,
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

  it("chains every step on the one before it, and the firewall on the payload", () => {
    const order = rec.registrations.slice(1);
    for (let i = 1; i < order.length; i++) {
      expect(order[i].dependencies, order[i].name).toEqual([order[i - 1].urn]);
    }
    expect(order[0].dependencies).toEqual([]);
  });

  it("runs each step's command with its script on stdin, triggered by its sha256, replaced delete-first", () => {
    for (const step of plan.steps) {
      const r = rec.byName(`web1-${step.name}`);
      expect(r.wire.create).toBe(step.command);
      expect(r.wire.update).toBe(step.command);
      expect(r.wire.stdin).toBe(step.script);
      expect((r.wire.triggers as string[])[0]).toBe(step.sha256);
      expect(r.wire.triggers).toHaveLength(step.name === "confirm" ? 5 : 1);
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
    for (const r of rec.registrations) expect(JSON.stringify(r.wire).length, r.name).toBeLessThan(4_000);
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

describe("HardenedHost with extra triggers (drift's heal count)", () => {
  it("adds them to that unit and to confirm only", async () => {
    const plan = fixturePlan({ host: "db1", cidrs: 10 });
    const rec = startRecording({});
    const host = new HardenedHost("db1", { plan, privateKey: KEY, payloadDir, extraTriggers: { sshd: settledLater(3) } });
    await allRegistered([host, ...host.uploads, ...host.steps, host.teardown]);
    expect(rec.byName("db1-sshd").wire.triggers).toEqual([plan.steps[1].sha256, 3]);
    expect(rec.byName("db1-firewall").wire.triggers).toEqual([plan.steps[0].sha256]);
    expect(rec.byName("db1-cron").wire.triggers).toEqual([plan.steps[3].sha256]);
    expect(rec.byName("db1-confirm").wire.triggers).toEqual([...stepTriggers(plan.steps, 4), 3]);
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
