// Incident 2: rogue sshd sessions on a mail server. Remedies shown here on real hosts: root cannot log in
// with a password, nobody can (key-only), and a source that may reach SSH but keeps failing is banned by
// fail2ban with a DROP (its connections then time out) after maxRetry failures. The attacker is in sshAllow
// on purpose (as if it sat inside a whitelisted network) and outside fail2ban's ignore list.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LabClient, LabHost } from "../lab/lab";
import { mustRun, shq } from "../lab/exec";
import { SSHD_LOG_CMD, fail2banLogCmd, scenarioSuite } from "../lab/scenario-lab";
import { ROOTS, figure, hostEpochMs, must, probe, sleep } from "./incidents-helpers";
import { applyOrThrow, labDefaults, labFleet, labHostSpec, labPlans } from "./lab-fleet";

const PORT = 2222;
const MAX_RETRY = 3;
const ROOT_PW = "R00t-correct-horse";
const ALICE_PW = "Alice-correct-battery";

type Attempt = { kind: string; code: number; out: string; ms: number };

const CASES = [
  { root: ROOTS[0], backend: "nftables" as const },
  { root: ROOTS[1], backend: "nftables" as const },
  { root: ROOTS[0], backend: "iptables" as const },
];

scenarioSuite("incident 2: rogue SSH sessions (key-only, no root password, fail2ban DROP bans)", (lab) => {
  let adm: LabClient;
  let atk: LabClient;
  let keyDir: string;
  beforeAll(async () => {
    adm = await lab().client("admin");
    atk = await lab().client("attacker");
    keyDir = mkdtempSync(join(tmpdir(), "harden-rogue-"));
    // a key nobody authorised: the "wrong key"
    mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "rogue", "-f", join(keyDir, "rogue")]);
  });
  afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

  const sshBase = (user: string, ip: string) =>
    `-F /dev/null -p ${PORT} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o GlobalKnownHostsFile=/dev/null ` +
    `-o ConnectTimeout=3 -o LogLevel=ERROR ${user}@${ip} true`;
  const password = (user: string, pw: string, ip: string) =>
    `timeout 10 sshpass -p ${shq(pw)} ssh -o PubkeyAuthentication=no -o PreferredAuthentications=password,keyboard-interactive ` +
    `-o NumberOfPasswordPrompts=1 ${sshBase(user, ip)}`;
  const wrongKey = (user: string, ip: string) =>
    `timeout 10 ssh -i ${shq(join(keyDir, "rogue"))} -o IdentitiesOnly=yes -o IdentityAgent=none -o BatchMode=yes -o PasswordAuthentication=no ${sshBase(user, ip)}`;

  CASES.forEach(({ root, backend }, i) => {
    describe(`${root}, ${backend}`, () => {
      let h: LabHost;
      let attempts: Attempt[] = [];
      let tFirst = 0;
      beforeAll(async () => {
        h = await lab().host({ name: `rogue${i}`, root });
        // real credentials exist: the point is that even the right password does not get in
        await must(h, `echo ${shq(`root:${ROOT_PW}`)} | chpasswd && useradd -M -s /bin/sh alice && echo ${shq(`alice:${ALICE_PW}`)} | chpasswd`);
        const defaults = labDefaults(lab(), adm.ip);
        const spec = labHostSpec(h, {
          firewall: { backend, sshAllow: [...defaults.firewall!.sshAllow!, `${atk.ip}/32`] },
          fail2ban: { sshd: { maxRetry: MAX_RETRY } },
        });
        const [plan] = labPlans(labFleet(lab(), [spec], defaults));
        expect(plan.summary.fail2ban?.join("\n")).not.toContain(atk.ip);
        await applyOrThrow(lab(), plan);
        await sleep(300);
      });

      it("root with its correct password, alice with hers, and wrong keys are refused; the source is banned after maxRetry failures", async () => {
        const sequence: Array<[string, string]> = [
          ["password root (correct)", password("root", ROOT_PW, h.ip)],
          ["password alice (correct)", password("alice", ALICE_PW, h.ip)],
          ["wrong key root", wrongKey("root", h.ip)],
          ["password root (wrong)", password("root", "123456", h.ip)],
          ["wrong key alice", wrongKey("alice", h.ip)],
          ["password alice (wrong)", password("alice", "letmein", h.ip)],
        ];
        const f2bLog = fail2banLogCmd(lab());
        const banned = async () => (await h.exec(`{ ${f2bLog}; } | grep -q 'Ban ${atk.ip}$'`)).code === 0;
        tFirst = Date.now();
        for (const [kind, cmd] of sequence) {
          if (await banned()) break; // bounded: once banned, further attempts would only hang
          const a0 = Date.now();
          const r = await atk.exec(cmd, { timeoutMs: 20_000 });
          attempts.push({ kind, code: r.code, out: (r.stdout + r.stderr).trim(), ms: Date.now() - a0 });
        }
        for (let n = 0; n < 50 && !(await banned()); n++) await sleep(200);
        console.log(`[rogue ${root} ${backend}] attempts:\n${attempts.map((a) => `  ${a.kind}: rc ${a.code} in ${a.ms} ms: ${a.out}`).join("\n")}`);

        // password login is refused even with the right password, for root and for a user
        expect(attempts[0]).toMatchObject({ code: 255 });
        expect(attempts[0].out).toMatch(/Permission denied \(publickey\)/);
        expect(attempts[1].out).toMatch(/Permission denied \(publickey\)/);
        expect(attempts.every((a) => a.code !== 0)).toBe(true);
        expect(await banned()).toBe(true);

        // fail2ban's own account: one failure ("Found") per refused connection, and the ban only once
        // maxRetry of them were counted. A few more may slip in while the ban action runs (it is asynchronous).
        const lines = (await must(h, f2bLog)).split("\n");
        const banIdx = lines.findIndex((l) => l.endsWith(`Ban ${atk.ip}`) && l.includes("[sshd]"));
        const found = lines.slice(0, banIdx).filter((l) => l.includes(`[sshd] Found ${atk.ip}`));
        expect(found.length).toBeGreaterThanOrEqual(MAX_RETRY);
        expect(found.length).toBeLessThanOrEqual(attempts.length);
        const stamp = (l: string) => { const m = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})/.exec(l)!; return `${m[1]}.${m[2]}`; };
        const banMs = await hostEpochMs(h, stamp(lines[banIdx]));
        const foundMs = await hostEpochMs(h, stamp(found[MAX_RETRY - 1]));
        // the triggering log line: sshd's close of the maxRetry-th failed connection (fail2ban's multi-line
        // sshd filter reports a connection's failure when sshd logs its end)
        const closes = (await must(h, `{ ${SSHD_LOG_CMD}; } | grep -F ${shq(`authenticating user`)} | grep -F ${shq(` ${atk.ip} `)}`)).trim().split("\n");
        const trigger = closes[MAX_RETRY - 1] ?? "";
        const lineStamp = /^(\S+)/.exec(trigger)?.[1] ?? "";
        const precise = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+/.test(lineStamp);
        const lineMs = await hostEpochMs(h, precise ? lineStamp : trigger.split(/\s+/).slice(0, 3).join(" "));
        const firstTimeout = attempts.findIndex((a) => a.code === 124 || /timed out/i.test(a.out));
        const r = `${root} ${backend}`;
        figure("incident2", r, `connections made until the ban took effect (maxRetry ${MAX_RETRY})`, `${attempts.length}${firstTimeout >= 0 ? ` (#${firstTimeout + 1} already hung: dropped)` : ""}`);
        figure("incident2", r, "first attempt -> Ban (fail2ban log ms stamp)", banMs - tFirst, "ms");
        figure("incident2", r, `triggering sshd log line -> Ban (sshd log stamp ${precise ? "RFC3339 microseconds" : "whole seconds"})`, banMs - lineMs, "ms");
        figure("incident2", r, "fail2ban counted the maxRetry-th failure (Found) -> Ban", banMs - foundMs, "ms");
        expect(lineMs).toBeLessThanOrEqual(banMs);
        expect(foundMs).toBeLessThanOrEqual(banMs);
        expect(banMs).toBeGreaterThan(tFirst);
      });

      it("the banned source now times out (DROP), is listed by the jail and sits in the ban set; the admin still logs in", async () => {
        expect(await probe(atk, h.ip, PORT, 3)).toBe("timeout");
        const status = await must(h, "fail2ban-client status sshd");
        expect(status).toMatch(new RegExp(`Banned IP list:.*\\b${atk.ip.replace(/\./g, "\\.")}\\b`));
        const set = backend === "nftables"
          ? await must(h, "nft list set inet f2b-table addr-set-sshd")
          : await must(h, "ipset list f2b-sshd");
        expect(set).toContain(atk.ip);
        // a DROP, not a REJECT: no reject rule anywhere in the host's ruleset
        const rules = backend === "nftables" ? await must(h, "nft list ruleset") : await must(h, "iptables-save");
        expect(rules).not.toMatch(/reject|REJECT/);
        const adminIn = await lab().ssh(h.endpoint(PORT), "echo ok", { netns: adm.netns, timeoutMs: 15_000 });
        expect(adminIn).toMatchObject({ code: 0, stdout: "ok\n" });
      });
    });
  });
});
