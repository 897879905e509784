// Issue 12: ports published by Docker obey the policy. A real dockerd (Debian's docker.io) runs in each lab
// host's network namespace with three containers: "redis" publishing 6379, "web" publishing 8080 and "alt"
// publishing 16379 to its 6379. Docker DNATs them in PREROUTING, so they cross the forward hook and never
// input: before the apply the attacker reaches all three. The policy declares 6379 and 16379 from the
// private network only and does not declare 8080. After the apply, and after `docker restart` and a dockerd
// restart, only the private network reaches 6379/16379 and nobody reaches 8080; a container published later
// is dropped too; containers still reach the network and each other, but not port 25 (egress smtp deny).
// Both backends on Debian 12 (Docker 20.10) and Debian 13 (Docker 26), the four hosts stepping in
// parallel; a second apply changes nothing and Docker's own rules are identical before and after.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { HostSpec, Policy } from "../../src/policy/types";
import type { LabClient, LabHost } from "../lab/lab";
import { labSuite } from "../lab/suite";
import { DockerEngine, dockerLower } from "./docker-engine";
import { firewallState, waitFor } from "./host-state";
import { figure, must, probe, startListener } from "./incidents-helpers";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";
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
  before: { docker?: string; dockerUser?: string[] };
}
const PORTS = { redis: 6379, web: 8080, alt: 16379 };

/** Docker's own rules (IPv4: Debian 12's Docker makes no ip6tables rules): iptables-save but harden's jumps. */
async function dockerRules(h: LabHost): Promise<string> {
  return must(h, "iptables-save | sed -e '/^#/d' -e 's/\\[[0-9]*:[0-9]*\\]$//' | grep -v HARDEN");
}

