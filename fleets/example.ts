// The example fleet as a TypeScript module: the twin of stacks/Pulumi.example.yaml (a test renders
// both and compares the host folders byte for byte). Copy it into your own repository and run
//   npx harden render fleets/example.ts --out rendered/
// or point a stack at it: `pulumi config set hardening:fleetModule fleets/example.ts`.
//   web1  public web server; SSH only from the admin networks (incident 1: brute force forked sshd to OOM)
//   db1   Redis and PostgreSQL reachable from the private network only (incident 3: exposed Redis, cryptominer)
//   mail1 public SMTP, the only host allowed to send mail out (incident 2: rogue sessions on a mail server)
import { defineFleet, definePolicy, type HostSpec, type ServiceRule } from "harden-fleet";

const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAING+T0NaM/kLMjI1+zunpab60tPU1vXjfPIR1emNm5Fb admin@ops";

/** What every host gets unless its groups or its own policy say otherwise. */
const base = definePolicy({
  ssh: {
    port: 2222,
    permitRootLogin: "prohibit-password",
    passwordAuthentication: false,
    authorizedKeys: { root: [ADMIN_KEY] },
    maxAuthTries: 3,
    crypto: "modern",
  },
  firewall: {
    backend: "nftables",
    sshAllow: ["198.51.100.0/24", "2001:db8:100::/48"],
    egress: { smtp: "deny" },
  },
  fail2ban: {
    sshd: { maxRetry: 3, findTime: "10m", banTime: "1h", banTimeIncrement: true },
    recidive: { maxRetry: 5 },
  },
  cron: { allow: ["root"] },
});

const tcp = (port: number, comment: string, from?: string[]): ServiceRule =>
  ({ port, proto: "tcp", ...(from ? { from } : {}), comment });
const PRIVATE = ["10.0.0.0/8"];

/** Every host is a Debian server reached as root on 22 today; only what differs is listed. */
const host = (name: string, address: string, group: string, os: HostSpec["os"], hostKey: string,
  extra: Partial<HostSpec> = {}): HostSpec =>
  ({ name, address, groups: [group], os, connection: { user: "root", port: 22 }, hostKey, ...extra });

export default defineFleet({
  defaults: base,
  groups: {
    web: { firewall: { services: [tcp(80, "http"), tcp(443, "https")] } },
    db: { firewall: { services: [tcp(6379, "redis", PRIVATE), tcp(5432, "postgresql", PRIVATE)] } },
    mail: { firewall: { services: [tcp(25, "smtp")], egress: { smtp: "allow" } } },
  },
  hosts: [
    host("web1", "203.0.113.10", "web", "debian-12",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQLdClm/sBCzdaxzi1EMy6aCDg3g2NlRufH43GhhYYi"),
    host("db1", "203.0.113.20", "db", "debian-12",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOczAEF+qTKvcajFi/i7B3komK8NfoWMBkQAK4Zjyr0k", {
        policy: { cron: { expected: [{ source: "root", line: "15 3 * * * /usr/local/bin/pg-backup" }] } },
      }),
    host("mail1", "203.0.113.30", "mail", "debian-13",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK9cZsPm618qcXKXTC7zbkCUR1csh29A+qV5b5V8lR9g"),
  ],
});
