// Golden renders of the example hosts for both backends: every file, payload reference, snippet
// and summary line, byte for byte. UPDATE_GOLDEN=1 rewrites them after a reviewed change.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PayloadCache } from "../../src/render/blocklist";
import { closeTransition, renderFirewall } from "../../src/render/firewall";
import type { UnitSpec } from "../../src/render/unit";
import { db, mail, web } from "./firewall-fixtures";

const GOLDEN = join(__dirname, "golden", "firewall");
const SNIPPETS = ["validate", "snapshot", "activate", "verify", "restore", "uninstall"] as const;

function flatten(unit: UnitSpec): string {
  const parts = unit.files.map((f) => `==== file ${f.path} ${f.mode} ${f.owner}:${f.group}\n${f.content}`);
  for (const p of unit.payloads) parts.push(`==== payload ${p.remotePath}\n`);
  for (const s of SNIPPETS) parts.push(`==== ${s}\n${unit[s]}`);
  parts.push(`==== requires\n${unit.requires.join("\n")}\n`, `==== summary\n${unit.summary.join("\n")}\n`);
  return parts.join("");
}

describe.each(["nftables", "iptables"] as const)("%s golden renders", (backend) => {
  it.each([["web1", web], ["db1", db], ["mail1", mail]] as const)("%s", (name, make) => {
    const unit = renderFirewall(make(backend), new PayloadCache());
    const text = flatten(unit);
    const file = join(GOLDEN, `${name}.${backend}.txt`);
    if (process.env.UPDATE_GOLDEN === "1" || !existsSync(file)) {
      mkdirSync(GOLDEN, { recursive: true });
      writeFileSync(file, text);
    }
    expect(text).toBe(readFileSync(file, "utf8"));
    // rendering is pure: a second render is the same bytes
    expect(flatten(renderFirewall(make(backend), new PayloadCache()))).toBe(text);
  });

  it("every snippet and the loader parse as POSIX sh", () => {
    const unit = renderFirewall(web(backend), new PayloadCache());
    const loader = unit.files.find((f) => f.path === "/etc/harden/firewall-load")!.content;
    for (const code of [...SNIPPETS.map((s) => unit[s]), closeTransition(backend), loader]) {
      execFileSync("sh", ["-n"], { input: code });
    }
  });

  it("summarises what is open, and from where", () => {
    const unit = renderFirewall(web(backend), new PayloadCache());
    expect(unit.summary).toContain("2222/tcp (ssh) from 10.0.0.0/8, 198.51.100.0/24, 2001:db8:1::/48");
    const open = renderFirewall(db(backend), new PayloadCache());
    expect(open.summary).toContain("22/tcp (ssh) from anywhere (rate-limited 10 new per 60s per source)");
    expect(open.summary).toContain("6379/tcp from 10.0.0.0/8");
  });
});
