// HardenedHost as users get it, run by the REAL engine: `npm pack` of this project installed into a
// scratch program outside the checkout (scratchProgram()), a user's own TypeScript Pulumi program
// there (`import { HardenedHost } from "harden-fleet/pulumi"`, one lab host, the key a secret config
// value), run with the CLI of tools/build-pulumi.sh (offline, file backend, private PULUMI_HOME) and
// the program's own typescript. up converges the host; preview and the drift check find nothing to do
// (the drift provider loads harden-fleet/drift from the scratch program's node_modules); destroy
// returns the host to its distribution state. FIGURE lines: wall time per step.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runAsync, type ExecResult } from "../lab/exec";
import type { LabHost } from "../lab/lab";
import { labSuite } from "../lab/suite";
import { missingTools, TOOLS_BIN, REPO } from "../engine/pulumi-cli";
import { scratchProgram } from "./scratch-program";

const STACK = "dev";
const PORT = 2222;
const ROLLBACK_SECONDS = 15;

labSuite("harden-fleet from an npm pack tarball, in a user's Pulumi program, run by the real engine", (lab) => {
  let dir: string;
  let host: LabHost;
  let env: NodeJS.ProcessEnv;
  const figures: string[] = [];

  async function pulumi(label: string, args: string[], input?: string): Promise<ExecResult> {
    const t0 = Date.now();
    const r = await runAsync(join(TOOLS_BIN, "pulumi"), [...args, "--non-interactive", "--cwd", dir], { env, input, timeoutMs: 300_000 });
    figures.push(`FIGURE package-engine ${label.padEnd(48)} ${String(Date.now() - t0).padStart(6)} ms  exit ${r.code}`);
    return r;
  }
  async function must(label: string, args: string[], input?: string): Promise<ExecResult> {
    const r = await pulumi(label, args, input);
    if (r.code !== 0) throw new Error(`pulumi ${args.join(" ")}: exit ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  }
  const ssh = (port: number, cmd: string) => lab().ssh(host.endpoint(port), cmd, { timeoutMs: 20_000 });

  beforeAll(async () => {
    const missing = missingTools();
    if (missing.length) throw new Error(`needs the Pulumi tools in ${TOOLS_BIN}, missing: ${missing.join(", ")}; run tools/build-pulumi.sh`);
    const program = await scratchProgram("scratch-program");
    dir = program.dir;
    figures.push(`FIGURE package-engine ${"npm pack + scratch install".padEnd(48)} ${String(Math.round(program.seconds * 1000)).padStart(6)} ms`);
    host = await lab().host({ name: "web1" });
    const adminPub = readFileSync(`${lab().adminKey}.pub`, "utf8").trim();

    // the user's program: TypeScript run by the language host with the program's own typescript
    writeFileSync(join(dir, "Pulumi.yaml"), "name: scratch-program\nruntime:\n  name: nodejs\n  options:\n    typescript: true\nmain: index.ts\n");
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "ES2022", strict: true, outDir: "out", types: ["node"] },
      files: ["index.ts"],
    }));
    writeFileSync(join(dir, "index.ts"), [
      `import * as pulumi from "@pulumi/pulumi";`,
      `import { HardenedHost } from "harden-fleet/pulumi";`,
      `const web1 = new HardenedHost("web1", {`,
      `  host: { name: "web1", address: ${JSON.stringify(host.ip)}, os: "debian-12", connection: { user: "root", port: 22 }, hostKey: ${JSON.stringify(host.hostKey)} },`,
      // a namespace lab host logs through rsyslog (no journal): the jails read the auth log file
      `  policy: {`,
      `    ssh: { port: ${PORT}, permitRootLogin: "prohibit-password", passwordAuthentication: false, authorizedKeys: { root: [${JSON.stringify(adminPub)}] } },`,
      `    firewall: { backend: "nftables", sshAllow: [${JSON.stringify(`${lab().net}.0/24`)}] },`,
      `    fail2ban: { sshd: { maxRetry: 3, findTime: 600, banTime: 3600 }, ignore: [${JSON.stringify(`${lab().uplink}/32`)}], logBackend: "file" },`,
      `  },`,
      `  planOptions: { rollbackSeconds: ${ROLLBACK_SECONDS} },`,
      `  dial: { dialErrorLimit: 2, perDialTimeout: 5 },`,
      `  privateKey: new pulumi.Config().requireSecret("sshPrivateKey"),`,
      `});`,
      `export const sshPort = web1.sshPort;`,
      `export const units = web1.units;`,
    ].join("\n"));

    const home = join(dir, ".pulumi-home");
    const state = join(dir, ".pulumi-state");
    mkdirSync(state);
    env = {
      ...process.env,
      PATH: `${TOOLS_BIN}:${process.env.PATH}`,
      PULUMI_HOME: home,
      PULUMI_SKIP_UPDATE_CHECK: "1",
      PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION: "true",
      PULUMI_CONFIG_PASSPHRASE: "scratch-passphrase",
      PULUMI_BACKEND_URL: `file://${state}`,
      NO_COLOR: "1",
    };
    delete env.PULUMI_IGNORE_AMBIENT_PLUGINS;
    delete env.PULUMI_ACCESS_TOKEN;
    await must("login", ["login"]);
    await must("stack init", ["stack", "init", STACK]);
    await must("config set --secret sshPrivateKey", ["config", "set", "--secret", "sshPrivateKey"], readFileSync(lab().adminKey, "utf8"));
    expect(readFileSync(join(dir, `Pulumi.${STACK}.yaml`), "utf8")).toMatch(/scratch-program:sshPrivateKey:\s*\n\s*secure: /);
  }, 900_000);

  afterAll(() => {
    console.log(`\n${figures.join("\n")}`);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("up --yes converges the host: sshd on the policy's port, our nft table loaded", async () => {
    const r = await must("up --yes", ["up", "--yes", "--skip-preview"]);
    expect(r.stdout).toMatch(/\d+ created/);
    const now = await ssh(PORT, "sshd -T | grep -E '^(port|passwordauthentication) '; nft list tables | grep -cx 'table inet harden'");
    expect(now.stdout, now.stderr).toBe(`port ${PORT}\npasswordauthentication no\n1\n`);
    const out = JSON.parse((await must("stack output", ["stack", "output", "--json"])).stdout);
    expect(out.sshPort).toBe(PORT);
    expect(Object.keys(out.units)).toEqual(expect.arrayContaining(["firewall", "sshd", "fail2ban", "cron"]));
  }, 600_000);

  it("a second preview --expect-no-changes exits 0", async () => {
    const r = await must("preview --expect-no-changes", ["preview", "--expect-no-changes"]);
    expect(r.stdout).not.toMatch(/\d+ to (create|update|replace|delete)/);
  }, 300_000);

  it("refresh --preview-only --expect-no-changes exits 0; the drift provider ran harden-fleet/drift from the program's node_modules", async () => {
    const r = await must("refresh --preview-only --expect-no-changes", ["refresh", "--preview-only", "--expect-no-changes"]);
    expect(r.stdout).toMatch(/HostDrift/);
    const exported = (await must("stack export", ["stack", "export"])).stdout;
    const drift = JSON.parse(exported).deployment.resources.find((res: any) => /HostDrift/.test(res.type));
    expect(drift?.inputs?.driftModule).toBe("harden-fleet/drift");
    // the state names no file of this checkout: the provider finds its code by package name
    expect(exported).not.toContain(REPO);
    // the drift check really reads the host: an intruder's drop-in makes the same command fail
    const drop = await host.exec("printf 'PasswordAuthentication yes\\n' > /etc/ssh/sshd_config.d/00-a-intruder.conf");
    expect(drop.code, drop.stderr).toBe(0);
    const drifted = await pulumi("refresh --preview-only --diff (drifted)", ["refresh", "--preview-only", "--expect-no-changes", "--diff"]);
    expect((await host.exec("rm /etc/ssh/sshd_config.d/00-a-intruder.conf")).code).toBe(0);
    expect(drifted.code).not.toBe(0);
    expect(drifted.stdout + drifted.stderr).toMatch(/sshd passwordauthentication: expected no, found yes \(from \/etc\/ssh\/sshd_config\.d\/00-a-intruder\.conf:1\)/);
  }, 300_000);

  it("destroy --yes returns the host to its distribution state, reachable on 22", async () => {
    await must("destroy --yes", ["destroy", "--yes", "--skip-preview"]);
    const back = await ssh(22, "sshd -T | grep '^port '; nft list tables | grep -c harden; ls /etc/ssh/sshd_config.d | grep -c harden; ls /etc/fail2ban/jail.d | grep -c harden");
    expect(back.stdout, back.stderr).toBe("port 22\n0\n0\n0\n");
  }, 300_000);
});
