// runPlan against a real lab host: uploads verified by sha256, one fresh SSH session per step with the
// pinned key, the script exactly on stdin, and nothing after the first failing step.
import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import type { HostPlan, Step, StepName } from "../../src/plan/types";
import type { LabHost } from "./lab";
import { RunnablePlan, resetSshSessions, runPlan, sshSessions } from "./plan-runner";
import { labSuite } from "./suite";

const sha = (s: string) => createHash("sha256").update(s).digest("hex");

/** A hand-made plan: only what the runner reads (HostPlan's review and drift fields do not matter here). */
function plan(h: LabHost, steps: Array<Pick<Step, "name" | "script"> & Partial<Step>>, uploads: HostPlan["uploads"] = []): RunnablePlan {
  const ep = h.endpoint();
  return {
    current: ep,
    uploads,
    steps: steps.map((s) => ({ command: "sh -s", sha256: sha(s.script), via: "current", connection: ep, ...s })),
  };
}

const payload = "10.0.0.0/8\n192.168.0.0/16\n";
const upload = { remotePath: `/var/lib/harden/payload/${sha(payload)}.txt`, sha256: sha(payload), content: payload };

labSuite("plan runner", (lab) => {
  let h: LabHost;
  beforeAll(async () => {
    h = await lab().host({ name: "plan", services: ["rsyslog", "sshd"] });
  });

  it("uploads, then runs steps in order and stops at the first failure", async () => {
    resetSshSessions();
    const p = plan(h, [
      { name: "firewall", script: `set -e; test "$(cat ${upload.remotePath})" = "$(printf '10.0.0.0/8\\n192.168.0.0/16')"; echo one >/tmp/step1; echo first` },
      { name: "sshd", script: "echo broken >&2; exit 7" },
      { name: "fail2ban", script: "echo three >/tmp/step3" },
    ], [upload]);
    const r = await runPlan(p, { identityFile: lab().adminKey });
    expect(r.map((x) => [x.kind, x.name, x.code])).toEqual([
      ["upload", `upload ${upload.remotePath}`, 0],
      ["step", "firewall", 0],
      ["step", "sshd", 7],
    ]);
    expect(r[1].stdout).toBe("first\n");
    expect(r[2].stderr).toBe("broken\n");
    expect(h.readFile(upload.remotePath)).toBe(payload);
    expect(h.readFile("/tmp/step1")).toBe("one\n");
    expect((await h.exec("test -e /tmp/step3")).code).toBe(1);
    expect(sshSessions(h.ip)).toBe(3); // 1 upload + 2 steps: the third never connected
  });

  it("refuses an upload whose sha256 does not match, leaving neither file nor temp file", async () => {
    const bad = { ...upload, remotePath: "/var/lib/harden/payload/bad.txt", sha256: sha("something else") };
    const r = await runPlan(plan(h, [{ name: "firewall", script: "touch /tmp/ran" }], [bad]), { identityFile: lab().adminKey });
    expect(r).toHaveLength(1);
    expect(r[0].code).toBe(3);
    expect(r[0].stderr).toContain("sha256 mismatch");
    const left = await h.exec("ls -A /var/lib/harden/payload; test -e /tmp/ran && echo ran");
    expect(left.stdout).not.toMatch(/bad\.txt|harden-upload|ran/);
  });

  it("opens a fresh SSH connection per step and sends the script byte for byte on stdin", async () => {
    const big = `cat >/dev/null <<'EOF'\n${"x".repeat(300_000)}\nEOF\necho "$SSH_CONNECTION"\n`;
    const probe = "echo \"$SSH_CONNECTION\"";
    const hashing: Step["script"] = `# the script itself is the data\n${"é€ \\ $HOME `x` '\"\n".repeat(50)}`;
    const r = await runPlan(
      plan(h, [
        { name: "firewall", script: big },
        { name: "sshd", script: probe },
        { name: "cron", script: hashing, command: "sha256sum" },
      ]),
      { identityFile: lab().adminKey },
    );
    expect(r.map((x) => x.code)).toEqual([0, 0, 0]);
    const ports = r.slice(0, 2).map((x) => x.stdout.split(" ")[1]);
    expect(ports[0]).not.toBe(ports[1]); // different client ports: two TCP connections
    expect(r[2].stdout).toBe(`${sha(hashing)}  -\n`);
  });

  it("fails a step whose connection pins another host key, without running it", async () => {
    const other = await lab().host({ name: "other", services: ["sshd"] });
    const step = { name: "sshd" as StepName, script: "touch /tmp/should-not-run", connection: { ...h.endpoint(), hostKey: other.hostKey } };
    const r = await runPlan(plan(h, [step]), { identityFile: lab().adminKey });
    await other.stop();
    expect(r[0].code).toBe(255);
    expect(r[0].stderr).toMatch(/Host key verification failed/);
    expect((await h.exec("test -e /tmp/should-not-run")).code).toBe(1);
  });

  it("runs only the named steps with onlySteps", async () => {
    const r = await runPlan(
      plan(h, [
        { name: "firewall", script: "exit 1" },
        { name: "cron", script: "echo only" },
      ]),
      { identityFile: lab().adminKey, onlySteps: ["cron"] },
    );
    expect(r.map((x) => [x.name, x.code, x.stdout])).toEqual([["cron", 0, "only\n"]]);
  });

  describe("on Debian 13 (OpenSSH 10)", () => {
    it("runs a step and an upload", async () => {
      const h13 = await lab().host({ name: "plan13", root: "debian-13", services: ["sshd"] });
      const r = await runPlan(plan(h13, [{ name: "sshd", script: `cat ${upload.remotePath}; sshd -V 2>&1` }], [upload]), { identityFile: lab().adminKey });
      await h13.stop();
      expect(r.map((x) => x.code)).toEqual([0, 0]);
      expect(r[1].stdout).toMatch(/^10\.0\.0\.0\/8\n192\.168\.0\.0\/16\nOpenSSH_10/);
    });
  });
});
