import type { OsProfile } from "../render/os";
import { registerPartial, renderTemplate } from "../render/templates";
import { sha256, stableJson } from "../render/hash";
import type { PackagesSpec } from "../render/packages";
import type { UnitSpec } from "../render/unit";

registerPartial("lib", "plan/lib.sh");
registerPartial("unitlib", "plan/unitlib.sh");
registerPartial("watchdog", "plan/watchdog.sh");
registerPartial("rollback", "plan/rollback.sh");
registerPartial("rollbackBoot", "plan/rollback-boot.service");

/** Seconds the host waits for the confirm login before restoring itself. */
export const DEFAULT_ROLLBACK_SECONDS = 60;
/** Seconds the packages step waits for another package run to release the package manager's lock. */
export const DEFAULT_PACKAGE_LOCK_SECONDS = 120;

export interface ScriptContext {
  host: string;
  policyHash: string;
  os: OsProfile;
  rollbackSeconds?: number;
  packageLockSeconds?: number;
}

/** "0644" -> "644", as `stat -c %a` prints it, so the script can compare modes as text. */
function statMode(mode: string): string {
  return parseInt(mode, 8).toString(8);
}

/** A heredoc delimiter that cannot occur in `content` (derived from it, and checked). */
function delimiterFor(content: string): string {
  const delimiter = `HARDEN_EOF_${sha256(content).slice(0, 16)}`;
  if (content.split("\n").includes(delimiter)) throw new Error(`content contains its own delimiter ${delimiter}`);
  return delimiter;
}

/**
 * Digest of what one unit installs and runs. The script header names this, not the host's policy
 * hash: a cron change must leave the firewall script byte-identical, or Pulumi re-runs every unit.
 */
export function unitDigest(unit: UnitSpec): string {
  const payloads = unit.payloads.map((p) => p.sha256);
  return sha256(stableJson({ ...unit, payloads, summary: undefined }));
}

/** The self-contained POSIX sh script that applies one unit (templates/plan/unit.sh.hbs). */
export function unitScript(unit: UnitSpec, ctx: ScriptContext): string {
  const files = unit.files.map((f) => {
    if (!f.content.endsWith("\n")) throw new Error(`${unit.name}: ${f.path}: content must end with a newline`);
    return { ...f, mode: statMode(f.mode), delimiter: delimiterFor(f.content) };
  });
  return renderTemplate("plan/unit.sh.hbs", {
    unit: unit.name,
    host: ctx.host,
    unitDigest: unitDigest(unit),
    os: { id: ctx.os.osRelease.id, versionId: ctx.os.osRelease.versionId },
    rollbackSeconds: ctx.rollbackSeconds ?? DEFAULT_ROLLBACK_SECONDS,
    requires: unit.requires,
    files,
    permissions: unit.permissions.map((p) => ({ ...p, mode: statMode(p.mode) })),
    payloads: unit.payloads,
    validate: unit.validate,
    snapshot: unit.snapshot,
    activate: unit.activate,
    verify: unit.verify,
    converge: unit.converge ?? "",
    restore: unit.restore,
  });
}

/** The first step: installs what the policy needs (templates/plan/packages.sh.hbs). */
export function packagesScript(spec: PackagesSpec, ctx: ScriptContext): string {
  return renderTemplate("plan/packages.sh.hbs", {
    host: ctx.host,
    os: { id: ctx.os.osRelease.id, versionId: ctx.os.osRelease.versionId },
    manager: spec.manager,
    apt: spec.manager === "apt",
    epel: spec.epel,
    packages: spec.packages,
    heldServices: spec.heldServices,
    lockSeconds: ctx.packageLockSeconds ?? DEFAULT_PACKAGE_LOCK_SECONDS,
  });
}

export function confirmScript(ctx: ScriptContext & { port: number; closeTransition: string }): string {
  return renderTemplate("plan/confirm.sh.hbs", {
    host: ctx.host,
    policyHash: ctx.policyHash,
    os: { id: ctx.os.osRelease.id, versionId: ctx.os.osRelease.versionId },
    port: ctx.port,
    closeTransition: ctx.closeTransition,
  });
}

/** Firewall first, so that the host stays reachable whatever fails after it. */
export function teardownScript(units: UnitSpec[], ctx: { host: string }): string {
  const order = ["firewall", "cron", "fail2ban", "sshd"];
  const sorted = [...units].sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name));
  return renderTemplate("plan/teardown.sh.hbs", { host: ctx.host, units: sorted });
}
