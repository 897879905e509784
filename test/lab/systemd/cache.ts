// What systemd lab hosts boot from, built once per machine into a cache OUTSIDE the checkout, so later runs
// and fresh clones on the same machine reuse it: per release a stock root, a fail2ban root, a docker root and
// the local apt repository (build-release.sh), and the systemd-nspawn binary matching this machine (fetch-nspawn.sh).
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runAsync } from "../exec";
import { labCacheDir } from "../paths";

export type Release = "debian-12" | "debian-13";
export const RELEASES: readonly Release[] = ["debian-12", "debian-13"];
export type HostKind = "stock" | "fail2ban" | "docker";
export const KINDS: readonly HostKind[] = ["stock", "fail2ban", "docker"];

/** HARDEN_LAB_CACHE overrides the default; the systemd lab uses its "systemd" subfolder. */
export function cacheDir(): string {
  return labCacheDir();
}

export interface ReleaseFiles {
  release: Release;
  /** holds stock/, fail2ban/, docker/ and repo/ */
  dir: string;
  /** the build's stamp: versions and build times */
  stamp: string;
  /** seconds spent building in this call; 0 when it was cached */
  builtSeconds: number;
}

const built = new Map<Release, Promise<ReleaseFiles>>();
let nspawn: Promise<string> | undefined;

async function runScript(script: string, args: string[], what: string): Promise<{ path: string; reused: boolean }> {
  const r = await runAsync("bash", [join(__dirname, script), ...args], { timeoutMs: 40 * 60_000, env: { ...process.env, HARDEN_LAB_CACHE: cacheDir() } });
  const last = r.stdout.trim().split("\n").pop() ?? "";
  if (r.code !== 0 || !last.startsWith("/")) {
    throw new Error(`systemd lab: ${what} failed (exit ${r.code}):\n${(r.stderr + r.stdout).trim().split("\n").slice(-30).join("\n")}`);
  }
  return { path: last, reused: /reusing/.test(r.stderr) };
}

/** Builds (first time: a few minutes) or reuses the roots and repository of `release`. */
export function ensureRelease(release: Release): Promise<ReleaseFiles> {
  let p = built.get(release);
  if (!p) {
    p = (async () => {
      const t0 = Date.now();
      const { path: dir, reused } = await runScript("build-release.sh", [release], `building ${release} (roots and repository)`);
      const builtSeconds = reused ? 0 : (Date.now() - t0) / 1000;
      return { release, dir, stamp: readFileSync(join(dir, ".done"), "utf8").trim(), builtSeconds };
    })();
    p.catch(() => built.delete(release));
    built.set(release, p);
  }
  return p;
}

/** The systemd-nspawn binary of this machine's systemd version (downloaded once into the cache). */
export function ensureNspawn(): Promise<string> {
  if (!nspawn) {
    nspawn = runScript("fetch-nspawn.sh", [], "fetching systemd-nspawn").then((r) => r.path);
    nspawn.catch(() => (nspawn = undefined));
  }
  return nspawn;
}

export function rootOf(files: ReleaseFiles, kind: HostKind): string {
  const d = join(files.dir, kind);
  if (!existsSync(join(d, "etc/os-release"))) throw new Error(`systemd lab: ${d} is not a root`);
  return d;
}
