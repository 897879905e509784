import type { HostPlan } from "../plan/types";

/** What a reviewer wants to see first, per host, in plain Markdown. */
export function reviewSummary(plans: HostPlan[]): string {
  const lines = ["# Hardening plan", ""];
  for (const plan of plans) {
    const { current, target } = plan;
    lines.push(`## ${plan.host} (${plan.os}, ${current.address})`, "");
    lines.push(`- reached now as \`${current.user}@${current.address}:${current.port}\`, after apply as \`${target.user}@${target.address}:${target.port}\``);
    lines.push(`- policy ${plan.policyHash.slice(0, 16)}, steps: ${plan.steps.map((s) => s.name).join(" -> ")}`);
    for (const [unit, facts] of Object.entries(plan.summary)) {
      lines.push(`- **${unit}**`);
      for (const fact of facts ?? []) lines.push(`  - ${fact}`);
    }
    lines.push("");
  }
  return lines.join("\n");
}