labSuite("issue 12: ports published by Docker are filtered like every other port", (lab) => {
  let atk: LabClient;
  let priv: LabClient;
  let mx: LabClient;
  const hosts: Record<string, LabHost> = {};
  const engines: Record<string, DockerEngine> = {};

  beforeAll(async () => {
    [atk, priv, mx] = await Promise.all([lab().client("attacker"), lab().client("private"), lab().client("mx")]);
    await Promise.all([startListener(mx, 25), startListener(mx, 80)]);
    // one dockerd per host, started in parallel
    const lower13 = await dockerLower("debian-13");
    await Promise.all(CASES.map(async ({ root, id }, i) => {
      const h = await lab().host({ name: `dock${i}`, root });
      const e = new DockerEngine(h, root === "debian-13" ? lower13 : null);
      hosts[id] = h;
      engines[id] = e;
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

  const policy = (backend: Backend): Policy => ({
    firewall: {
      backend,
      services: [
        { port: PORTS.redis, from: [`${priv.ip}/32`], comment: "redis container" },
        { port: PORTS.alt, from: [`${priv.ip}/32`], comment: "redis container on host port 16379" },
      ],
      egress: { smtp: "deny" },
    },
  });
  const spec = (id: string, backend: Backend, port: number): HostSpec =>
    ({ ...labHostSpec(hosts[id], policy(backend)), connection: { user: "root", port } });

  /** What the attacker and the private network reach, every published port probed at once. */
  async function reach(h: LabHost): Promise<Record<string, string>> {
    const entries = await Promise.all(Object.entries(PORTS).flatMap(([name, port]) => [
      probe(atk, h.ip, port, 2).then((r) => [`attacker ${name}`, r] as const),
      probe(priv, h.ip, port, 2).then((r) => [`private ${name}`, r] as const),
    ]));
    return Object.fromEntries(entries);
  }
  const FILTERED = {
    "attacker redis": "timeout", "private redis": "open",
    "attacker web": "timeout", "private web": "timeout",
    "attacker alt": "timeout", "private alt": "open",
  };

  /** One step on every host at once (the cases are independent); a failure names its case. */
  async function eachCase(fn: (c: Case) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(CASES.map((c) =>
      fn({ ...c, h: () => hosts[c.id], e: () => engines[c.id], before: (state[c.id] ??= {}) })));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${CASES[i].id}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
    if (failed.length) throw new Error(failed.join("\n\n"));
  }
  const state: Record<string, { docker?: string; dockerUser?: string[] }> = {};

  it("before the apply: the attacker reaches every published port", () => eachCase(async ({ id, backend, h, e, before }) => {
    const r = await reach(h());
    expect(r).toEqual({
      "attacker redis": "open", "private redis": "open", "attacker web": "open", "private web": "open",
      "attacker alt": "open", "private alt": "open",
    });
    before.docker = await dockerRules(h());
    // containers run under the harness's cgroup parent, where a later run finds them if this one is killed
    const pid = (await e().must("inspect -f '{{.State.Pid}}' redis")).trim();
    expect(readFileSync(`/proc/${pid}/cgroup`, "utf8")).toContain(`/${e().cgroup}/`);
    // Docker 20.10 puts a RETURN there, later versions may leave it empty
    before.dockerUser = (await must(h(), "iptables -S DOCKER-USER")).trim().split("\n");
    figure("issue12", id, "Docker's FORWARD chain", (await must(h(), "iptables -S FORWARD")).trim().split("\n").slice(1).join(" | "));
  }));

  it("after the apply: 6379 and 16379 only from the private network, undeclared 8080 from nobody; Docker's rules untouched", () => eachCase(async ({ id, backend, h, e, before }) => {
    const fleet = labFleet(lab(), [spec(id, backend, 22)], labDefaults(lab()));
    const t0 = Date.now();
    await applyOrThrow(lab(), labPlans(fleet)[0]);
    figure("issue12", id, "apply", Date.now() - t0, "ms");
    expect(await reach(h())).toEqual(FILTERED);
    // Docker's chains and rules (nat DNAT, filter DOCKER*, DOCKER-USER's RETURN) exactly as before,
    // harden's jumps apart
    expect(await dockerRules(h())).toBe(before.docker);
    if (backend === "iptables") {
      // Docker's DOCKER-USER keeps its RETURN behind harden's jump; on IPv6 harden made the chain itself
      expect((await must(h(), "iptables -S DOCKER-USER")).trim().split("\n"))
        .toEqual(["-N DOCKER-USER", "-A DOCKER-USER -j HARDEN-FORWARD", ...before.dockerUser!.slice(1)]);
      expect((await must(h(), "ip6tables -S DOCKER-USER")).trim().split("\n")).toEqual(["-N DOCKER-USER", "-A DOCKER-USER -j HARDEN-FORWARD"]);
    } else {
      expect(await must(h(), "ip6tables-save")).not.toContain("DOCKER-USER");
    }
  }));

  it("containers still reach the network and each other, but not port 25 (egress smtp deny)", () => eachCase(async ({ id, backend, h, e, before }) => {
    const redisIp = await e().ip("redis");
    const peer = await e().docker(`exec web sh -c 'nc -w 2 ${redisIp} 6379 < /dev/null'`);
    expect(peer.stdout.trim()).toBe("PONG");
    const out = await e().docker(`exec web sh -c 'nc -w 2 ${mx.ip} 80 < /dev/null'`);
    expect(out.code).toBe(0);
    const smtp = await e().docker(`exec web sh -c 'nc -w 2 ${mx.ip} 25 < /dev/null'`);
    expect(smtp.code).not.toBe(0);
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
    expect(await reach(h())).toEqual(FILTERED);
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
    expect(await reach(h())).toEqual(FILTERED);
  }));

  it("a container published after the apply is dropped", () => eachCase(async ({ id, backend, h, e, before }) => {
    await e().listener("late", "9200:9200", 9200);
    expect(await probe(atk, h().ip, 9200, 2)).toBe("timeout");
    expect(await probe(priv, h().ip, 9200, 2)).toBe("timeout");
    // the host itself still reaches it through Docker's proxy on loopback (not a published exposure)
    expect(await must(h(), "nc -w 2 127.0.0.1 9200 < /dev/null")).toContain("PONG");
  }));

  it("harden drift: undeclared published ports are information (the host stays in sync); 127.0.0.1-published is not an exposure", () => eachCase(async ({ id, backend, h, e, before }) => {
    await e().listener("local", "127.0.0.1:11211:11211", 11211);
    const plan = labPlans(labFleet(lab(), [spec(id, backend, 2222)], labDefaults(lab())))[0];
    const c = await checkHost(plan, { identityFile: lab().adminKey, timeoutMs: 30_000 });
    const info = c.items.filter((i) => i.info).map((i) => i.key).sort();
    expect(info).toEqual(["published tcp *:8080 v4", "published tcp *:9200 v4"]);
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
    const bypass = backend === "nftables" ? "nft flush chain inet harden published" : "iptables -D DOCKER-USER -j HARDEN-FORWARD";
    await must(h(), bypass);
    expect(await probe(atk, h().ip, PORTS.web, 2)).toBe("open");
    const plan = labPlans(labFleet(lab(), [spec(id, backend, 2222)], labDefaults(lab())))[0];
    const c = await checkHost(plan, { identityFile: lab().adminKey, timeoutMs: 30_000 });
    expect(c.status).toBe("drift");
    const exposed = c.items.filter((i) => i.key.startsWith("published ")).map((i) => [i.key, i.info ?? false]).sort();
    expect(exposed).toEqual([
      ["published tcp *:16379 v4", false], ["published tcp *:6379 v4", false], ["published tcp *:8080 v4", false], ["published tcp *:9200 v4", false],
    ]);
    await applyOrThrow(lab(), plan);
    expect(await reach(h())).toEqual(FILTERED);
    expect((await checkHost(plan, { identityFile: lab().adminKey, timeoutMs: 30_000 })).status).toBe("in-sync");
  }));
});
