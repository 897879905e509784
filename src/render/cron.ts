import type { ResolvedHost } from "../policy/types";
import type { Artifact, Permission } from "./artifact";
import { osProfile, type OsProfile } from "./os";
import { renderTemplate } from "./templates";
import type { UnitSpec } from "./unit";

// cron and at: allow lists (deny files are ignored once an allow file exists, so the distribution's
// deny files stay for the day the unit is removed), and the modes CIS and Lynis expect that cron still
// works with. cron.allow only gates the crontab command: crontabs already present keep running, which is
// why drift inventories cronInventoryPaths().

export const CRON_ALLOW = "/etc/cron.allow";
export const AT_ALLOW = "/etc/at.allow";

const USER_NAME = /^[a-z_][a-z0-9_-]{0,31}$/;

/**
 * Group that must be able to read at.allow: Debian's at is setuid/setgid daemon (its at.deny is
 * root:daemon 0640); RHEL's at is setuid root.
 */
export function atAllowGroup(profile: OsProfile): string {
  return profile.osRelease.id === "rhel" ? "root" : "daemon";
}

/** Paths whose mode harden enforces. cron reads them as root, so owner-only is enough. */
export function cronPermissions(profile: OsProfile): Permission[] {
  const rootOnly = (path: string, mode: string): Permission => ({ path, mode, owner: "root", group: "root" });
  return [
    rootOnly("/etc/crontab", "0600"),
    rootOnly("/etc/cron.d", "0700"),
    ...["hourly", "daily", "weekly", "monthly", "yearly"].map((p) => rootOnly(`/etc/cron.${p}`, "0700")),
    // the crontab command (setgid crontab on Debian) writes here: keep the distribution's mode exactly
    { ...profile.cronSpool },
  ];
}

/** Where a crontab line can hide. "user-spool": one file per user, named after the user. */
export interface CronLocation {
  path: string;
  kind: "system-file" | "system-dir" | "user-spool";
}

export function cronInventoryPaths(profile: OsProfile): CronLocation[] {
  return [
    { path: "/etc/crontab", kind: "system-file" },
    { path: "/etc/cron.d", kind: "system-dir" },
    { path: profile.cronSpool.path, kind: "user-spool" },
  ];
}

function users(field: string, list: string[]): string[] {
  list.forEach((u, i) => {
    if (!USER_NAME.test(u)) throw new Error(`cron: ${field}[${i}]: ${JSON.stringify(u)} is not a user name`);
  });
  return [...new Set(list)];
}

/** "0640" -> "640", "1730" -> "1730": what `stat -c %a` prints. */
const statMode = (mode: string) => parseInt(mode, 8).toString(8);

export function renderCron(host: ResolvedHost): UnitSpec {
  const profile = osProfile(host.os);
  const cronUsers = users("cron.allow", host.policy.cron.allow);
  const atUsers = users("cron.atAllow", host.policy.cron.atAllow);
  const allowFile = (path: string, group: string, list: string[]): Artifact => ({
    path, mode: "0640", owner: "root", group, content: renderTemplate("cron/allow.hbs", { users: list }),
  });
  // "@crontab": crontab's group where cron is installed, else root:root 0644 (the unit script decides)
  const cronGroup = profile.cronAllowGroup === "crontab" ? "@crontab" : profile.cronAllowGroup;
  const files = [allowFile(CRON_ALLOW, cronGroup, cronUsers), allowFile(AT_ALLOW, atAllowGroup(profile), atUsers)];
  const permissions = cronPermissions(profile);
  const ctx = {
    allUsers: [...new Set([...cronUsers, ...atUsers])],
    cronAllowGroup: cronGroup,
    cronUsers,
    atUsers,
    spool: profile.cronSpool.path,
    // spool crontabs that stay: root's (never touched) and those of the users cron.allow lists
    spoolOwners: [...new Set(["root", ...cronUsers])],
    checks: [...files, ...permissions].map((p) => ({ path: p.path, stat: `${statMode(p.mode)} ${p.owner} ${p.group}`, optional: !("content" in p) })),
    removeFiles: files.map((f) => f.path),
    cronPackage: profile.packageNames.cron,
    cronService: profile.cronService,
    distroModes: permissions.filter((p) => p.path !== profile.cronSpool.path).map((p) => ({ path: p.path, mode: p.path === "/etc/crontab" ? "0644" : "0755" })),
  };
  return {
    name: "cron",
    files,
    permissions,
    payloads: [],
    // no crontab: a host without cron (Debian's cloud images) gets the allow files all the same, so
    // that a later install of cron is locked down from its first minute
    requires: ["stat"],
    validate: renderTemplate("cron/validate.sh.hbs", ctx),
    snapshot: "",
    // cron re-reads its tables and allow files on every use: nothing to reload; a cron the packages
    // step installed waited, disabled, for the allow files
    activate: renderTemplate("cron/activate.sh.hbs", ctx),
    verify: renderTemplate("cron/verify.sh.hbs", ctx),
    converge: renderTemplate("cron/converge.sh.hbs", ctx),
    restore: renderTemplate("cron/restore.sh.hbs", ctx),
    uninstall: renderTemplate("cron/uninstall.sh.hbs", ctx),
    summary: [
      `cron allow: ${cronUsers.join(", ")}`,
      `at allow: ${atUsers.join(", ")}`,
      `modes: /etc/crontab 0600, /etc/cron.d and /etc/cron.{hourly,...} 0700, ${profile.cronSpool.path} ${profile.cronSpool.mode} ${profile.cronSpool.owner}:${profile.cronSpool.group}`,
      `declared crontab entries: ${host.policy.cron.expected.length}`,
    ],
  };
}
