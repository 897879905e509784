import { describe, expect, it } from "vitest";
import { confirmScript, teardownScript, unitScript } from "../../src/plan/unit-script";
import { osProfile } from "../../src/render/os";
import type { UnitSpec } from "../../src/render/unit";
import { inSandbox, writeFileLine } from "./sandbox";

// The skeleton every unit shares, exercised with a toy unit whose "service" is a file under /srv.
// Real sshd/firewall units are proven on lab hosts; here the mechanics: staging, idempotence,
// validation before change, restore on failure, the detached watchdog and the confirm step.
const ctx = { host: "box", policyHash: "0".repeat(64), os: osProfile("debian-12"), rollbackSeconds: 2 };

function toyUnit(content: string, over: Partial<UnitSpec> = {}): UnitSpec {
  return {
    name: "cron",
    files: [{ path: "/srv/app/app.conf", mode: "0640", owner: "root", group: "root", content }],
    permissions: [{ path: "/srv/app", mode: "0750", owner: "root", group: "root" }],
    payloads: [],
    requires: ["cmp"],
    validate: `grep -q '^valid' "$STAGE/srv/app/app.conf"`,
    snapshot: `cp /srv/app/live "$BACKUP/live" 2>/dev/null || :`,
    // the "service" loads its config into /srv/app/live; a reload counter proves when it happened
    activate: `cp /srv/app/app.conf /srv/app/live && echo x >> /srv/app/reloads`,
    verify: `cmp -s /srv/app/app.conf /srv/app/live && ! grep -q broken /srv/app/live`,
    restore: `if [ -f "$BACKUP/live" ]; then cp "$BACKUP/live" /srv/app/live; else rm -f /srv/app/live; fi`,
    uninstall: "rm -rf /srv/app",
    summary: [],
    ...over,
  };
}

const run = (script: string) => `sh <<'SCRIPT_EOF'\n${script}SCRIPT_EOF\necho "rc=$?"\n`;
const confirm = confirmScript({ ...ctx, port: 22, closeTransition: ": nothing to close" });

