// Fleet modules: loading in-process (the function the CLI and the Pulumi program share) and through
// the real `harden` command for exit codes and streams. Every module lives in a temp dir outside
// this checkout, as an operator's own repository would.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { loadFleet } from "../../src/cli/load-fleet";
import { reviewTree } from "../../src/cli/review-tree";
import { planFleet } from "../../src/plan/plan";
import { exampleFleet } from "../../src/policy/fixtures";
import { loadFleetModule } from "../../src/source/fleet-module";

const repo = join(__dirname, "..", "..");
const harden = (args: string[], cwd = repo) => {
  const r = spawnSync(process.execPath, [join(repo, "bin", "harden.js"), ...args], { cwd, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};
/** A fresh folder outside the checkout with the given files. */
function project(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "harden-fleet-module-"));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}
const FLEET_JSON = JSON.stringify(exampleFleet(), null, 2);
const expected = () => planFleet(exampleFleet());

describe("loading a fleet module", () => {
  it("takes a plain object from a module that imports nothing", async () => {
    const dir = project({ "fleet.ts": `const fleet = ${FLEET_JSON};\nexport default fleet;\n` });
    expect(planFleet(await loadFleetModule(join(dir, "fleet.ts")))).toEqual(expected());
  });

  it("takes a fleet built with the typed helpers, a shared base from a sibling file, and spreads", async () => {
    const fleet = exampleFleet();
    const { defaults, ...rest } = fleet;
    const dir = project({
      "base.ts": `import { definePolicy } from "harden-fleet";\nexport const base = definePolicy(${JSON.stringify(defaults)});\n`,
      "fleet.ts": [
        `import { defineFleet, type HostSpec } from "harden-fleet";`,
        `import { base } from "./base";`,
        `const rest = ${JSON.stringify(rest)};`,
        `const hosts: HostSpec[] = rest.hosts.map((h) => ({ ...h }));`,
        `export default defineFleet({ ...rest, defaults: { ...base }, hosts });`,
      ].join("\n"),
    });
    expect(planFleet(await loadFleetModule(join(dir, "fleet.ts")))).toEqual(expected());
  });

  it("awaits a Promise default export; takes .mts, .mjs and CommonJS .cjs modules", async () => {
    const dir = project({
      "later.ts": `export default Promise.resolve(${FLEET_JSON});\n`,
      "esm.mts": `import { defineFleet } from "harden-fleet";\nexport default defineFleet(${FLEET_JSON});\n`,
      "plain.mjs": `export default ${FLEET_JSON};\n`,
      "common.cjs": `module.exports = ${FLEET_JSON};\n`,
    });
    for (const file of ["later.ts", "esm.mts", "plain.mjs", "common.cjs"]) {
      expect(planFleet(await loadFleetModule(join(dir, file))), file).toEqual(expected());
    }
  });

  it("strips types without checking them: a type error that validation accepts loads (tsc catches it)", async () => {
    const dir = project({ "typo.ts": `const port: string = 2222 as unknown as string;\nconst f = ${FLEET_JSON};\nf.defaults.ssh.port = port as any;\nexport default f;\n` });
    expect(planFleet(await loadFleetModule(join(dir, "typo.ts")))).toEqual(expected());
  });

  it("refuses, each with one message naming the file", async () => {
    const dir = project({
      "fn.ts": `export default () => (${FLEET_JSON});\n`,
      "number.ts": `export default 42;\n`,
      "list.ts": `export default [];\n`,
      "none.ts": `export const fleet = {};\n`,
      "nothing.ts": `// a comment only\nconst x = 1;\n`,
      "throws.ts": `const ok = 1;\nthrow new Error("no inventory for eu-west");\nexport default {};\n`,
      "rejects.ts": `export default Promise.reject(new Error("inventory timed out"));\n`,
      "missing-sibling.ts": `import { base } from "./base";\nexport default { base };\n`,
      "syntax.ts": `export default {\n  hosts: [\n    { name: "a" \n    { x }\n};\n`,
      "empty.ts": "  \n",
    });
    const message = async (file: string) => {
      try {
        await loadFleetModule(join(dir, file));
        return "loaded";
      } catch (e) {
        return (e as Error).message;
      }
    };
    const at = (file: string) => join(dir, file);
    expect(await message("fn.ts")).toBe(`${at("fn.ts")}: the default export is a function; export the fleet itself (or a Promise of it), not a function that makes it`);
    expect(await message("number.ts")).toBe(`${at("number.ts")}: the default export is a number, not a fleet object`);
    expect(await message("list.ts")).toBe(`${at("list.ts")}: the default export is a list, not a fleet object`);
    expect(await message("none.ts")).toBe(`${at("none.ts")}: has no default export (export default the fleet)`);
    expect(await message("nothing.ts")).toBe(`${at("nothing.ts")}: has no default export (export default the fleet)`);
    expect(await message("throws.ts")).toBe(`${at("throws.ts")}: could not load: no inventory for eu-west`);
    expect(await message("rejects.ts")).toBe(`${at("rejects.ts")}: could not load: inventory timed out`);
    expect(await message("missing-sibling.ts")).toMatch(new RegExp(`^${at("missing-sibling.ts")}: could not load: Cannot find module './base'$`));
    expect(await message("syntax.ts")).toBe(`${at("syntax.ts")}:4:4: syntax error: Expected "}" but found "{"`);
    expect(await message("empty.ts")).toBe(`${at("empty.ts")}: is empty (export default the fleet)`);
    expect(await message("absent.ts")).toBe(`cannot read ${at("absent.ts")}: ENOENT`);
  });

  it("a stack file may name a module relative to its Pulumi project, but not also carry the fleet", async () => {
    const dir = project({ "Pulumi.yaml": "name: hardening\nruntime: nodejs\n", "fleet.ts": `export default ${FLEET_JSON};\n` });
    mkdirSync(join(dir, "stacks"));
    writeFileSync(join(dir, "stacks", "Pulumi.prod.yaml"), stringify({ config: { "hardening:fleetModule": "fleet.ts" } }));
    expect(planFleet(await loadFleet(join(dir, "stacks", "Pulumi.prod.yaml")))).toEqual(expected());
    writeFileSync(join(dir, "stacks", "Pulumi.both.yaml"), stringify({ config: { "hardening:fleetModule": "fleet.ts", "hardening:fleet": exampleFleet() } }));
    await expect(loadFleet(join(dir, "stacks", "Pulumi.both.yaml"))).rejects.toThrow(/sets both hardening:fleet and hardening:fleetModule; keep one/);
  });
});

