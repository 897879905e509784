// Stacks created before harden-fleet was a package hold the old HostDrift provider in their state
// (`__provider`), and a refresh runs that stored code: it loads `driftModule`
// ("src/drift/check-host.ts") with tsx from the directory Pulumi runs in. After an upgrade of this
// checkout both are still where it looks. The refresh is run as Pulumi's dynamic provider host
// runs it (require-from-string of the stored text, in the project directory) against an SSH port
// that refuses: "could not check drift" comes from checkHost itself, so the module was found.
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { planFleet } from "../../src/plan/plan";
import { exampleFleet } from "../../src/policy/fixtures";
import { driftModulePath, hostDriftInputs } from "../../src/pulumi/drift-resource";

const repo = join(__dirname, "..", "..");
const requireFromString = require("require-from-string") as (code: string) => { handler: () => { read: (id: string, props: unknown) => Promise<unknown> } };
const stored = readFileSync(join(__dirname, "fixtures", "drift-provider-before-package.js"), "utf8");
const cwd = process.cwd();
afterEach(() => process.chdir(cwd));

/** State as the old program recorded it, aimed at a port nothing listens on. */
function oldState() {
  const [plan] = planFleet(exampleFleet());
  const closed = { ...plan.target, address: "127.0.0.1", port: 9 };
  const inputs = hostDriftInputs({ ...plan, target: closed, current: closed }, "not-a-key", 5);
  return { ...inputs, driftModule: "src/drift/check-host.ts", heal: {}, checkedVia: "" };
}

describe("a stack from before the package", () => {
  it("recorded the source path that this checkout still has", () => {
    expect(driftModulePath(repo)).toBe("src/drift/check-host.ts");
    expect(driftModulePath(repo, join(repo, "dist", "pulumi", "drift-resource.js"))).toBe("harden-fleet/drift");
  });

  it("refreshes with its stored provider code in the project directory", async () => {
    process.chdir(repo);
    const provider = requireFromString(stored).handler();
    await expect(provider.read("web1", oldState())).rejects.toThrow(/^web1: could not check drift: /);
  });

  it("(control) the same stored code elsewhere cannot find its module", async () => {
    process.chdir(tmpdir());
    const provider = requireFromString(stored).handler();
    await expect(provider.read("web1", oldState())).rejects.toThrow(/Cannot find module/);
  });
});
