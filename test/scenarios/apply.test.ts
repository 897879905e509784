// Scenario 1 (issue 3), on Debian 12 and Debian 13 (issue 6): a fresh host, an example-like fleet applied
// with the plan runner exactly as Pulumi would run it, then the host is checked from the inside (sshd -T,
// /var/lib/harden) and from the network (key login on the new port, port 22 closed, passwords refused,
// root refused where declared). Two hosts per root: "key" (root logs in with a key, nftables) and "sudo"
// (permitRootLogin no: the sudo user admin takes over; iptables + ipset backend).
import { beforeAll, describe, expect, it } from "vitest";
import type { HostPlan } from "../../src/plan/types";
import type { Fleet, Policy } from "../../src/policy/types";
import { resolveHost } from "../../src/policy/resolve";
import { expectedSshdSettings } from "../../src/render/sshd";
import type { LabClient, LabHost, LabRoot } from "../lab/lab";
import type { StepResult } from "../lab/plan-runner";
import { labSuite } from "../lab/suite";
import { inHost, listeningPorts, sshdEffective, stepLog, tcpProbe, tryLogin, tryPassword } from "./host-state";
import { adminPub, exampleFleet } from "./example-fleet";
import { applyOrThrow, labPlans } from "./lab-fleet";

const ROOTS: LabRoot[] = ["debian-12", "debian-13"];
const PASSWORD = "Tr0ub4dor&3-lab";

/** Root is replaced by the sudo user admin (who must exist: the product manages keys, not users). */
const sudoPolicy = (pub: string): Policy => ({
  ssh: { permitRootLogin: "no", sudoUsers: ["admin"], authorizedKeys: { admin: [pub] } },
  firewall: { backend: "iptables" },
});

