// The two entry points: src/index.ts as Pulumi loads it (registers the fleet, exports outputs) and
// src/lib.ts as a library (registers nothing; HardenedHost usable on its own with { host, policy }).
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { allRegistered, reveal, settled, startRecording } from "./recorder";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nENTRYKEY\n-----END OPENSSH PRIVATE KEY-----\n";
const fleet = () => parse(readFileSync(join(__dirname, "..", "..", "stacks", "Pulumi.example.yaml"), "utf8")).config["hardening:fleet"];

describe("package entries", () => {
  it("src/lib.ts registers nothing; HardenedHost({ host, policy, fleet }) plans like the fleet does", async () => {
    const rec = startRecording({});
    const lib = await import("../../src/lib.js");
    await new Promise((r) => setTimeout(r, 20));
    expect(rec.registrations).toEqual([]);

    const { hosts, ...context } = fleet();
    const { policy, ...host } = hosts[0];
    const web1 = new lib.HardenedHost("web1", { host, policy, fleet: context, privateKey: KEY, payloadDir: mkdtempSync(join(tmpdir(), "harden-payloads-")) });
    await allRegistered([web1, ...web1.steps, web1.teardown]);
    const [expected] = lib.planFleet(fleet());
    expect(web1.plan).toEqual(expected);
    expect(rec.byName("web1-sshd").wire.stdin).toBe(expected.steps.find((s) => s.name === "sshd")!.script);
    expect(reveal(rec.byName("web1-confirm").wire.connection).port).toBe(2222);

    // the same validation, with paths as in a fleet
    expect(() => new lib.HardenedHost("bad", { host: { ...host, connection: { user: "root", port: 0 } }, privateKey: KEY }))
      .toThrow(/hosts\[0\]\.connection\.port/);
  });

  it("src/index.ts is the stack program: one host per fleet entry, outputs per host", async () => {
    const rec = startRecording({
      config: { "hardening:fleet": fleet(), "hardening:sshPrivateKey": KEY },
      secretKeys: ["hardening:sshPrivateKey"],
    });
    const program = await import("../../src/index.js");
    expect(Object.keys(program)).toEqual(["hosts"]);
    const names = Object.keys(program.hosts);
    expect(names).toEqual(["web1", "db1", "mail1"]);
    for (const name of names) {
      expect(await settled(program.hosts[name].sshPort)).toBe(2222);
      expect(await settled(program.hosts[name].sshUser)).toBe("root");
      expect(Object.keys(program.hosts[name].units)).toEqual(["packages", "firewall", "sshd", "fail2ban", "cron", "confirm"]);
    }
    expect(rec.registrations.filter((r) => r.type === "hardening:index:HardenedHost").map((r) => r.name)).toEqual(names);
  });
});
