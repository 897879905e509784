// The comparison: a plan against what its probe observed. Pure: same inputs, same items, same order.
import type { HostPlan } from "../plan/types";
import { checkCron } from "./check-cron";
import { checkFail2ban } from "./check-fail2ban";
import { checkFiles } from "./check-files";
import { checkFirewall } from "./check-firewall";
import { checkListeners } from "./check-listeners";
import { checkPublished } from "./check-published";
import { checkSshd } from "./check-sshd";
import { uniqueKeys, type DriftItem } from "./item";
import { liveFirewall } from "./live-firewall";
import type { Observation } from "./observation";
import { isLoopback, listeners } from "./sockets";

/** What compareHost needs of a plan (a HostPlan has it; the Pulumi provider carries just this). */
export type PlanForDrift = Pick<HostPlan, "host" | "expect" | "files">;

export function compareHost(plan: PlanForDrift, observed: Observation): DriftItem[] {
  const expect = plan.expect;
  const items: DriftItem[] = [];
  if (observed.host.uid !== "0") {
    items.push({ unit: "host", key: "probe uid", expected: "0", found: observed.host.uid,
      message: `probe: ran as uid ${observed.host.uid || "?"}, not root: files and daemons may be unreadable` });
  }
  const missing = expect.files.filter((f) => !observed.files.some((o) => o.path === f.path));
  if (missing.length) {
    items.push({ unit: "host", key: "probe plan", expected: "probe of this plan", found: "another probe",
      message: `probe: rendered for another plan (no record of ${missing[0].path}); render the plan again` });
  }
  const sockets = listeners(observed.sockets);
  const live = liveFirewall(expect, observed.firewall);
  const watched = [...expect.declaredPorts, ...sockets.filter((s) => !isLoopback(s.address)).map(({ port, proto }) => ({ port, proto }))];
  const seen = new Set<string>();
  const unique = watched.filter((w) => !seen.has(`${w.port}/${w.proto}`) && seen.add(`${w.port}/${w.proto}`));
  items.push(
    ...checkFiles(expect.files, observed.files, plan.files),
    ...checkSshd(expect.sshd.settings, observed.sshd),
    ...checkFirewall(expect, observed.firewall, live, unique),
    ...checkListeners(expect, live, sockets),
    ...(observed.firewall.error ? [] : checkPublished(expect, observed.firewall, live)),
    ...checkFail2ban(expect.fail2ban, observed.fail2ban),
    ...checkCron(expect.cron, observed.cron),
  );
  return uniqueKeys(items);
}