labSuite("scenario 1: apply an example-like fleet to fresh hosts", (lab) => {
  let adm: LabClient;
  beforeAll(async () => {
    adm = await lab().client("adm");
  });

  for (const root of ROOTS) {
    describe(root, () => {
      const tag = root.replace("debian-", "");
      let key: LabHost;
      let sudo: LabHost;
      let fleet: Fleet;
      const plans: Record<string, HostPlan> = {};
      const results: Record<string, StepResult[]> = {};
      const keysBefore: Record<string, string> = {};

      beforeAll(async () => {
        const tStart = Date.now();
        key = await lab().host({ name: `ap${tag}k`, root });
        sudo = await lab().host({ name: `ap${tag}s`, root });
        for (const h of [key, sudo]) {
          // a user with a password: the login that key-only must refuse
          await inHost(h, `useradd -m -s /bin/sh pwuser && echo 'pwuser:${PASSWORD}' | chpasswd`);
          keysBefore[h.name] = h.readFile("/root/.ssh/authorized_keys");
        }
        // the product manages keys and sshd, not users: the heir of root must exist, with passwordless sudo
        await inHost(sudo, "useradd -m -s /bin/sh admin && printf 'admin ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/admin && " +
          "chmod 0440 /etc/sudoers.d/admin && visudo -cq -f /etc/sudoers.d/admin");
        // Before: the checks below can fail. Passwords work on port 22, and root logs in there with the key.
        for (const h of [key, sudo]) {
          const pw = await tryPassword(h, 22, "pwuser", PASSWORD, adm);
          expect(pw.stdout.trim(), `${h.name}: password login before hardening: ${pw.stderr}`).toBe("pwuser");
          expect((await tryLogin(lab(), sudo, 22, "root")).stdout.trim()).toBe("root");
        }
        fleet = exampleFleet(lab(), [{ host: key }, { host: sudo, policy: sudoPolicy(adminPub(lab())) }], adm.ip);
        for (const p of labPlans(fleet)) plans[p.host] = p;
        for (const h of [key, sudo]) {
          const t0 = Date.now();
          results[h.name] = await applyOrThrow(lab(), plans[h.name]);
          const steps = results[h.name].map((r) => `${r.name} ${r.ms}`).join(", ");
          console.log(`[apply] ${root} ${h.name} (${plans[h.name].steps[0].connection.user}, ${h.name === sudo.name ? "iptables" : "nftables"}): ` +
            `wall ${Date.now() - t0} ms (${steps} ms)`);
        }
        console.log(`[apply] ${root}: setup + both applies ${Date.now() - tStart} ms`);
      }, 180_000);

      it("sshd -T shows every declared value, on both hosts", async () => {
        for (const h of [key, sudo]) {
          const spec = fleet.hosts.find((s) => s.name === h.name)!;
          const effective = await sshdEffective(h);
          const norm = (k: string, v: string) => (k === "permitrootlogin" && v === "prohibit-password" ? "without-password" : v);
          const expected = new Map<string, string[]>();
          for (const [k, v] of expectedSshdSettings(resolveHost(fleet, spec))) expected.set(k, [...(expected.get(k) ?? []), v]);
          expect(expected.size).toBeGreaterThan(30);
          for (const [k, want] of expected) {
            const got = (effective.get(k) ?? []).map((v) => norm(k, v));
            expect([...got].sort(), `${h.name}: sshd -T ${k}`).toEqual([...want].sort());
          }
          expect(effective.get("port")).toEqual(["2222"]);
          expect(effective.get("passwordauthentication")).toEqual(["no"]);
          expect(effective.get("permitrootlogin")!.map((v) => norm("permitrootlogin", v))).toEqual([h === key ? "without-password" : "no"]);
        }
        // the crypto follows the OpenSSH generation: post-quantum KEX first on OpenSSH 10
        const kex = (await sshdEffective(key)).get("kexalgorithms")![0].split(",");
        if (root === "debian-13") expect(kex[0]).toBe("mlkem768x25519-sha256");
        else expect(kex).not.toContain("mlkem768x25519-sha256");
      });

      it("the admin logs in with the key on 2222; port 22 is closed (dropped, not refused) and sshd left it", async () => {
        for (const h of [key, sudo]) {
          const user = h === key ? "root" : "admin";
          const r = await tryLogin(lab(), h, 2222, user, "id -un; sudo -n id -u 2>/dev/null || id -u");
          expect(r.code, `${h.name}: ${r.stderr}`).toBe(0);
          expect(r.stdout.split("\n").slice(0, 2)).toEqual([user, "0"]);
          const fromAdm = await tryLogin(lab(), h, 2222, user, "true", adm);
          expect(fromAdm.code, `${h.name} from the admin client: ${fromAdm.stderr}`).toBe(0);
          expect(await tcpProbe(h, 22)).toBe("timeout");
          expect(await tcpProbe(h, 22, adm)).toBe("timeout");
          expect(await listeningPorts(h)).not.toContain(22);
        }
      });

      it("password login is refused: sshd offers publickey only", async () => {
        for (const h of [key, sudo]) {
          const r = await tryPassword(h, 2222, "pwuser", PASSWORD, adm);
          expect(r.code, `${h.name}: ${r.stdout}`).toBe(255);
          expect(r.stderr).toMatch(/Permission denied \(publickey\)/);
          expect(r.stdout).not.toContain("pwuser");
        }
      });

      it("root login is refused where permitRootLogin is no; the sudo user with the same key takes over", async () => {
        const root = await tryLogin(lab(), sudo, 2222, "root", "id -un", adm);
        expect(root.code).toBe(255);
        expect(root.stderr).toMatch(/Permission denied \(publickey\)/);
        const admin = await tryLogin(lab(), sudo, 2222, "admin", "sudo -n id -un", adm);
        expect(admin.stdout.trim(), admin.stderr).toBe("root");
        // on the other host root may still log in with its key (prohibit-password), but not with a password
        await inHost(key, `echo 'root:${PASSWORD}' | chpasswd`);
        expect((await tryPassword(key, 2222, "root", PASSWORD, adm)).stderr).toMatch(/Permission denied \(publickey\)/);
        // the plan logged in as admin with sudo for every step after sshd
        expect(plans[sudo.name].steps.map((s) => `${s.name}:${s.connection.user}@${s.connection.port}:${s.command}`)).toEqual([
          "packages:root@22:sh -s", "firewall:root@22:sh -s", "sshd:root@22:sh -s", "fail2ban:admin@2222:sudo -n sh -s",
          "cron:admin@2222:sudo -n sh -s", "confirm:admin@2222:sudo -n sh -s",
        ]);
      });

      it("every unit applied; confirm disarmed the rollback; /var/lib/harden/previous holds the backups", async () => {
        for (const h of [key, sudo]) {
          const r = results[h.name];
          const log = stepLog(r);
          expect(r.map((s) => [s.name, s.code]), log).toEqual([["packages", 0], ["firewall", 0], ["sshd", 0], ["fail2ban", 0], ["cron", 0], ["confirm", 0]]);
          // namespace hosts have every package: the packages step runs no package manager
          expect(r[0].stdout, log).toMatch(/^packages: in sync: installed: /m);
          for (const u of ["firewall", "sshd", "fail2ban", "cron"]) expect(r.find((s) => s.name === u)!.stdout, log).toMatch(new RegExp(`^${u}: applied$`, "m"));
          expect(r.find((s) => s.name === "firewall")!.stdout).toMatch(/SSH port 22 stays open until the confirm step/);
          expect(r.find((s) => s.name === "confirm")!.stdout.trim()).toMatch(/^confirm: login on port 2222 as \S+ works; rollback disarmed for: firewall sshd fail2ban cron\s*$/);
          // the transaction became the previous state; no watchdog is left running
          const state = await inHost(h, "cd /var/lib/harden && ls -A; echo --; cat previous/units; echo --; ls -A previous/sshd; echo --; " +
            "cat previous/sshd/absent; echo --; pgrep -f '^sh /var/lib/harden/watchdog' || echo no-watchdog");
          const [top, units, sshdDir, absent, wd] = state.split("--\n").map((s) => s.trim());
          expect(top.split("\n")).toContain("previous");
          expect(top.split("\n")).not.toContain("txn");
          expect(units.split("\n")).toEqual(["firewall", "sshd", "fail2ban", "cron"]);
          expect(sshdDir.split("\n")).toEqual(expect.arrayContaining([".complete", "absent", "files", "perms", "restore.sh"]));
          expect(absent.split("\n")).toContain("/etc/ssh/sshd_config.d/00-harden.conf");
          expect(wd).toBe("no-watchdog");
          // the backed-up authorized_keys is the one from before the apply (the lab's), not ours
          expect(h.readFile("/var/lib/harden/previous/sshd/files/root/.ssh/authorized_keys")).toBe(keysBefore[h.name]);
          expect(h.readFile("/root/.ssh/authorized_keys")).toMatch(/^# Managed by harden/);
          const fw = h === key
            ? (await inHost(h, "cat /var/lib/harden/previous/firewall/firewall.live.state")).trim()
            : (await inHost(h, "cat /var/lib/harden/previous/firewall/firewall.live4 | grep -c HARDEN || true")).trim();
          expect(fw).toBe(h === key ? "absent" : "0");
        }
      });
    });
  }
});
