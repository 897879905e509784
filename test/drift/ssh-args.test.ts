// The ssh client's arguments: a key file, or an agent socket (IdentityAgent), and the pinned host key.
import { describe, expect, it } from "vitest";
import { sshArgs } from "../../src/drift/ssh";

const endpoint = { address: "203.0.113.10", port: 2222, user: "root", hostKey: "ssh-ed25519 AAAA" };
const option = (args: string[], name: string) => args.filter((a, i) => args[i - 1] === "-o" && a.startsWith(`${name}=`));

describe("sshArgs", () => {
  it("a key file: only that identity", () => {
    const args = sshArgs(endpoint, "/tmp/kh", { identityFile: "/tmp/k" });
    expect(args.slice(args.indexOf("-i"), args.indexOf("-i") + 2)).toEqual(["-i", "/tmp/k"]);
    expect(option(args, "IdentitiesOnly")).toEqual(["IdentitiesOnly=yes"]);
    expect(option(args, "IdentityAgent")).toEqual([]);
  });

  it("an agent socket: IdentityAgent, no key file", () => {
    const args = sshArgs(endpoint, "/tmp/kh", { identityAgent: "/run/agent.sock" });
    expect(option(args, "IdentityAgent")).toEqual(["IdentityAgent=/run/agent.sock"]);
    expect(args).not.toContain("-i");
    expect(option(args, "IdentitiesOnly")).toEqual([]);
    expect(args.slice(-2)).toEqual(["--", "203.0.113.10"]);
  });
});