describe("fleets/example.ts", () => {
  it("renders host folders byte-identical to stacks/Pulumi.example.yaml", async () => {
    const ts = reviewTree(planFleet(await loadFleetModule(join(repo, "fleets", "example.ts"))));
    const yaml = reviewTree(planFleet(await loadFleet(join(repo, "stacks", "Pulumi.example.yaml"))));
    expect([...ts.keys()]).toEqual([...yaml.keys()]);
    for (const [path, bytes] of ts) expect(bytes, path).toBe(yaml.get(path));
    expect(ts.size).toBeGreaterThan(40);
    // it is a copyable module: the package's public name, never the sources
    expect(readFileSync(join(repo, "fleets", "example.ts"), "utf8")).toMatch(/from "harden-fleet"/);
    expect(readFileSync(join(repo, "fleets", "example.ts"), "utf8")).not.toMatch(/from "\.\.?\//);
  });
});

describe("harden with a fleet module", () => {
  const misspelt = JSON.stringify(exampleFleet()).replace('"passwordAuthentication"', '"passwordAuthentification"');

  it("renders a module from an operator's folder, run from there", () => {
    const dir = project({ "fleet.ts": `import { defineFleet } from "harden-fleet";\nexport default defineFleet(${FLEET_JSON});\n` });
    const r = harden(["render", "fleet.ts", "--out", "out"], dir);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(readdirSync(join(dir, "out")).sort()).toEqual([".harden-render", "SUMMARY.md", "db1", "mail1", "web1"]);
  });

  it.each([
    ["a misspelt key", "typo.ts", `export default ${misspelt};\n`,
      "defaults.ssh.passwordAuthentification: unknown key; did you mean passwordAuthentication?\ninvalid fleet: 1 error(s)\n"],
    ["a module that throws", "throws.ts", `throw new Error("vault sealed");\n`, "{dir}/throws.ts: could not load: vault sealed\n"],
    ["a syntax error", "syntax.ts", `export default { hosts: [ }\n`, '{dir}/syntax.ts:1:26: syntax error: Unexpected "}"\n'],
    ["a default export that is not an object", "text.ts", `export default "web1";\n`, "{dir}/text.ts: the default export is a string, not a fleet object\n"],
    ["an empty module", "empty.ts", "", "{dir}/empty.ts: is empty (export default the fleet)\n"],
    ["an empty YAML file", "empty.yaml", "# nothing yet\n", "{dir}/empty.yaml: is empty (only comments, no fleet in it)\n"],
  ])("%s: exit 2, one message, no stack trace, nothing written", (_what, name, text, message) => {
    const dir = project({ [name]: text });
    const r = harden(["render", join(dir, name), "--out", join(dir, "out")]);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({ code: 2, stdout: "", stderr: message.replaceAll("{dir}", dir) });
    expect(existsSync(join(dir, "out"))).toBe(false);
  });

  it("--stack NAME follows hardening:fleetModule, relative to the project", () => {
    const dir = project({ "Pulumi.yaml": "name: hardening\nruntime: nodejs\n", "fleet.ts": `export default ${FLEET_JSON};\n` });
    mkdirSync(join(dir, "stacks"));
    writeFileSync(join(dir, "stacks", "Pulumi.prod.yaml"), stringify({ config: { "hardening:fleetModule": "fleet.ts" } }));
    const r = harden(["validate", "--stack", "prod"], dir);
    expect(r).toEqual({ code: 0, stderr: "", stdout: `${join(dir, "stacks", "Pulumi.prod.yaml")}: valid, 3 host(s): web1, db1, mail1\n` });
  });

  it("a missing file: exit 2, one message", () => {
    expect(harden(["validate", "/nonexistent/fleet.ts"])).toEqual({ code: 2, stdout: "", stderr: "cannot read /nonexistent/fleet.ts: ENOENT\n" });
  });

  it("--help prints to stdout with exit 0; a wrong call prints that command's usage once", () => {
    const help = harden(["--help"]);
    expect(help).toMatchObject({ code: 0, stderr: "" });
    for (const cmd of ["harden validate", "harden render", "harden drift"]) expect(help.stdout).toContain(cmd);
    expect(help.stdout).toContain("A fleet module is code that runs");
    expect(harden(["render", "--help"])).toMatchObject({ code: 0, stderr: "", stdout: expect.stringContaining("harden render (FILE | --stack NAME) --out DIR") });
    const wrong = harden(["render", "--stack", "example"]);
    expect(wrong.code).toBe(2);
    expect(wrong.stderr.split("\n")[0]).toBe("harden render: render needs --out DIR");
    expect(wrong.stderr.match(/usage:/g)).toHaveLength(1);
    expect(wrong.stderr).not.toContain("harden validate");
    expect(wrong.stderr).not.toContain("harden drift");
  });
});
