// The systemd lab's network: a switch netns holding a bridge (nspawn plugs each machine's veth into it with
// --network-bridge), one uplink veth into the root namespace (the test runner reaches hosts as an operator
// would), the bridge's own address serving the local apt repository, and bare client netns on the bridge.
// Its own prefix, /24 and lock: the namespace lab (hl-*, 10.250.0.0/24) can run at the same time.
import { existsSync, readdirSync } from "node:fs";
import { mustRun, runSync } from "../exec";
import { macFor } from "../net";

export const PREFIX = "hs-";
export const SWITCH_NS = `${PREFIX}sw`;
/** the root-namespace end of the uplink: the only thing this lab adds to the root namespace */
export const UPLINK_DEV = `${PREFIX}up`;
export const BRIDGE = "br0";
/** the bridge's address: .2 of the lab /24, where the apt repository is served */
export const REPO_HOST = "harden-lab-repo";

export function ourNetns(): string[] {
  if (!existsSync("/run/netns")) return [];
  return readdirSync("/run/netns").filter((n) => n.startsWith(PREFIX));
}

export function checkNetFree(net: string): void {
  const dev = / dev (\S+)/.exec(runSync("ip", ["-4", "route", "show", `${net}.0/24`]).stdout)?.[1];
  if (dev && dev !== UPLINK_DEV) {
    throw new Error(`systemd lab: ${net}.0/24 is already routed via '${dev}' in the root namespace; set HARDEN_SYSLAB_NET to a free /24 prefix`);
  }
}

export function switchUp(net: string): void {
  mustRun("ip", ["netns", "add", SWITCH_NS]);
  mustRun("ip", ["-n", SWITCH_NS, "link", "set", "lo", "up"]);
  mustRun("ip", ["-n", SWITCH_NS, "link", "add", BRIDGE, "type", "bridge"]);
  mustRun("ip", ["-n", SWITCH_NS, "addr", "add", `${net}.2/24`, "dev", BRIDGE]);
  mustRun("ip", ["-n", SWITCH_NS, "link", "set", BRIDGE, "up"]);
  mustRun("ip", ["link", "add", UPLINK_DEV, "type", "veth", "peer", "name", "up0", "netns", SWITCH_NS]);
  mustRun("ip", ["-n", SWITCH_NS, "link", "set", "up0", "master", BRIDGE, "up"]);
  mustRun("ip", ["addr", "add", `${net}.1/24`, "dev", UPLINK_DEV]);
  mustRun("ip", ["link", "set", UPLINK_DEV, "up"]);
}

export function switchDown(): void {
  runSync("ip", ["link", "del", UPLINK_DEV]);
  runSync("ip", ["netns", "del", SWITCH_NS]);
}

/** The bridge port of a client netns. */
export const clientPort = (name: string) => `hc-${name}`;

export function wireClient(ns: string, name: string, ip: string): void {
  mustRun("ip", ["link", "add", "eth0", "netns", ns, "address", macFor(ip), "type", "veth", "peer", "name", clientPort(name), "netns", SWITCH_NS]);
  mustRun("ip", ["-n", SWITCH_NS, "link", "set", clientPort(name), "master", BRIDGE, "up"]);
  mustRun("ip", ["-n", ns, "link", "set", "lo", "up"]);
  mustRun("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
  mustRun("ip", ["-n", ns, "link", "set", "eth0", "up"]);
}

/** Kills what runs in netns `ns` (only ever processes a lab run started there), then removes it. */
export function removeNetns(ns: string, port?: string): void {
  const pids = runSync("ip", ["netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean).map(Number);
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
  if (port) runSync("ip", ["-n", SWITCH_NS, "link", "del", port]);
  runSync("ip", ["netns", "del", ns]);
}
