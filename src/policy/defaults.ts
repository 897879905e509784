import type { ResolvedPolicy } from "./types";

/** What a host gets when nobody said otherwise: safe, key-only, DROP, cron for root only. */
export const DEFAULT_POLICY: ResolvedPolicy = {
  ssh: {
    port: 22,
    listenAddresses: [],
    permitRootLogin: "prohibit-password",
    passwordAuthentication: false,
    authorizedKeys: {},
    allowUsers: [],
    allowGroups: [],
    maxAuthTries: 3,
    loginGraceTime: 30,
    maxStartups: "10:30:60",
    perSourceMaxStartups: 3,
    maxSessions: 4,
    clientAliveInterval: 300,
    clientAliveCountMax: 2,
    crypto: "modern",
    forwarding: false,
    logLevel: "VERBOSE",
    sudoUsers: [],
  },
  firewall: {
    backend: "nftables",
    sshAllow: [],
    sshRateLimit: { connections: 10, perSeconds: 60 },
    services: [],
    blocklists: [],
    egress: { smtp: "deny", mode: "accept", allow: [] },
    publishedPorts: { undeclared: "drop" },
  },
  fail2ban: {
    enabled: true,
    sshd: { enabled: true, maxRetry: 3, findTime: 600, banTime: 3600, banTimeIncrement: true },
    recidive: { enabled: true, maxRetry: 5, findTime: 86400, banTime: 604800, banTimeIncrement: false },
    ignore: [],
  },
  cron: { allow: ["root"], atAllow: ["root"], expected: [] },
};
