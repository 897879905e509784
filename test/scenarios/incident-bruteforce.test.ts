// Incident 1: an SSH root-password brute force made sshd fork until a 512 MB VPS ran out of memory.
// The fix is a source whitelist that DROPs everything else: the attacker's SYNs die in the firewall, so
// sshd never accepts, never forks, never logs. Shown on real hosts from a real attacker namespace, with a
// control run against the same host before hardening (where the same attack does make sshd fork).
import { beforeAll, describe, expect, it } from "vitest";
import type { LabClient, LabHost } from "../lab/lab";
import { SSHD_LOG_CMD, scenarioSuite } from "../lab/scenario-lab";
import { ROOTS, bruteForce, figure, must, probe, sleep, sshdProcs, type SshdProcs } from "./incidents-helpers";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";

const PORT = 2222;
// The attack: 200 connects, one every 30 ms, each waiting 3 s for an answer; bounded to 15 s overall.
const ATTACK = { n: 200, gap: 0.03, tmo: 3, budget: 15 };

scenarioSuite("incident 1: SSH brute force against a whitelisted sshd", (lab) => {
  let adm: LabClient;
  let atk: LabClient;
  beforeAll(async () => {
    adm = await lab().client("admin");
    atk = await lab().client("attacker");
  });

  ROOTS.forEach((root, i) => {
    describe(root, () => {
      let h: LabHost;
      beforeAll(async () => {
        h = await lab().host({ name: `brute${i}`, root });
      });

      it("control: before hardening, attacker connections reach sshd and make it fork", async () => {
        const base = await sshdProcs(h);
        // 10 connections held open for up to 4 s: enough to see sshd fork, few enough not to trip MaxStartups
        const attack = bruteForce(atk, h.ip, 22, { n: 10, gap: 0.05, tmo: 4, budget: 4 });
        await sleep(1500);
        const during = await sshdProcs(h);
        const res = await attack;
        figure("incident1", root, "control (no whitelist): sshd processes before/during 10 held connects", `${base.count} -> ${during.count}`);
        figure("incident1", root, "control (no whitelist): sshd RSS before/during", `${base.rssKb} -> ${during.rssKb}`, "KiB");
        expect(res.open).toBe(10);
        expect(during.count).toBeGreaterThan(base.count);
      });

      it("after the plan: attacker connects time out (DROP), sshd forks nothing, the admin still logs in", async () => {
        const fleet = labFleet(lab(), [labHostSpec(h)], labDefaults(lab(), adm.ip));
        const [plan] = labPlans(fleet);
        expect(plan.summary.firewall?.join("\n")).toContain(`${PORT}/tcp (ssh) from ${lab().uplink}, ${adm.ip}`);
        await applyOrThrow(lab(), plan);
        await sleep(500); // sessions of the apply itself wind down
        const authBefore = Number((await must(h, `{ ${SSHD_LOG_CMD}; } | grep -c ${atk.ip} || true`)).trim());
        const before = await sshdProcs(h);

        const t0 = Date.now();
        const attack = bruteForce(atk, h.ip, PORT, ATTACK);
        // Sample sshd while the attack runs; the admin logs in once in the middle (not sampled meanwhile).
        const samples: SshdProcs[] = [];
        let adminLogin: { code: number; ms: number; out: string } | undefined;
        while (Date.now() - t0 < 7000) {
          await sleep(250);
          samples.push(await sshdProcs(h));
          if (!adminLogin && Date.now() - t0 > 3000) {
            const a0 = Date.now();
            const r = await lab().ssh(h.endpoint(PORT), "echo admin-in-$(hostname)", { netns: adm.netns, timeoutMs: 15_000 });
            adminLogin = { code: r.code, ms: Date.now() - a0, out: r.stdout.trim() + r.stderr.trim() };
            await sleep(500); // let the admin's session processes exit before sampling again
          }
        }
        const res = await attack;
        const after = await sshdProcs(h);
        const authAfter = Number((await must(h, `{ ${SSHD_LOG_CMD}; } | grep -c ${atk.ip} || true`)).trim());

        const maxCount = Math.max(...samples.map((s) => s.count));
        const maxRss = Math.max(...samples.map((s) => s.rssKb));
        figure("incident1", root, "attack", `${res.started} connects in ${res.seconds} s: ${res.timeout} timed out, ${res.refused} refused, ${res.open} open, ${res.other} other`);
        figure("incident1", root, "sshd processes before / max during (n samples) / after", `${before.count} / ${maxCount} (${samples.length}) / ${after.count}`);
        figure("incident1", root, "sshd RSS sum before / max during / after", `${before.rssKb} / ${maxRss} / ${after.rssKb}`, "KiB");
        figure("incident1", root, "whitelisted admin login during the attack", `rc ${adminLogin?.code} in ${adminLogin?.ms}`, "ms");

        expect(res.started).toBeLessThanOrEqual(200);
        expect(res.seconds).toBeLessThanOrEqual(20);
        expect(res).toMatchObject({ open: 0, refused: 0, other: 0, timeout: res.started });
        expect(res.started).toBeGreaterThanOrEqual(100);
        // sshd never forked for the attacker: the count never rose above what it was before the attack
        expect(samples.length).toBeGreaterThanOrEqual(10);
        expect(maxCount).toBe(before.count);
        expect(after.count).toBe(before.count);
        // and never even saw it: not one line of sshd's log (auth.log or the journal) names the attacker
        expect(authAfter).toBe(authBefore);
        expect(adminLogin).toMatchObject({ code: 0, out: `admin-in-brute${i}` });
        // the port the host listened on before (22) is closed to the attacker as well
        expect(await probe(atk, h.ip, 22, 2)).toBe("timeout");
      });
    });
  });
});
