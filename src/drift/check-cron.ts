// cron and at: every entry on the host must be declared by the policy or be the distribution's own
// (plan/distro-cron.ts). cron.allow/at.allow are managed files, checked with the other files.
import type { ExpectedCronEntry } from "../policy/types";
import type { DriftExpect } from "../plan/drift-expect";
import { quote, type DriftItem } from "./item";
import type { CronTable, Observation } from "./observation";

const normalise = (line: string) => line.trim().split(/\s+/).join(" ");

/** The lines cron acts on: no blanks, no comments. */
export function cronEntries(table: CronTable): string[] {
  return table.lines.map(normalise).filter((l) => l !== "" && !l.startsWith("#"));
}

/**
 * An at job file is a script: environment, `cd`, then the user's commands in a heredoc that
 * at names marcinDELIMITER<hex>. Those commands are what the report shows.
 */
export function atCommands(table: CronTable): string[] {
  const start = table.lines.findIndex((l) => /<< '?(marcinDELIMITER[0-9a-f]+)'?\s*$/.test(l));
  if (start < 0) return table.lines.filter((l) => l.trim() && !l.startsWith("#"));
  const delimiter = /(marcinDELIMITER[0-9a-f]+)/.exec(table.lines[start])![1];
  const end = table.lines.indexOf(delimiter, start + 1);
  return table.lines.slice(start + 1, end < 0 ? undefined : end).filter((l) => l.trim() !== "");
}

export function checkCron(expect: DriftExpect["cron"], cron: Observation["cron"]): DriftItem[] {
  const declared = new Map<string, Set<string>>();
  for (const e of [...expect.distro, ...expect.expected] as ExpectedCronEntry[]) {
    if (!declared.has(e.source)) declared.set(e.source, new Set());
    declared.get(e.source)!.add(normalise(e.line));
  }
  const items: DriftItem[] = [];
  const undeclared = (source: string, label: string, table: CronTable, unit: DriftItem["unit"] = "host") => {
    const ok = declared.get(source) ?? new Set<string>();
    for (const entry of cronEntries(table)) {
      if (ok.has(entry)) continue;
      items.push({ unit, key: `${label}: ${entry}`, expected: null, found: entry,
        message: `${label}: undeclared entry ${quote(entry)}` });
    }
  };
  for (const t of cron.tables) undeclared(t.source, `crontab ${t.source}`, t);
  // A user outside cron.allow cannot have a crontab: the cron unit quarantines it, so re-running that
  // unit heals it. Entries of allowed users (and root) are for a human to judge.
  const allowed = new Set(expect.allow);
  for (const t of cron.spool) {
    undeclared(t.source, `crontab of ${t.source}`, t, allowed.has(t.source) ? "host" : "cron");
  }
  for (const job of cron.atJobs) {
    const owner = job.stat.split(" ")[1] ?? "?";
    const commands = atCommands(job).join("; ");
    items.push({ unit: "host", key: `at job ${job.source}`, expected: null, found: commands,
      message: `at job ${job.source} of ${owner}: undeclared, runs ${quote(commands)}` });
  }
  return items;
}
