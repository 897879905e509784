// Logging in with an ssh-agent instead of a key in config, under mocks: no key reaches Pulumi at all.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { parse } from "yaml";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { allRegistered, reveal, settled, startRecording, type Recording } from "./recorder";
import { planFleet } from "../../src/plan/plan";
import { HardenedHost } from "../../src/pulumi/hardened-host";
import { deployFleet } from "../../src/pulumi/program";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nDEFAULTKEYxyz\n-----END OPENSSH PRIVATE KEY-----\n";
const payloadDir = mkdtempSync(join(tmpdir(), "harden-payloads-"));
afterAll(() => rmSync(payloadDir, { recursive: true, force: true }));
const savedSock = process.env.SSH_AUTH_SOCK;
afterEach(() => {
  if (savedSock === undefined) delete process.env.SSH_AUTH_SOCK;
  else process.env.SSH_AUTH_SOCK = savedSock;
});

function exampleFleet(): any {
  const stack = parse(readFileSync(join(__dirname, "..", "..", "stacks", "Pulumi.example.yaml"), "utf8"));
  return stack.config["hardening:fleet"];
}

function record(config: Record<string, unknown>, fleet: unknown = exampleFleet()): Recording {
  return startRecording({
    config: { "hardening:fleet": fleet, ...config },
    secretKeys: Object.keys(config).filter((k) => k.endsWith("Key")),
  });
}

async function deploy(config: Record<string, unknown>): Promise<Recording> {
  const rec = record(config);
  const hosts = deployFleet({ payloadDir });
  await allRegistered(hosts.flatMap((h) => [h, h.drift, ...h.uploads, ...h.steps, h.teardown]));
  await Promise.all(hosts.map((h) => settled(h.sshPort)));
  return rec;
}

const commands = (rec: Recording) => rec.registrations.filter((r) => r.type.startsWith("command:remote:"));
const drifts = (rec: Recording) => rec.registrations.filter((r) => r.type.endsWith("hardening:HostDrift"));

describe("hardening:sshAgent", () => {
  it("a socket path: every step and upload logs in through that agent, and no key is anywhere", async () => {
    const rec = await deploy({ "hardening:sshAgent": "/run/harden/agent.sock" });
    const plans = planFleet(exampleFleet());
    expect(commands(rec)).toHaveLength(plans.reduce((n, p) => n + p.steps.length + 1 + p.uploads.length, 0));
    for (const r of commands(rec)) {
      const c = reveal(r.wire.connection);
      expect(c.agentSocketPath, r.name).toBe("/run/harden/agent.sock");
      expect(c, r.name).not.toHaveProperty("privateKey");
    }
    expect(drifts(rec)).toHaveLength(3);
    for (const d of drifts(rec)) {
      expect(d.wire.agentSocketPath, d.name).toBe("/run/harden/agent.sock");
      expect(d.wire.privateKey, d.name).toBeUndefined();
    }
    const all = JSON.stringify([...rec.registrations.map((r) => reveal(r.wire)), ...rec.outputs.values()]);
    expect(all).not.toContain("PRIVATE KEY");
  });

  it("true: the provider's SSH_AUTH_SOCK, so no socket path is stored (it changes per login session)", async () => {
    process.env.SSH_AUTH_SOCK = "/tmp/ssh-session/agent.1";
    const rec = await deploy({ "hardening:sshAgent": "true" });
    for (const r of [...commands(rec), ...drifts(rec)]) {
      const c = r.type.startsWith("command:") ? reveal(r.wire.connection) : r.wire;
      expect(c, r.name).not.toHaveProperty("privateKey");
      expect(c, r.name).not.toHaveProperty("agentSocketPath");
    }
    expect(JSON.stringify(rec.registrations.map((r) => reveal(r.wire)))).not.toContain("/tmp/ssh-session");
  });

  it("true without SSH_AUTH_SOCK is a clear error", () => {
    delete process.env.SSH_AUTH_SOCK;
    record({ "hardening:sshAgent": "true" });
    expect(() => deployFleet({ payloadDir })).toThrow(pulumi.RunError);
    record({ "hardening:sshAgent": "true" });
    expect(() => deployFleet({ payloadDir })).toThrow(/hardening:sshAgent is true, but SSH_AUTH_SOCK is not set/);
  });

  it("and a key in config is an error: keep one", () => {
    record({ "hardening:sshAgent": "/run/a.sock", "hardening:sshPrivateKey": KEY });
    expect(() => deployFleet({ payloadDir })).toThrow(/hardening:sshAgent and hardening:sshPrivateKey are both set/);
    const fleet = exampleFleet();
    fleet.hosts[1].connection.privateKey = "db1Key";
    record({ "hardening:sshAgent": "/run/a.sock", "hardening:db1Key": KEY }, fleet);
    expect(() => deployFleet({ payloadDir })).toThrow(/host db1 names its own key \(connection.privateKey: "db1Key"\)/);
  });

  it("neither agent nor key is a clear error that names both settings", () => {
    record({});
    expect(() => deployFleet({ payloadDir })).toThrow(pulumi.RunError);
    record({ "hardening:sshAgent": "false" });
    expect(() => deployFleet({ payloadDir })).toThrow(/no SSH login configured: set hardening:sshAgent .* or the secret hardening:sshPrivateKey/);
  });
});

describe("HardenedHost login arguments", () => {
  it("take a key or an agent socket, not both and not neither", () => {
    record({});
    const plan = planFleet(exampleFleet())[0];
    expect(() => new HardenedHost("both", { plan, privateKey: KEY, agentSocketPath: "/run/a.sock", payloadDir }))
      .toThrow("both: privateKey and agentSocketPath are both given; keep one");
    expect(() => new HardenedHost("none", { plan, payloadDir })).toThrow(/none: give privateKey or agentSocketPath/);
    expect(() => new HardenedHost("empty", { plan, agentSocketPath: "", payloadDir })).toThrow(/must be a socket path or true/);
  });
});
