// ssh-agent login through the real Pulumi engine (tools/build-pulumi.sh: CLI 3.248, the command
// provider STAND-IN) against one lab host: the stack names an agent socket (`hardening:sshAgent`), the
// lab's admin key lives only in an ssh-agent this test starts, so no key ever enters Pulumi. Unlike
// the key in config (engine.test.ts test 8: the CLI's -v=9 input logging holds it), the key's body
// is then nowhere: not in the stack export, the outputs, any CLI output, the -v=9 --logflow log, nor
// any file under PULUMI_HOME or the backend. FIGURE lines: wall time per command, log size.
import { spawn, type ChildProcess } from "node:child_process";
import { lstatSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, expect, it } from "vitest";
import { runAsync } from "../lab/exec";
import type { LabHost } from "../lab/lab";
import { labSuite } from "../lab/suite";
import { missingTools, PulumiProject, REPO, TOOLS_BIN, type CliRun } from "./pulumi-cli";

const STACK = "agent";

/** Every regular file under `dir` (symlinks are not followed: node_modules is one). */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    const st = lstatSync(p);
    return st.isDirectory() ? filesUnder(p) : st.isFile() ? [p] : [];
  });
}

labSuite("pulumi engine: ssh-agent login keeps the key out of Pulumi", (lab) => {
  let project: PulumiProject;
  let web: LabHost;
  let agent: ChildProcess | undefined;
  let socket: string;
  let fleet: any;
  const figures: string[] = [];
  const savedSock = process.env.SSH_AUTH_SOCK;

  async function pulumi(label: string, args: string[]): Promise<CliRun> {
    const r = await project.run(label, args, { timeoutMs: 400_000 });
    figures.push(`FIGURE engine-agent ${label.padEnd(36)} ${String(r.ms).padStart(6)} ms  exit ${r.code}`);
    if (r.code !== 0) throw new Error(`${label}: pulumi ${args.join(" ")} exited ${r.code}\n${r.stdout}\n${r.stderr}`);
    return r;
  }

  beforeAll(async () => {
    const missing = missingTools();
    if (missing.length) {
      throw new Error(`the engine tests need the Pulumi tools in ${TOOLS_BIN}, missing: ${missing.join(", ")}; run tools/build-pulumi.sh`);
    }
    web = await lab().host({ name: "web1" });
    // the CLI must not find another agent by itself: only the stack's socket may log in
    delete process.env.SSH_AUTH_SOCK;
    project = new PulumiProject(STACK, "agent-test-passphrase");
    socket = join(dirname(project.dir), "agent.sock");
    agent = spawn("ssh-agent", ["-D", "-a", socket], { stdio: ["ignore", "pipe", "pipe"] });
    // -D prints the environment lines once the socket listens
    await new Promise<void>((resolve, reject) => {
      let out = "";
      agent!.stdout!.on("data", (d: Buffer) => {
        out += d.toString();
        if (out.includes("SSH_AUTH_SOCK=")) resolve();
      });
      agent!.on("error", (e) => reject(new Error(`ssh-agent did not start: ${e.message}`)));
      agent!.on("exit", (code) => reject(new Error(`ssh-agent exited ${code} before listening`)));
    });
    const added = await runAsync("ssh-add", [lab().adminKey], { env: { ...process.env, SSH_AUTH_SOCK: socket }, timeoutMs: 20_000 });
    if (added.code !== 0) throw new Error(`ssh-add failed: ${added.stderr}`);

    const adminPub = readFileSync(`${lab().adminKey}.pub`, "utf8").trim();
    const example = parse(readFileSync(join(REPO, "stacks", "Pulumi.example.yaml"), "utf8")).config["hardening:fleet"];
    fleet = structuredClone(example);
    fleet.defaults.ssh.authorizedKeys = { root: [adminPub] };
    fleet.defaults.firewall.sshAllow = [`${lab().net}.0/24`];
    fleet.defaults.fail2ban.ignore = [`${lab().uplink}/32`];
    fleet.defaults.fail2ban.logBackend = "file"; // namespace hosts run no journal; rsyslog writes auth.log
    fleet.hosts = fleet.hosts.filter((h: any) => h.name === "web1")
      .map((h: any) => ({ ...h, address: web.ip, hostKey: web.hostKey, os: "debian-12" }));
    expect(fleet.hosts).toHaveLength(1);

    await project.must("login", ["login"]);
    await project.must("stack init", ["stack", "init", STACK]);
    const file = parse(readFileSync(project.stackFile, "utf8")) ?? {};
    file.config = { ...file.config, "hardening:fleet": fleet };
    project.writeFile(join("stacks", `Pulumi.${STACK}.yaml`), stringify(file));
    for (const [k, v] of [["rollbackSeconds", 15], ["dialErrorLimit", 2], ["perDialTimeout", 5], ["sshAgent", socket]]) {
      await project.must(`config set ${k}`, ["config", "set", `hardening:${k}`, String(v)]);
    }
  }, 900_000);

  afterAll(() => {
    console.log(`\n${figures.join("\n")}`);
    if (agent && agent.exitCode === null) agent.kill("SIGTERM");
    if (savedSock !== undefined) process.env.SSH_AUTH_SOCK = savedSock;
    project?.dispose();
  });

  it("up -v=9 --logflow converges the host through the agent; the key's body is in no output, log, state or PULUMI_HOME file", async () => {
    const preview = await pulumi("preview", ["preview"]);
    expect(preview.stdout).toMatch(/web1-confirm/);
    const verbose = await pulumi("up -v=9 --logflow (agent)", ["up", "--yes", "--skip-preview", "-v=9", "--logflow", "--logtostderr"]);
    expect(verbose.stderr.length).toBeGreaterThan(100_000); // the log really is verbose
    // the steps ran on the host: the policy's port answers, with the key from the agent
    const login = await lab().ssh(web.endpoint(2222), "true", { timeoutMs: 20_000 });
    expect(login.code, login.stderr).toBe(0);
    // the connections carried the socket (and so no key): the engine logged the inputs it sent
    expect(verbose.stderr).toContain(socket);
    const exported = await pulumi("stack export", ["stack", "export", "--show-secrets"]);
    const outputs = await pulumi("stack output", ["stack", "output", "--json", "--show-secrets"]);
    expect(JSON.parse(outputs.stdout).hosts.web1.sshPort).toBe(2222);

    const key = readFileSync(lab().adminKey, "utf8");
    const adminPub = readFileSync(`${lab().adminKey}.pub`, "utf8");
    // every 24-character slice of the base64 body, but not the public key inside it (in the plan by design)
    const slices = key.split("\n").filter((l) => l && !l.startsWith("-----")).join("").match(/.{24}/g)!
      .filter((s) => !adminPub.includes(s));
    expect(slices.length).toBeGreaterThan(8);
    const base = dirname(project.dir);
    const stored = [...filesUnder(join(base, "home")), ...filesUnder(join(base, "state"))];
    expect(stored.some((f) => f.includes(`${STACK}.json`))).toBe(true); // the checkpoint is among them
    const texts: Record<string, string> = {
      "stack export --show-secrets": exported.stdout,
      "stack output --show-secrets": outputs.stdout,
      ...Object.fromEntries(project.runs.map((r, i) => [`#${i} ${r.label} (stdout+stderr)`, `${r.stdout}\n${r.stderr}`])),
      ...Object.fromEntries(stored.map((f) => [f.slice(base.length), readFileSync(f, "latin1")])),
    };
    for (const [what, text] of Object.entries(texts)) {
      const found = slices.filter((s) => text.includes(s));
      expect(found, `${what} holds the private key`).toEqual([]);
      expect(text, what).not.toMatch(/PRIVATE KEY-----/);
    }
    figures.push(`FIGURE engine-agent -v=9 log: ${verbose.stderr.split("\n").length} lines, lines holding the private key: 0;` +
      ` texts checked: ${Object.keys(texts).length} (${stored.length} files under PULUMI_HOME and the backend)`);

    await pulumi("destroy (agent)", ["destroy", "--yes", "--skip-preview"]);
    const back = await lab().ssh(web.endpoint(22), "true", { timeoutMs: 20_000 });
    expect(back.code, back.stderr).toBe(0);
  }, 900_000);
});