describe("unit script skeleton", () => {
  it("installs with mode and owner, then a second run changes and reloads nothing", () => {
    const script = unitScript(toyUnit("valid v1\n"), ctx);
    const r = inSandbox(`mkdir -p /srv/app && chmod 0755 /srv/app
${run(script)}
stat -c 'mode=%a' /srv/app/app.conf /srv/app
${run(confirm)}
${run(script)}
wc -l < /srv/app/reloads
ls /var/lib/harden/txn 2>&1 | head -1`);
    expect(r.stdout).toMatch(/cron: changes: \/srv\/app\/app.conf \/srv\/app\n/);
    expect(r.stdout).toContain("cron: applied");
    expect(r.stdout).toContain("mode=640\nmode=750");
    expect(r.stdout).toContain("confirm: login on port 22 as root works; rollback disarmed for: cron");
    expect(r.stdout).toMatch(/cron: in sync\nrc=0\n1\n/);
    expect(r.stdout).toContain("No such file or directory"); // confirm closed the transaction
  });

  it("refuses invalid files before touching anything", () => {
    const r = inSandbox(`mkdir -p /srv/app
${writeFileLine("/srv/app/app.conf", "valid old\n")}
${run(unitScript(toyUnit("garbage\n"), ctx))}
cat /srv/app/app.conf; ls /var/lib/harden/txn 2>/dev/null | wc -l`);
    expect(r.stderr).toContain("cron: FAILED: validation failed; this unit changed nothing");
    expect(r.stdout).toContain("rc=1\nvalid old\n0\n");
  });

  it("restores files and the running state when verification fails", () => {
    const r = inSandbox(`mkdir -p /srv/app
${writeFileLine("/srv/app/app.conf", "valid old\n")}
cp /srv/app/app.conf /srv/app/live
${run(unitScript(toyUnit("valid but broken\n"), ctx))}
cat /srv/app/app.conf /srv/app/live`);
    expect(r.stderr).toContain("activation or verification failed; the previous state is restored");
    expect(r.stdout).toContain("rc=1\nvalid old\nvalid old\n");
  });

  it("rolls back by itself when no confirm arrives, and confirm then reports it", () => {
    const r = inSandbox(`mkdir -p /srv/app
${writeFileLine("/srv/app/app.conf", "valid old\n")}
cp /srv/app/app.conf /srv/app/live
${run(unitScript(toyUnit("valid new\n"), ctx))}
cat /srv/app/live
sleep 4
cat /srv/app/app.conf /srv/app/live
${run(confirm)}`);
    expect(r.stdout).toContain("cron: rollback armed: restores in 2s unless a new login confirms");
    expect(r.stdout).toContain("rc=0\nvalid new\nvalid old\nvalid old\n");
    expect(r.stderr).toContain("no confirmed login before the deadline");
    expect(r.stderr).toContain("confirm: FAILED: the host had already rolled itself back");
  });

  it("removes files the apply created when it rolls back", () => {
    const r = inSandbox(`${run(unitScript(toyUnit("valid new\n", { permissions: [] }), ctx))}
sleep 4
echo "left: $(ls /srv/app)"`);
    expect(r.stdout).toContain("rc=0");
    expect(r.stdout).toContain("left: reloads\n"); // the toy service's own counter, not ours
  });

  // Runtime drift: the files match, the running state does not. The toy "service" also refuses to run
  // with a foreign /srv/app/foreign.conf next to it; converge sets that aside, restore puts it back.
  const healing = (over: Partial<UnitSpec> = {}) => toyUnit("valid v1\n", {
    verify: `cmp -s /srv/app/app.conf /srv/app/live && [ ! -e /srv/app/foreign.conf ] || die "live differs"`,
    converge: `if [ -e /srv/app/foreign.conf ]; then mv /srv/app/foreign.conf /srv/app/foreign.conf.off && say "set aside foreign.conf"; fi`,
    restore: `[ ! -e /srv/app/foreign.conf.off ] || mv /srv/app/foreign.conf.off /srv/app/foreign.conf
if [ -f "$BACKUP/live" ]; then cp "$BACKUP/live" /srv/app/live; else rm -f /srv/app/live; fi`,
    ...over,
  });

  it("heals drift of the running state when no file differs: full path, nothing installed, then in sync", () => {
    const script = unitScript(healing(), ctx);
    const r = inSandbox(`mkdir -p /srv/app && chmod 0750 /srv/app
${run(script)}
${run(confirm)}
echo drifted > /srv/app/live; touch /srv/app/foreign.conf
before=$(stat -c %Y.%i /srv/app/app.conf); sleep 1
${run(script)}
[ "$(stat -c %Y.%i /srv/app/app.conf)" = "$before" ] && echo "file untouched"
cat /srv/app/live; ls /srv/app
${run(confirm)}
${run(script)}
echo "reloads=$(wc -l < /srv/app/reloads)"`);
    expect(r.stderr).toBe("");
    expect(r.stdout).toContain("cron: running state differs: live differs\ncron: changes: (running state)\n");
    expect(r.stdout).toContain("cron: rollback armed");
    expect(r.stdout).toContain("cron: set aside foreign.conf\ncron: applied\nrc=0\nfile untouched\nvalid v1\n");
    expect(r.stdout).toContain("app.conf\nforeign.conf.off\nlive\nreloads\n");
    expect(r.stdout).toMatch(/cron: in sync\nrc=0\nreloads=2\n$/); // first apply and the heal; the last run reloaded nothing
  });

  it("a heal that fails verification restores the running state and what converge set aside", () => {
    // the service "fails to start" while healing: activate leaves a broken live state
    const script = unitScript(healing({ activate: "echo broken > /srv/app/live" }), ctx);
    const r = inSandbox(`mkdir -p /srv/app
${writeFileLine("/srv/app/app.conf", "valid v1\n")}
echo drifted > /srv/app/live; touch /srv/app/foreign.conf
${run(script)}
cat /srv/app/live; ls /srv/app`);
    expect(r.stdout).toContain("cron: set aside foreign.conf\n");
    expect(r.stderr).toContain("cron: FAILED: live differs\ncron: FAILED: activation or verification failed; the previous state is restored");
    expect(r.stdout).toContain("rc=1\ndrifted\napp.conf\nforeign.conf\nlive\n");
  });

  it("the watchdog undoes converge too when no confirm arrives", () => {
    const r = inSandbox(`mkdir -p /srv/app
${writeFileLine("/srv/app/app.conf", "valid v1\n")}
echo drifted > /srv/app/live; touch /srv/app/foreign.conf
${run(unitScript(healing(), ctx))}
ls /srv/app; sleep 4; ls /srv/app; cat /srv/app/live`);
    expect(r.stdout).toContain("rc=0\napp.conf\nforeign.conf.off\nlive\nreloads\n");
    expect(r.stdout).toMatch(/app.conf\nforeign.conf\nlive\nreloads\ndrifted\n$/);
  });

  it("a verify that dies after activation still restores at once (die runs in a subshell)", () => {
    const r = inSandbox(`mkdir -p /srv/app
${writeFileLine("/srv/app/app.conf", "valid old\n")}
cp /srv/app/app.conf /srv/app/live
${run(unitScript(toyUnit("valid but broken\n", { verify: `grep -q broken /srv/app/live && die "broken"; :` }), ctx))}
cat /srv/app/app.conf /srv/app/live`);
    expect(r.stderr).toContain("cron: FAILED: broken\ncron: FAILED: activation or verification failed; the previous state is restored");
    expect(r.stdout).toContain("rc=1\nvalid old\nvalid old\n");
  });

  it("a later unit that fails rolls back every unit of the apply at once, newest first, not only itself", () => {
    // unit one ("firewall") applies; unit two ("sshd") is refused by its validation, then one that fails verify
    const first = unitScript(toyUnit("valid new\n", { name: "firewall" }), ctx);
    const second = (over: Partial<UnitSpec>) => unitScript(toyUnit("valid two\n", {
      name: "sshd",
      files: [{ path: "/srv/two/two.conf", mode: "0644", owner: "root", group: "root", content: "valid two\n" }],
      permissions: [],
      snapshot: "",
      activate: ":",
      verify: ":",
      restore: "echo restored-two >> /srv/app/log",
      ...over,
    }), { ...ctx, rollbackSeconds: 30 });
    const refused = inSandbox(`mkdir -p /srv/app /srv/two
${writeFileLine("/srv/app/app.conf", "valid old\n")}
cp /srv/app/app.conf /srv/app/live
${run(first)}
${run(second({ validate: "false" }))}
cat /srv/app/app.conf /srv/app/live; ls /var/lib/harden
cat /var/lib/harden/aborted/rollback.log`);
    expect(refused.stdout).toContain("firewall: applied\nrc=0\n");
    expect(refused.stderr).toContain("sshd: FAILED: validation failed; this unit changed nothing\nsshd: rolling back every unit of this apply: firewall");
    // at once: no timer had to fire (it was armed for 30 s), and the transaction is closed
    expect(refused.stdout).toMatch(/rc=1\nvalid old\nvalid old\n(.*\n)*aborted\n/);
    expect(refused.stdout).not.toMatch(/^txn$/m);
    expect(refused.stdout).toContain("restoring firewall\n");

    const failed = inSandbox(`mkdir -p /srv/app /srv/two
${writeFileLine("/srv/app/app.conf", "valid old\n")}
cp /srv/app/app.conf /srv/app/live
${run(first)}
${run(second({ validate: ":", verify: "false" }))}
cat /srv/app/app.conf /srv/app/live; ls /srv/two; cat /srv/app/log
sed -n '2,$p' /var/lib/harden/aborted/rollback.log`);
    expect(failed.stderr).toContain("sshd: rolling back every unit of this apply: sshd firewall");
    expect(failed.stdout).toMatch(/rc=1\nvalid old\nvalid old\nrestored-two\nrestoring sshd\nrestoring firewall\n$/);
  });

  it("a unit whose command is missing after an earlier unit applied rolls that one back too", () => {
    const first = unitScript(toyUnit("valid new\n", { name: "firewall" }), ctx);
    const second = unitScript(toyUnit("valid\n", { name: "fail2ban", requires: ["no-such-tool-harden"] }), ctx);
    const r = inSandbox(`mkdir -p /srv/app
${writeFileLine("/srv/app/app.conf", "valid old\n")}
cp /srv/app/app.conf /srv/app/live
${run(first)}
${run(second)}
cat /srv/app/live`);
    expect(r.stderr).toContain("fail2ban: FAILED: required command not found: no-such-tool-harden");
    expect(r.stderr).toContain("fail2ban: rolling back every unit of this apply: firewall");
    expect(r.stdout).toMatch(/rc=1\nvalid old\n$/);
  });

  it("teardown removes harden's state but keeps the quarantine (evidence that must not run again)", () => {
    const r = inSandbox(`mkdir -p /var/lib/harden/quarantine/crontabs /var/lib/harden/previous /srv/app
echo '* * * * * miner' > /var/lib/harden/quarantine/crontabs/www-data
${run(teardownScript([toyUnit("valid\n")], { host: "box" }))}
find /var/lib/harden | sort`);
    expect(r.stdout).toContain("teardown: cron removed\nteardown: kept /var/lib/harden/quarantine: 1 file(s) set aside by harden\nrc=0\n");
    expect(r.stdout).toMatch(/rc=0\n\/var\/lib\/harden\n\/var\/lib\/harden\/quarantine\n\/var\/lib\/harden\/quarantine\/crontabs\n\/var\/lib\/harden\/quarantine\/crontabs\/www-data\n$/);
  });

  it("refuses a host whose os-release does not match the declared os", () => {
    const r = inSandbox(run(unitScript(toyUnit("valid\n"), { ...ctx, os: osProfile("debian-13") })));
    expect(r.stderr).toMatch(/host runs debian 12 but the policy declares debian-13; nothing was changed/);
  });

  it("quotes hostile values and keeps the script parseable", () => {
    const hostile = "$(touch /srv/pwned)`id`'\";\n";
    const unit = toyUnit(`valid ${hostile}`);
    const script = unitScript(unit, ctx);
    const r = inSandbox(`mkdir -p /srv/app\n${run(script)}\ntest -e /srv/pwned && echo EXPLOITED; cat /srv/app/app.conf`);
    expect(r.stdout).not.toContain("EXPLOITED");
    expect(r.stdout).toContain(`valid ${hostile}`);
  });
});
