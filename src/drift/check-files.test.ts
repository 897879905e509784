import { describe, expect, it } from "vitest";
import type { FileExpect } from "../plan/drift-expect";
import { checkFiles } from "./check-files";
import type { ObservedFile } from "./observation";

const perm: FileExpect = { unit: "cron", path: "/etc/crontab", mode: "0600", owner: "root", group: "root", sha256: null };
const file: FileExpect = { unit: "cron", path: "/etc/cron.allow", mode: "0644", owner: "root", group: "root", sha256: "ab".repeat(32) };
const seen = (path: string, o: Partial<ObservedFile> = {}): ObservedFile =>
  ({ path, exists: true, sha256: "-", mode: "600", owner: "root", group: "root", ownerPrimaryGroup: "root", ...o });

describe("checkFiles", () => {
  it("a permission on a path the host does not have is not drift (a stock server has no cron, so no /etc/crontab)", () => {
    expect(checkFiles([perm], [seen(perm.path, { exists: false })], [])).toEqual([]);
  });

  it("a missing file with content of ours is drift", () => {
    expect(checkFiles([file], [seen(file.path, { exists: false })], []).map((i) => i.message)).toEqual(["file /etc/cron.allow: missing, expected 0644 root:root"]);
  });

  it("a permission on a path that exists is checked: mode and owner", () => {
    expect(checkFiles([perm], [seen(perm.path, { mode: "644", group: "adm" })], []).map((i) => i.message))
      .toEqual(["file /etc/crontab: mode 0644, expected 0600", "file /etc/crontab: owner root:adm, expected root:root"]);
  });
});
