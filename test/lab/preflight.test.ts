// The lab fails loudly, saying why, when it cannot work here; it is skipped only when HARDEN_SKIP_LAB=1
// asks for it. Each case runs a real child process (vitest or tsx) without root or without CAP_SYS_ADMIN.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { runSync } from "./exec";

const REPO = join(__dirname, "..", "..");
const bin = (name: string) => join(REPO, "node_modules", ".bin", name);
const isRoot = process.getuid?.() === 0;
// As root we drop to an unprivileged user to see what a non-root run sees; otherwise we already are one.
const unprivileged = isRoot ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] : [];
const START = `require("./test/lab/lab").Lab.start().then(() => console.log("STARTED"), (e) => console.log("ERROR " + e.message))`;

function run(prefix: string[], argv: string[], env: NodeJS.ProcessEnv = {}) {
  const [cmd, ...args] = [...prefix, ...argv];
  const r = runSync(cmd, args, { env: { ...process.env, HOME: "/tmp", NO_COLOR: "1", FORCE_COLOR: "0", ...env }, timeoutMs: 120_000 });
  // eslint-disable-next-line no-control-regex
  return { ...r, stdout: r.stdout.replace(/\x1b\[[0-9;]*m/g, ""), stderr: r.stderr.replace(/\x1b\[[0-9;]*m/g, "") };
}

describe("lab preflight", () => {
  it("Lab.start() says that it needs root", () => {
    const r = run(unprivileged, [bin("tsx"), "-e", START]);
    expect(r.stdout).toMatch(/^ERROR lab: needs root \(running as uid \d+\).*HARDEN_SKIP_LAB=1/m);
  });

  it.runIf(isRoot)("Lab.start() says that it cannot make namespaces when CAP_SYS_ADMIN is missing", () => {
    const r = run(["setpriv", "--bounding-set=-sys_admin", "--inh-caps=-sys_admin"], [bin("tsx"), "-e", START]);
    expect(r.stdout).toMatch(/^ERROR lab: cannot create mount\/PID\/UTS\/IPC\/net namespaces: .*Operation not permitted/m);
  });

  it("a lab suite that cannot start fails, it is not skipped", () => {
    const r = run(unprivileged, [bin("vitest"), "run", "test/lab/plan-runner.test.ts"], { HARDEN_SKIP_LAB: "" });
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/FAIL .*plan-runner\.test\.ts > plan runner/);
    expect(r.stdout + r.stderr).toContain("lab: needs root");
  });

  it("HARDEN_SKIP_LAB=1 skips a lab suite and says so", () => {
    const r = run(unprivileged, [bin("vitest"), "run", "test/lab/plan-runner.test.ts"], { HARDEN_SKIP_LAB: "1" });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).toContain(`[lab] SKIPPED "plan runner": HARDEN_SKIP_LAB=1`);
    expect(r.stdout).toMatch(/Tests\s+\d+ skipped/);
  });
});
