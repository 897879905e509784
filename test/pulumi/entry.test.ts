// The entry points: src/index.ts as Pulumi loads it (an async program: reads the fleet from
// hardening:fleet or the module hardening:fleetModule names, registers the hosts, returns outputs),
// and `harden-fleet/pulumi` (src/pulumi/index.ts) as a library that registers nothing on import.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { allRegistered, reveal, settled, startRecording } from "./recorder";

const KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nENTRYKEY\n-----END OPENSSH PRIVATE KEY-----\n";
const repo = join(__dirname, "..", "..");
const fleet = () => parse(readFileSync(join(repo, "stacks", "Pulumi.example.yaml"), "utf8")).config["hardening:fleet"];
const runProgram = async () => (await import("../../src/index.js")).default();
const failure = async (p: Promise<unknown>) => p.then(() => { throw new Error("expected a failure"); }, (e: Error) => e);

describe("package entries", () => {
  it("harden-fleet/pulumi registers nothing; HardenedHost({ host, policy, fleet }) plans like the fleet does", async () => {
    const rec = startRecording({});
    const lib = await import("../../src/pulumi/index.js");
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
    const outputs = await runProgram();
    expect(Object.keys(outputs)).toEqual(["hosts"]);
    const names = Object.keys(outputs.hosts);
    expect(names).toEqual(["web1", "db1", "mail1"]);
    for (const name of names) {
      expect(await settled(outputs.hosts[name].sshPort)).toBe(2222);
      expect(await settled(outputs.hosts[name].sshUser)).toBe("root");
      expect(Object.keys(outputs.hosts[name].units)).toEqual(["packages", "firewall", "sshd", "fail2ban", "cron", "confirm"]);
    }
    expect(rec.registrations.filter((r) => r.type === "hardening:index:HardenedHost").map((r) => r.name)).toEqual(names);
  });

  it("refuses both keys, neither key, and a module that does not load, before registering anything", async () => {
    const dir = mkdtempSync(join(tmpdir(), "harden-program-"));
    writeFileSync(join(dir, "throws.ts"), `throw new Error("inventory offline");\n`);
    writeFileSync(join(dir, "typo.ts"), `export default ${JSON.stringify(fleet()).replace('"maxAuthTries"', '"maxAuthTrys"')};\n`);
    const { stackFleet, deployFleet } = await import("../../src/pulumi/program.js");
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ "hardening:fleet": fleet(), "hardening:fleetModule": "fleets/example.ts" }, /^hardening:fleet and hardening:fleetModule are both set; keep one$/],
      [{}, /^set hardening:fleet \(the fleet object\) or hardening:fleetModule \(a module exporting it\)$/],
      [{ "hardening:fleetModule": "throws.ts" }, new RegExp(`^hardening:fleetModule: ${dir}/throws.ts: could not load: inventory offline$`)],
      [{ "hardening:fleetModule": "absent.ts" }, new RegExp(`^hardening:fleetModule: cannot read ${dir}/absent.ts: ENOENT$`)],
    ];
    for (const [config, message] of cases) {
      const rec = startRecording({ config });
      const err = await failure(stackFleet(dir));
      expect(err.constructor.name, String(err)).toBe("RunError");
      expect(err.message).toMatch(message);
      expect(rec.registrations).toEqual([]);
    }
    // a module that loads but is invalid: the same path-named errors as for YAML, named for its key
    const rec = startRecording({ config: { "hardening:fleetModule": "typo.ts", "hardening:sshPrivateKey": KEY } });
    const input = await stackFleet(dir);
    expect(() => deployFleet({ fleet: input })).toThrow(/^hardening:fleetModule: invalid fleet \(1 error\):\n {2}defaults\.ssh\.maxAuthTrys: unknown key; did you mean maxAuthTries\?$/);
    expect(rec.registrations).toEqual([]);
  });
});
