import type { Artifact, Payload, Permission } from "./artifact";

export type UnitName = "firewall" | "sshd" | "fail2ban" | "cron";
export const UNIT_ORDER: readonly UnitName[] = ["firewall", "sshd", "fail2ban", "cron"];

/**
 * A hardening unit as a renderer describes it. The plan turns it into one self-contained POSIX sh
 * script (templates/unit.sh.hbs): stage files -> nothing changed? verify and stop -> validate ->
 * back up -> arm rollback -> install atomically -> activate -> verify -> restore on failure.
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
  /** proves the running system matches the policy (sshd -T values, table present, jail up) */
  verify: string;
  /** after files were restored from $BACKUP: brings the running system back (used by rollback) */
  restore: string;
  /** true when a mistake here can lock the operator out: the rollback watchdog is armed first */
  lockoutRisk: boolean;
  /** removes what the unit installed and returns the host to the distribution's state (destroy) */
  uninstall: string;
  /** one-line facts for SUMMARY.md, e.g. "port 2222, key-only, root: no" */
  summary: string[];
}
