// Lower root filesystems for lab hosts. "debian-12" is this machine's own / (it runs Debian 12);
// "debian-13" is a trixie root that build-root.sh makes once with debootstrap, in the lab cache outside the
// checkout (paths.ts), and every run reuses.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { runAsync } from "./exec";
import { labCacheDir } from "./paths";

export type LabRoot = "debian-12" | "debian-13";
export const ROOTS: readonly LabRoot[] = ["debian-12", "debian-13"];

const BUILD_SCRIPT = join(__dirname, "build-root.sh");
const STAMP = ".harden-root";

export function rootDir(root: LabRoot): string {
  return root === "debian-12" ? "/" : join(labCacheDir(), "roots", root);
}

function osVersion(dir: string): string {
  try {
    const rel = readFileSync(join(dir, "etc/os-release"), "utf8");
    return `${/^ID=(.*)$/m.exec(rel)?.[1] ?? "?"}-${/^VERSION_ID="?([^"\n]*)"?$/m.exec(rel)?.[1] ?? "?"}`;
  } catch {
    return "unknown";
  }
}

export interface RootInfo {
  dir: string;
  /** seconds spent building it in this call; 0 when it was already there */
  builtSeconds: number;
}

/**
 * Returns the lower dir for `root`, building it first when it is missing (async: a build takes about a
 * minute and must not block the test worker). Throws with the build output's tail.
 */
export async function ensureRoot(root: LabRoot): Promise<RootInfo> {
  const dir = rootDir(root);
  if (root === "debian-12") {
    // This root is the live machine: it is only "debian-12" if the machine is.
    const os = osVersion("/");
    if (os !== "debian-12") throw new Error(`lab: root "debian-12" uses this machine's / as lower layer, but this machine is ${os}`);
    return { dir, builtSeconds: 0 };
  }
  if (existsSync(join(dir, STAMP))) return { dir, builtSeconds: 0 };
  const t0 = Date.now();
  const r = await runAsync("bash", [BUILD_SCRIPT, root, dir], { timeoutMs: 30 * 60_000 });
  if (r.code !== 0 || !existsSync(join(dir, STAMP))) {
    throw new Error(`lab: building root ${root} failed (exit ${r.code}):\n${(r.stderr + r.stdout).trim().split("\n").slice(-30).join("\n")}`);
  }
  return { dir, builtSeconds: (Date.now() - t0) / 1000 };
}
