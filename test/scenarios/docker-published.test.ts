// Issue 12: ports published by Docker obey the policy. A real dockerd (Debian's docker.io, IPv6 and
// ip6tables on) runs in each lab host's network namespace with three containers: "redis" publishing 6379,
// "web" publishing 8080 and "alt" publishing 16379 to its 6379. Docker DNATs them in PREROUTING, IPv4 and
// IPv6, so they cross the forward hook and never input: before the apply every client reaches all three
// over both. The policy declares 6379 and 16379 from the private client only (and from a client that is
// also on a blocklist) and does not declare 8080. After the apply, and after `docker restart` and a
// dockerd restart, only the private client reaches 6379/16379 over either family, nobody reaches 8080 and
// the blocklisted client nothing; a container published later is dropped too; containers still reach the
// network and each other, but not port 25 (egress smtp deny), and under an egress allowlist only where
// the host itself may connect; `publishedPorts.undeclared: accept` opens undeclared 8080 but not internal
// 9200; a Docker started on a host hardened before it is filtered from its first container on. Both
// backends on Debian 12 (Docker 20.10) and Debian 13 (Docker 26), the four hosts stepping in parallel; a
// second apply changes nothing and Docker's own rules are identical before and after.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { EgressPolicy, HostSpec, Policy } from "../../src/policy/types";
import type { LabClient, LabHost } from "../lab/lab";
import { labSuite } from "../lab/suite";
import { DockerEngine, dockerLower } from "./docker-engine";
import { firewallState, waitFor } from "./host-state";
import { figure, must, probe, startListener, type Runner } from "./incidents-helpers";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";
import { eachCase as runCases, PORTS } from "./published-ports";
import { runPlan } from "../lab/plan-runner";
import { checkHost } from "../../src/drift/check-host";

const BACKENDS = ["nftables", "iptables"] as const;
type Backend = (typeof BACKENDS)[number];
const CASES = (["debian-12", "debian-13"] as const).flatMap((root) => BACKENDS.map((backend) => ({ root, backend, id: `${root} ${backend}` })));
interface Case {
  id: string;
  backend: Backend;
  h: () => LabHost;
  e: () => DockerEngine;
  before: { docker?: string; dockerUser?: Record<4 | 6, string[]> };
}

/** Docker's own rules (its tables filter and nat), both families, but harden's chains and jumps. */
async function dockerRules(h: LabHost): Promise<string> {
  const save = ["iptables", "ip6tables"].flatMap((t) => [`${t}-save -t filter`, `${t}-save -t nat`]).join("; ");
  return must(h, `{ ${save}; } | sed -e '/^#/d' -e 's/\\[[0-9]*:[0-9]*\\]$//' | grep -v HARDEN`);
}
/** DOCKER-USER's rules per family; [] where there is no such chain */
const dockerUser = async (h: LabHost) => {
  const list = async (t: string) => (await must(h, `${t} -S DOCKER-USER 2>/dev/null || true`)).trim().split("\n").filter(Boolean);
  return { 4: await list("iptables"), 6: await list("ip6tables") };
};

/** Fails with every probe that differs from `want`, not the first. */
function expectReach(have: Record<string, string>, want: Record<string, string>): void {
  const off = Object.keys(want).filter((k) => have[k] !== want[k]).map((k) => `${k}: ${have[k]} (expected ${want[k]})`);
  if (off.length) throw new Error(`reach differs: ${off.join("; ")}`);
}

/** A lab address's IPv6 twin (ULA, one /64 on the lab bridge), added without DAD so it works at once. */
const v6 = (ip: string) => `fd00:4c:ab::${ip.split(".")[3]}`;
const addV6 = (r: Runner, ip: string) => must(r, `ip -6 addr replace ${v6(ip)}/64 dev eth0 nodad`);

