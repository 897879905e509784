// HostDrift as the Pulumi engine sees it: registered under setMocks (key secret, type, outputs), and its
// serialized provider, the exact text Pulumi stores in state, loaded the way the dynamic-provider host
// loads it (require-from-string) in a plain node process, then read() and diff() against a real host.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import type { HostPlan } from "../../src/plan/types";
import { HostDrift, hostDriftInputs } from "../../src/pulumi/drift-resource";
import type { LabHost } from "../lab/lab";
import { labSuite } from "../lab/suite";
import { allRegistered, isSecret, reveal, startRecording } from "../pulumi/recorder";
import { labFleet } from "./lab-fleet";

// What the dynamic-provider host does with the `__provider` property, in a process of its own.
const ENGINE_SIDE = `
const fs = require("node:fs");
const [file, propsFile] = process.argv.slice(1);
const provider = require("require-from-string")(fs.readFileSync(file, "utf8")).handler();
const props = JSON.parse(fs.readFileSync(propsFile, "utf8"));
(async () => {
  const read = await provider.read(props.host, props);
  const diff = await provider.diff(props.host, read.props, props);
  console.log(JSON.stringify({ drift: read.props.drift, heal: read.props.heal, via: read.props.checkedVia, changes: diff.changes }));
})().catch((e) => { console.error(e); process.exit(1); });`;

labSuite("HostDrift under the Pulumi engine's rules", (lab) => {
  let host: LabHost;
  let plan: HostPlan;
  let key: string;
  let tmp: string;
  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), "harden-hostdrift-"));
    host = await lab().host({ name: "hd1" });
    [plan] = planFleet(labFleet(lab(), [{ host }]));
    key = readFileSync(lab().adminKey, "utf8");
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it("registers with the key as a secret and never in the provider text; the serialized provider reads a real host", async () => {
    const recording = startRecording({});
    const resource = new HostDrift("hd1-drift", { plan, privateKey: key });
    await allRegistered([resource]);
    expect(recording.registrations).toHaveLength(1);
    const reg = recording.byName("hd1-drift");
    expect(reg.type).toBe("pulumi-nodejs:dynamic/hardening:HostDrift");
    expect(isSecret(reg.wire.privateKey)).toBe(true);
    expect(reveal(reg.wire.privateKey)).toBe(key);
    expect(reg.additionalSecretOutputs).toContain("privateKey");
    expect(reg.wire.drift).toEqual({});
    expect(reg.wire.driftModule).toBe("src/drift/check-host.ts");

    const providerText = reg.wire.__provider as string;
    expect(typeof providerText).toBe("string");
    const keyBody = key.split("\n")[1];
    expect(providerText).not.toContain(keyBody);
    expect(providerText).not.toContain(process.cwd()); // no machine path in state

    // Before any apply the host is reached on its current endpoint and differs from the plan in many ways.
    writeFileSync(join(tmp, "provider.js"), providerText);
    writeFileSync(join(tmp, "props.json"), JSON.stringify({ ...hostDriftInputs(plan, key, 30), heal: {}, checkedVia: "" }));
    const run = spawnSync(process.execPath, ["-e", ENGINE_SIDE, join(tmp, "provider.js"), join(tmp, "props.json")],
      { cwd: process.cwd(), encoding: "utf8", timeout: 60_000 });
    expect(run.stderr).toBe("");
    const seen = JSON.parse(run.stdout) as { drift: Record<string, string>; heal: Record<string, number>; via: string; changes: boolean };
    expect(seen.via).toBe(`current root@${host.ip}:22`);
    expect(seen.changes).toBe(true);
    expect(seen.drift["file /etc/cron.allow"]).toBe("file /etc/cron.allow: missing, expected 0640 root:crontab");
    expect(seen.drift["sshd port"]).toBe("sshd port: expected 2222, found 22");
    expect(Object.keys(seen.heal).sort()).toEqual(["cron", "fail2ban", "firewall", "sshd"]);
  });
});
