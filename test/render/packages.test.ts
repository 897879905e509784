import { describe, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import { exampleFleet } from "../../src/policy/fixtures";
import { packagesScript } from "../../src/plan/unit-script";
import { resolveHost } from "../../src/policy/resolve";
import type { Fleet, OsId, Policy } from "../../src/policy/types";
import { osProfile } from "../../src/render/os";
import { renderPackages } from "../../src/render/packages";
import { inSandbox } from "../plan/sandbox";

// The packages step, rendered per OS profile; the script's decisions run in the sandbox against
// stand-in package managers (the session overlays /usr/sbin and /usr/local/sbin: nothing real changes).

const host = (os: OsId, policy: Policy = {}) => {
  const fleet: Fleet = { hosts: [{ name: "h", address: "203.0.113.10", os, connection: { user: "root", port: 22 }, hostKey: "ssh-ed25519 AAAA", policy }] };
  return resolveHost(fleet, fleet.hosts[0]);
};
const ctx = (os: OsId) => ({ host: "h", policyHash: "0".repeat(64), os: osProfile(os), packageLockSeconds: 7 });

describe("packages per OS profile and policy", () => {
  it("Debian: apt-get, nftables, fail2ban with python3-systemd for the journal, no cron unless entries are declared", () => {
    const spec = renderPackages(host("debian-12"));
    expect(spec).toMatchObject({ manager: "apt", packages: ["nftables", "fail2ban", "python3-systemd"], epel: false });
    expect(spec.heldServices).toEqual([{ package: "fail2ban", service: "fail2ban" }]);
    expect(renderPackages(host("debian-13", { cron: { expected: [{ source: "root", line: "0 3 * * * /usr/local/bin/backup" }] } })).packages)
      .toEqual(["nftables", "fail2ban", "python3-systemd", "cron"]);
    expect(renderPackages(host("debian-12", { firewall: { backend: "iptables" }, fail2ban: { logBackend: "file" } })).packages)
      .toEqual(["iptables", "ipset", "fail2ban"]);
    expect(renderPackages(host("debian-12", { fail2ban: { enabled: false } })).packages).toEqual(["nftables"]);
    const script = packagesScript(spec, ctx("debian-12"));
    expect(script).toContain("dpkg-query -W");
    expect(script).toContain("--no-install-recommends");
    expect(script).toContain("DPkg::Lock::Timeout=$LOCK_SECONDS");
    expect(script).toContain("LOCK_SECONDS=7\n");
    expect(script).not.toMatch(/\bdnf\b|upgrade -y|dist-upgrade/);
  });

  it("RHEL: dnf with EPEL for fail2ban, cronie, iptables-nft; the summary names the commands", () => {
    const spec = renderPackages(host("rhel-9", { firewall: { backend: "iptables" }, cron: { expected: [{ source: "root", line: "@daily true" }] } }));
    expect(spec).toMatchObject({ manager: "dnf", packages: ["iptables-nft", "ipset", "fail2ban", "cronie"], epel: true });
    const script = packagesScript(spec, ctx("rhel-9"));
    expect(script).toContain("rpm -q --quiet epel-release");
    expect(script).toContain("dnf -y --setopt=install_weak_deps=False install");
    expect(script).not.toMatch(/apt-get|dpkg/);
    expect(spec.summary.join("\n")).toContain("dnf install -y epel-release, then dnf install -y --setopt=install_weak_deps=False iptables-nft ipset fail2ban cronie");
  });

  it("is the first step of every plan, and the summary names the manager's command", () => {
    for (const plan of planFleet(exampleFleet())) {
      expect(plan.steps[0].name).toBe("packages");
      const manager = plan.os === "rhel-9" ? "dnf install -y" : "apt-get install -y --no-install-recommends";
      expect(plan.summary.packages?.join("\n"), plan.host).toContain(manager);
    }
  });
});

/** Stand-in apt-get and dpkg-query that log their calls; `installed` is what dpkg-query reports. */
function fakeApt(installed: string[], sim: string): string {
  return `mkdir -p /srv/u /srv/w && mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=/srv/u,workdir=/srv/w /usr/sbin || exit 99
mount -t tmpfs tmpfs /usr/local/sbin || exit 99
cat > /usr/local/sbin/dpkg-query <<'EOF'
#!/bin/sh
if grep -qx "$3" /srv/installed 2>/dev/null; then printf 'ii '; exit 0; fi
case " ${installed.join(" ")} " in *" $3 "*) printf 'ii ' ;; *) printf 'un ' ;; esac
EOF
cat > /srv/sim <<'EOF'
${sim}
EOF
cat > /usr/local/sbin/apt-get <<'EOF'
#!/bin/sh
echo "apt-get $*" >> /srv/calls
case " $* " in
  *" -s "*) cat /srv/sim; if grep -q '^E:' /srv/sim; then exit 100; fi ;;
  *" install "*) /usr/sbin/policy-rc.d x start; echo "policy-rc.d says $?" >> /srv/calls
    for a in "$@"; do echo "$a" >> /srv/installed; done ;;
esac
exit 0
EOF
chmod +x /usr/local/sbin/*
`;
}
const run = (script: string) => `sh <<'SCRIPT_EOF'\n${script}SCRIPT_EOF\necho "rc=$?"\n`;

describe("the packages script (sandbox, stand-in apt)", () => {
  const script = packagesScript(renderPackages(host("debian-12")), ctx("debian-12"));
  it("runs no package manager at all when everything is installed", () => {
    const r = inSandbox(`${fakeApt(["nftables", "fail2ban", "python3-systemd"], "")}${run(script)}cat /srv/calls 2>/dev/null || echo "no calls"`);
    expect(r.stdout).toContain("packages: in sync: installed: nftables fail2ban python3-systemd\nrc=0\nno calls\n");
  });
  it("installs only what is missing, non-interactively, without recommends, under a policy-rc.d that refuses starts, then removes it", () => {
    const r = inSandbox(`${fakeApt(["nftables"], "Inst fail2ban (1.0.2-2 Debian:12/stable [all])")}
before=$(cat /usr/sbin/policy-rc.d 2>&1)
${run(script)}cat /srv/calls
[ "$(cat /usr/sbin/policy-rc.d 2>&1)" = "$before" ] && [ ! -e /usr/sbin/policy-rc.d.harden-saved ] && echo "policy-rc.d as before"`);
    expect(r.stdout).toContain("packages: installing: fail2ban python3-systemd\n");
    expect(r.stdout).toMatch(/apt-get -q -y -o DPkg::Lock::Timeout=7 .* update\n/);
    expect(r.stdout).toMatch(/^apt-get -q -y .* install --no-install-recommends fail2ban python3-systemd\npolicy-rc.d says 101\n/m);
    expect(r.stdout).toContain("packages: installed: fail2ban python3-systemd\nrc=0\n");
    expect(r.stdout).toContain("policy-rc.d as before\n"); // ours is gone, one that was there is back
  });
  it("refuses an install that would upgrade another package, before changing anything", () => {
    const sim = "Inst libc6 [2.36-9] (2.36-9+deb12u9 Debian:12/stable [amd64])\nInst fail2ban (1.0.2-2 Debian:12/stable [all])";
    const r = inSandbox(`${fakeApt(["nftables"], sim)}${run(script)}cat /srv/calls`);
    expect(r.stderr).toContain("packages: FAILED: installing fail2ban python3-systemd would upgrade libc6; upgrade the host first; nothing was changed");
    expect(r.stdout).toMatch(/^apt-get -s /m);
    expect(r.stdout).not.toMatch(/^apt-get -q -y .* install /m);
  });
  it("names the package and what apt-get said when the repository does not have it", () => {
    const r = inSandbox(`${fakeApt(["nftables", "fail2ban"], "E: Unable to locate package python3-systemd")}${run(script)}`);
    expect(r.stderr).toContain("packages: FAILED: cannot install python3-systemd: apt-get says: E: Unable to locate package python3-systemd");
    expect(r.stdout).toContain("rc=1");
  });
});
