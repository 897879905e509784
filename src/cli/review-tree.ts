import type { HostPlan } from "../plan/types";
import { reviewSummary } from "./summary";

/**
 * The folder a reviewer reads in a pull request, as relative path -> bytes. Pure: the same plans
 * always give the same tree, which is what `render --check` compares.
 *
 *   <host>/files/<absolute path>   every file a unit installs
 *   <host>/steps/NN-<step>.sh      the scripts, in order, exactly as sent on stdin
 *   <host>/teardown.sh             what a destroy runs
 *   <host>/probe.sh                the read-only drift probe
 *   <host>/plan.json               steps with command, script file, sha256 and connection
 *   payloads/<sha256>.<ext>        large lists, once per distinct content
 *   SUMMARY.md                     per host: SSH settings, open ports, jails, cron allow list
 */
export function reviewTree(plans: HostPlan[]): Map<string, string> {
  const tree = new Map<string, string>();
  for (const plan of plans) {
    const dir = plan.host;
    for (const file of plan.files) tree.set(`${dir}/files${file.path}`, file.content);
    const steps = plan.steps.map((step, i) => {
      const script = `steps/${String(i + 1).padStart(2, "0")}-${step.name}.sh`;
      tree.set(`${dir}/${script}`, step.script);
      return { name: step.name, command: step.command, script, sha256: step.sha256, via: step.via, connection: step.connection };
    });
    tree.set(`${dir}/teardown.sh`, plan.teardown);
    tree.set(`${dir}/probe.sh`, plan.probe);
    const uploads = plan.uploads.map((u) => {
      const local = `payloads/${u.remotePath.split("/").pop()}`;
      tree.set(local, u.content);
      return { file: `../${local}`, remotePath: u.remotePath, sha256: u.sha256 };
    });
    const planJson = {
      host: plan.host, os: plan.os, policyHash: plan.policyHash,
      current: plan.current, target: plan.target, uploads, steps,
    };
    tree.set(`${dir}/plan.json`, JSON.stringify(planJson, null, 2) + "\n");
  }
  tree.set("SUMMARY.md", reviewSummary(plans));
  return new Map([...tree.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
