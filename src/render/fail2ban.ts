import { isDnsName } from "../policy/cidr";
import ipaddr from "ipaddr.js";
import type { ResolvedHost } from "../policy/types";
import type { Artifact } from "./artifact";
import { osProfile } from "./os";
import { renderTemplate } from "./templates";
import type { UnitSpec } from "./unit";

// fail2ban: harden owns three small files and edits no distribution file. Bans are DROPs in sets
// (nftables sets or ipset), never one REJECT rule per address.

/** fail2ban reads jail.conf, jail.d/*.conf, jail.local, then jail.d/*.local; the last value wins. */
export const FAIL2BAN_JAIL = "/etc/fail2ban/jail.d/zz-harden.local";
/** Server settings: with the journal backend fail2ban logs to syslog (journald), where recidive reads it. */
export const FAIL2BAN_SERVER = "/etc/fail2ban/fail2ban.d/zz-harden.local";
/** Teaches the stock sshd filter the daemon names of OpenSSH 9.8+ (sshd-session, sshd-auth). */
export const FAIL2BAN_SSHD_FILTER = "/etc/fail2ban/filter.d/sshd.local";

/** Ban actions per firewall backend: the sshd jail blocks its port, recidive every port. */
export const BAN_ACTIONS = {
  nftables: { sshd: "nftables-multiport", recidive: "nftables-allports", overrides: "/etc/fail2ban/action.d/nftables.local" },
  iptables: {
    sshd: "iptables-ipset-proto6",
    recidive: "iptables-ipset-proto6-allports",
    overrides: "/etc/fail2ban/action.d/iptables.local",
  },
} as const;

/** Addresses never banned: loopback, the host itself, then the policy's list (in its order). */
export function fail2banIgnoreList(host: ResolvedHost): string[] {
  const list = ["127.0.0.1/8", "::1", host.address, ...host.policy.fail2ban.ignore];
  // the host's own address may be a DNS name (the schema allows it); fail2ban resolves names there
  const ownName = (entry: string) => entry === host.address && isDnsName(entry);
  list.forEach((entry, i) => {
    if (!ownName(entry) && !ipaddr.isValidCIDR(entry) && !ipaddr.isValid(entry)) {
      throw new Error(`fail2ban: ignore entry ${i}: ${JSON.stringify(entry)} is not an address or CIDR`);
    }
  });
  return [...new Set(list)];
}

/** Where the jails read: the policy's choice, else what a stock install of the host's OS has. */
export function fail2banLogBackend(host: ResolvedHost): "journal" | "file" {
  return host.policy.fail2ban.logBackend ?? osProfile(host.os).sshdLog;
}

function seconds(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new Error(`fail2ban: ${field}: ${value} is not a whole number of seconds`);
  return value;
}

export function renderFail2ban(host: ResolvedHost): UnitSpec {
  const policy = host.policy.fail2ban;
  const profile = osProfile(host.os);
  const actions = BAN_ACTIONS[host.policy.firewall.backend];
  const jail = (name: "sshd" | "recidive") => {
    const j = policy[name];
    return {
      enabled: j.enabled && policy.enabled ? "true" : "false",
      maxRetry: seconds(`${name}.maxRetry`, j.maxRetry),
      findTime: seconds(`${name}.findTime`, j.findTime),
      banTime: seconds(`${name}.banTime`, j.banTime),
      increment: j.banTimeIncrement ? "true" : "false",
    };
  };
  const model = {
    ignoreIp: fail2banIgnoreList(host),
    banaction: actions.sshd,
    banactionAllports: actions.recidive,
    port: host.policy.ssh.port,
    authLog: profile.authLog,
    journal: fail2banLogBackend(host) === "journal",
    journalMatch: profile.sshdJournalMatch.join(" + "),
    sshd: jail("sshd"),
    recidive: jail("recidive"),
  };
  const file = (path: string, template: string): Artifact => ({
    path, mode: "0644", owner: "root", group: "root", content: renderTemplate(template, model),
  });
  const files = [
    file(FAIL2BAN_JAIL, "fail2ban/zz-harden.local.hbs"),
    file(FAIL2BAN_SSHD_FILTER, "fail2ban/sshd-filter.local.hbs"),
    file(actions.overrides, `fail2ban/${host.policy.firewall.backend}-action.local.hbs`),
    ...(model.journal ? [file(FAIL2BAN_SERVER, "fail2ban/fail2ban.local.hbs")] : []),
  ];
  const running = [
    ...(model.sshd.enabled === "true" ? [{ name: "sshd", ...model.sshd, action: actions.sshd }] : []),
    ...(model.recidive.enabled === "true" ? [{ name: "recidive", ...model.recidive, action: actions.recidive }] : []),
  ];
  const ctx = { authLog: profile.authLog, journal: model.journal, jails: running, removeFiles: files.map((f) => f.path) };
  const reload = renderTemplate("fail2ban/reload.sh.hbs", ctx).trimEnd();

  const summary = running.map(
    (j) => `jail ${j.name}: ${j.maxRetry} failures in ${j.findTime}s -> ban ${j.banTime}s${j.increment === "true" ? " (increasing)" : ""}, ${j.action} DROP`,
  );
  if (running.length === 0) summary.push("no jail enabled");
  summary.push(model.journal
    ? `reads the journal (backend systemd): sshd by ${model.journalMatch}; recidive by fail2ban's own syslog lines`
    : `reads ${profile.authLog} (backend auto; rsyslog must write it); recidive reads /var/log/fail2ban.log`);
  summary.push(`never banned: ${model.ignoreIp.join(" ")}`);

  return {
    name: "fail2ban",
    files,
    permissions: [],
    payloads: [],
    requires: ["fail2ban-client"],
    validate: renderTemplate("fail2ban/validate.sh.hbs", ctx),
    snapshot: renderTemplate("fail2ban/snapshot.sh.hbs", ctx),
    activate: renderTemplate("fail2ban/activate.sh.hbs", ctx),
    verify: renderTemplate("fail2ban/verify.sh.hbs", ctx),
    restore: reload,
    uninstall: renderTemplate("fail2ban/uninstall.sh.hbs", { ...ctx, reload }),
    summary,
  };
}
