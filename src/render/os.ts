import type { OsId } from "../policy/types";

/** What differs between the distributions the product renders for. Debian 12 and 13 are tested live. */
export interface OsProfile {
  id: OsId;
  /** /etc/os-release ID and VERSION_ID the plan refuses to run without */
  osRelease: { id: string; versionId: string };
  /** OpenSSH generation: 9 = 8.x/9.x, 10 = 10.x (ML-KEM first, sshd-session split, no DSA) */
  openssh: 9 | 10;
  opensshVersion: string;
  /** service name for systemctl / service */
  sshService: string;
  /** sshd writes its drop-ins here; the main file includes them first */
  sshdDropInDir: string;
  /** where authentication failures are logged when rsyslog runs */
  authLog: string;
  fail2banVersion: string;
  cronService: string;
  /** the per-user crontab spool and its required mode/owner */
  cronSpool: { path: string; mode: string; owner: string; group: string };
  /** group that owns cron.allow so that the setgid crontab binary can read it */
  cronAllowGroup: string;
  /** Ubuntu 22.10+: sshd is socket activated; a Port change must go to ssh.socket */
  sshSocketActivated: boolean;
  /** RHEL: a new SSH port needs an SELinux port label */
  selinux: boolean;
  /** how the packages step installs what the policy needs */
  packageManager: "apt" | "dnf";
  /** package names by role, as this distribution calls them */
  packageNames: Record<PackageRole, string>;
  /** where sshd's authentication failures can be read on a stock install: the journal, or `authLog` (rsyslog) */
  sshdLog: "journal" | "file";
  /** journal fields that pick sshd's lines: its unit, and the process names of this OpenSSH generation */
  sshdJournalMatch: string[];
}

/** What the packages step may install: each role is one package of the distribution. */
export type PackageRole = "nftables" | "iptables" | "ipset" | "fail2ban" | "journalPython" | "cron";

const debianPackages: Record<PackageRole, string> = {
  nftables: "nftables", iptables: "iptables", ipset: "ipset", fail2ban: "fail2ban", journalPython: "python3-systemd", cron: "cron",
};

/** OpenSSH 9.8+ logs authentication as sshd-session (and sshd-auth), earlier ones as sshd. */
function journalMatch(unit: string, openssh: 9 | 10): string[] {
  return [`_SYSTEMD_UNIT=${unit}.service`, "_COMM=sshd", ...(openssh >= 10 ? ["_COMM=sshd-session", "_COMM=sshd-auth"] : [])];
}

const debianCron = { path: "/var/spool/cron/crontabs", mode: "1730", owner: "root", group: "crontab" };

export const OS_PROFILES: Record<OsId, OsProfile> = {
  "debian-12": {
    id: "debian-12", osRelease: { id: "debian", versionId: "12" }, openssh: 9, opensshVersion: "9.2p1",
    sshService: "ssh", sshdDropInDir: "/etc/ssh/sshd_config.d", authLog: "/var/log/auth.log",
    fail2banVersion: "1.0.2", cronService: "cron", cronSpool: debianCron, cronAllowGroup: "crontab",
    sshSocketActivated: false, selinux: false,
    // a stock Debian 12 has no rsyslog: sshd logs to the journal only
    packageManager: "apt", packageNames: debianPackages, sshdLog: "journal", sshdJournalMatch: journalMatch("ssh", 9),
  },
  "debian-13": {
    id: "debian-13", osRelease: { id: "debian", versionId: "13" }, openssh: 10, opensshVersion: "10.0p2",
    sshService: "ssh", sshdDropInDir: "/etc/ssh/sshd_config.d", authLog: "/var/log/auth.log",
    fail2banVersion: "1.1.0", cronService: "cron", cronSpool: debianCron, cronAllowGroup: "crontab",
    sshSocketActivated: false, selinux: false,
    packageManager: "apt", packageNames: debianPackages, sshdLog: "journal", sshdJournalMatch: journalMatch("ssh", 10),
  },
  "ubuntu-22.04": {
    id: "ubuntu-22.04", osRelease: { id: "ubuntu", versionId: "22.04" }, openssh: 9, opensshVersion: "8.9p1",
    sshService: "ssh", sshdDropInDir: "/etc/ssh/sshd_config.d", authLog: "/var/log/auth.log",
    fail2banVersion: "0.11.2", cronService: "cron", cronSpool: debianCron, cronAllowGroup: "crontab",
    sshSocketActivated: false, selinux: false,
    // Ubuntu server installs rsyslog, which writes auth.log
    packageManager: "apt", packageNames: debianPackages, sshdLog: "file", sshdJournalMatch: journalMatch("ssh", 9),
  },
  "ubuntu-24.04": {
    id: "ubuntu-24.04", osRelease: { id: "ubuntu", versionId: "24.04" }, openssh: 9, opensshVersion: "9.6p1",
    sshService: "ssh", sshdDropInDir: "/etc/ssh/sshd_config.d", authLog: "/var/log/auth.log",
    fail2banVersion: "1.0.2", cronService: "cron", cronSpool: debianCron, cronAllowGroup: "crontab",
    sshSocketActivated: true, selinux: false,
    packageManager: "apt", packageNames: debianPackages, sshdLog: "file", sshdJournalMatch: journalMatch("ssh", 9),
  },
  "rhel-9": {
    id: "rhel-9", osRelease: { id: "rhel", versionId: "9" }, openssh: 9, opensshVersion: "8.7p1",
    sshService: "sshd", sshdDropInDir: "/etc/ssh/sshd_config.d", authLog: "/var/log/secure",
    fail2banVersion: "1.0.2", cronService: "crond",
    cronSpool: { path: "/var/spool/cron", mode: "0700", owner: "root", group: "root" }, cronAllowGroup: "root",
    sshSocketActivated: false, selinux: true,
    // fail2ban comes from EPEL; rsyslog writes /var/log/secure on a stock install
    packageManager: "dnf",
    packageNames: { nftables: "nftables", iptables: "iptables-nft", ipset: "ipset", fail2ban: "fail2ban", journalPython: "python3-systemd", cron: "cronie" },
    sshdLog: "file", sshdJournalMatch: journalMatch("sshd", 9),
  },
};

export function osProfile(id: OsId): OsProfile {
  return OS_PROFILES[id];
}
