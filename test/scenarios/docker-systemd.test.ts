// Issue 12 on stock-like servers: Debian's docker.io as `apt-get install docker.io` leaves it (the systemd
// lab's docker kind: docker.service started by the host's systemd, Docker 20.10 on Debian 12 and 26 on 13),
// three `--restart always` containers publishing 6379, 8080 and 16379->6379. Before the apply the attacker
// reaches all three; after it 6379/16379 answer only the private client and 8080 nobody. The same after
// `systemctl restart docker` and after a reboot (harden-firewall.service loads before docker.service, Docker
// then makes its chains again and the containers come back); a second apply is in sync; the teardown leaves
// Docker's rules exactly. Both backends on both releases, four hosts stepping in parallel. Figures: FIGURE lines.
import { afterAll, beforeAll, expect, it } from "vitest";
import { checkHost } from "../../src/drift/check-host";
import { planFleet } from "../../src/plan/plan";
import type { Policy } from "../../src/policy/types";
import type { LabClient } from "../lab/lab";
import { runPlan } from "../lab/plan-runner";
import type { SystemdHost, SystemdLab } from "../lab/systemd/lab";
import { systemdLabSuite } from "../lab/systemd/suite";
import { IMAGE, IMAGE_TOOLS, listenerRun } from "./docker-engine";
import { waitFor } from "./host-state";
import { figure, must, probe } from "./incidents-helpers";
import { applyStock, stockFleet } from "./stock-fleet";

const CASES = [
  { release: "debian-12", backend: "iptables", name: "dk12ipt" },
  { release: "debian-12", backend: "nftables", name: "dk12nft" },
  { release: "debian-13", backend: "iptables", name: "dk13ipt" },
  { release: "debian-13", backend: "nftables", name: "dk13nft" },
] as const;
type Case = (typeof CASES)[number];
const PORTS = { redis: 6379, web: 8080, alt: 16379 };
const FILTERED = {
  "attacker redis": "timeout", "private redis": "open",
  "attacker web": "timeout", "private web": "timeout",
  "attacker alt": "timeout", "private alt": "open",
};
const t0Suite = Date.now();

/** ms between two of a unit's monotonic timestamps, as the host's systemd recorded them */
async function unitMs(h: SystemdHost, unit: string, from: string, to: string): Promise<number> {
  const out = await must(h, `systemctl show -p ${from} -p ${to} --value ${unit}`);
  const [a, b] = out.trim().split("\n").map(Number);
  return Math.round((b - a) / 1000);
}

/** Waits until docker.service is active, the three containers run and Docker's nat chain DNATs their ports. */
async function published(h: SystemdHost, what: string): Promise<void> {
  await waitFor(`${h.name}: ${what}: docker active, redis/web/alt running and DNAT'd`, 90_000, async () => {
    const r = await h.exec("systemctl is-active docker && docker ps --format '{{.Names}}' | sort | tr '\\n' , && echo && iptables -t nat -S DOCKER | grep -c DNAT");
    return r.stdout === "active\nalt,redis,web,\n3\n";
  });
}

