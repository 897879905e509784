// One scenario, two kinds of lab host: scenarioSuite() defines the suite once on namespace hosts (labSuite)
// and once on systemd hosts (systemdLabSuite, stock Debian 12/13 from the cloud images' package list), so
// every incident and lockout case runs on both. Tests see only what both labs offer (ScenarioLab).
import type { ExecResult } from "./exec";
import type { HostEndpoint, LabHost } from "./host";
import type { LabClient } from "./lab";
import type { LabRoot } from "./roots";
import type { SshRunOptions } from "./ssh";
import { labSuite } from "./suite";
import { KINDS, type HostKind } from "./systemd/cache";
import { systemdLabSuite } from "./systemd/suite";

export type LabFlavour = "namespace" | "systemd";

/** What scenario tests use of a lab: Lab and SystemdLab both are one. */
export interface ScenarioLab {
  readonly adminKey: string;
  /** the root-namespace address hosts see the test runner (the operator) come from */
  readonly uplink: string;
  host(opts: { name: string; root?: LabRoot }): Promise<LabHost>;
  client(name: string, ip?: string): Promise<LabClient>;
  ssh(host: LabHost | HostEndpoint, command: string, opts?: SshRunOptions): Promise<ExecResult>;
  /** where the hosts' sshd logs: "journal" on systemd hosts; namespace hosts (no value) have rsyslog's auth.log */
  readonly hostLog?: "journal" | "file";
  /** "systemd" on systemd hosts; namespace hosts (no value) */
  readonly flavour?: LabFlavour;
}

/**
 * Which flavours scenario suites run on: HARDEN_LAB_FLAVOURS ("namespace,systemd", the default, or one of
 * them). HARDEN_SYSLAB_KIND picks the systemd hosts' kind (default "stock": nothing but the cloud image's
 * packages, so every plan installs nftables and fail2ban itself).
 */
export function labFlavours(): LabFlavour[] {
  const raw = (process.env.HARDEN_LAB_FLAVOURS ?? "namespace,systemd").split(",").map((s) => s.trim()).filter(Boolean);
  for (const f of raw) if (f !== "namespace" && f !== "systemd") throw new Error(`HARDEN_LAB_FLAVOURS: unknown flavour "${f}" (namespace, systemd)`);
  return raw as LabFlavour[];
}

export function systemdKind(): HostKind {
  const k = process.env.HARDEN_SYSLAB_KIND ?? "stock";
  if (!(KINDS as readonly string[]).includes(k)) throw new Error(`HARDEN_SYSLAB_KIND: unknown kind "${k}" (${KINDS.join(", ")})`);
  return k as HostKind;
}

/** `fn` runs once per flavour; the suite on systemd hosts is named "<name> [systemd hosts]". */
export function scenarioSuite(name: string, fn: (lab: () => ScenarioLab, flavour: LabFlavour) => void, roots: LabRoot[] = ["debian-12", "debian-13"]): void {
  for (const flavour of labFlavours()) {
    if (flavour === "namespace") labSuite(name, (lab) => fn(lab, flavour));
    else {
      const kind = systemdKind();
      systemdLabSuite(`${name} [systemd hosts${kind === "stock" ? "" : `, ${kind} kind`}]`, (lab) => fn(() => {
        const l = lab();
        return {
          adminKey: l.adminKey,
          uplink: l.uplink,
          hostLog: "journal",
          flavour: "systemd",
          host: (o) => l.host({ name: o.name, release: o.root, kind }),
          client: (n, ip) => l.client(n, ip),
          ssh: (h, c, o) => l.ssh(h, c, o),
        } satisfies ScenarioLab;
      }, flavour), { releases: roots });
    }
  }
}

/**
 * A shell command that prints sshd's log: /var/log/auth.log where it exists (namespace hosts: rsyslog),
 * else sshd's journal, stamped like Debian 12's rsyslog (RFC 3339 with microseconds).
 */
export const SSHD_LOG_CMD =
  "if [ -e /var/log/auth.log ]; then cat /var/log/auth.log; else journalctl -q --no-pager -o short-iso-precise -t sshd -t sshd-session; fi";

/**
 * A shell command that prints fail2ban's log in /var/log/fail2ban.log's format ("YYYY-MM-DD HH:MM:SS,mmm
 * fail2ban.x [pid]: LEVEL message"): that file on namespace hosts; on systemd hosts, where the product has
 * fail2ban log to syslog (the journal), the fail2ban unit's journal, its stamps rewritten to that format.
 */
export function fail2banLogCmd(lab: Pick<ScenarioLab, "hostLog">): string {
  if (lab.hostLog !== "journal") return "cat /var/log/fail2ban.log";
  return "journalctl -q --no-pager -o short-iso-precise -u fail2ban | " +
    "sed -E 's/^([0-9]{4}-[0-9]{2}-[0-9]{2})T([0-9]{2}:[0-9]{2}:[0-9]{2})\\.([0-9]{3})[0-9]*[+-][0-9]{2}:?[0-9]{2} [^ ]+ /\\1 \\2,\\3 /'";
}
