import type { CryptoLists, CryptoPreset } from "../policy/types";
import type { OsProfile } from "./os";

// SSH algorithm lists per OpenSSH generation. "modern" passes ssh-audit: post-quantum hybrid or
// curve25519 key exchange, AEAD or CTR ciphers, encrypt-then-MAC only, ed25519/RSA-SHA2 host keys.
// Lists are in preference order: sshd offers them as written.

/** The query names of `ssh -Q` that list what the host's OpenSSH supports, per list. */
export const ALGORITHM_QUERIES = {
  kex: "kex",
  ciphers: "cipher",
  macs: "mac",
  hostKeyAlgorithms: "key-sig",
  pubkeyAcceptedAlgorithms: "key-sig",
} as const satisfies Record<keyof CryptoLists, string>;

const CIPHERS_MODERN = [
  "chacha20-poly1305@openssh.com",
  "aes256-gcm@openssh.com",
  "aes128-gcm@openssh.com",
  "aes256-ctr",
  "aes192-ctr",
  "aes128-ctr",
];
const MACS_ETM = ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"];
const HOST_KEYS_MODERN = ["ssh-ed25519", "rsa-sha2-512", "rsa-sha2-256"];

// 8.5+ knows sntrup761 only under its @openssh.com name; 9.9 added the plain name and ML-KEM.
const KEX_MODERN_9 = ["sntrup761x25519-sha512@openssh.com", "curve25519-sha256", "curve25519-sha256@libssh.org"];
const KEX_MODERN_10 = [
  "mlkem768x25519-sha256",
  "sntrup761x25519-sha512",
  "sntrup761x25519-sha512@openssh.com",
  "curve25519-sha256",
  "curve25519-sha256@libssh.org",
];

// "compatible" keeps clients that predate curve25519 (old Java/Windows tooling) working: NIST ECDH,
// large DH groups, non-EtM SHA-2 MACs and an ECDSA host key. ssh-audit warns about these.
const KEX_COMPAT_EXTRA = [
  "ecdh-sha2-nistp521",
  "ecdh-sha2-nistp384",
  "ecdh-sha2-nistp256",
  "diffie-hellman-group-exchange-sha256",
  "diffie-hellman-group18-sha512",
  "diffie-hellman-group16-sha512",
];
const MACS_COMPAT = [...MACS_ETM, "hmac-sha2-512", "hmac-sha2-256"];
const HOST_KEYS_COMPAT = [...HOST_KEYS_MODERN, "ecdsa-sha2-nistp256"];

/** The algorithm lists sshd gets for a preset or explicit lists, for the host's OpenSSH generation. */
export function cryptoLists(crypto: CryptoPreset | CryptoLists, profile: OsProfile): CryptoLists {
  if (typeof crypto === "object") return structuredClone(crypto);
  const kex = profile.openssh >= 10 ? KEX_MODERN_10 : KEX_MODERN_9;
  if (crypto === "modern") {
    return { kex: [...kex], ciphers: [...CIPHERS_MODERN], macs: [...MACS_ETM], hostKeyAlgorithms: [...HOST_KEYS_MODERN] };
  }
  return {
    kex: [...kex, ...KEX_COMPAT_EXTRA],
    ciphers: [...CIPHERS_MODERN],
    macs: [...MACS_COMPAT],
    hostKeyAlgorithms: [...HOST_KEYS_COMPAT],
  };
}

/** Host key files sshd loads: only those whose type a listed host key algorithm can use. */
export function hostKeyFiles(lists: CryptoLists): string[] {
  const algs = lists.hostKeyAlgorithms;
  const files: string[] = [];
  if (algs.some((a) => a.startsWith("ssh-ed25519"))) files.push("/etc/ssh/ssh_host_ed25519_key");
  if (algs.some((a) => a.startsWith("ecdsa-sha2-"))) files.push("/etc/ssh/ssh_host_ecdsa_key");
  if (algs.some((a) => a.startsWith("rsa-sha2-") || a.startsWith("ssh-rsa"))) files.push("/etc/ssh/ssh_host_rsa_key");
  return files;
}

/** Signature algorithms that can present a key of this type ("ssh-rsa" keys sign as rsa-sha2-*). */
export function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return [keyType];
}
