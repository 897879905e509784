// A realistic fleet for tests, modelled on the incidents in DESIGN.md. Keys are real ed25519 keys
// (public halves; the private halves were thrown away). Every call returns a fresh deep copy, so
// tests may mutate what they get. Other suites (render goldens) depend on it: change with care.
import type { Fleet } from "./types";

export const FIXTURE_KEYS = {
  web1Host: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDSCRwc0Lvf1b1nR6P2mViJOWCtYEKcstfPRYm8uqHCV",
  db1Host: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDZdCM/namRsu+hcOc85sbPDOjDZF2gjE0tlUCa+K5aC",
  mail1Host: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOCizpB/W5UEEko5QDYd/U4HBl+VswNq/SSDwOHOCU0i",
  /** the operator's key for root everywhere */
  opsRoot: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIIku97VW+47ewt/FF3DlrlWAviH6kZdksPEiC+avjnGT ops-root",
  /** the operator's key for the sudo user on mail1, where root login is off */
  opsAdmin: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAICqk60wqII+XCoJNZSKJdbuW93UuwJmTL4ZSE9uS5+AQ ops-admin",
  /** a web developer's key for chrooted SFTP on web1 */
  webdev: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBWOY1COIuSUBTMPP4/0cGkVhxuPCGnmXFR7q7f7pmRg webdev@laptop",
} as const;

/**
 * web1: public 80/443, SSH only from the admin whitelist, chrooted SFTP for web developers.
 * db1: Redis 6379 and PostgreSQL 5432 from 10.0.0.0/8 only, sshd bound to two addresses,
 *      explicit crypto lists, egress allowlist, its own private key.
 * mail1: public SMTP 25, outbound SMTP allowed (denied elsewhere), root login off with a sudo
 *        user "admin" taking over, and a crontab line with shell syntax.
 * Everyone: reached today as root on port 22; after the apply SSH on 2222, key-only.
 */
export function exampleFleet(): Fleet {
  return {
    adminSources: ["198.51.100.7/32"],
    defaults: {
      ssh: {
        port: 2222,
        permitRootLogin: "prohibit-password",
        passwordAuthentication: false,
        authorizedKeys: { root: [FIXTURE_KEYS.opsRoot] },
        maxAuthTries: 3,
        maxStartups: "10:30:60",
        crypto: "modern",
        logLevel: "VERBOSE",
      },
      firewall: {
        backend: "nftables",
        sshAllow: ["198.51.100.0/24", "2001:db8:100::/48"],
        sshRateLimit: { connections: 10, perSeconds: 60 },
        blocklists: [{ name: "spamhaus_drop", cidrs: ["192.0.2.0/24", "198.18.0.0/15", "2001:db8:bad::/48"] }],
        egress: { smtp: "deny" },
      },
      fail2ban: {
        ignore: ["198.51.100.0/24"],
        sshd: { maxRetry: 3, findTime: 600, banTime: 3600, banTimeIncrement: true },
      },
      cron: {
        allow: ["root"],
        atAllow: ["root"],
        expected: [{ source: "/etc/crontab", line: "17 * * * * root cd / && run-parts --report /etc/cron.hourly" }],
      },
    },
    groups: {
      web: {
        firewall: {
          services: [
            { port: 80, proto: "tcp", comment: "http" },
            { port: 443, proto: "tcp", comment: "https" },
          ],
        },
      },
      db: {
        firewall: {
          services: [
            { port: 6379, proto: "tcp", from: ["10.0.0.0/8"], comment: "redis from app servers" },
            { port: 5432, proto: "tcp", from: ["10.0.0.0/8"], comment: "postgresql" },
          ],
        },
      },
      mail: {
        firewall: {
          services: [{ port: 25, proto: "tcp", comment: "smtp" }],
          egress: { smtp: "allow" },
        },
      },
    },
    hosts: [
      {
        name: "web1",
        address: "203.0.113.10",
        groups: ["web"],
        os: "debian-12",
        connection: { user: "root", port: 22 },
        hostKey: FIXTURE_KEYS.web1Host,
        policy: {
          ssh: {
            authorizedKeys: { webdev: [FIXTURE_KEYS.webdev] },
            allowGroups: ["root", "sftponly"],
            sftpChroot: { group: "sftponly", directory: "/srv/sftp/%u" },
          },
          cron: { allow: ["root", "www-data"] },
        },
      },
      {
        name: "db1",
        address: "203.0.113.20",
        groups: ["db"],
        os: "debian-12",
        connection: { user: "root", port: 22, privateKey: "keys/db1_ed25519" },
        hostKey: FIXTURE_KEYS.db1Host,
        policy: {
          ssh: {
            listenAddresses: ["203.0.113.20", "10.0.0.20"],
            allowUsers: ["root"],
            crypto: {
              kex: ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org"],
              ciphers: ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com"],
              macs: ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com"],
              hostKeyAlgorithms: ["ssh-ed25519"],
              pubkeyAcceptedAlgorithms: ["ssh-ed25519", "sk-ssh-ed25519@openssh.com"],
            },
          },
          firewall: {
            egress: {
              mode: "allowlist",
              allow: [
                { to: ["10.0.0.0/8"], ports: [53], proto: "udp" },
                { to: ["10.0.0.0/8"], ports: [443] },
              ],
            },
          },
        },
      },
      {
        name: "mail1",
        address: "203.0.113.30",
        groups: ["mail"],
        os: "debian-12",
        connection: { user: "root", port: 22 },
        hostKey: FIXTURE_KEYS.mail1Host,
        policy: {
          ssh: {
            permitRootLogin: "no",
            sudoUsers: ["admin"],
            authorizedKeys: { admin: [FIXTURE_KEYS.opsAdmin] },
            allowUsers: ["admin"],
          },
          fail2ban: { recidive: { banTime: 1_209_600 } },
          cron: {
            expected: [
              { source: "/etc/crontab", line: "17 * * * * root cd / && run-parts --report /etc/cron.hourly" },
              { source: "root", line: "*/10 * * * * /usr/sbin/postqueue -f >/dev/null 2>&1" },
            ],
          },
        },
      },
    ],
  };
}
