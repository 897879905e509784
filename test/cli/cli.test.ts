import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { exampleFleet } from "../../src/policy/fixtures";

const repo = join(__dirname, "..", "..");
// the real entry point a user runs, in a child process: exit codes and streams as a shell sees them
function harden(...args: string[]) {
  const r = spawnSync(process.execPath, [join(repo, "bin", "harden.js"), ...args], { cwd: repo, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const scratch = () => mkdtempSync(join(tmpdir(), "harden-cli-"));

describe("harden validate", () => {
  it("accepts the bundled example stack", () => {
    const r = harden("validate", "--stack", "example");
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/Pulumi\.example\.yaml: valid, 3 host\(s\): web1, db1, mail1/);
    expect(r.code).toBe(0);
  });

  it("names every error with its path and exits 2", () => {
    const fleet = exampleFleet();
    fleet.hosts[2].policy = { firewall: { sshAllow: ["198.51.100.0/24", "10.0.0.300/8"] } };
    fleet.hosts[0].connection.port = 70000;
    const file = join(scratch(), "fleet.yaml");
    writeFileSync(file, stringify(fleet));
    const r = harden("validate", file);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hosts[2].policy.firewall.sshAllow[1]: "10.0.0.300/8" is not a CIDR');
    expect(r.stderr).toContain("hosts[0].connection.port: 70000 is not a port (1-65535)");
    expect(r.stderr).toMatch(/invalid fleet: 2 error\(s\)/);
  });

  it("explains a missing file and a wrong call with exit 2", () => {
    expect(harden("validate", "/nonexistent/fleet.yaml")).toMatchObject({ code: 2, stderr: expect.stringContaining("cannot read /nonexistent/fleet.yaml: ENOENT") });
    expect(harden("validate")).toMatchObject({ code: 2, stderr: expect.stringContaining("give one FILE or --stack NAME") });
    expect(harden("frobnicate")).toMatchObject({ code: 2, stderr: expect.stringContaining("usage:") });
  });
});

describe("harden render", () => {
  it("writes the review folder deterministically, and --check finds any edit", () => {
    const [a, b] = [scratch(), scratch()];
    expect(harden("render", "--stack", "example", "--out", a).code).toBe(0);
    expect(harden("render", "--stack", "example", "--out", b).code).toBe(0);
    const files = (dir: string) => readdirSync(dir, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length)).sort();
    expect(files(a)).toEqual(files(b));
    for (const f of files(a)) expect(readFileSync(join(a, f), "utf8"), f).toBe(readFileSync(join(b, f), "utf8"));
    expect(files(a)).toEqual(expect.arrayContaining([
      "/SUMMARY.md", "/web1/plan.json", "/web1/steps/01-packages.sh", "/web1/steps/02-firewall.sh", "/web1/steps/06-confirm.sh",
      "/web1/files/etc/ssh/sshd_config.d/00-harden.conf", "/web1/probe.sh", "/web1/teardown.sh",
    ]));

    expect(harden("render", "--stack", "example", "--out", a, "--check")).toMatchObject({ code: 0 });
    writeFileSync(join(a, "web1/files/etc/cron.allow"), "root\nmallory\n");
    const check = harden("render", "--stack", "example", "--out", a, "--check");
    expect(check.code).toBe(1);
    expect(check.stderr).toContain("changed: web1/files/etc/cron.allow");
  });

  it("plan.json names each step's command, script, sha256 and connection", () => {
    const out = scratch();
    harden("render", "--stack", "example", "--out", out);
    const plan = JSON.parse(readFileSync(join(out, "mail1/plan.json"), "utf8"));
    const sshd = plan.steps.find((s: { name: string }) => s.name === "sshd");
    expect(sshd).toMatchObject({ command: "sh -s", script: "steps/03-sshd.sh", via: "current", connection: { port: 22, user: "root" } });
    const script = readFileSync(join(out, "mail1", sshd.script), "utf8");
    const { createHash } = require("node:crypto");
    expect(createHash("sha256").update(script).digest("hex")).toBe(sshd.sha256);
  });

  it("refuses to write into a folder it did not create", () => {
    const out = scratch();
    writeFileSync(join(out, "notes.txt"), "mine\n");
    const r = harden("render", "--stack", "example", "--out", out);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("was not written by harden render");
    expect(r.stderr).not.toContain("    at "); // a message, not a stack trace
    expect(readFileSync(join(out, "notes.txt"), "utf8")).toBe("mine\n");
  });
});
