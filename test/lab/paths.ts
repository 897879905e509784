// Where the lab keeps its files: all under the repo's ignored .lab/ folder, found relative to this file.
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const REPO_DIR = resolve(__dirname, "..", "..");
export const LAB_DIR = join(REPO_DIR, ".lab");
/**
 * Built lab roots and layers (minutes to make) live OUTSIDE the checkout, so later runs and fresh clones on
 * this machine reuse them. HARDEN_LAB_CACHE overrides the default.
 */
export function labCacheDir(): string {
  return process.env.HARDEN_LAB_CACHE || "/var/cache/harden-lab";
}
/** what a run records so that the next run can clean up after a killed one */
export const STATE_DIR = join(LAB_DIR, "state");
/** per-run files: keys, host upper dirs, console logs; wiped at the start and end of every run */
export const RUN_DIR = join(LAB_DIR, "run");
/**
 * Netns names and the lab /24 are machine-wide, so the lock that serialises lab runs is machine-wide
 * too (a second checkout of the repo must wait rather than "clean up" a live lab).
 */
export const LOCK_FILE = join(existsSync("/run/lock") ? "/run/lock" : tmpdir(), "harden-lab.lock");
