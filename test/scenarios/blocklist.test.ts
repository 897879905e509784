// Large blocklist: 100,000 CIDRs plus the attacker's address go to the host as a content-addressed payload
// (the plan's upload) and load as one set (nft interval set / ipset hash:net) in the firewall step. The
// listed address is dropped, an unlisted one connects, and a connection costs about what it costs on the
// same host without the list (sets are hash/interval lookups, not one rule per address). "The same host
// without the list" is a twin (same root, backend, policy) measured interleaved with it from one client, so
// that both see the same machine conditions: sequential runs on this 2-core machine drift by up to 2x alone.
import { beforeAll, describe, expect, it } from "vitest";
import type { LabClient, LabHost } from "../lab/lab";
import type { StepResult } from "../lab/plan-runner";
import { labSuite } from "../lab/suite";
import { ROOTS, connectLatency, figure, must, probe, startListener, type LatencyStats } from "./incidents-helpers";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";

const SERVICE = 8080; // a listener in the host, open to everyone: the latency target
const CONNECTS = 200;

/** 100,000 distinct, non-adjacent /24s in 20.0.0.0-23.255.255.255 (they cannot merge into fewer CIDRs). */
function bigList(): string[] {
  const out: string[] = [];
  for (let i = 0; i < 100_000; i++) {
    const n = (20 << 24) + ((2 * i) << 8);
    out.push(`${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.0/24`);
  }
  return out;
}

const CASES = [
  { root: ROOTS[0], backend: "nftables" as const },
  { root: ROOTS[0], backend: "iptables" as const },
  { root: ROOTS[1], backend: "nftables" as const },
  { root: ROOTS[1], backend: "iptables" as const },
];

const fmt = (s: LatencyStats) => `median ${s.medianUs.toFixed(0)} us, p99 ${s.p99Us.toFixed(0)} us (n ${s.n})`;

labSuite("large blocklist: 100,000 CIDRs as one set", (lab) => {
  let adm: LabClient;
  let atk: LabClient;
  const cidrs = bigList();
  beforeAll(async () => {
    adm = await lab().client("admin");
    atk = await lab().client("attacker");
  });

  CASES.forEach(({ root, backend }, i) => {
    describe(`${root}, ${backend}`, () => {
      let h: LabHost; // gets the list
      let twin: LabHost; // the same host without the list: same root, backend and policy
      const r = `${root} ${backend}`;
      const plan = (host: LabHost, withList: boolean) => {
        const policy = {
          firewall: {
            backend,
            services: [{ port: SERVICE, comment: "latency target" }],
            blocklists: withList ? [{ name: "drop100k", cidrs: [...cidrs, `${atk.ip}/32`] }] : [],
          },
        };
        return labPlans(labFleet(lab(), [labHostSpec(host, policy)], labDefaults(lab(), adm.ip)))[0];
      };
      beforeAll(async () => {
        [h, twin] = await Promise.all([lab().host({ name: `block${i}`, root }), lab().host({ name: `twin${i}`, root })]);
        await Promise.all([startListener(h, SERVICE), startListener(twin, SERVICE)]);
      });

      it("the twin without the list: both clients connect", async () => {
        await applyOrThrow(lab(), plan(twin, false));
        expect(await probe(atk, twin.ip, SERVICE)).toBe("open");
        expect(await probe(adm, twin.ip, SERVICE)).toBe("open");
      });

      it("with 100,000 CIDRs + the attacker: the attacker is dropped, the admin connects, a connect costs at most 2x the twin's", async () => {
        const t0 = Date.now();
        const p = plan(h, true);
        const renderMs = Date.now() - t0;
        expect(p.uploads).toHaveLength(1);
        const results: StepResult[] = await applyOrThrow(lab(), p);
        const upload = results.find((s) => s.kind === "upload")!;
        const fw = results.find((s) => s.name === "firewall")!;
        figure("blocklist", r, "plan render (100,001 CIDRs)", renderMs, "ms");
        figure("blocklist", r, `upload step (${(p.uploads[0].content.length / 1e6).toFixed(2)} MB payload)`, upload.ms, "ms");
        figure("blocklist", r, "firewall step (validate + load + verify)", fw.ms, "ms");

        // the set in the kernel holds every entry: 100,000 /24s (+ the attacker, printed without a prefix by nft)
        const count = backend === "nftables"
          ? Number((await must(h, "for s in $(nft list sets table inet harden | awk '$1==\"set\" && $2 ~ /^bl_/ {print $2}'); do nft list set inet harden $s; done | grep -o '[0-9]/24' | wc -l")).trim())
          : Number((await must(h, "ipset list -t | awk '/^Name: harden-bl-/{b=1} b && /^Number of entries:/{n+=$4; b=0} END{print n}'")).trim());
        figure("blocklist", r, "entries in the kernel set(s)", count);
        expect(count).toBe(backend === "nftables" ? 100_000 : 100_001);

        expect(await probe(atk, h.ip, SERVICE, 2)).toBe("timeout");
        expect(await probe(atk, h.ip, 2222, 2)).toBe("timeout");
        expect(await probe(adm, h.ip, SERVICE, 2)).toBe("open");
        const lat = await connectLatency(adm, [twin.ip, h.ip], SERVICE, CONNECTS);
        const [without, withList] = [lat[twin.ip], lat[h.ip]];
        const ratio = withList.medianUs / without.medianUs;
        figure("blocklist", r, "connect latency WITHOUT list (twin)", fmt(without));
        figure("blocklist", r, "connect latency WITH list", fmt(withList));
        figure("blocklist", r, "median ratio with/without", ratio.toFixed(2));
        figure("blocklist", r, "p99 ratio with/without", (withList.p99Us / without.p99Us).toFixed(2));
        expect(ratio).toBeLessThanOrEqual(2);
      });
    });
  });
});
