// The CLI and the Pulumi program accept and refuse the same fleet modules. Pulumi runs this
// program under its (type-checking) ts-node; the program loads the fleet module through
// loadFleetModule, i.e. through tsx as `harden` does, so ts-node's type check never sees the
// module: a type error that validation accepts passes both, a misspelt key fails both with the
// same validation error. Run here under Pulumi's own vendored ts-node with this project's tsconfig.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

const repo = join(__dirname, "..", "..");
const fleet = JSON.stringify(parse(readFileSync(join(repo, "stacks", "Pulumi.example.yaml"), "utf8")).config["hardening:fleet"]);

const UNDER_TS_NODE = `
const tsn = require(${JSON.stringify(join(repo, "node_modules/@pulumi/pulumi/vendor/ts-node@7.0.1"))});
tsn.register({ typeCheck: true, project: ${JSON.stringify(join(repo, "tsconfig.json"))}, compiler: require.resolve("typescript") });
const { loadFleetModule } = require(${JSON.stringify(join(repo, "src/source/fleet-module.ts"))});
const { validateFleet } = require(${JSON.stringify(join(repo, "src/policy/validate.ts"))});
(async () => {
  for (const file of process.argv.slice(1)) {
    const r = validateFleet(await loadFleetModule(file));
    console.log(JSON.stringify(r.ok ? "valid" : r.errors));
  }
})();`;

function underTsNode(files: string[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["-e", UNDER_TS_NODE, ...files], { cwd: repo });
    let out = "";
    let err = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (err += d));
    child.on("close", (code) => (code === 0 ? resolve(out.trim().split("\n").map((l) => JSON.parse(l))) : reject(new Error(err))));
  });
}

function viaCli(file: string): unknown {
  const r = spawnSync(process.execPath, [join(repo, "bin", "harden.js"), "validate", file], { cwd: repo, encoding: "utf8" });
  if (r.status === 0) return "valid";
  return r.stderr.trim().split("\n").slice(0, -1); // without the "invalid fleet: N error(s)" line
}

describe("CLI and Pulumi program agree on fleet modules", () => {
  it("both strip types and both validate the shape", async () => {
    const dir = mkdtempSync(join(tmpdir(), "harden-agree-"));
    const files = {
      example: join(repo, "fleets", "example.ts"),
      typeError: join(dir, "type-error.ts"),
      misspelt: join(dir, "misspelt.ts"),
    };
    writeFileSync(files.typeError, `const unused: number = "not a number";\nexport default ${fleet};\n`);
    writeFileSync(files.misspelt, `export default ${fleet.replace('"maxAuthTries"', '"maxAuthTrys"')};\n`);
    const pulumiSide = await underTsNode(Object.values(files));
    const cliSide = Object.values(files).map(viaCli);
    expect(pulumiSide).toEqual(cliSide);
    expect(cliSide).toEqual(["valid", "valid", ["defaults.ssh.maxAuthTrys: unknown key; did you mean maxAuthTries?"]]);
  });
});
