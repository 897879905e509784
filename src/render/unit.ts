import type { Artifact, Payload, Permission } from "./artifact";

export type UnitName = "firewall" | "sshd" | "fail2ban" | "cron";
export const UNIT_ORDER: readonly UnitName[] = ["firewall", "sshd", "fail2ban", "cron"];

/**
 * A hardening unit as a renderer describes it. The plan turns it into one self-contained POSIX sh
 * script (templates/unit.sh.hbs): stage files -> nothing changed and verify passes? stop ->
 * validate -> back up -> arm rollback -> install atomically (when files differ) -> converge ->
 * activate -> verify -> restore on failure. Files that match but a failing verify ("running state")
 * take the same path with nothing to install: that is how a second apply heals runtime drift.
 *
 * Every snippet is POSIX sh, rendered from templates/, with every value quoted by the `sh` helper.
 * Snippets run with `set -u`; they signal failure with a non-zero status.
 * Variables available to them: $STAGE (staged files live at $STAGE/<absolute path>),
 * $STATE (/var/lib/harden), $BACKUP (this unit's backup dir in the open transaction).
 */
export interface UnitSpec {
  name: UnitName;
  files: Artifact[];
  permissions: Permission[];
  payloads: Payload[];
  /** shell commands that must exist on the host before anything is staged */
  requires: string[];
  /** checks the staged files with the real tool; must not change the running system */
  validate: string;
  /** saves runtime state that files alone do not capture (the live ruleset) into $BACKUP */
  snapshot: string;
  /** makes installed files take effect (reload, load ruleset) */
  activate: string;
  /**
   * proves the running system matches the policy (sshd -T values, live rules = the file's, jail up);
   * also decides, when no file differs, whether the unit is in sync or must heal the running state
   */
  verify: string;
  /**
   * optional; runs after install and before activate on every apply that gets past the in-sync check:
   * sets aside what overrides the unit at run time (a foreign sshd drop-in, a crontab of a user cron.allow
   * excludes), recording it under $BACKUP so that `restore` puts it back. Says what it set aside and why.
   */
  converge?: string;
  /** after files were restored from $BACKUP: brings the running system back (used by rollback) */
  restore: string;
  /** removes what the unit installed and returns the host to the distribution's state (destroy) */
  uninstall: string;
  /** one-line facts for SUMMARY.md, e.g. "port 2222, key-only, root: no" */
  summary: string[];
}
