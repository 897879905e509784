import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { extname, join } from "node:path";
import * as pulumi from "@pulumi/pulumi";
import type { Upload } from "../plan/types";

/** Where payloads are cached locally, relative to the directory `pulumi` runs the program in. */
export const DEFAULT_PAYLOAD_DIR = join(".harden", "payloads");

/**
 * A payload as a FileAsset over a local content-addressed copy.
 *
 * WHY a file and not a StringAsset: Pulumi keeps a StringAsset's text in the state (and shows it in
 * diffs), so a 100,000-CIDR list would live in every checkpoint; a FileAsset is stored as its path
 * and hash only. The copy is named by its sha256, so it is written once per distinct content and
 * the path stays the same across runs and machines (a relative path, like the stack's own files).
 */
export function payloadAsset(upload: Upload, dir: string = DEFAULT_PAYLOAD_DIR): pulumi.asset.FileAsset {
  const actual = createHash("sha256").update(upload.content, "utf8").digest("hex");
  if (actual !== upload.sha256) {
    throw new Error(`payload for ${upload.remotePath}: content hashes to ${actual}, plan says ${upload.sha256}`);
  }
  const path = join(dir, upload.sha256 + extname(upload.remotePath));
  if (!existsSync(path) || createHash("sha256").update(readFileSync(path)).digest("hex") !== upload.sha256) {
    mkdirSync(dir, { recursive: true });
    // write-then-rename: two hosts sharing a list (or two programs) never see half a file
    const partial = `${path}.${process.pid}.partial`;
    writeFileSync(partial, upload.content, { encoding: "utf8", mode: 0o644 });
    renameSync(partial, path);
  }
  return new pulumi.asset.FileAsset(path);
}