systemdLabSuite("issue 12 on stock servers running Debian's docker.io (systemd hosts)", (lab) => {
  let atk: LabClient;
  let priv: LabClient;
  const hosts: Partial<Record<Case["name"], SystemdHost>> = {};

  const policy = (c: Case): Policy => ({ firewall: { backend: c.backend } });
  const extra = (): Policy => ({
    firewall: {
      services: [
        { port: PORTS.redis, from: [`${priv.ip}/32`], comment: "redis container" },
        { port: PORTS.alt, from: [`${priv.ip}/32`], comment: "redis container on host port 16379" },
      ],
    },
  });
  const plan = (l: SystemdLab, c: Case, port: number) => planFleet(stockFleet(l, [{ host: hosts[c.name]!, port, policy: policy(c) }], atk.ip, extra()))[0];

  async function reach(h: SystemdHost): Promise<Record<string, string>> {
    return Object.fromEntries(await Promise.all(Object.entries(PORTS).flatMap(([name, port]) => [
      probe(atk, h.ip, port, 2).then((r) => [`attacker ${name}`, r] as const),
      probe(priv, h.ip, port, 2).then((r) => [`private ${name}`, r] as const),
    ])));
  }

  /** One step on every host at once; a failure names its case. */
  async function eachCase(fn: (c: Case, h: SystemdHost) => Promise<void>): Promise<void> {
    const results = await Promise.allSettled(CASES.map((c) => fn(c, hosts[c.name]!)));
    const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`${CASES[i].release} ${CASES[i].backend}: ${r.reason instanceof Error ? r.reason.message : String(r.reason)}`] : []));
    if (failed.length) throw new Error(failed.join("\n\n"));
  }

  beforeAll(async () => {
    [atk, priv] = await Promise.all([lab().client("attacker"), lab().client("private")]);
    await Promise.all(CASES.map(async (c) => {
      const h = await lab().host({ name: c.name, release: c.release, kind: "docker" });
      hosts[c.name] = h;
      const id = `${c.release} ${c.backend}`;
      figure("issue12-systemd", id, "boot to SSH (docker.service started by systemd)", h.upMs, "ms");
      // the end of boot includes docker.service's start job: active (or failed) by now
      expect((await h.exec("systemctl is-active docker containerd")).stdout).toBe("active\nactive\n");
      figure("issue12-systemd", id, `dockerd ${(await must(h, "docker version --format '{{.Server.Version}}'")).trim()} start (docker.service activating to active)`,
        await unitMs(h, "docker", "InactiveExitTimestampMonotonic", "ActiveEnterTimestampMonotonic"), "ms");
      // the image: busybox-static's binary and its applet links, imported without a registry
      await must(h, `d=$(mktemp -d) && mkdir "$d/bin" && cp /bin/busybox "$d/bin/" && for t in ${IMAGE_TOOLS.join(" ")}; do ln -s busybox "$d/bin/$t"; done && tar -C "$d" -c . | docker import - ${IMAGE} >/dev/null && rm -rf "$d"`);
      await must(h, [listenerRun("redis", "6379:6379", 6379), listenerRun("web", "8080:8080", 8080), listenerRun("alt", "16379:6379", 6379)]
        .map((r) => `docker ${r} >/dev/null`).join(" && "));
      await published(h, "first start");
    }));
  }, 240_000);

  afterAll(() => figure("issue12-systemd", "both", "suite wall time", Date.now() - t0Suite, "ms"));

  it("before the apply the attacker reaches every published port", () => eachCase(async (c, h) => {
    expect(await reach(h)).toEqual(Object.fromEntries(Object.keys(FILTERED).map((k) => [k, "open"])));
  }));

  it("after the apply: 6379 and 16379 only from the private client, undeclared 8080 from nobody", () => eachCase(async (c, h) => {
    const daemons = "systemctl show -p MainPID -p ExecMainStartTimestampMonotonic docker containerd";
    const before = await must(h, daemons);
    const t0 = Date.now();
    const r = await applyStock(lab(), plan(lab(), c, 22));
    figure("issue12-systemd", `${c.release} ${c.backend}`, "first apply (packages included)", Date.now() - t0, "ms");
    // docker.io brought iptables; the step installs only what the backend and fail2ban still lack
    expect(r[0].stdout).toMatch(c.backend === "nftables" ? /installed: .*\bnftables\b/ : /installed: .*\bipset\b/);
    expect(r[0].stdout).not.toMatch(/installed: .*\biptables\b/);
    expect(await reach(h)).toEqual(FILTERED);
    // nothing restarted Docker or its containers (docker.io's recommends include needrestart, an apt hook)
    expect(await must(h, daemons)).toBe(before);
  }));

  it("the same after `systemctl restart docker`: Docker makes its chains again, harden's filter stays in front (mangle FORWARD)", () => eachCase(async (c, h) => {
    const pid = () => must(h, "systemctl show -p MainPID --value docker");
    const pid0 = await pid();
    const t0 = Date.now();
    await must(h, "systemctl restart docker", 90_000);
    await published(h, "after systemctl restart docker");
    figure("issue12-systemd", `${c.release} ${c.backend}`, "systemctl restart docker to containers published again", Date.now() - t0, "ms");
    expect(await pid()).not.toBe(pid0);
    expect(await reach(h)).toEqual(FILTERED);
    if (c.backend === "iptables") expect((await must(h, "iptables -t mangle -S FORWARD")).split("\n")[1]).toBe("-A FORWARD -j HARDEN-FORWARD");
  }));

  it("the same after a reboot: harden's firewall is loaded before docker.service starts, the containers come back filtered", () => eachCase(async (c, h) => {
    const id = `${c.release} ${c.backend}`;
    const t0 = Date.now();
    const boot = await h.reboot({ sshPort: 2222 });
    await published(h, "after the reboot");
    figure("issue12-systemd", id, `reboot to SSH on 2222 ${boot.sshMs} ms, to containers published again`, Date.now() - t0, "ms");
    const order = await must(h, "systemctl show -p ActiveEnterTimestampMonotonic --value harden-firewall; systemctl show -p InactiveExitTimestampMonotonic --value containerd docker");
    const [firewall, containerd, docker] = order.split("\n").filter(Boolean).map(Number);
    expect(firewall, `${id}: harden-firewall before containerd and docker: ${order}`).toBeGreaterThan(0);
    expect(firewall, `${id}: harden-firewall before containerd: ${order}`).toBeLessThan(containerd);
    expect(firewall, `${id}: harden-firewall before docker: ${order}`).toBeLessThan(docker);
    expect(await reach(h)).toEqual(FILTERED);
    expect((await h.exec("systemctl --failed --no-legend --plain")).stdout).toBe("");
    // the boot-time loader hooked mangle FORWARD; Docker, starting later, makes its chains in filter and nat only
    if (c.backend === "iptables") expect((await must(h, "iptables -t mangle -S FORWARD")).split("\n")[1]).toBe("-A FORWARD -j HARDEN-FORWARD");
  }));

  it("a second apply is in sync and changes no rule; drift reports 8080 as published, blocked, in sync", () => eachCase(async (c, h) => {
    const rules = () => must(h, `{ iptables-save; ip6tables-save; } | sed -e '/^#/d' -e 's/\\[[0-9]*:[0-9]*\\]$//'; ${c.backend === "nftables" ? "nft list ruleset | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'" : "ipset save | sort"}`);
    const before = await rules();
    const p = plan(lab(), c, 2222);
    const t0 = Date.now();
    const r = await runPlan(p, { identityFile: lab().adminKey });
    figure("issue12-systemd", `${c.release} ${c.backend}`, "second apply", Date.now() - t0, "ms");
    for (const s of r.filter((x) => x.name !== "confirm")) expect(`${s.name}: ${s.code} ${s.stdout}`).toMatch(new RegExp(`^${s.name}: 0 .*in sync`, "s"));
    expect(await rules()).toBe(before);
    const d = await checkHost(p, { identityFile: lab().adminKey, timeoutMs: 30_000 });
    expect(d.items.filter((i) => !i.info).map((i) => `${i.key}: ${i.message}`).join("\n")).toBe("");
    expect(d.items.filter((i) => i.info).map((i) => i.key)).toEqual(["published tcp *:8080 v4"]);
    expect(d.status).toBe("in-sync");
  }));

  it("teardown (destroy) removes only harden's rules: Docker's stay exactly, every published port is reachable again", () => eachCase(async (c, h) => {
    const docker4 = () => must(h, "iptables-save | sed -e '/^#/d' -e 's/\\[[0-9]*:[0-9]*\\]$//' | grep -v HARDEN");
    const before = await docker4();
    const r = await lab().ssh(h.endpoint(2222), "sh -s", { input: plan(lab(), c, 2222).teardown, timeoutMs: 120_000 });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(await docker4()).toBe(before);
    const left = await h.exec("{ iptables-save; ip6tables-save; } | grep -c HARDEN; ipset list -n 2>/dev/null | grep -c '^harden-'; nft list tables 2>/dev/null | grep -c 'inet harden'");
    expect(left.stdout).toBe("0\n0\n0\n");
    expect(await reach(h)).toEqual(Object.fromEntries(Object.keys(FILTERED).map((k) => [k, "open"])));
  }));
}, { releases: ["debian-12", "debian-13"] });
