import { spawnSync } from "node:child_process";

/**
 * Runs a shell session in a private mount namespace where /var/lib and /srv are empty tmpfs:
 * unit scripts can install, back up and restore there for real while this machine stays untouched.
 * /run/systemd is hidden too: on a machine that runs systemd the scripts would otherwise arm timers
 * and enable units of the machine itself (the sandbox exercises the no-systemd path).
 * Everything (scripts and checks) happens inside one session because the namespace ends with it.
 */
export function inSandbox(session: string, timeoutMs = 30_000): { code: number; stdout: string; stderr: string } {
  const setup = "mount -t tmpfs tmpfs /var/lib && mount -t tmpfs tmpfs /srv && " +
    "{ [ ! -d /run/systemd ] || mount -t tmpfs tmpfs /run/systemd; } && exec sh -s";
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", setup], {
    input: session,
    encoding: "utf8",
    timeout: timeoutMs,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A heredoc that writes `content` to `path` inside a sandbox session. */
export function writeFileLine(path: string, content: string): string {
  return `cat > '${path}' <<'SANDBOX_EOF'\n${content}SANDBOX_EOF\n`;
}
