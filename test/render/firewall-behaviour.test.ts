// What the rendered firewall does to real traffic, per backend, between two network namespaces
// joined by a veth pair: DROP means the client times out (never "refused"), the whitelist and a
// service's `from` open exactly what they name, a blocklist wins over the whitelist, and the SSH
// transition keeps the port sshd listens on today open until closeTransition runs.
import { spawn, type ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PayloadCache } from "../../src/render/blocklist";
import { closeTransition, renderFirewall } from "../../src/render/firewall";
import { host, netnsAdd, netnsDel, nsx, UnitHarness } from "./firewall-fixtures";

const SRV = "10.9.0.1";
const ADMIN = "10.9.0.2"; // on the SSH whitelist
const APP = "10.9.0.3"; // may reach 6379, not SSH
const BAD = "10.9.0.66"; // whitelisted too, but on the blocklist: the blocklist wins

type Outcome = "open" | "refused" | "timeout";

describe.each(["nftables", "iptables"] as const)("%s firewall on the wire", (backend) => {
  const srv = `harden-fwb-s-${process.pid}`;
  const cli = `harden-fwb-c-${process.pid}`;
  let listener: ChildProcess | undefined;
  const policy = host({
    backend,
    sshAllow: [`${ADMIN}/32`, BAD],
    services: [{ port: 6379, from: [APP] }],
    blocklists: [{ name: "bad", cidrs: ["10.9.0.64/28"] }],
  }, 2222);
  const unit = renderFirewall(policy, new PayloadCache());
  const harness = new UnitHarness(unit, srv);

  /** One bounded connect from `source`: nc says "succeeded", "refused", or nothing within 1 s. */
  const probe = (source: string, port: number): Outcome => {
    const r = nsx(cli, `nc -vz -w 1 -s ${source} ${SRV} ${port} 2>&1`);
    if (r.code === 0) return "open";
    return /refused/.test(r.out) ? "refused" : "timeout";
  };

  beforeAll(async () => {
    netnsAdd(srv);
    netnsAdd(cli);
    nsx(srv, `ip link add veth0 type veth peer name veth1 netns ${cli} && ip addr add ${SRV}/24 dev veth0 && ip link set veth0 up`);
    nsx(cli, `ip addr add ${ADMIN}/24 dev veth1 && ip addr add ${APP}/24 dev veth1 && ip addr add ${BAD}/24 dev veth1 && ip link set veth1 up`);
    listener = spawn("ip", ["netns", "exec", srv, process.execPath, "-e",
      "const net = require('net'); for (const p of [22, 2222, 6379]) net.createServer((s) => s.end()).listen(p, '0.0.0.0'); console.log('up')"],
      { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise<void>((resolve) => listener!.stdout!.once("data", () => resolve()));
  });
  afterAll(() => {
    if (listener?.pid) process.kill(listener.pid);
    netnsDel(srv);
    netnsDel(cli);
    harness.cleanup();
  });

  it("reaches every listener before the firewall, and nc tells refused from open", () => {
    expect(probe(APP, 2222)).toBe("open");
    expect(probe(APP, 9)).toBe("refused");
  });

  it("drops what is not allowed and opens what is", () => {
    // the host's sshd still listens on 22: activation keeps 22 open as the transition
    const r = harness.snippet(["validate", "snapshot", "activate", "verify"], { install: true, sshdPorts: [22] });
    expect(r.err).toBe("");
    expect(r.out).toContain("say: firewall: SSH port 22 stays open until the confirm step");
    expect(probe(ADMIN, 2222)).toBe("open");
    expect(probe(APP, 2222)).toBe("timeout");
    expect(probe(BAD, 2222)).toBe("timeout");
    expect(probe(APP, 6379)).toBe("open");
    expect(probe(ADMIN, 6379)).toBe("timeout");
    expect(probe(APP, 9)).toBe("timeout"); // DROP, not REJECT: no "refused" any more
  });

  it("keeps the old SSH port open for the whitelist until closeTransition", () => {
    expect(probe(ADMIN, 22)).toBe("open");
    expect(probe(APP, 22)).toBe("timeout");
    const r = harness.run(closeTransition(backend));
    expect(r.err).toBe("");
    expect(probe(ADMIN, 22)).toBe("timeout");
    expect(probe(ADMIN, 2222)).toBe("open");
    // closing twice is harmless (a retried confirm step)
    expect(harness.run(closeTransition(backend)).code).toBe(0);
  });

  it("opens no transition when sshd already listens on the declared port", () => {
    const r = harness.snippet(["activate"], { install: true, sshdPorts: [2222] });
    expect(r.out).not.toContain("stays open");
    expect(probe(ADMIN, 22)).toBe("timeout");
  });

  it("uninstalls back to an open host", () => {
    expect(harness.snippet(["uninstall"], { install: true }).code).toBe(0);
    expect(probe(APP, 2222)).toBe("open");
  });
});
