// The probe: one read-only POSIX sh script per host (templates/drift/probe.sh.hbs) that prints one
// JSON document of records. Rendered with the plan so that reviewers read it like the unit scripts.
import { registerPartial, renderTemplate } from "../render/templates";
import type { DriftExpect } from "./drift-expect";

registerPartial("driftRecordsAwk", "drift/records.awk");

export interface ProbeContext {
  host: string;
  policyHash: string;
}

export function probeScript(expect: DriftExpect, ctx: ProbeContext): string {
  return renderTemplate("drift/probe.sh.hbs", {
    host: ctx.host,
    policyHash: ctx.policyHash,
    // "-": no content to compare (a directory, a path whose mode only is ours)
    files: expect.files.map((f) => ({ path: f.path, sha256: f.sha256 ?? "-" })),
    sshdMain: expect.sshd.mainConfig,
    nftables: expect.firewall.backend === "nftables",
    sets: Object.keys(expect.firewall.sets).sort(),
    jails: (expect.fail2ban?.jails ?? []).map((j) => j.name).join(" "),
    cronSpool: expect.cron.spool,
    atSpool: expect.cron.atSpool,
  });
}
