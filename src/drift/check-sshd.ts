// sshd: every declared keyword against what `sshd -T` says is in effect, and which file set a
// drifted one (the first line in sshd's read order that sets it, outside Match blocks).
import type { DriftItem } from "./item";
import type { ConfigLine, Observation } from "./observation";

/** Keywords whose lines add up instead of the first one winning. */
const ACCUMULATE = new Set(["port", "listenaddress", "allowusers", "allowgroups", "denyusers", "denygroups"]);

function effective(lines: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of lines) {
    const m = /^(\S+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const k = m[1].toLowerCase();
    map.set(k, [...(map.get(k) ?? []), m[2]]);
  }
  return map;
}

/** The config lines outside Match blocks (a Match block runs to the end of its file). */
function unconditional(config: ConfigLine[]): ConfigLine[] {
  const inMatch = new Set<string>();
  return config.filter((c) => {
    if (/^\s*match\s/i.test(c.text)) inMatch.add(c.file);
    return !inMatch.has(c.file);
  });
}

const norm = (s: string) => s.trim().split(/\s+/).join(" ").toLowerCase();

/** "from FILE:LINE" for the line that sets `keyword` to `value`, else the first that sets it at all. */
export function sourceOf(config: ConfigLine[], keyword: string, value: string | null): string | null {
  const setting = unconditional(config).filter((c) => norm(c.text).split(" ")[0] === keyword);
  const exact = value === null ? undefined : setting.find((c) => norm(c.text).split(" ").slice(1).join(" ") === norm(value));
  const line = exact ?? setting[0];
  return line ? `${line.file}:${line.line}` : null;
}

export function checkSshd(settings: Array<[string, string]>, sshd: Observation["sshd"]): DriftItem[] {
  if (sshd.rc !== 0) {
    const why = sshd.effective.find((l) => l.trim() !== "") ?? "no output";
    return [{ unit: "sshd", key: "sshd -T", expected: "exit 0", found: sshd.rc === null ? "sshd missing" : `exit ${sshd.rc}`,
      message: `sshd: the effective configuration cannot be read (sshd -T: ${why})` }];
  }
  const have = effective(sshd.effective);
  const want = new Map<string, string[]>();
  for (const [k, v] of settings) want.set(k, [...(want.get(k) ?? []), v]);
  const items: DriftItem[] = [];
  for (const [keyword, values] of want) {
    const found = have.get(keyword) ?? [];
    let expected: string;
    let observed: string;
    let value: string | null;
    if (ACCUMULATE.has(keyword)) {
      expected = [...values].sort().join(" ");
      observed = [...found].sort().join(" ");
      value = found.find((f) => !values.includes(f)) ?? null;
    } else {
      expected = values[0];
      observed = found[0] ?? "(not set)";
      value = found[0] ?? null;
    }
    if (expected === observed) continue;
    const from = sourceOf(sshd.config, keyword, value);
    items.push({ unit: "sshd", key: `sshd ${keyword}`, expected, found: observed,
      message: `sshd ${keyword}: expected ${expected}, found ${observed}${from ? ` (from ${from})` : ""}` });
  }
  return items;
}
