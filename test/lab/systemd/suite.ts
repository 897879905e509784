// systemdLabSuite: a vitest describe() that owns one SystemdLab. Like labSuite, it never skips by itself:
// when the lab cannot start, every test fails with the reason; HARDEN_SKIP_LAB=1 is the only way to skip.
import { afterAll, beforeAll, describe } from "vitest";
import { labSkipped } from "../suite";
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
  if (labSkipped()) {
    console.warn(`[lab] SKIPPED "${name}": HARDEN_SKIP_LAB=1 is set (real-host tests did not run)`);
    describe.skip(name, () => fn(() => {
      throw new Error("lab skipped");
    }));
    return;
  }
  describe(name, () => {
    let lab: SystemdLab | undefined;
    beforeAll(async () => {
      lab = await SystemdLab.start();
      for (const r of opts.releases ?? []) await lab.release(r);
    }, START_TIMEOUT_MS);
    afterAll(async () => {
      await lab?.stop();
    }, 120_000);
    fn(() => {
      if (!lab) throw new Error("systemd lab: not started (see the beforeAll error above)");
      return lab;
    });
  });
}
