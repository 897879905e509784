// Self-test of the lab on both roots: hosts come up with real services, SSH works only with the pinned
// host key and the lab key, writes stay inside the host, and nothing of this machine changes.
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mustRun, runSync } from "./exec";
import { LabClient, LabHost, ROOTS, ensureRoot, sshRun } from "./lab";
import { LAB_NS, PREFIX, UPLINK_DEV } from "./net";
import { nsOf, processesInNs } from "./proc";
import { rootDir } from "./roots";
import { labSuite } from "./suite";

/** The machine's service configs (the lower layer of debian-12 hosts) and root-namespace firewall: never changed. */
function machineFingerprint(): { etcSsh: string; nft: string } {
  const dirs = "/etc/ssh /etc/fail2ban /etc/rsyslog.conf /etc/cron.d /usr/sbin/policy-rc.d";
  const listing = mustRun("sh", ["-c", `find ${dirs} -xdev -printf '%p %m %U %G\\n' 2>/dev/null | sort; find ${dirs} -xdev -type f -exec sha256sum {} + 2>/dev/null | sort`]);
  return { etcSsh: createHash("sha256").update(listing).digest("hex"), nft: mustRun("nft", ["list", "ruleset"]) };
}

const VERSION: Record<string, RegExp> = { "debian-12": /OpenSSH_9\.2/, "debian-13": /OpenSSH_10\.\d/ };
const scratch = mkdtempSync(join(tmpdir(), "harden-lab-test-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A key pair the hosts have never seen. */
function strangerKey(name: string): { priv: string; pub: string } {
  const priv = join(scratch, name);
  if (!existsSync(priv)) mustRun("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", priv]);
  return { priv, pub: readFileSync(`${priv}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ") };
}

const figures: string[] = [];
afterAll(() => console.log(`[lab] measured:\n  ${figures.join("\n  ")}`));

labSuite("lab self-test", (lab) => {
  let before: ReturnType<typeof machineFingerprint>;
  beforeAll(() => {
    before = machineFingerprint();
  });

  for (const root of ROOTS) {
    describe(root, () => {
      const tag = root.slice(-2);
      let h: LabHost;
      let atk: LabClient;

      beforeAll(async () => {
        const built = await ensureRoot(root);
        if (built.builtSeconds) figures.push(`${root} root build: ${built.builtSeconds.toFixed(1)} s`);
        h = await lab().host({ name: `self${tag}`, root });
        figures.push(`${root} host up (first, 4 services): ${(h.upMs / 1000).toFixed(2)} s`);
        atk = await lab().client(`atk${tag}`);
      });

      it("runs rsyslog, sshd, cron and fail2ban under its own PID 1, with its own name and os-release", async () => {
        const r = await h.exec(
          "cat /proc/1/comm; hostname; . /etc/os-release; echo $VERSION_ID; for p in rsyslogd sshd cron fail2ban-server; do pgrep -x $p >/dev/null && echo up:$p; done",
        );
        expect(r.stderr).toBe("");
        expect(r.stdout.split("\n")).toEqual(["hl-init", `self${tag}`, tag, "up:rsyslogd", "up:sshd", "up:cron", "up:fail2ban-server", ""]);
      });

      it("runs rsyslog without imklog (the kernel ring buffer is this machine's, not the host's)", async () => {
        const r = await h.exec("grep -c '^#module(load=\"imklog\"' /etc/rsyslog.conf; ls -l /proc/$(cat /run/rsyslogd.pid)/fd | grep -c kmsg");
        expect(r.stdout).toBe("1\n0\n");
      });

      it("reloads sshd with `service ssh reload` (there is no systemd)", async () => {
        const r = await h.exec("service ssh reload && sleep 0.2 && kill -0 $(cat /run/sshd.pid) && test ! -e /usr/sbin/policy-rc.d");
        expect(r.code, r.stderr).toBe(0);
        expect((await lab().ssh(h, "true")).code).toBe(0);
      });

      it("has fail2ban's sshd jail running on the auth.log that rsyslog writes", async () => {
        const r = await h.exec("fail2ban-client status sshd");
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toContain("/var/log/auth.log");
      });

      it("takes key-only SSH as root from the root namespace, with the pinned host key", async () => {
        const r = await lab().ssh(h, "id -un; hostname");
        expect(r.code, r.stderr).toBe(0);
        expect(r.stdout).toBe(`root\nself${tag}\n`);
        const log = await h.exec("cat /var/log/auth.log");
        // OpenSSH 9.8+ logs sessions as sshd-session: fail2ban filters must match both names.
        const daemon = root === "debian-12" ? "sshd" : "sshd-session";
        expect(log.stdout).toMatch(new RegExp(`${daemon}\\[\\d+\\]: Accepted publickey for root from ${lab().uplink.replace(/\./g, "\\.")}`));
      });

      it("refuses the connection when the pinned host key is not the host's", async () => {
        const r = await sshRun({ ...h.endpoint(), hostKey: strangerKey("wrong_host").pub }, lab().adminKey, "true");
        expect(r.code).toBe(255);
        expect(r.stderr).toMatch(/Host key verification failed/);
      });

      it("refuses a client key that is not the lab admin key", async () => {
        const r = await sshRun(h.endpoint(), strangerKey("stranger").priv, "true");
        expect(r.code).toBe(255);
        expect(r.stderr).toMatch(/Permission denied \(publickey/);
      });

      it("keeps a file written over SSH inside the host", async () => {
        const marker = `harden-lab-marker-${process.pid}-${tag}`;
        const r = await lab().ssh(h, `echo written-by-test >/etc/ssh/${marker}`);
        expect(r.code, r.stderr).toBe(0);
        expect(h.readFile(`/etc/ssh/${marker}`)).toBe("written-by-test\n");
        expect(existsSync(`/etc/ssh/${marker}`)).toBe(false); // this machine
        expect(existsSync(join(rootDir(root), "etc/ssh", marker))).toBe(false); // the shared lower root
        h.writeFile(`/etc/${marker}`, "from writeFile\n", 0o600);
        expect((await h.exec(`stat -c %a /etc/${marker}; cat /etc/${marker}`)).stdout).toBe("600\nfrom writeFile\n");
        expect(existsSync(`/etc/${marker}`)).toBe(false);
      });

      it("hides /root and the repo checkout from the host", async () => {
        const r = await h.exec(`ls -A /root; echo --; ls -A ${JSON.stringify(join(__dirname, "..", ".."))} 2>&1 || true`);
        // /root holds only what the lab put there (skel files, the admin key), never this machine's files
        expect(r.stdout.split("--")[0].split("\n").filter(Boolean).sort()).toEqual(expect.arrayContaining([".ssh"]));
        expect(h.readFile("/root/.ssh/authorized_keys")).toBe(readFileSync(`${lab().adminKey}.pub`, "utf8"));
        expect(r.stdout.split("--")[1]).not.toMatch(/package\.json/);
      });

      it(`reports ${VERSION[root]} for sshd -V and ssh -V`, async () => {
        const r = await h.exec("sshd -V 2>&1; ssh -V 2>&1");
        const [sshd, ssh] = r.stdout.trim().split("\n");
        expect(sshd).toMatch(VERSION[root]);
        expect(ssh).toMatch(VERSION[root]);
        figures.push(`${root}: ${sshd}`);
      });

      it("lets an attacker client reach :22 before any firewall", async () => {
        const r = await atk.exec(`nc -z -w 2 ${h.ip} 22`);
        expect(r.code, r.stderr).toBe(0);
      });

      it("keeps the host's firewall inside the host", async () => {
        const r = await h.exec("nft add table inet harden_lab_probe && nft list tables");
        expect(r.stdout).toContain("harden_lab_probe");
        expect(mustRun("nft", ["list", "ruleset"])).not.toContain("harden_lab_probe");
      });

      it("starts further hosts in about half a second", async () => {
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          const x = await lab().host({ name: `warm${tag}-${i}`, root });
          times.push(x.upMs);
          await x.stop();
        }
        figures.push(`${root} host up (next 3): ${times.map((t) => (t / 1000).toFixed(2)).join(", ")} s`);
        expect(Math.min(...times)).toBeLessThan(3000);
      });

      it("leaves no process, mount namespace or netns after host teardown", async () => {
        const pidNs = nsOf(h.pid, "pid")!;
        const mntNs = nsOf(h.pid, "mnt")!;
        expect(processesInNs("pid", pidNs).length).toBeGreaterThan(3);
        const t0 = performance.now();
        await h.stop();
        figures.push(`${root} host teardown: ${((performance.now() - t0) / 1000).toFixed(3)} s`);
        expect(processesInNs("pid", pidNs)).toEqual([]);
        expect(processesInNs("mnt", mntNs)).toEqual([]);
        expect(runSync("ip", ["netns", "list"]).stdout).not.toMatch(new RegExp(`^${PREFIX}self${tag}\\b`, "m"));
        expect(runSync("ip", ["-n", LAB_NS, "link", "show", `self${tag}`]).code).not.toBe(0);
        const after = await atk.exec(`nc -z -w 1 ${h.ip} 22`);
        expect(after.code).not.toBe(0);
        await atk.stop();
      });
    });
  }

  it("removes everything at lab stop and leaves this machine's /etc/ssh (and other service configs) and root-ns ruleset unchanged", async () => {
    const ourNetns = runSync("ip", ["netns", "list"]).stdout.split("\n").map((l) => l.split(" ")[0]).filter((n) => n.startsWith(PREFIX) && n !== LAB_NS);
    const uplink = () => runSync("ip", ["-o", "link", "show", UPLINK_DEV]).stdout.split(":")[0];
    const ourUplink = uplink();
    expect(ourUplink).toMatch(/^\d+$/);
    await lab().stop();
    // Once stop() releases the lock another waiting lab run may create its own hl-lab and hl-up at once,
    // so check that OUR netns and OUR uplink (by ifindex) are gone rather than that no hl-* exists.
    const left = runSync("ip", ["netns", "list"]).stdout;
    for (const ns of ourNetns) expect(left).not.toMatch(new RegExp(`^${ns}( |$)`, "m"));
    expect(uplink()).not.toBe(ourUplink);
    const after = machineFingerprint();
    expect(after.etcSsh).toBe(before.etcSsh);
    expect(after.nft).toBe(before.nft);
  });
});
