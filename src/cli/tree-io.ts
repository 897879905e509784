import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { InputError } from "./input-errors";

/** Marks a folder as ours, so that `render` never deletes files in a folder it did not write. */
const MARKER = ".harden-render";

function listFiles(root: string, dir = root): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? listFiles(root, path) : [relative(root, path)];
  });
}

/** Writes the tree; files left from an earlier render that the new one lacks are removed. */
export function writeTree(outDir: string, tree: Map<string, string>): void {
  if (existsSync(outDir) && readdirSync(outDir).length > 0 && !existsSync(join(outDir, MARKER))) {
    throw new InputError(`${outDir} is not empty and was not written by harden render; refusing to overwrite it`);
  }
  for (const stale of listFiles(outDir)) {
    if (stale !== MARKER && !tree.has(stale)) rmSync(join(outDir, stale));
  }
  for (const [rel, content] of tree) {
    const path = join(outDir, rel);
    if (existsSync(path) && readFileSync(path, "utf8") === content) continue;
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
  }
  writeFileSync(join(outDir, MARKER), "written by harden render; compare with: harden render --check\n");
}

/** What differs between the folder and a fresh render: changed, missing and unexpected files. */
export function diffTree(outDir: string, tree: Map<string, string>): string[] {
  const differences: string[] = [];
  const present = new Set(listFiles(outDir).filter((f) => f !== MARKER));
  for (const [rel, content] of tree) {
    if (!present.has(rel)) differences.push(`missing: ${rel}`);
    else if (readFileSync(join(outDir, rel), "utf8") !== content) differences.push(`changed: ${rel}`);
  }
  for (const rel of present) if (!tree.has(rel)) differences.push(`unexpected: ${rel}`);
  return differences.sort();
}
