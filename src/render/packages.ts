import type { ResolvedHost } from "../policy/types";
import { fail2banLogBackend } from "./fail2ban";
import { osProfile, type PackageRole } from "./os";

// The packages the policy needs, by the host's distribution. Installed by the first step of every plan
// (templates/plan/packages.sh.hbs), before any unit changes anything; nothing is ever upgraded or removed.

export interface PackagesSpec {
  manager: "apt" | "dnf";
  /** distribution package names, in a stable order */
  packages: string[];
  /**
   * services a package would start with the distribution's configuration: kept from starting while
   * the package is installed, and left disabled; the unit that configures them enables them
   */
  heldServices: { package: string; service: string }[];
  /** dnf: fail2ban comes from EPEL */
  epel: boolean;
  /** one-line facts for SUMMARY.md */
  summary: string[];
}

/** Which roles the policy needs. cron only when the policy declares crontab entries that must run. */
export function packageRoles(host: ResolvedHost): PackageRole[] {
  const policy = host.policy;
  const roles: PackageRole[] = policy.firewall.backend === "nftables" ? ["nftables"] : ["iptables", "ipset"];
  if (policy.fail2ban.enabled) {
    roles.push("fail2ban");
    if (fail2banLogBackend(host) === "journal") roles.push("journalPython");
  }
  if (policy.cron.expected.length > 0) roles.push("cron");
  return roles;
}

export function renderPackages(host: ResolvedHost): PackagesSpec {
  const profile = osProfile(host.os);
  const roles = packageRoles(host);
  const packages = roles.map((r) => profile.packageNames[r]);
  const heldServices = [
    ...(roles.includes("fail2ban") ? [{ package: profile.packageNames.fail2ban, service: "fail2ban" }] : []),
    ...(roles.includes("cron") ? [{ package: profile.packageNames.cron, service: profile.cronService }] : []),
  ];
  const epel = profile.packageManager === "dnf" && roles.includes("fail2ban");
  const install = profile.packageManager === "apt"
    ? `apt-get install -y --no-install-recommends ${packages.join(" ")} (only those missing; apt-get update first then)`
    : `${epel ? "dnf install -y epel-release, then " : ""}dnf install -y --setopt=install_weak_deps=False ${packages.join(" ")} (only those missing)`;
  return {
    manager: profile.packageManager,
    packages,
    heldServices,
    epel,
    summary: [
      `needs: ${packages.join(", ")}`,
      `installs with: ${install}; upgrades nothing`,
      ...(heldServices.length ? [`kept stopped and disabled until configured: ${heldServices.map((h) => h.service).join(", ")}`] : []),
    ],
  };
}
