// A scratch Pulumi program outside this checkout with harden-fleet installed from an `npm pack`
// tarball, plus the user's own TypeScript and Pulumi packages at the versions this repo is tested
// with. Used by the packaging test; an engine test can run the real `pulumi` CLI in the same folder.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const repo = join(__dirname, "..", "..");
const lock = JSON.parse(readFileSync(join(repo, "package-lock.json"), "utf8")).packages;
const installed = (name: string) => lock[`node_modules/${name}`].version as string;
const npm = process.platform === "win32" ? "npm.cmd" : "npm";

export interface Ran { code: number | null; stdout: string; stderr: string }
/** A child process, awaited without blocking the test worker (long installs and tsc runs). */
export function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, PULUMI_SKIP_UPDATE_CHECK: "1", ...env } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

export async function ok(ran: Promise<Ran>): Promise<string> {
  const r = await ran;
  if (r.code !== 0) throw new Error(`exit ${r.code}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

export interface ScratchProgram {
  dir: string;
  tarball: string;
  /** npm pack's report: size in bytes, entryCount */
  packed: { size: number; entryCount: number; filename: string };
  seconds: number;
}

/** npm pack this repo (prepack builds dist/), then npm install the tarball into a new temp dir. */
export async function scratchProgram(name = "scratch-program"): Promise<ScratchProgram> {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "harden-scratch-program-"));
  const packed = JSON.parse(await ok(run(npm, ["pack", "--json", "--pack-destination", dir], repo)))[0];
  const tarball = join(dir, packed.filename);
  writeFileSync(join(dir, "package.json"), JSON.stringify({
    name, private: true, main: "out/index.js",
    dependencies: {
      "harden-fleet": `file:${tarball}`,
      "@pulumi/pulumi": installed("@pulumi/pulumi"), "@pulumi/command": installed("@pulumi/command"),
      typescript: installed("typescript"), "@types/node": installed("@types/node"),
    },
  }, null, 2));
  // --prefer-offline: npm's cache (filled by this repo's npm ci) serves every package it can
  await ok(run(npm, ["install", "--prefer-offline", "--no-audit", "--no-fund", "--loglevel=error"], dir));
  return { dir, tarball, packed, seconds: (Date.now() - t0) / 1000 };
}
