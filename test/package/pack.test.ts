// harden-fleet as users get it: `npm pack`, installed into a scratch program in a temp dir outside
// this checkout, with the user's own TypeScript, @pulumi/pulumi and @pulumi/command (peer
// dependencies). npm's cache (~/.npm, filled by `npm ci`) makes the install mostly offline.
// Checks: `npx harden render` from the tarball; `import { defineFleet } from "harden-fleet"`
// type-checks and runs without loading the Pulumi SDK; a Pulumi program on `harden-fleet/pulumi`
// compiles with tsc and runs under mocks, and the drift provider it serializes finds its code by
// package name in that program's directory. The real-engine run of such a program is the engine
// tests' job (scratchProgram() in scratch-program.ts builds the same folder for them).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ok, run as runIn, scratchProgram } from "./scratch-program";

const repo = join(__dirname, "..", "..");
const run = (cmd: string, args: string[], cwd = scratch) => runIn(cmd, args, cwd);
const fleetJson = readFileSync(join(repo, "stacks", "Pulumi.example.yaml"), "utf8");

let scratch: string;

beforeAll(async () => {
  const program = await scratchProgram();
  scratch = program.dir;
  console.log(`FIGURE package: npm pack + scratch install ${program.seconds.toFixed(1)} s, tarball ${program.packed.size} bytes, ${program.packed.entryCount} files`);
}, 600_000);
afterAll(() => { if (scratch) rmSync(scratch, { recursive: true, force: true }); });

