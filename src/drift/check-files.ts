// Managed files: present, same bytes, same mode and ownership as the plan installs them.
import type { Artifact } from "../render/artifact";
import type { FileExpect } from "../plan/drift-expect";
import { quote, type DriftItem } from "./item";
import { lineDiff } from "./line-diff";
import type { ObservedFile } from "./observation";

/** "644" -> "0644", "1730" stays: how the plan writes modes. */
export function fourDigits(mode: string): string {
  return mode.padStart(4, "0");
}

const MAX_SHOWN = 6;

export function checkFiles(expected: FileExpect[], observed: ObservedFile[], contents: Artifact[]): DriftItem[] {
  const items: DriftItem[] = [];
  const byPath = new Map(observed.map((f) => [f.path, f]));
  for (let want of expected) {
    const have = byPath.get(want.path);
    const key = `file ${want.path}`;
    const owner = `${want.owner}:${want.group === "@primary" ? "(primary group)" : want.group === "@crontab" ? "crontab" : want.group}`;
    if (!have) continue; // the probe was rendered for another plan: the caller reports that
    if (!have.exists) {
      // a permission (no content of ours) is enforced only where the path exists, as the unit does:
      // a server without cron has no /etc/crontab, and that is not drift
      if (want.sha256 === null) continue;
      items.push({ unit: want.unit, key, expected: `present, ${want.mode} ${owner}`, found: "missing",
        message: `file ${want.path}: missing, expected ${want.mode} ${owner}` });
      continue;
    }
    if (want.sha256 !== null && have.sha256 !== want.sha256) {
      const content = contents.find((c) => c.path === want.path)?.content;
      let detail = "";
      if (content !== undefined && have.lines) {
        const changes = lineDiff(content.replace(/\n$/, "").split("\n"), have.lines);
        const shown = changes.slice(0, MAX_SHOWN).map((c) => `${c.op}${quote(c.line, 120)}`);
        if (changes.length > MAX_SHOWN) shown.push(`(${changes.length - MAX_SHOWN} more)`);
        detail = `: ${shown.join(" ")}`;
      }
      items.push({ unit: want.unit, key: `${key} content`, expected: want.sha256, found: have.sha256,
        message: `file ${want.path}: content differs from the plan${detail}` });
    }
    const mode = fourDigits(have.mode);
    // "@crontab": 0640 root:crontab, or 0644 root:root on a host without cron (no crontab group)
    const noCron = want.group === "@crontab" && have.group === "root";
    if (noCron) want = { ...want, mode: "0644", group: "root" };
    if (mode !== want.mode) {
      items.push({ unit: want.unit, key: `${key} mode`, expected: want.mode, found: mode,
        message: `file ${want.path}: mode ${mode}, expected ${want.mode}` });
    }
    const group = want.group === "@primary" ? have.ownerPrimaryGroup : want.group === "@crontab" ? "crontab" : want.group;
    if (have.owner !== want.owner || have.group !== group) {
      items.push({ unit: want.unit, key: `${key} owner`, expected: `${want.owner}:${group}`, found: `${have.owner}:${have.group}`,
        message: `file ${want.path}: owner ${have.owner}:${have.group}, expected ${want.owner}:${group}` });
    }
  }
  return items;
}
