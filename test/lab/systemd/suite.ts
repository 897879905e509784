// systemdLabSuite: a vitest describe() that owns one SystemdLab. Like labSuite, it never skips by itself:
// when the lab cannot start, every test fails with the reason; HARDEN_SKIP_LAB=1 is the only way to skip.
import { ownedLabSuite } from "../suite";
import { SystemdLab } from "./lab";

/** Start may build the roots and repository of a release first (a few minutes, once per machine). */
const START_TIMEOUT_MS = 30 * 60_000;

/**
 *   systemdLabSuite("stock hosts", (lab) => {
 *     it("boots", async () => { const h = await lab().host({ name: "s12", release: "debian-12", kind: "stock" }); ... });
 *   }, { releases: ["debian-12"] });
 * `releases` are built (or found in the cache) in beforeAll, so tests do not pay for it.
 */
export function systemdLabSuite(name: string, fn: (lab: () => SystemdLab) => void, opts: { releases?: ("debian-12" | "debian-13")[] } = {}): void {
  ownedLabSuite(name, "systemd lab", async () => {
    const lab = await SystemdLab.start();
    for (const r of opts.releases ?? []) await lab.release(r);
    return lab;
  }, START_TIMEOUT_MS, fn);
}
