// Incident 3: a cryptominer came in through an exposed Redis and persisted in a user crontab. Shown on
// real hosts, with both firewall backends: the internal port answers only the private network, outbound
// SMTP is dropped unless the host is a mail host, and only users in cron.allow can install a crontab.
import { beforeAll, describe, expect, it } from "vitest";
import type { LabClient, LabHost } from "../lab/lab";
import { scenarioSuite } from "../lab/scenario-lab";
import { ROOTS, figure, must, probe, startListener } from "./incidents-helpers";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";

const REDIS = 6379;
const CASES = [
  { root: ROOTS[0], backend: "nftables" as const },
  { root: ROOTS[1], backend: "nftables" as const },
  { root: ROOTS[0], backend: "iptables" as const },
  { root: ROOTS[1], backend: "iptables" as const },
];

scenarioSuite("incident 3: exposed Redis, outbound spam, crontab persistence", (lab, flavour) => {
  let atk: LabClient;
  let priv: LabClient;
  let mx: LabClient;
  beforeAll(async () => {
    atk = await lab().client("attacker");
    priv = await lab().client("private"); // an app server on the private network
    mx = await lab().client("mx"); // some mail server on the internet
    await startListener(mx, 25);
  });

  CASES.forEach(({ root, backend }, i) => {
    describe(`${root}, ${backend}`, () => {
      let app: LabHost; // runs "Redis"; not a mail host
      let mail: LabHost; // a mail host: egress SMTP allowed
      const r = `${root} ${backend}`;
      beforeAll(async () => {
        [app, mail] = await Promise.all([
          lab().host({ name: `miner${i}a`, root }),
          lab().host({ name: `miner${i}m`, root }),
        ]);
        await startListener(app, REDIS);
        // The incident's server ran cron (a default Debian install has it); a stock cloud server has none,
        // and cron is then installed from the lab repository first, as that server's admin once did.
        if (flavour === "systemd") {
          await Promise.all([app, mail].map((h) => must(h, "apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends cron && systemctl is-active cron", 180_000)));
        }
        for (const h of [app, mail]) await must(h, "useradd -M -s /bin/sh mallory && useradd -M -s /bin/sh alice");
      });

      it("before hardening: Redis is open to the attacker, SMTP goes out, anyone can install a crontab", async () => {
        expect(await probe(atk, app.ip, REDIS)).toBe("open");
        expect(await probe(app, mx.ip, 25)).toBe("open");
        const c = await app.exec(`echo '* * * * * /tmp/xmrig' | su -s /bin/sh mallory -c 'crontab -'`);
        expect(c.code).toBe(0);
        await must(app, "crontab -r -u mallory");
      });

      it("after the plan: Redis only from the private network, SMTP dropped on the app host and allowed on the mail host", async () => {
        const defaults = labDefaults(lab());
        const fleet = labFleet(lab(), [
          labHostSpec(app, {
            firewall: { backend, services: [{ port: REDIS, from: [`${priv.ip}/32`], comment: "redis" }], egress: { smtp: "deny" } },
            cron: { allow: ["root", "alice"] },
          }),
          labHostSpec(mail, { firewall: { backend, egress: { smtp: "allow" } }, cron: { allow: ["root", "alice"] } }),
        ], defaults);
        const plans = labPlans(fleet);
        const t0 = Date.now();
        await Promise.all(plans.map((p) => applyOrThrow(lab(), p)));
        figure("incident3", r, "apply (2 hosts in parallel)", Date.now() - t0, "ms");

        expect(await probe(atk, app.ip, REDIS, 2)).toBe("timeout");
        expect(await probe(priv, app.ip, REDIS, 2)).toBe("open");
        expect(await probe(app, mx.ip, 25, 2)).toBe("timeout");
        expect(await probe(mail, mx.ip, 25, 2)).toBe("open");
        // the mail host is not on the Redis list either
        expect(await probe(mail, app.ip, REDIS, 2)).toBe("timeout");
        // the submission port is dropped too, while other egress is untouched (mx answers :80 with a reset)
        expect(await probe(app, mx.ip, 587, 2)).toBe("timeout");
        expect(await probe(app, mx.ip, 80, 2)).toBe("refused"); // egress mode accept: only SMTP is dropped
      });

      it("cron: a user outside cron.allow cannot install a crontab, an allowed user can", async () => {
        const denied = await app.exec(`echo '* * * * * /tmp/xmrig' | su -s /bin/sh mallory -c 'crontab -'`);
        figure("incident3", r, "crontab by mallory (not in cron.allow)", `rc ${denied.code}: ${(denied.stdout + denied.stderr).trim().split("\n")[0]}`);
        expect(denied.code).not.toBe(0);
        expect(denied.stdout + denied.stderr).toMatch(/not allowed/i);
        expect((await app.exec("crontab -l -u mallory")).code).not.toBe(0);

        const allowed = await app.exec(`echo '17 3 * * * /usr/bin/true' | su -s /bin/sh alice -c 'crontab -'`);
        expect(allowed).toMatchObject({ code: 0 });
        expect(await must(app, "su -s /bin/sh alice -c 'crontab -l'")).toContain("17 3 * * * /usr/bin/true");
        // the allow file is readable by the setgid crontab binary and nobody else
        expect((await must(app, "stat -c '%a %U %G' /etc/cron.allow")).trim()).toBe("640 root crontab");
      });
    });
  });
});
