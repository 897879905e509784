// The example stack (stacks/Pulumi.example.yaml) on lab addresses, shared by the apply, idempotence and
// lockout scenarios: SSH on 2222, key-only, whitelisted to the lab uplink (and an admin client), web
// services public, Redis private, SMTP out denied, fail2ban, cron locked to root.
import { readFileSync } from "node:fs";
import type { Fleet, HostSpec, Policy } from "../../src/policy/types";
import type { LabHost } from "../lab/lab";
import type { ScenarioLab } from "../lab/scenario-lab";
import { labDefaults, labFleet, labHostSpec } from "./lab-fleet";

export const SSH_PORT = 2222;

export function adminPub(lab: Pick<ScenarioLab, "adminKey">): string {
  return readFileSync(`${lab.adminKey}.pub`, "utf8").trim();
}

/** The example's "web" group. */
export const WEB: Policy = {
  ssh: { maxAuthTries: 3, crypto: "modern" },
  firewall: {
    services: [{ port: 80, comment: "http" }, { port: 443, comment: "https" }, { port: 6379, from: ["172.16.0.0/12"], comment: "redis" }],
    egress: { smtp: "deny" },
  },
  fail2ban: { sshd: { maxRetry: 3, findTime: 600, banTime: 3600 } },
  cron: { allow: ["root"] },
};

export interface ExampleHost {
  host: LabHost;
  policy?: Policy;
  /** how the host is reached today: 22 before the first apply, 2222 after it (the operator updates it) */
  port?: number;
  user?: string;
}

export function exampleFleet(lab: Pick<ScenarioLab, "adminKey" | "uplink" | "hostLog">, hosts: ExampleHost[], adminClientIp?: string): Fleet {
  const specs: HostSpec[] = hosts.map(({ host, policy, port, user }) => ({
    ...labHostSpec(host, policy ?? {}, ["web"]),
    connection: { user: user ?? "root", port: port ?? 22 },
  }));
  return labFleet(lab, specs, labDefaults(lab, adminClientIp), { web: WEB });
}
