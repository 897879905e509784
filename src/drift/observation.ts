// What the probe saw, structured: parsed from its records, nothing judged yet.

export interface ObservedFile {
  path: string;
  exists: boolean;
  /** "-" for what is not a regular file */
  sha256: string;
  /** as `stat -c %a` prints it: "644", "1730" */
  mode: string;
  owner: string;
  group: string;
  /** the owner's primary group, to judge "@primary" */
  ownerPrimaryGroup: string;
  /** a small file's lines when its content differed from the plan */
  lines?: string[];
}

export interface ConfigLine {
  file: string;
  line: number;
  text: string;
}

export interface CronTable {
  /** a file path (/etc/crontab, /etc/cron.d/x), or a user name for the spool */
  source: string;
  /** "mode owner group" */
  stat: string;
  lines: string[];
}

export interface AllowFile {
  path: string;
  exists: boolean;
  stat: string;
  lines: string[];
}

export interface Observation {
  host: { uid: string; name: string; os: string };
  files: ObservedFile[];
  sshd: {
    /** exit status of `sshd -T`, null when sshd is missing */
    rc: number | null;
    /** `sshd -T` output lines (the error when rc != 0) */
    effective: string[];
    /** every non-comment line of the main file and what it includes, in the order sshd reads them */
    config: ConfigLine[];
  };
  sockets: { tool: "ss" | "proc"; lines: Record<string, string[]> };
  firewall: {
    error: string | null;
    /** tool -> exit status: "nft", "iptables", "ip6tables" */
    rc: Record<string, number>;
    /** tool -> output lines */
    output: Record<string, string[]>;
    /** set name -> element count, null when the set is absent */
    sets: Record<string, number | null>;
  };
  fail2ban: {
    error: string | null;
    /** command -> answer lines, from both client runs */
    answers: Record<string, string[]>;
  };
  cron: {
    tables: CronTable[];
    spool: CronTable[];
    atJobs: CronTable[];
    allow: AllowFile[];
  };
}

/** Thrown when the output is not a probe document: a shell banner, a truncated run, a wrong host. */
export class ProbeOutputError extends Error {}

type Rec = [string, string, string];

/** The probe's stdout -> Observation. Anything printed before the document (a login banner) is skipped. */
export function parseProbeOutput(stdout: string): Observation {
  const start = stdout.indexOf('{"harden_probe":1,');
  if (start < 0) throw new ProbeOutputError(`no probe document in the output (${JSON.stringify(stdout.slice(0, 200))})`);
  let doc: { records?: unknown };
  try {
    doc = JSON.parse(stdout.slice(start)) as { records?: unknown };
  } catch (e) {
    throw new ProbeOutputError(`the probe document is not valid JSON (truncated?): ${(e as Error).message}`);
  }
  if (!Array.isArray(doc.records)) throw new ProbeOutputError("the probe document has no records");
  return fromRecords(doc.records as Rec[]);
}

// sshd prints some errors with "\r\n"
const trimCr = (s: string) => s.replace(/\r$/, "");

function push<K extends string, V>(map: Record<K, V[]>, key: K, value: V): void {
  (map[key] ??= []).push(value);
}

