// JSON Schema (draft 2020-12) of the Fleet in types.ts; keep the two in step.
// Strict on purpose: no unknown keys anywhere, and every string is held to a pattern or format that
// admits no newline, NUL, quote or shell metacharacter, except crontab lines (which are commands
// by nature and must reach scripts only quoted).
//
// A `description` on a value schema says what a valid value is ("a port (1-65535)"): the error
// formatter prints `<value> is not <description>` for any failure of that schema, so keep it short.

const USER = "^(?!__proto__$)[a-z_][a-z0-9_-]{0,31}$";
const KEY_TYPES = "ssh-ed25519|ecdsa-sha2-nistp256|ecdsa-sha2-nistp384|ecdsa-sha2-nistp521|ssh-rsa";
const AUTHORIZED_KEY_TYPES = `${KEY_TYPES}|sk-ssh-ed25519@openssh\\.com|sk-ecdsa-sha2-nistp256@openssh\\.com`;

const ref = (name: string) => ({ $ref: `#/$defs/${name}` });
const int = (minimum: number, maximum: number) => ({ type: "integer", minimum, maximum });
const listOf = (items: object, extra: object = {}) => ({ type: "array", items, ...extra });
const object = (properties: Record<string, object>, required: string[] = []) => ({
  type: "object",
  additionalProperties: false,
  properties,
  ...(required.length ? { required } : {}),
});

// durations arrive here as seconds (normaliseDurations turned "10m" into 600); this range is in seconds
const seconds = (minimum: number, maximum: number) => ({
  description: `a duration of ${minimum} to ${maximum} seconds (or like "10m", "1h30m")`,
  type: "integer", minimum, maximum,
});

const withoutType = ({ type: _type, ...rest }: { type: string } & Record<string, unknown>) => rest;

const jail = object({
  enabled: { type: "boolean" },
  maxRetry: int(1, 100),
  findTime: seconds(1, 31_536_000),
  banTime: seconds(1, 31_536_000),
  banTimeIncrement: { type: "boolean" },
});

const policy = object({
  ssh: object({
    port: ref("port"),
    listenAddresses: listOf(ref("ip"), { uniqueItems: true }),
    permitRootLogin: { enum: ["no", "prohibit-password"] },
    passwordAuthentication: { type: "boolean" },
    authorizedKeys: {
      type: "object",
      propertyNames: ref("userName"),
      additionalProperties: listOf(ref("authorizedKey"), { uniqueItems: true }),
    },
    allowUsers: listOf(ref("userName"), { uniqueItems: true }),
    allowGroups: listOf(ref("unixGroup"), { uniqueItems: true }),
    maxAuthTries: int(1, 100),
    loginGraceTime: seconds(1, 3600),
    maxStartups: ref("maxStartups"),
    perSourceMaxStartups: int(1, 1000),
    maxSessions: int(1, 1000),
    clientAliveInterval: seconds(0, 86_400),
    clientAliveCountMax: int(0, 100),
    crypto: ref("crypto"),
    forwarding: { type: "boolean" },
    sftpChroot: object({ group: ref("unixGroup"), directory: ref("chrootDirectory") }, ["group", "directory"]),
    logLevel: { enum: ["QUIET", "FATAL", "ERROR", "INFO", "VERBOSE", "DEBUG"] },
    sudoUsers: listOf(ref("userName"), { uniqueItems: true }),
  }),
  firewall: object({
    backend: { enum: ["nftables", "iptables"] },
    sshAllow: listOf(ref("cidr")),
    sshRateLimit: object({ connections: int(1, 10_000), perSeconds: seconds(1, 86_400) }, ["connections", "perSeconds"]),
    services: listOf(
      object({
        port: ref("port"),
        proto: ref("proto"),
        from: listOf(ref("cidr"), { minItems: 1 }),
        comment: ref("comment"),
      }, ["port"]),
    ),
    blocklists: listOf(object({ name: ref("blocklistName"), cidrs: listOf(ref("cidr")) }, ["name", "cidrs"])),
    egress: object({
      smtp: { enum: ["allow", "deny"] },
      mode: { enum: ["accept", "allowlist"] },
      allow: listOf(
        object({
          to: listOf(ref("cidr"), { minItems: 1 }),
          ports: listOf(ref("port"), { uniqueItems: true }),
          proto: ref("proto"),
        }, ["to"]),
      ),
    }),
    publishedPorts: object({ undeclared: { enum: ["drop", "accept"] } }),
  }),
  fail2ban: object({
    enabled: { type: "boolean" },
    sshd: jail,
    recidive: jail,
    ignore: listOf(ref("cidr")),
    logBackend: { enum: ["journal", "file"] },
  }),
  cron: object({
    allow: listOf(ref("userName"), { uniqueItems: true }),
    atAllow: listOf(ref("userName"), { uniqueItems: true }),
    expected: listOf(object({ source: ref("cronSource"), line: ref("cronLine") }, ["source", "line"])),
  }),
});

const host = object(
  {
    name: ref("hostName"),
    address: ref("hostAddress"),
    groups: listOf(ref("groupName"), { uniqueItems: true }),
    os: { enum: ["debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04", "rhel-9"] },
    connection: object(
      { user: ref("userName"), port: ref("port"), privateKey: ref("keyReference") },
      ["user", "port"],
    ),
    hostKey: ref("hostKey"),
    policy: ref("policy"),
    adminSources: listOf(ref("cidr"), { minItems: 1 }),
  },
  ["name", "address", "os", "connection", "hostKey"],
);

