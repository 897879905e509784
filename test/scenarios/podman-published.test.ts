// Issue 12: ports published by Podman obey the policy as Docker's do. A real rootful Podman (Debian's
// podman with netavark) runs in each lab host's network namespace with three containers: "redis"
// publishing 6379, "web" publishing 8080 and "alt" publishing 16379 to its 6379. netavark DNATs them in
// PREROUTING (its NETAVARK-* chains, or its own nft table), so they cross the forward hook and never input:
// before the apply the attacker reaches all three. The policy declares 6379 and 16379 from the private
// network only and does not declare 8080. After the apply, and after `podman restart`, only the private
// network reaches 6379/16379 and nobody reaches 8080; a container published later is dropped too;
// containers still reach the network and each other. Both backends on Debian 12 (podman 4.3) and Debian 13
// (podman 5.4), the four hosts stepping in parallel; a second apply changes nothing and netavark's rules
// are identical before and after; drift sees netavark's DNAT rules.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { HostSpec } from "../../src/policy/types";
import type { LabClient, LabHost } from "../lab/lab";
import { shq } from "../lab/exec";
import { labSuite } from "../lab/suite";
import { PodmanEngine, podmanLower } from "./podman-engine";
import { figure, must, probe, startListener } from "./incidents-helpers";
import { eachCase as runCases, expectBypassIsDrift, expectContainersReach, expectPublishedInfo, expectSecondApplyInSync, FILTERED, publishedPolicy, reach, REACHABLE, type Backend } from "./published-ports";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";

const BACKENDS: Backend[] = ["nftables", "iptables"];
/** `driver`: netavark's firewall driver forced (Debian 13's default is nftables; its iptables driver is checked too) */
const CASES: { root: "debian-12" | "debian-13"; backend: Backend; driver?: "iptables"; id: string }[] = [
  ...(["debian-12", "debian-13"] as const).flatMap((root) => BACKENDS.map((backend) => ({ root, backend, id: `${root} ${backend}` }))),
  { root: "debian-13", backend: "iptables", driver: "iptables", id: "debian-13 iptables, netavark's iptables driver" },
];
interface Case {
  id: string;
  backend: Backend;
  h: () => LabHost;
  e: () => PodmanEngine;
  before: { podman?: string };
}

/**
 * netavark's own rules: its chains and the rules naming them in iptables-save, and its nft table when it
 * uses the nftables driver (counters dropped). The host's own tools read them.
 */
async function podmanRules(h: LabHost): Promise<string> {
  const ipt = await must(h, "iptables-save | sed -n -e 's/\\[[0-9]*:[0-9]*\\]$//' -e '/NETAVARK/p'");
  const nft = (await h.exec("nft list table inet netavark 2>/dev/null")).stdout;
  return `${ipt}\n${nft}`;
}

/** What of this machine podman could touch; compared before and after the suite. */
function machineFootprint(): string {
  const paths = ["/var/lib/containers", "/run/containers", "/run/libpod", "/etc/containers", "/etc/cni"];
  const list = (p: string): string[] => {
    if (!existsSync(p)) return [`${p} absent`];
    const st = statSync(p);
    if (!st.isDirectory()) return [`${p} ${st.size} ${st.mtimeMs}`];
    return [`${p}/ ${st.mtimeMs}`, ...readdirSync(p).sort().flatMap((e) => list(join(p, e)))];
  };
  const netns = readdirSync("/run/netns").filter((n) => n.startsWith("netns-")).sort();
  const shm = readdirSync("/dev/shm").filter((n) => n.startsWith("libpod")).sort();
  const cgroups = readdirSync("/sys/fs/cgroup").flatMap((c) => existsSync(join("/sys/fs/cgroup", c, "libpod_parent")) ? [c] : []);
  return [...paths.flatMap(list), `netns: ${netns.join(" ")}`, `shm: ${shm.join(" ")}`, `libpod_parent: ${cgroups.join(" ")}`].join("\n");
}