export function fromRecords(records: Rec[]): Observation {
  const o: Observation = {
    host: { uid: "", name: "", os: "" },
    files: [],
    sshd: { rc: null, effective: [], config: [] },
    sockets: { tool: "ss", lines: {} },
    firewall: { error: null, rc: {}, output: {}, sets: {} },
    fail2ban: { error: null, answers: {} },
    cron: { tables: [], spool: [], atJobs: [], allow: [] },
  };
  const files = new Map<string, ObservedFile>();
  const f2b: Record<string, string[]> = {};
  const table = (list: CronTable[], source: string) => {
    let t = list.find((x) => x.source === source);
    if (!t) list.push((t = { source, stat: "", lines: [] }));
    return t;
  };
  const includes: { at: number; file: string }[] = [];
  const conf: Record<string, ConfigLine[]> = {};
  for (const [section, key, raw] of records) {
    const value = trimCr(raw);
    switch (section) {
      case "host":
        if (key === "uid" || key === "name" || key === "os") o.host[key] = value;
        break;
      case "file": {
        const [sha256 = "", mode = "", owner = "", group = "", primary = ""] = value.split(" ");
        const f: ObservedFile = value === "absent"
          ? { path: key, exists: false, sha256: "", mode: "", owner: "", group: "", ownerPrimaryGroup: "" }
          : { path: key, exists: true, sha256, mode, owner, group, ownerPrimaryGroup: primary };
        files.set(key, f);
        o.files.push(f);
        break;
      }
      case "file.line": {
        const f = files.get(key);
        if (f) (f.lines ??= []).push(raw);
        break;
      }
      case "sshd":
        if (key === "rc") o.sshd.rc = Number(value);
        else if (key === "T") o.sshd.effective.push(value);
        else if (key === "error") o.sshd.effective.push(value);
        break;
      case "sshd.conf": {
        const tab = value.indexOf("\t");
        push(conf, key, { file: key, line: Number(value.slice(0, tab)), text: value.slice(tab + 1) });
        break;
      }
      case "sshd.include":
        includes.push({ at: Number(key), file: value });
        break;
      case "sock":
        o.sockets.tool = key === "ss" ? "ss" : "proc";
        if (value) push(o.sockets.lines, key, value);
        break;
      case "fw":
        if (key === "error") o.firewall.error = value;
        else if (key.startsWith("rc.")) o.firewall.rc[key.slice(3)] = Number(value);
        else push(o.firewall.output, key, raw);
        break;
      case "fw.set":
        o.firewall.sets[key] = /^\d+$/.test(value) ? Number(value) : null;
        break;
      case "f2b":
        if (key === "error") o.fail2ban.error = value;
        else push(f2b, key, raw);
        break;
      case "cron.stat":
        table(o.cron.tables, key).stat = value;
        break;
      case "cron.line":
        table(o.cron.tables, key).lines.push(raw);
        break;
      case "cron.spool":
        table(o.cron.spool, key).stat = value;
        break;
      case "cron.user":
        table(o.cron.spool, key).lines.push(raw);
        break;
      case "at.job":
        table(o.cron.atJobs, key).stat = value;
        break;
      case "at.line":
        table(o.cron.atJobs, key).lines.push(raw);
        break;
      case "allow.stat":
        o.cron.allow.push({ path: key, exists: value !== "absent", stat: value === "absent" ? "" : value, lines: [] });
        break;
      case "allow.line": {
        const a = o.cron.allow.find((x) => x.path === key);
        if (a) a.lines.push(raw);
        break;
      }
      default:
        break; // a newer probe's section: ignored by this reader
    }
  }
  o.sshd.config = sshdReadOrder(conf, includes);
  o.fail2ban.answers = { ...answers(f2b.cmd ?? [], f2b.out ?? []), ...answers(f2b.cmd2 ?? [], f2b.out2 ?? []) };
  return o;
}

/** The main file's lines with each Include's files spliced in where the Include line stands. */
function sshdReadOrder(conf: Record<string, ConfigLine[]>, includes: { at: number; file: string }[]): ConfigLine[] {
  const included = new Set(includes.map((i) => i.file));
  const main = Object.keys(conf).find((f) => !included.has(f));
  if (!main) return [];
  const out: ConfigLine[] = [];
  for (const line of conf[main]) {
    out.push(line);
    for (const inc of includes.filter((i) => i.at === line.line)) out.push(...(conf[inc.file] ?? []));
  }
  return out;
}

/**
 * fail2ban-client -i prints a banner, then "fail2ban> " before reading each command; an answer is
 * what follows one prompt up to the next. Commands and answers pair up in order.
 */
export function answers(commands: string[], output: string[]): Record<string, string[]> {
  const chunks: string[][] = [];
  let current: string[] | null = null;
  for (const line of output) {
    let rest = line;
    while (rest.startsWith("fail2ban> ")) {
      current = [];
      chunks.push(current);
      rest = rest.slice("fail2ban> ".length);
    }
    if (current && (rest !== "" || line === rest)) current.push(rest);
  }
  const out: Record<string, string[]> = {};
  commands.forEach((cmd, i) => {
    out[cmd] = (chunks[i] ?? []).filter((l) => l.trim() !== "");
  });
  return out;
}
