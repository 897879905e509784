// A hand-made HostPlan: the component's contract with the planner, independent of the renderers.
import type { Endpoint, HostPlan, Step, StepName } from "../../src/plan/types";
import { sha256 } from "../../src/render/hash";

export const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDSCRwc0Lvf1b1nR6P2mViJOWCtYEKcstfPRYm8uqHCV";

/** n distinct /32s: 10.x.y.z */
export function manyCidrs(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
}

export function fixturePlan(options: { host?: string; cidrs?: number; currentPort?: number; targetUser?: string } = {}): HostPlan {
  const host = options.host ?? "web1";
  const current: Endpoint = { address: "203.0.113.10", port: options.currentPort ?? 22, user: "root", hostKey: HOST_KEY };
  const target: Endpoint = { ...current, port: 2222, user: options.targetUser ?? "root" };
  const list = manyCidrs(options.cidrs ?? 100_000).join("\n") + "\n";
  const listSha = sha256(list);
  const remotePath = `/var/lib/harden/payload/${listSha}.nft`;
  const step = (name: StepName, via: "current" | "target"): Step => {
    const script = `#!/bin/sh\n# ${name} for ${host}\n${name === "firewall" ? `load ${remotePath}\n` : ""}exit 0\n`;
    const connection = via === "current" ? current : target;
    return {
      name, via, connection, script, sha256: sha256(script),
      command: connection.user === "root" ? "sh -s" : "sudo -n sh -s",
    };
  };
  return {
    host,
    os: "debian-12",
    policyHash: sha256(`policy of ${host}`),
    current,
    target,
    uploads: [{ remotePath, sha256: listSha, content: list }],
    steps: [step("firewall", "current"), step("sshd", "current"), step("fail2ban", "target"),
      step("cron", "target"), step("confirm", "target")],
    teardown: `#!/bin/sh\n# teardown for ${host}\nexit 0\n`,
    files: [],
    summary: {},
    // drift's part of the plan; HardenedHost does not deliver it
    probe: "#!/bin/sh\nexit 0\n",
    expect: {} as HostPlan["expect"],
  };
}