labSuite("issue 12: ports published by Docker are filtered like every other port", (lab) => {
  let atk: LabClient;
  let priv: LabClient;
  let mx: LabClient;
  let listed: LabClient;
  const hosts: Record<string, LabHost> = {};
  const engines: Record<string, DockerEngine> = {};
  let lower13: string | null = null;

  beforeAll(async () => {
    [atk, priv, mx, listed] = await Promise.all(["attacker", "private", "mx", "listed"].map((n) => lab().client(n)));
    await Promise.all([atk, priv, listed].map((c) => addV6(c, c.ip)));
    await Promise.all([startListener(mx, 25), startListener(mx, 80), startListener(mx, 8081)]);
    // one dockerd per host, started in parallel
    lower13 = await dockerLower("debian-13");
    await Promise.all(CASES.map(async ({ root, id }, i) => {
      const h = await lab().host({ name: `dock${i}`, root });
      const e = new DockerEngine(h, root === "debian-13" ? lower13 : null);
      hosts[id] = h;
      engines[id] = e;
      await addV6(h, h.ip);
      const t0 = Date.now();
      await e.start();
      figure("issue12", id, `dockerd ${await e.version()} ready`, Date.now() - t0, "ms");
      await e.importImage();
      await Promise.all([
        e.listener("redis", "6379:6379", 6379),
        e.listener("web", "8080:8080", 8080),
        e.listener("alt", "16379:6379", 6379),
      ]);
    }));
  }, 240_000);

  afterAll(async () => {
    for (const e of Object.values(engines)) {
      await e.stop();
      e.cleanup();
    }
  }, 120_000);

  // the private client and the listed one are both admitted to 6379/16379; the listed one is on a blocklist
  const admitted = () => [priv.ip, listed.ip].flatMap((ip) => [`${ip}/32`, `${v6(ip)}/128`]);
  const policy = (backend: Backend, egress: EgressPolicy = { smtp: "deny" }): Policy => ({
    firewall: {
      backend,
      services: [
        { port: PORTS.redis, from: admitted(), comment: "redis container" },
        { port: PORTS.alt, from: admitted(), comment: "redis container on host port 16379" },
      ],
      blocklists: [{ name: "listed", cidrs: [listed.ip, v6(listed.ip)] }],
      egress,
    },
  });
  const spec = (id: string, backend: Backend, port: number, p = policy(backend)): HostSpec =>
    ({ ...labHostSpec(hosts[id], p), connection: { user: "root", port } });

  /** What each client reaches over IPv4 and IPv6, every published port probed at once. */
  async function reach(h: LabHost): Promise<Record<string, string>> {
    const clients = { attacker: atk, private: priv, listed };
    const entries = await Promise.all(Object.entries(PORTS).flatMap(([name, port]) =>
      Object.entries(clients).flatMap(([who, c]) => [
        probe(c, h.ip, port, 2).then((r) => [`${who} ${name}`, r] as const),
        probe(c, v6(h.ip), port, 2).then((r) => [`${who} ${name} v6`, r] as const),
      ])));
    return Object.fromEntries(entries.sort(([a], [b]) => a.localeCompare(b)));
  }
  const everywhere = (f: (who: string, name: string) => string) => Object.fromEntries(
    ["attacker", "private", "listed"].flatMap((who) => Object.keys(PORTS).flatMap((name) =>
      [`${who} ${name}`, `${who} ${name} v6`].map((k) => [k, f(who, name)] as const))).sort(([a], [b]) => a.localeCompare(b)));
  const OPEN = everywhere(() => "open");
  const FILTERED = everywhere((who, name) => (who === "private" && name !== "web" ? "open" : "timeout"));

  /** One step on every host at once (the cases are independent); a failure names its case. */
  const eachCase = (fn: (c: Case) => Promise<void>) => runCases(CASES.map((c) =>
    ({ ...c, h: () => hosts[c.id], e: () => engines[c.id], before: (state[c.id] ??= {}) })), fn);
  const state: Record<string, Case["before"]> = {};

  it("before the apply: the attacker reaches every published port", () => eachCase(async ({ id, backend, h, e, before }) => {
    expectReach(await reach(h()), OPEN);
    // published over IPv6 by ip6tables DNAT, not only by the userland proxy
    expect(await must(h(), "ip6tables -t nat -S DOCKER")).toMatch(/--dport 6379 -j DNAT --to-destination \[fd00:d0c::/);
    before.docker = await dockerRules(h());
    // containers run under the harness's cgroup parent, where a later run finds them if this one is killed
    const pid = (await e().must("inspect -f '{{.State.Pid}}' redis")).trim();
    expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(`/${e().cgroup}/`);
    // Docker 20.10 puts a RETURN there, later versions may leave it empty
    before.dockerUser = await dockerUser(h());
    figure("issue12", id, "Docker's FORWARD chain", (await must(h(), "iptables -S FORWARD")).trim().split("\n").slice(1).join(" | "));
  }));

  it("after the apply: 6379 and 16379 only from the private network, undeclared 8080 from nobody; Docker's rules untouched", () => eachCase(async ({ id, backend, h, e, before }) => {
    const fleet = labFleet(lab(), [spec(id, backend, 22)], labDefaults(lab()));
    const t0 = Date.now();
    await applyOrThrow(lab(), labPlans(fleet)[0]);
    figure("issue12", id, "apply", Date.now() - t0, "ms");
    expectReach(await reach(h()), FILTERED);
    // Docker's chains and rules (nat DNAT, filter DOCKER*, DOCKER-USER's RETURN) exactly as before,
    // harden's jumps apart
    expect(await dockerRules(h())).toBe(before.docker);
    // both backends leave DOCKER-USER to Docker (iptables hooks in mangle FORWARD, nftables in its own table)
    expect(await dockerUser(h())).toEqual(before.dockerUser);
  }));

  /** What a container reaches: its peer "redis" and mx on 80, 8081 and 25. */
  async function containerReach(e: DockerEngine): Promise<Record<string, string>> {
    const nc = async (target: string, port: number) =>
      ((await e.docker(`exec web sh -c 'nc -w 2 ${target} ${port} < /dev/null'`)).code === 0 ? "open" : "closed");
    const [peer, http, other, smtp] = await Promise.all([
      e.docker(`exec web sh -c 'nc -w 2 ${await e.ip("redis")} 6379 < /dev/null'`).then((r) => r.stdout.trim()),
      nc(mx.ip, 80), nc(mx.ip, 8081), nc(mx.ip, 25)]);
    return { peer, "mx 80": http, "mx 8081": other, "mx 25": smtp };
  }

  it("containers still reach the network and each other, but not port 25 (egress smtp deny)", () => eachCase(async ({ e }) => {
    expect(await containerReach(e())).toEqual({ peer: "PONG", "mx 80": "open", "mx 8081": "open", "mx 25": "closed" });
  }));

  it("a fail2ban ban (recidive: every port) drops the banned address on published ports too", () => eachCase(async ({ id, backend, h, e, before }) => {
    const set = backend === "nftables" ? "nft list set inet f2b-table addr-set-recidive" : "ipset list f2b-recidive";
    const banned = async () => (await h().exec(`${set} 2>/dev/null`)).stdout.includes(priv.ip);
    await must(h(), `fail2ban-client set recidive banip ${priv.ip}`);
    await waitFor(`${priv.ip} in ${set}`, 10_000, banned);
    expect(await probe(priv, h().ip, PORTS.redis, 2)).toBe("timeout");
    await must(h(), `fail2ban-client set recidive unbanip ${priv.ip}`);
    await waitFor(`${priv.ip} out of ${set}`, 10_000, async () => !(await banned()));
    expect(await probe(priv, h().ip, PORTS.redis, 2)).toBe("open");
  }));

  it("the same after `docker restart` of the containers and after a dockerd restart", () => eachCase(async ({ id, backend, h, e, before }) => {
    await e().must("restart -t 1 redis web alt");
    expectReach(await reach(h()), FILTERED);
    const t0 = Date.now();
    await e().restart();
    // --restart always: the daemon brings the containers back; wait for their DNAT rules
    for (;;) {
      const running = (await e().must("ps --format '{{.Names}}'")).trim().split("\n").sort();
      const nat = await must(h(), "iptables -t nat -S DOCKER 2>/dev/null | grep -c DNAT || true");
      if (running.join(",") === "alt,redis,web" && Number(nat.trim()) >= 3) break;
      if (Date.now() - t0 > 60_000) throw new Error(`containers did not come back: ${running.join(",")}, ${nat}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    figure("issue12", id, "dockerd restart to containers published again", Date.now() - t0, "ms");
    expectReach(await reach(h()), FILTERED);
  }));

  it("a container published after the apply is dropped", () => eachCase(async ({ id, backend, h, e, before }) => {
    await e().listener("late", "9200:9200", 9200);
    const late = await Promise.all([atk, priv].flatMap((c) => [probe(c, h().ip, 9200, 2), probe(c, v6(h().ip), 9200, 2)]));
    expect(late).toEqual(["timeout", "timeout", "timeout", "timeout"]);
    // the host itself still reaches it through Docker's proxy on loopback (not a published exposure)
    expect(await must(h(), "nc -w 2 127.0.0.1 9200 < /dev/null")).toContain("PONG");
  }));

  it("harden drift: undeclared published ports are information (the host stays in sync); 127.0.0.1-published is not an exposure", () => eachCase(async ({ id, backend, h, e, before }) => {
    await e().listener("local", "127.0.0.1:11211:11211", 11211);
    const plan = labPlans(labFleet(lab(), [spec(id, backend, 2222)], labDefaults(lab())))[0];
    const c = await checkHost(plan, { identityFile: lab().adminKey, timeoutMs: 30_000 });
    const info = c.items.filter((i) => i.info).map((i) => i.key).sort();
    expect(info).toEqual(["published tcp *:8080 v4", "published tcp *:8080 v6", "published tcp *:9200 v4", "published tcp *:9200 v6"]);
    expect(c.items.filter((i) => !i.info).map((i) => i.message)).toEqual([]);
    expect(c.status).toBe("in-sync");
    expect(c.items.find((i) => i.key === "published tcp *:9200 v4")?.message)
      .toMatch(/^published 0\.0\.0\.0:9200\/tcp \(DNAT to 172\.17\.0\.\d+:9200, Elasticsearch port\) is not in the policy: harden's forward filter drops it/);
  }));

  it("a second apply changes nothing: every unit in sync, the whole ruleset identical", () => eachCase(async ({ id, backend, h, e, before }) => {
    const fw0 = await firewallState(h());
    const fleet = labFleet(lab(), [spec(id, backend, 2222)], labDefaults(lab()));
    const r = await runPlan(labPlans(fleet)[0], { identityFile: lab().adminKey });
    expect(r.map((s) => [s.name, s.code])).toEqual(r.map((s) => [s.name, 0]));
    expect(r.find((s) => s.name === "firewall")?.stdout).toBe("firewall: in sync\n");
    const fw1 = await firewallState(h());
    expect(fw1.iptables).toBe(fw0.iptables);
    expect(fw1.nft).toBe(fw0.nft);
    expect(fw1.ipset).toBe(fw0.ipset);
  }));

  it("with the forward filter bypassed, drift reports the published ports as reachable against the policy; an apply heals", () => eachCase(async ({ id, backend, h, e, before }) => {
    const bypass = backend === "nftables" ? "nft flush chain inet harden published"
      : "iptables -t mangle -D FORWARD -j HARDEN-FORWARD && ip6tables -t mangle -D FORWARD -j HARDEN-FORWARD";
    await must(h(), bypass);
    expect([await probe(atk, h().ip, PORTS.web, 2), await probe(atk, v6(h().ip), PORTS.web, 2)]).toEqual(["open", "open"]);
    const plan = labPlans(labFleet(lab(), [spec(id, backend, 2222)], labDefaults(lab())))[0];
    const c = await checkHost(plan, { identityFile: lab().adminKey, timeoutMs: 30_000 });
    expect(c.status).toBe("drift");
    const exposed = c.items.filter((i) => i.key.startsWith("published ")).map((i) => [i.key, i.info ?? false]).sort();
    expect(exposed).toEqual(["16379", "6379", "8080", "9200"].flatMap((p) => [[`published tcp *:${p} v4`, false], [`published tcp *:${p} v6`, false]]));
    await applyOrThrow(lab(), plan);
    expectReach(await reach(h()), FILTERED);
    expect((await checkHost(plan, { identityFile: lab().adminKey, timeoutMs: 30_000 })).status).toBe("in-sync");
  }));

  it("egress allowlist: containers connect only where the host may (mx:80), still to each other", () => eachCase(async ({ id, backend, h, e }) => {
    const egress: EgressPolicy = { smtp: "deny", mode: "allowlist", allow: [{ to: [`${mx.ip}/32`], ports: [80], proto: "tcp" }] };
    await applyOrThrow(lab(), labPlans(labFleet(lab(), [spec(id, backend, 2222, policy(backend, egress))], labDefaults(lab())))[0]);
    expect(await containerReach(e())).toEqual({ peer: "PONG", "mx 80": "open", "mx 8081": "closed", "mx 25": "closed" });
    // the host's own connections meet the same chain
    expect([await probe(h(), mx.ip, 80, 2), await probe(h(), mx.ip, 8081, 2)]).toEqual(["open", "timeout"]);
    // and the published ports are filtered as before
    expectReach(await reach(h()), FILTERED);
  }));

  it("publishedPorts.undeclared accept: undeclared 8080 opens to everyone, internal 9200 and the declared ports' sources still hold", () => eachCase(async ({ id, backend, h }) => {
    const p = policy(backend);
    const open: Policy = { ...p, firewall: { ...p.firewall, publishedPorts: { undeclared: "accept" } } };
    await applyOrThrow(lab(), labPlans(labFleet(lab(), [spec(id, backend, 2222, open)], labDefaults(lab())))[0]);
    expectReach(await reach(h()), everywhere((who, name) =>
      (name === "web" && who !== "listed") || (who === "private" && name !== "web") ? "open" : "timeout"));
    const late = await Promise.all([probe(atk, h().ip, 9200, 2), probe(atk, v6(h().ip), 9200, 2)]);
    expect(late).toEqual(["timeout", "timeout"]);
  }));

  it("a runtime started after the apply is covered from its first container (the filter does not wait for Docker)", async () => {
    const late = [{ root: "debian-12", backend: "iptables" }, { root: "debian-13", backend: "nftables" }] as const;
    const results = await Promise.allSettled(late.map(async ({ root, backend }, i) => {
      const h = await lab().host({ name: `dlate${i}`, root });
      await addV6(h, h.ip);
      const spec: HostSpec = { ...labHostSpec(h, policy(backend)), connection: { user: "root", port: 22 } };
      await applyOrThrow(lab(), labPlans(labFleet(lab(), [spec], labDefaults(lab())))[0]);
      const e = new DockerEngine(h, root === "debian-13" ? lower13 : null);
      engines[`late ${root} ${backend}`] = e;
      await e.start();
      await e.importImage();
      await Promise.all([e.listener("redis", "6379:6379", 6379), e.listener("web", "8080:8080", 8080), e.listener("alt", "16379:6379", 6379)]);
      // `docker run -d` returns before nc listens inside, and a new container's IPv6 address is tentative
      // until its DAD ends: wait until the host itself gets each PONG through Docker's proxy, over both
      for (const port of Object.values(PORTS)) {
        for (const lo of ["127.0.0.1", "::1"]) {
          await waitFor(`PONG on ${lo} port ${port}`, 30_000, async () => (await h.exec(`nc -w 2 ${lo} ${port} < /dev/null`)).stdout.includes("PONG"));
        }
      }
      expectReach(await reach(h), FILTERED);
    }));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${late[i].root} ${late[i].backend}: ${String(r.reason)}`] : []));
    if (failed.length) throw new Error(failed.join("\n\n"));
  }, 180_000);
});
