// External judges: ssh-audit (from the root namespace, like an auditor on the network) with the hand-written
// policies in test/judges/, and Lynis (groups ssh, firewalls, scheduling) inside the host. Both run against
// the host's stock Debian configuration first, then against the same host after the plan is applied.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { LabHost } from "../lab/lab";
import { runSync } from "../lab/exec";
import { labSuite } from "../lab/suite";
import { ROOTS, figure, must } from "./incidents-helpers";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";

const POLICY: Record<(typeof ROOTS)[number], string> = {
  "debian-12": join(__dirname, "../judges/openssh-9.policy.txt"),
  "debian-13": join(__dirname, "../judges/openssh-10.policy.txt"),
};

interface SshAudit {
  code: number;
  passed: boolean;
  out: string;
}

function sshAudit(policy: string, h: LabHost, port: number): SshAudit {
  const t0 = Date.now();
  const r = runSync("ssh-audit", ["-n", "-t", "10", "-P", policy, "-p", String(port), h.ip], { timeoutMs: 30_000 });
  const out = r.stdout + r.stderr;
  const passed = /Result:\s*✔ Passed/.test(out);
  if (!passed && !/Result:\s*❌ Failed/.test(out)) throw new Error(`ssh-audit gave no verdict (rc ${r.code}) in ${Date.now() - t0} ms:\n${out}`);
  return { code: r.code, passed, out };
}

interface Lynis {
  index: number;
  version: string;
  suggestions: string[];
  warnings: string[];
  seconds: number;
}

/**
 * `lynis audit system --quick --tests-from-group "ssh firewalls scheduling"` inside the host. Lynis 3.1
 * (Debian 13) refuses spaces in arguments (its SafeInput allows [A-Za-z0-9/._:=-] per line), so the group
 * list is passed one per line there: lynis splits it on whitespace either way.
 */
async function lynis(h: LabHost): Promise<Lynis> {
  const version = (await must(h, "lynis show version")).trim();
  const sep = /^3\.0\./.test(version) ? " " : "\n";
  const groups = ["ssh", "firewalls", "scheduling"].join(sep);
  const t0 = Date.now();
  const r = await h.exec(`cd /tmp && rm -f /var/log/lynis-report.dat && lynis audit system --quick --no-colors --tests-from-group '${groups}'`, { timeoutMs: 120_000 });
  const seconds = (Date.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`lynis failed (rc ${r.code}):\n${r.stdout.slice(-3000)}${r.stderr}`);
  const report = await must(h, "cat /var/log/lynis-report.dat");
  const index = Number(/^hardening_index=(\d+)$/m.exec(report)?.[1] ?? NaN);
  const list = (key: string) => [...report.matchAll(new RegExp(`^${key}\\[\\]=(.*)$`, "gm"))].map((m) => m[1]);
  if (!Number.isFinite(index)) throw new Error(`lynis report has no hardening_index:\n${report.slice(0, 2000)}`);
  return { index, version, suggestions: list("suggestion"), warnings: list("warning"), seconds };
}

labSuite("external judges: ssh-audit policy and Lynis, before and after hardening", (lab) => {
  ROOTS.forEach((root, i) => {
    describe(root, () => {
      let h: LabHost;
      let before: { audit: SshAudit; lynis: Lynis };
      beforeAll(async () => {
        h = await lab().host({ name: `judge${i}`, root });
      });

      it("the stock Debian sshd FAILS the hardened ssh-audit policy; Lynis index measured", async () => {
        before = { audit: sshAudit(POLICY[root], h, 22), lynis: await lynis(h) };
        figure("judges", root, "ssh-audit policy on stock sshd (port 22)", before.audit.passed ? "PASSED" : "FAILED", `(rc ${before.audit.code})`);
        figure("judges", root, `lynis ${before.lynis.version} hardening index BEFORE`, before.lynis.index, `(${before.lynis.seconds.toFixed(1)} s)`);
        console.log(`[judges ${root}] before: lynis suggestions:\n  ${before.lynis.suggestions.join("\n  ")}\n  warnings: ${before.lynis.warnings.join("; ")}`);
        expect(before.audit.passed).toBe(false);
        expect(before.audit.code).not.toBe(0);
        // the policy fails for the crypto, not because it could not talk to sshd
        expect(before.audit.out).toMatch(/Key exchanges|Host keys|MACs|Ciphers|Compression/);
      });

      it("after the plan: the hardened sshd PASSES the policy and Lynis scores at least 85", async () => {
        const [plan] = labPlans(labFleet(lab(), [labHostSpec(h)], labDefaults(lab())));
        await applyOrThrow(lab(), plan);
        const audit = sshAudit(POLICY[root], h, 2222);
        figure("judges", root, "ssh-audit policy on hardened sshd (port 2222)", audit.passed ? "PASSED" : "FAILED", `(rc ${audit.code})`);
        if (!audit.passed) console.log(audit.out);
        expect(audit.passed).toBe(true);
        expect(audit.code).toBe(0);

        const after = await lynis(h);
        figure("judges", root, `lynis ${after.version} hardening index AFTER`, after.index, `(${after.seconds.toFixed(1)} s)`);
        console.log(`[judges ${root}] after: lynis suggestions:\n  ${after.suggestions.join("\n  ")}\n  warnings: ${after.warnings.join("; ")}`);
        expect(after.index).toBeGreaterThan(before.lynis.index);
        expect(after.index).toBeGreaterThanOrEqual(85);
      });
    });
  });
});
