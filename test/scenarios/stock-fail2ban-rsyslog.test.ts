// Regression: the common existing Debian 12 server, with rsyslog writing /var/log/auth.log and Debian's
// fail2ban 1.0.2 running its stock sshd jail (backend auto, banaction iptables-multiport) before the apply.
// A `fail2ban-client reload` in place leaves such a jail with no action at all when only the action
// changes (fail2ban#3860): with `logBackend: "file"` the backend stays `auto`, exactly that case. After
// the apply every declared jail must list the declared actions, bans must drop the attacker, and a second
// apply must be in sync. Both log backends, two hosts side by side. Figures: FIGURE lines.
import { afterAll, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import type { Policy } from "../../src/policy/types";
import { systemdLabSuite } from "../lab/systemd/suite";
import { applyStock, jailActions, stockFleet } from "./stock-fleet";

const figures: string[] = [];
afterAll(() => console.log(figures.map((f) => `FIGURE ${f}`).join("\n")));


systemdLabSuite("Debian 12 with rsyslog and its stock fail2ban jail running", (lab) => {
  const variants: { name: string; policy: Policy }[] = [
    { name: "journal (default)", policy: {} },
    { name: "file", policy: { fail2ban: { logBackend: "file" } } },
  ];

  it("after the apply every jail bans with the declared nftables action, a ban drops the attacker, a second apply is in sync", async () => {
    const atk = await lab().client("atk");
    try {
      await Promise.all(variants.map(async ({ name, policy }, i) => {
        const h = await lab().host({ name: `r12${"jf"[i]}`, release: "debian-12", kind: "fail2ban" });
        const label = `debian-12 rsyslog + stock fail2ban, logBackend ${name}`;
        try {
          // the "before" state: rsyslog from the lab repository writes auth.log, the stock jail runs on it
          await h.exec("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rsyslog >/dev/null", { timeoutMs: 180_000 });
          const logged = await h.exec(`systemctl is-active rsyslog && logger -p auth.info harden-probe-${i} && timeout 30 sh -c 'until grep -qs harden-probe-${i} /var/log/auth.log; do sleep 0.1; done' && echo auth.log`, { timeoutMs: 40_000 });
          expect(logged.stdout, label).toBe("active\nauth.log\n");
          await h.exec("systemctl reset-failed fail2ban; systemctl restart fail2ban");
          expect(await jailActions(h, "sshd"), `${label}: before the apply`).toMatch(/^iptables-multiport$/m);
          const before = await h.exec("fail2ban-client version; fail2ban-client get sshd logpath; fail2ban-client status | sed -n 's/.*Jail list:\\s*//p'");
          expect(before.stdout, label).toMatch(/^1\.0\.2\n[\s\S]*\/var\/log\/auth\.log\n[\s\S]*^sshd$/m);

          const [first] = planFleet(stockFleet(lab(), [{ host: h, port: 22, policy }], atk.ip));
          const r1 = await applyStock(lab(), first);
          figures.push(`${label}: first apply ${(r1.reduce((n, r) => n + r.ms, 0) / 1000).toFixed(1)} s`);
          // exactly the declared actions, nothing left of iptables-multiport
          for (const [jail, action] of [["sshd", "nftables-multiport"], ["recidive", "nftables-allports"]]) {
            const listed = (await jailActions(h, jail)).split("\n").filter((l) => l && !/has the following actions:$/.test(l));
            expect(listed, `${label}: ${jail} actions`).toEqual([action]);
          }
          const where = await h.exec("fail2ban-client get sshd logpath; fail2ban-client get sshd journalmatch");
          if (name === "file") expect(where.stdout, label).toContain("/var/log/auth.log");
          else expect(where.stdout, label).toMatch(/_SYSTEMD_UNIT=ssh\.service/);

          // the no-change apply, over the new port
          const [again] = planFleet(stockFleet(lab(), [{ host: h, port: 2222, policy }], atk.ip));
          const r2 = await applyStock(lab(), again);
          for (const r of r2.filter((s) => s.name !== "confirm")) expect(r.stdout, `${label} ${r.name}`).toMatch(/in sync/);
          expect(await jailActions(h, "sshd"), label).toMatch(/^nftables-multiport$/m);

          // a ban: three failed sessions (maxRetry 3), then the attacker's connects time out (DROP, not refused)
          const reach = `timeout 3 bash -c '</dev/tcp/${h.ip}/2222'; echo $?`;
          expect((await atk.exec(reach, { timeoutMs: 10_000 })).stdout, `${label}: attacker reaches sshd before the ban`).toBe("0\n");
          for (let n = 0; n < 3; n++) {
            await atk.exec(`ssh -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes -i /dev/null -o ConnectTimeout=3 -p 2222 root@${h.ip} true`, { timeoutMs: 15_000 });
          }
          const t0 = Date.now();
          const banned = await h.exec(`timeout 30 sh -c 'until nft list set inet f2b-table addr-set-sshd 2>/dev/null | grep -q ${atk.ip}; do sleep 0.05; done' && echo banned`, { timeoutMs: 40_000 });
          expect(banned.stdout, label).toBe("banned\n");
          figures.push(`${label}: ban latency ${Date.now() - t0} ms (third failed session ended to the address in the nftables set)`);
          expect((await atk.exec(reach, { timeoutMs: 10_000 })).stdout, `${label}: banned attacker's connect`).toBe("124\n");
          expect((await lab().ssh(h.endpoint(2222), "echo in", { timeoutMs: 30_000 })).stdout, `${label}: the operator`).toBe("in\n");
        } finally {
          await h.stop();
        }
      }));
    } finally {
      await atk.stop();
    }
  }, 10 * 60_000);
}, { releases: ["debian-12"] });
