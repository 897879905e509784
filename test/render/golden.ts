// Golden files: a unit as a reviewer reads it, compared byte for byte with test/render/golden/<unit>/.
// UPDATE_GOLDEN=1 rewrites them; review the diff before committing it.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ResolvedHost } from "../../src/policy/types";
import type { UnitSpec } from "../../src/render/unit";

const SNIPPETS = ["validate", "snapshot", "activate", "verify", "converge", "restore", "uninstall"] as const;

/** Every part of a unit in one text: files, permissions, each snippet, requirements, summary. */
export function unitText(unit: UnitSpec): string {
  const parts = unit.files.map((f) => `=== file ${f.path} ${f.mode} ${f.owner}:${f.group}\n${f.content}`);
  parts.push(...unit.permissions.map((p) => `=== permission ${p.path} ${p.mode} ${p.owner}:${p.group}\n`));
  for (const step of SNIPPETS) {
    const text = unit[step] ?? "";
    parts.push(`=== ${step}\n${text}${text.endsWith("\n") || text === "" ? "" : "\n"}`);
  }
  parts.push(`=== requires ${unit.requires.join(" ")}\n=== summary\n${unit.summary.join("\n")}\n`);
  return parts.join("");
}

/** One test per host: the unit renders exactly as its reviewed golden file. */
export function goldenSuite(unit: string, hosts: Record<string, ResolvedHost>, render: (host: ResolvedHost) => UnitSpec): void {
  describe(`${unit} golden files`, () => {
    for (const name of Object.keys(hosts)) {
      it(`${name} renders as reviewed`, () => {
        const golden = join(__dirname, "golden", unit, `${name}.txt`);
        const text = unitText(render(hosts[name]));
        if (process.env.UPDATE_GOLDEN === "1") {
          mkdirSync(dirname(golden), { recursive: true });
          writeFileSync(golden, text);
        }
        expect(text).toBe(readFileSync(golden, "utf8"));
      });
    }
  });
}
