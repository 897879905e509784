// A fleet for lab hosts, modelled on the example stack: SSH moves to 2222, key-only, whitelisted to
// the lab network; Redis only from a private network that is not the lab's (incident 3: the lab's
// attacker must not reach it).
import { readFileSync } from "node:fs";
import type { Fleet } from "../../src/policy/types";
import type { Lab, LabHost } from "../lab/lab";

export const SSH_PORT = 2222;

export interface LabFleetHost {
  host: LabHost;
  /** how the host is reached today: 22 before the first apply, SSH_PORT after it */
  port?: number;
  backend?: "nftables" | "iptables";
}

export function labFleet(lab: Lab, hosts: LabFleetHost[]): Fleet {
  const adminPub = readFileSync(`${lab.adminKey}.pub`, "utf8").trim();
  return {
    adminSources: [`${lab.uplink}/32`],
    defaults: {
      ssh: { port: SSH_PORT, permitRootLogin: "prohibit-password", passwordAuthentication: false, authorizedKeys: { root: [adminPub] } },
      firewall: { backend: "nftables", sshAllow: [`${lab.net}.0/24`], services: [{ port: 6379, from: ["172.16.0.0/12"], comment: "redis" }] },
      fail2ban: { ignore: [`${lab.uplink}/32`], logBackend: "file" }, // namespace hosts: rsyslog, no journal
      cron: { allow: ["root"], atAllow: ["root"] },
    },
    hosts: hosts.map(({ host, port, backend }) => ({
      name: host.name,
      address: host.ip,
      os: host.root,
      connection: { user: "root", port: port ?? 22 },
      hostKey: host.hostKey,
      ...(backend ? { policy: { firewall: { backend } } } : {}),
    })),
  };
}
