// labSuite: a vitest describe() that owns one Lab for its tests. The lab never skips itself: if it cannot
// start, every test of the suite fails with the reason. HARDEN_SKIP_LAB=1 is the only way to skip.
import { afterAll, beforeAll, describe } from "vitest";
import { Lab } from "./lab";

/** Lab start (and a first Debian 13 root build, about a minute) may take this long. */
const START_TIMEOUT_MS = 15 * 60_000;

export function labSkipped(): boolean {
  return process.env.HARDEN_SKIP_LAB === "1";
}

/** A describe() for lab tests that manage Lab instances themselves: skipped only by HARDEN_SKIP_LAB=1. */
export function describeLab(name: string, fn: () => void): void {
  if (labSkipped()) {
    console.warn(`[lab] SKIPPED "${name}": HARDEN_SKIP_LAB=1 is set (real-host tests did not run)`);
    describe.skip(name, fn);
    return;
  }
  describe(name, fn);
}

/**
 * A describe() that owns one lab of any kind for its tests: started in beforeAll (which may take
 * `startTimeoutMs`), stopped in afterAll. Skipped only by HARDEN_SKIP_LAB=1, and then it says so.
 */
export function ownedLabSuite<L extends { stop(): Promise<void> }>(
  name: string, what: string, start: () => Promise<L>, startTimeoutMs: number, fn: (lab: () => L) => void,
): void {
  if (labSkipped()) {
    console.warn(`[lab] SKIPPED "${name}": HARDEN_SKIP_LAB=1 is set (real-host tests did not run)`);
    describe.skip(name, () => fn(() => {
      throw new Error("lab skipped");
    }));
    return;
  }
  describe(name, () => {
    let lab: L | undefined;
    beforeAll(async () => {
      lab = await start();
    }, startTimeoutMs);
    afterAll(async () => {
      await lab?.stop();
    }, 120_000);
    fn(() => {
      if (!lab) throw new Error(`${what}: not started (see the beforeAll error above)`);
      return lab;
    });
  });
}

/**
 * `fn` receives a getter for the suite's Lab (valid inside tests and hooks):
 *   labSuite("firewall", (lab) => { it("drops", async () => { const h = await lab().host({ name: "h1" }); ... }); });
 */
export function labSuite(name: string, fn: (lab: () => Lab) => void): void {
  ownedLabSuite(name, "lab", () => Lab.start(), START_TIMEOUT_MS, fn);
}
