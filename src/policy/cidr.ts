// Addresses, networks and host names, parsed strictly (ipaddr.js for addresses). Strict means: dotted-quad IPv4 only (no
// "10.1", no octal "010.0.0.1", no hex), no IPv6 zone ids, a prefix without leading zeros.
// A bare address is a network of one: /32 for IPv4, /128 for IPv6.
import ipaddr from "ipaddr.js";

export type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

export interface Cidr {
  address: IpAddress;
  prefix: number;
  family: 4 | 6;
}

const PREFIX = /^(0|[1-9][0-9]{0,2})$/;

/** An IPv4 or IPv6 address, or null when `text` is not one in its plain written form. */
export function parseIp(text: string): IpAddress | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  // a zone id ("fe80::1%eth0") names an interface of one machine: meaningless in a firewall rule
  if (text.includes("%") || !ipaddr.IPv6.isValid(text)) return null;
  return ipaddr.IPv6.parse(text);
}

/** "10.0.0.0/8", "2001:db8::/32" or a bare address; null when it is not a network. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf("/");
  const address = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!address) return null;
  const family = address.kind() === "ipv4" ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  if (slash < 0) return { address, prefix: max, family };
  const prefixText = text.slice(slash + 1);
  if (!PREFIX.test(prefixText)) return null;
  const prefix = Number(prefixText);
  if (prefix > max) return null;
  return { address, prefix, family };
}

export function isIp(text: string): boolean {
  return parseIp(text) !== null;
}

export function isCidr(text: string): boolean {
  return parseCidr(text) !== null;
}

/** The network a CIDR names, with host bits cleared: 10.0.0.1/8 -> 10.0.0.0/8. */
export function networkOf(cidr: Cidr): string {
  const bytes = cidr.address.toByteArray();
  let bitsLeft = cidr.prefix;
  const masked = bytes.map((byte) => {
    const keep = Math.max(0, Math.min(8, bitsLeft));
    bitsLeft -= 8;
    return byte & ((0xff << (8 - keep)) & 0xff);
  });
  return `${ipaddr.fromByteArray(masked).toString()}/${cidr.prefix}`;
}

/** True for 10.0.0.1/8: the operator wrote an address where a network was meant. */
export function hasHostBits(cidr: Cidr): boolean {
  return networkOf(cidr) !== `${cidr.address.toString()}/${cidr.prefix}`;
}

/** Every address of `inner` lies inside `outer` (same family only). */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  if (outer.family !== inner.family || inner.prefix < outer.prefix) return false;
  return inner.address.match(outer.address, outer.prefix);
}

/** The two networks share at least one address. */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  return cidrContains(a, b) || cidrContains(b, a);
}

/** "0.0.0.0/0" and "::/0": everyone. */
export function isEverywhere(cidr: Cidr): boolean {
  return cidr.prefix === 0;
}

/** One spelling per address, so that "2001:DB8::1" and "2001:db8:0::1" compare equal. */
export function canonicalIp(text: string): string | null {
  const ip = parseIp(text);
  return ip ? ip.toString() : null;
}

const DNS_LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** RFC 1123 host name; an all-numeric last label is refused so that "10.0.0.300" is not a name. */
export function isDnsName(text: string): boolean {
  if (text.length > 253) return false;
  const labels = text.split(".");
  return labels.every((l) => DNS_LABEL.test(l)) && !/^[0-9]+$/.test(labels[labels.length - 1]);
}
