// What a renderer produces: files with their exact bytes and ownership.

/** A file a unit installs on the host. `content` always ends with "\n". */
export interface Artifact {
  path: string;
  /** octal, four digits: "0644" */
  mode: string;
  owner: string;
  group: string;
  content: string;
}

/** A path whose mode and ownership a unit enforces without owning its content (e.g. the cron spool). */
export interface Permission {
  path: string;
  mode: string;
  owner: string;
  group: string;
}

/**
 * A large, content-addressed file (a 100,000-CIDR blocklist) delivered once ahead of the unit scripts
 * instead of inside them, so scripts, plan files and Pulumi state stay small.
 * Rendered once per distinct content and shared by every host that uses it.
 */
export interface Payload {
  /** /var/lib/harden/payload/<sha256>.<ext> */
  remotePath: string;
  sha256: string;
  content: string;
}