labSuite("issue 12: ports published by Podman are filtered like every other port", (lab) => {
  let atk: LabClient;
  let priv: LabClient;
  let mx: LabClient;
  const hosts: Record<string, LabHost> = {};
  const engines: Record<string, PodmanEngine> = {};
  const driver: Record<string, string> = {};
  let footprint = "";

  beforeAll(async () => {
    const t = Date.now();
    footprint = machineFootprint();
    [atk, priv, mx] = await Promise.all([lab().client("attacker"), lab().client("private"), lab().client("mx")]);
    await Promise.all([startListener(mx, 25), startListener(mx, 80)]);
    const lower13 = await podmanLower("debian-13");
    await Promise.all(CASES.map(async ({ root, id, driver: forced }, i) => {
      const h = await lab().host({ name: `pod${i}`, root });
      const e = new PodmanEngine(h, root === "debian-13" ? lower13 : await podmanLower(root), forced);
      hosts[id] = h;
      engines[id] = e;
      const t0 = Date.now();
      await e.start();
      await e.importImage();
      figure("issue12-podman", id, "holder up and image imported", Date.now() - t0, "ms");
      const t1 = Date.now();
      await Promise.all([
        e.listener("redis", "6379:6379", 6379),
        e.listener("web", "8080:8080", 8080),
        e.listener("alt", "16379:6379", 6379),
      ]);
      figure("issue12-podman", id, "three containers published", Date.now() - t1, "ms");
      const v = await e.versions();
      driver[id] = (await h.exec("nft list table inet netavark > /dev/null 2>&1")).code === 0 ? "nftables" : "iptables";
      figure("issue12-podman", id, "versions", `podman ${v.podman}, network backend ${v.backend}, ${v.netavark}, firewall driver ${driver[id]}`);
    }));
    figure("issue12-podman", "all", "set-up: clients, five hosts, engines and containers (after the lab lock)", Date.now() - t, "ms");
  }, 240_000);

  afterAll(async () => {
    await Promise.all(Object.values(engines).map((e) => e.stop()));
    for (const e of Object.values(engines)) e.cleanup(true);
  }, 120_000);

  const spec = (id: string, backend: Backend, port: number): HostSpec =>
    ({ ...labHostSpec(hosts[id], publishedPolicy(backend, priv)), connection: { user: "root", port } });
  const plan = (id: string, backend: Backend) => labPlans(labFleet(lab(), [spec(id, backend, 2222)], labDefaults(lab())))[0];
  const reachFrom = (h: LabHost) => reach(h, atk, priv);

  const state: Record<string, { podman?: string }> = {};
  /** One step on every host at once. */
  const eachCase = (fn: (c: Case) => Promise<void>) => runCases(CASES.map((c) =>
    ({ ...c, h: () => hosts[c.id], e: () => engines[c.id], before: (state[c.id] ??= {}) })), fn);

  it("before the apply: the attacker reaches every published port; containers and conmon run under the harness's cgroup parent", () => eachCase(async ({ id, h, e, before }) => {
    expect(await reachFrom(h())).toEqual(REACHABLE);
    before.podman = await podmanRules(h());
    const pid = (await e().must("inspect -f '{{.State.Pid}}' redis")).trim();
    expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(`/${e().cgroup}/`);
    const conmon = (await e().must("inspect -f '{{.State.ConmonPid}}' redis")).trim();
    expect(readFileSync(`/proc/${conmon}/cgroup`, "utf8")).toContain(`/${e().cgroup}/`);
    figure("issue12-podman", id, "FORWARD before the apply", (await must(h(), "iptables -S FORWARD; iptables -t mangle -S FORWARD")).trim().split("\n").join(" | "));
  }));

  it("after the apply: 6379 and 16379 only from the private network, undeclared 8080 from nobody; netavark's rules untouched", () => eachCase(async ({ id, backend, h, before }) => {
    const t0 = Date.now();
    await applyOrThrow(lab(), labPlans(labFleet(lab(), [spec(id, backend, 22)], labDefaults(lab())))[0]);
    figure("issue12-podman", id, "apply", Date.now() - t0, "ms");
    expect(await reachFrom(h())).toEqual(FILTERED);
    expect(await podmanRules(h())).toBe(before.podman);
  }));

  it("containers still reach the network and each other, but not port 25 (egress smtp deny)", () => eachCase(async ({ e }) => {
    await expectContainersReach((sh) => e().podman(`exec web sh -c ${shq(sh)}`), await e().ip("redis"), mx);
  }));

  it("the same after `podman restart` of the containers (netavark sets its rules up again)", () => eachCase(async ({ id, h, e }) => {
    const t0 = Date.now();
    await e().must("restart --time 1 redis web alt");
    figure("issue12-podman", id, "podman restart of three containers", Date.now() - t0, "ms");
    expect(await reachFrom(h())).toEqual(FILTERED);
  }));

  it("a container published after the apply is dropped, wherever netavark puts its rules", () => eachCase(async ({ id, backend, h, e }) => {
    await e().listener("late", "9200:9200", 9200);
    expect(await probe(atk, h().ip, 9200, 2)).toBe("timeout");
    expect(await probe(priv, h().ip, 9200, 2)).toBe("timeout");
    // the host itself still reaches it (netavark DNATs locally generated traffic in nat OUTPUT)
    expect(await must(h(), "nc -w 2 127.0.0.1 9200 < /dev/null")).toContain("PONG");
    if (backend === "iptables") figure("issue12-podman", id, "FORWARD after a late container", (await must(h(), "iptables -S FORWARD; iptables -t mangle -S FORWARD")).trim().split("\n").join(" | "));
  }));

  it("harden drift: undeclared published ports are information (the host stays in sync); 127.0.0.1-published is not an exposure", () => eachCase(async ({ id, backend, e }) => {
    await e().listener("local", "127.0.0.1:11211:11211", 11211);
    await expectPublishedInfo(plan(id, backend), lab().adminKey, "10.88.0.");
  }));

  it("a second apply changes nothing: every unit in sync, the whole ruleset identical, netavark's rules too", () => eachCase(async ({ id, backend, h }) => {
    await expectSecondApplyInSync(h(), plan(id, backend), lab().adminKey, () => podmanRules(h()));
  }));

  it("with the forward filter bypassed, drift reports the published ports as reachable against the policy; an apply heals", () => eachCase(async ({ id, backend, h }) => {
    const bypass = backend === "nftables" ? "nft flush chain inet harden published" : "iptables -t mangle -D FORWARD -j HARDEN-FORWARD";
    await expectBypassIsDrift(h(), plan(id, backend), lab().adminKey, bypass, atk, priv);
  }));

  it("nothing of podman's landed in this machine's /var/lib/containers, /run, /etc/containers, /dev/shm or cgroup root", () => {
    expect(machineFootprint()).toBe(footprint);
  });
});