export const FLEET_SCHEMA = {
  $schema: "https://json-schema.org/draft/2020-12/schema",
  $id: "https://harden.invalid/fleet.schema.json",
  ...object(
    {
      defaults: ref("policy"),
      groups: { type: "object", propertyNames: ref("groupName"), additionalProperties: ref("policy") },
      hosts: listOf(host, { minItems: 1 }),
      adminSources: listOf(ref("cidr"), { minItems: 1 }),
    },
    ["hosts"],
  ),
  $defs: {
    policy,
    port: { description: "a port (1-65535)", type: "integer", minimum: 1, maximum: 65535 },
    proto: { enum: ["tcp", "udp"] },
    userName: {
      description: "a user name (a-z or _, then up to 31 of a-z 0-9 _ -)",
      type: "string", pattern: USER,
    },
    unixGroup: {
      description: "a group name (a-z or _, then up to 31 of a-z 0-9 _ -)",
      type: "string", pattern: USER,
    },
    groupName: {
      description: "a group name (a-z or 0-9, then up to 62 of a-z 0-9 _ -)",
      type: "string", pattern: "^[a-z0-9][a-z0-9_-]{0,62}$",
    },
    // host names become directory names of the render output
    hostName: {
      description: "a host name (a-z or 0-9, then up to 62 of a-z 0-9 . -)",
      type: "string", pattern: "^[a-z0-9][a-z0-9.-]{0,62}$",
    },
    hostAddress: { description: "an IP address or DNS name", type: "string", format: "host-address" },
    ip: { description: "an IP address", type: "string", format: "ip" },
    cidr: { description: "a CIDR", type: "string", format: "cidr", networkAddress: true },
    hostKey: {
      description: 'a host key ("ssh-ed25519 AAAA...", no comment)',
      type: "string", pattern: `^(${KEY_TYPES}) [A-Za-z0-9+/=]+$`,
    },
    authorizedKey: {
      description: 'a public key ("ssh-ed25519 AAAA... comment", comment of letters, digits, space and @._+:=,/-)',
      type: "string",
      pattern: `^(${AUTHORIZED_KEY_TYPES}) [A-Za-z0-9+/=]+( [A-Za-z0-9@._+:=,/-][A-Za-z0-9 @._+:=,/-]{0,199})?$`,
    },
    maxStartups: { description: 'a MaxStartups value ("10" or "10:30:60")', type: "string", pattern: "^\\d{1,5}(:\\d{1,3}:\\d{1,5})?$" },
    crypto: {
      description: "modern, compatible or an object of algorithm lists",
      type: ["string", "object"],
      if: { type: "string" },
      then: { enum: ["modern", "compatible"] },
      // the object's type is already checked above: say it once
      else: withoutType(object(
        {
          kex: listOf(ref("algorithm"), { minItems: 1, uniqueItems: true }),
          ciphers: listOf(ref("algorithm"), { minItems: 1, uniqueItems: true }),
          macs: listOf(ref("algorithm"), { minItems: 1, uniqueItems: true }),
          hostKeyAlgorithms: listOf(ref("algorithm"), { minItems: 1, uniqueItems: true }),
          pubkeyAcceptedAlgorithms: listOf(ref("algorithm"), { minItems: 1, uniqueItems: true }),
        },
        ["kex", "ciphers", "macs", "hostKeyAlgorithms"],
      )),
    },
    algorithm: {
      description: 'an algorithm name ("aes256-gcm@openssh.com")',
      type: "string", pattern: "^[a-z0-9][a-z0-9.@_+-]{0,99}$",
    },
    // sshd expands %u and %h in ChrootDirectory; no segment may start with "." (no "..")
    chrootDirectory: {
      description: "an absolute path (segments of letters, digits and _%.-, not starting with .)",
      type: "string", pattern: "^(/[A-Za-z0-9_%][A-Za-z0-9_%.-]{0,254}){1,16}$",
    },
    // the renderer prefixes set names (ipset allows 31 characters; nft is happiest with [a-z0-9_])
    blocklistName: {
      description: "a blocklist name (a-z, then up to 23 of a-z 0-9 _)",
      type: "string", pattern: "^[a-z][a-z0-9_]{0,23}$",
    },
    keyReference: {
      description: "a key reference (a file path or config key of letters, digits and _./:@+-)",
      type: "string", pattern: "^[A-Za-z0-9_./:@+-]{1,1024}$",
    },
    comment: {
      description: "a comment (letters, digits, space and _.,:/+@-, at most 128)",
      type: "string", pattern: "^[A-Za-z0-9 _.,:/+@-]{0,128}$",
    },
    cronSource: {
      description: "root, a user name, /etc/crontab or /etc/cron.d/NAME",
      type: "string", pattern: `(${USER})|^/etc/crontab$|^/etc/cron\\.d/[A-Za-z0-9_-]{1,255}$`,
    },
    // a crontab line is a command: shell syntax is its point, so only line breaks and control
    // characters other than tab are refused here; renderers must quote it wherever it goes
    cronLine: {
      description: "a single-line crontab entry",
      type: "string", pattern: "^[^\\u0000-\\u0008\\u000a-\\u001f\\u007f\\u2028\\u2029]{1,1000}$",
    },
  },
} as const;
