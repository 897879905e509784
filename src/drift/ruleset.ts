// The live ruleset as chains of rule lines: from `nft -t list ruleset` or `iptables -S`. Counters
// and handles are dropped, so that traffic and reloads are not drift.

export interface Chain {
  /** nft: "inet harden"; iptables: "iptables" or "ip6tables" (the filter table) */
  table: string;
  name: string;
  /** nft base chains: "type filter hook input priority filter; policy drop;" */
  header: string | null;
  hook: string | null;
  /** "accept" | "drop"; null for regular chains (iptables built-ins carry theirs from -P) */
  policy: string | null;
  rules: string[];
}

export interface Ruleset {
  syntax: "nft" | "iptables";
  chains: Chain[];
  /** nft: "inet harden" -> its set names */
  sets: Record<string, string[]>;
}

/** `counter packets 12 bytes 720` -> `counter`; `# handle 4` removed. */
export function normaliseNftRule(rule: string): string {
  return rule
    .replace(/\bcounter packets \d+ bytes \d+/g, "counter")
    .replace(/\s*# handle \d+$/, "")
    .trim();
}

const braces = (s: string) => (s.match(/\{/g)?.length ?? 0) - (s.match(/\}/g)?.length ?? 0);

export function parseNftRuleset(lines: string[]): Ruleset {
  const chains: Chain[] = [];
  const sets: Record<string, string[]> = {};
  let table: string | null = null;
  let chain: Chain | null = null;
  let depth = 0;
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (depth === 0) {
      const t = /^table (\S+) (\S+) \{$/.exec(line);
      if (t) {
        table = `${t[1]} ${t[2]}`;
        sets[table] = [];
        depth = 1;
      }
      continue;
    }
    if (depth === 1 && table) {
      const c = /^chain (\S+) \{$/.exec(line);
      const s = /^(?:set|map) (\S+) \{$/.exec(line);
      if (c) chain = { table, name: c[1], header: null, hook: null, policy: null, rules: [] };
      if (c) chains.push(chain!);
      if (s) sets[table].push(s[1]);
      depth += braces(line);
      if (depth === 0) table = null;
      continue;
    }
    if (depth === 2 && chain && braces(line) === 0) {
      const head = /^type \S+ hook (\S+) .*?(?:policy (\S+);)?$/.exec(line);
      if (head && chain.header === null && chain.rules.length === 0) {
        chain.header = line;
        chain.hook = head[1];
        chain.policy = head[2] ?? "accept";
      } else {
        chain.rules.push(normaliseNftRule(line));
      }
      continue;
    }
    depth += braces(line);
    if (depth === 1) chain = null;
  }
  return { syntax: "nft", chains, sets };
}

/** `iptables -S` of the filter table; `table` names the tool ("iptables" / "ip6tables"). */
export function parseIptables(table: string, lines: string[]): Chain[] {
  const chains = new Map<string, Chain>();
  const get = (name: string) => {
    let c = chains.get(name);
    if (!c) {
      const builtin = ["INPUT", "OUTPUT", "FORWARD"].includes(name);
      c = { table, name, header: null, hook: builtin ? name.toLowerCase() : null, policy: null, rules: [] };
      chains.set(name, c);
    }
    return c;
  };
  for (const raw of lines) {
    const line = raw.trim().replace(/ -c \d+ \d+/, "");
    const p = /^-P (\S+) (\S+)$/.exec(line);
    if (p) get(p[1]).policy = p[2].toLowerCase();
    const n = /^-N (\S+)$/.exec(line);
    if (n) get(n[1]);
    const a = /^-A (\S+) /.exec(line);
    if (a) get(a[1]).rules.push(line);
  }
  return [...chains.values()];
}
