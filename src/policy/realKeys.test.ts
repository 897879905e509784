// The key patterns against what ssh-keygen really writes, for every key type the schema names.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { exampleFleet } from "./fixtures";
import { checkSchema } from "./schemaCheck";

const dir = mkdtempSync(join(tmpdir(), "harden-keys-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function publicKey(type: string, bits?: number): string {
  const file = join(dir, `${type}${bits ?? ""}`);
  const args = ["-q", "-t", type, "-N", "", "-C", "ops@laptop.example", "-f", file, ...(bits ? ["-b", String(bits)] : [])];
  execFileSync("ssh-keygen", args);
  return readFileSync(`${file}.pub`, "utf8").trimEnd();
}

describe("keys from ssh-keygen", () => {
  const keys = [publicKey("ed25519"), publicKey("ecdsa", 256), publicKey("ecdsa", 384), publicKey("ecdsa", 521), publicKey("rsa", 2048)];

  it("are accepted as authorized keys with their comment and as pinned host keys without it", () => {
    const fleet = exampleFleet();
    fleet.defaults!.ssh!.authorizedKeys = { root: keys };
    fleet.hosts.forEach((h, i) => (h.hostKey = keys[i + 2].split(" ").slice(0, 2).join(" ")));
    expect(checkSchema(fleet)).toEqual([]);
  });

  it("are refused as host keys while they still carry the comment", () => {
    const fleet = exampleFleet();
    fleet.hosts[0].hostKey = keys[0];
    // long values are shown cut at 80 characters
    expect(checkSchema(fleet)).toEqual([
      `hosts[0].hostKey: "${keys[0].slice(0, 80)}..." is not a host key ("ssh-ed25519 AAAA...", no comment)`,
    ]);
  });
});