describe("the npm package", () => {
  it("ships compiled JavaScript, declarations, templates and bin; no TypeScript sources", () => {
    const pkg = join(scratch, "node_modules", "harden-fleet");
    const files = readdirSync(pkg, { recursive: true }).map(String);
    expect(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts"))).toEqual([]);
    for (const f of ["dist/fleet.js", "dist/fleet.d.ts", "dist/pulumi/index.js", "dist/drift/check-host.js", "templates/sshd/00-harden.conf.hbs", "bin/harden.js"]) {
      expect(files, f).toContain(f);
    }
    expect(files.some((f) => f.startsWith("src"))).toBe(false);
    // one copy of each Pulumi package in the program: the peers are the program's own
    expect(existsSync(join(pkg, "node_modules", "@pulumi"))).toBe(false);
  });

  it("npx harden render works from the tarball, for a module that imports harden-fleet", async () => {
    writeFileSync(join(scratch, "stack.yaml"), fleetJson);
    const fleetDir = mkdtempSync(join(tmpdir(), "harden-operator-repo-")); // no node_modules there
    writeFileSync(join(fleetDir, "fleet.ts"), readFileSync(join(repo, "fleets", "example.ts"), "utf8"));
    await ok(run("npx", ["harden", "render", join(fleetDir, "fleet.ts"), "--out", "from-module"]));
    await ok(run("npx", ["harden", "render", "stack.yaml", "--out", "from-yaml"]));
    const a = join(scratch, "from-module");
    const b = join(scratch, "from-yaml");
    const files = readdirSync(a, { recursive: true }).map(String).filter((f) => f.endsWith(".sh") || f.endsWith(".conf"));
    expect(files.length).toBeGreaterThan(20);
    for (const f of files) expect(readFileSync(join(a, f), "utf8"), f).toBe(readFileSync(join(b, f), "utf8"));
    expect(await run("npx", ["harden", "--help"])).toMatchObject({ code: 0, stdout: expect.stringContaining("harden render") });
    rmSync(fleetDir, { recursive: true, force: true });
  });

  it("import { defineFleet } from \"harden-fleet\" type-checks, catches a misspelt key, and runs without the Pulumi SDK", async () => {
    const dir = join(scratch, "policy-only");
    mkdirSync(dir);
    writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
      compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "ES2022", strict: true, outDir: "out", types: ["node"] },
      include: ["*.ts"],
    }));
    const fleet = readFileSync(join(repo, "fleets", "example.ts"), "utf8");
    writeFileSync(join(dir, "fleet.ts"), fleet);
    writeFileSync(join(dir, "main.ts"), [
      `import fleet from "./fleet";`,
      `import { planFleet, validateFleet } from "harden-fleet";`,
      `const result = validateFleet(fleet);`,
      `const pulumiLoaded = Object.keys(require.cache).filter((k) => k.includes("@pulumi"));`,
      `console.log(JSON.stringify({ ok: result.ok, hosts: planFleet(fleet).map((p) => p.host), pulumiLoaded }));`,
    ].join("\n"));
    await ok(run("npx", ["tsc", "-p", "."], dir));
    expect(JSON.parse(await ok(run(process.execPath, ["out/main.js"], dir)))).toEqual({ ok: true, hosts: ["web1", "db1", "mail1"], pulumiLoaded: [] });

    writeFileSync(join(dir, "fleet.ts"), fleet.replace("passwordAuthentication: false", "passwordAuthentification: false"));
    const typo = await run("npx", ["tsc", "-p", ".", "--noEmit"], dir);
    expect(typo.code).not.toBe(0);
    expect(typo.stdout).toMatch(/fleet\.ts\(\d+,\d+\): error TS\d+: .*'passwordAuthentification' does not exist/);
  });

  it("a Pulumi program on harden-fleet/pulumi compiles with tsc and runs under mocks; its drift provider finds its code by name", async () => {
    writeFileSync(join(scratch, "tsconfig.json"), JSON.stringify({
      compilerOptions: { module: "nodenext", moduleResolution: "nodenext", target: "ES2022", strict: true, outDir: "out", rootDir: ".", types: ["node"] },
      files: ["index.ts", "mocks.ts"],
    }));
    writeFileSync(join(scratch, "index.ts"), [
      `import * as pulumi from "@pulumi/pulumi";`,
      `import { HardenedHost } from "harden-fleet/pulumi";`,
      `const web1 = new HardenedHost("web1", {`,
      `  host: { name: "web1", address: "127.0.0.1", os: "debian-12", connection: { user: "root", port: 9 },`,
      `          hostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQLdClm/sBCzdaxzi1EMy6aCDg3g2NlRufH43GhhYYi" },`,
      `  policy: { ssh: { port: 9, authorizedKeys: { root: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAING+T0NaM/kLMjI1+zunpab60tPU1vXjfPIR1emNm5Fb ops"] } },`,
      `            fail2ban: { sshd: { findTime: "10m", banTime: "1h" } } },`,
      `  privateKey: new pulumi.Config().requireSecret("sshPrivateKey"),`,
      `});`,
      `export const units = web1.units;`,
      `export const sshPort = web1.sshPort;`,
    ].join("\n"));
    writeFileSync(join(scratch, "mocks.ts"), [
      `import * as pulumi from "@pulumi/pulumi";`,
      `const seen: { type: string; name: string; inputs: any }[] = [];`,
      `pulumi.runtime.setAllConfig({ "scratch-program:sshPrivateKey": "not-a-key" }, ["scratch-program:sshPrivateKey"]);`,
      `pulumi.runtime.setMocks({`,
      `  newResource: (args) => { seen.push({ type: args.type, name: args.name, inputs: args.inputs }); return { id: args.name + "-id", state: args.inputs }; },`,
      `  call: (args) => args.inputs,`,
      `}, "scratch-program", "dev", false);`,
      `(async () => {`,
      `  const program = require("./index");`,
      `  const port = await new Promise((resolve) => program.sshPort.apply(resolve));`,
      `  const drift = seen.find((r) => r.type.endsWith("HostDrift"))!;`,
      `  const provider = require("require-from-string")(drift.inputs.__provider).handler();`,
      `  const state = { ...drift.inputs, privateKey: "not-a-key", timeoutSeconds: 5 };`,
      `  const refresh = await provider.read("web1", state).then(() => "read", (e: Error) => e.message);`,
      `  const sshd = seen.find((r) => r.name === "web1-sshd")!.inputs.stdin;`,
      `  console.log(JSON.stringify({ port, resources: seen.map((r) => r.name).sort(), driftModule: drift.inputs.driftModule, refresh,`,
      `    findtime: /findtime = 600/.test(seen.find((r) => r.name === "web1-fail2ban")!.inputs.stdin), sshdScript: sshd.length > 1000 }));`,
      `})();`,
    ].join("\n"));
    await ok(run("npx", ["tsc", "-p", "."]));
    const out = JSON.parse((await ok(run(process.execPath, ["out/mocks.js"]))).trim().split("\n").pop()!);
    expect(out).toMatchObject({
      port: 9,
      driftModule: "harden-fleet/drift",
      findtime: true,
      sshdScript: true,
      // checkHost ran (it could not reach port 9): the module was found by package name from the program's directory
      refresh: expect.stringMatching(/^web1: could not check drift: /),
    });
    expect(out.resources).toEqual(expect.arrayContaining(["web1", "web1-drift", "web1-firewall", "web1-sshd", "web1-fail2ban", "web1-cron", "web1-confirm", "web1-teardown"]));
  });
});
