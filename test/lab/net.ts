// The lab network: a "lab" netns holding a bridge, one veth into the root namespace (the uplink, so the
// test runner reaches hosts as an operator would) and one veth per host or client netns.
// Every name this creates starts with PREFIX, so a later run can find and remove what a killed run left.
import { existsSync, readdirSync } from "node:fs";
import { mustRun, runSync } from "./exec";

export const PREFIX = "hl-";
export const LAB_NS = `${PREFIX}lab`;
/** the root-namespace end of the uplink veth: the only thing the lab adds to the root namespace */
export const UPLINK_DEV = `${PREFIX}up`;
const BRIDGE = "br0";

/** A MAC derived from the IP: a re-created host keeps its MAC, so peers' ARP caches stay valid. */
export function macFor(ip: string): string {
  return "02:00:" + ip.split(".").map((o) => Number(o).toString(16).padStart(2, "0")).join(":");
}

export function netnsExists(ns: string): boolean {
  return existsSync(`/run/netns/${ns}`);
}

/** Our netns (PREFIX*), including leftovers of killed runs. */
export function ourNetns(): string[] {
  if (!existsSync("/run/netns")) return [];
  return readdirSync("/run/netns").filter((n) => n.startsWith(PREFIX));
}

/** Refuses a /24 that the root namespace already routes through some other device. */
export function checkNetFree(net: string): void {
  const r = runSync("ip", ["-4", "route", "show", `${net}.0/24`]);
  const dev = / dev (\S+)/.exec(r.stdout)?.[1];
  if (dev && dev !== UPLINK_DEV) {
    throw new Error(`lab: ${net}.0/24 is already routed via '${dev}' in the root namespace; set HARDEN_LAB_NET to a free /24 prefix`);
  }
}

export function labNetUp(net: string): void {
  mustRun("ip", ["netns", "add", LAB_NS]);
  mustRun("ip", ["-n", LAB_NS, "link", "set", "lo", "up"]);
  mustRun("ip", ["-n", LAB_NS, "link", "add", BRIDGE, "type", "bridge"]);
  mustRun("ip", ["-n", LAB_NS, "link", "set", BRIDGE, "up"]);
  mustRun("ip", ["link", "add", UPLINK_DEV, "type", "veth", "peer", "name", "up0", "netns", LAB_NS]);
  mustRun("ip", ["-n", LAB_NS, "link", "set", "up0", "master", BRIDGE, "up"]);
  mustRun("ip", ["addr", "add", `${net}.1/24`, "dev", UPLINK_DEV]);
  mustRun("ip", ["link", "set", UPLINK_DEV, "up"]);
}

export function labNetDown(): void {
  runSync("ip", ["link", "del", UPLINK_DEV]);
  runSync("ip", ["netns", "del", LAB_NS]);
}

/** Plugs netns `ns` into the bridge: eth0 inside with `ip`/24, the peer named `port` on the bridge. */
export function wire(ns: string, port: string, ip: string): void {
  mustRun("ip", ["link", "add", "eth0", "netns", ns, "address", macFor(ip), "type", "veth", "peer", "name", port, "netns", LAB_NS]);
  mustRun("ip", ["-n", LAB_NS, "link", "set", port, "master", BRIDGE, "up"]);
  mustRun("ip", ["-n", ns, "link", "set", "lo", "up"]);
  mustRun("ip", ["-n", ns, "addr", "add", `${ip}/24`, "dev", "eth0"]);
  mustRun("ip", ["-n", ns, "link", "set", "eth0", "up"]);
  // No default route on purpose: a lab host can reach only the lab /24, never the outside world.
}

/**
 * Removes a netns and its veth. `ip netns del` is asynchronous (a netns with closing TCP sockets lingered
 * ~90 s and its veth kept the name on the bridge); deleting the veth first is synchronous and frees the name.
 */
export function unwire(ns: string, port: string): void {
  runSync("ip", ["-n", LAB_NS, "link", "del", port]);
  runSync("ip", ["netns", "del", ns]);
}
