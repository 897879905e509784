// Listening sockets from `ss -H -ltnup` or, where iproute2 is missing, /proc/net/{tcp,udp}{,6}.
import type { Proto } from "../policy/types";

export interface Listener {
  proto: Proto;
  /** as printed: "0.0.0.0", "::", "10.0.0.5", "127.0.0.53" (no brackets, no %iface) */
  address: string;
  port: number;
  /** "redis-server" when ss could name the process */
  process: string | null;
}

function splitHostPort(local: string): { address: string; port: number } | null {
  const at = local.lastIndexOf(":");
  if (at < 0) return null;
  let address = local.slice(0, at);
  const port = Number(local.slice(at + 1));
  if (!Number.isInteger(port)) return null;
  address = address.replace(/%[^\]]*$/, "").replace(/^\[(.*)\](%.*)?$/, "$1").replace(/%.*$/, "");
  if (address === "*") address = "0.0.0.0";
  return { address, port };
}

export function parseSs(lines: string[]): Listener[] {
  const out: Listener[] = [];
  for (const line of lines) {
    const f = line.trim().split(/\s+/);
    if (f.length < 5 || (f[0] !== "tcp" && f[0] !== "udp")) continue;
    const hp = splitHostPort(f[4]);
    if (!hp) continue;
    const proc = /users:\(\("([^"]*)"/.exec(line);
    out.push({ proto: f[0], ...hp, process: proc ? proc[1] : null });
  }
  return out;
}

/** "0100007F" -> "127.0.0.1"; the kernel prints each 32-bit word in host (little-endian) order. */
function hexAddress(hex: string): string {
  const words = hex.match(/.{8}/g) ?? [];
  const bytes = words.flatMap((w) => (w.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16)));
  if (bytes.length === 4) return bytes.join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((bytes[i] << 8) | bytes[i + 1]).toString(16));
  const text = groups.join(":");
  if (text === "0:0:0:0:0:0:0:0") return "::";
  if (text === "0:0:0:0:0:0:0:1") return "::1";
  if (text.startsWith("0:0:0:0:0:ffff:")) return `::ffff:${bytes.slice(12).join(".")}`;
  return text;
}

/** tables: "tcp" | "tcp6" | "udp" | "udp6" -> their lines without the header. */
export function parseProcNet(tables: Record<string, string[]>): Listener[] {
  const out: Listener[] = [];
  for (const [table, lines] of Object.entries(tables)) {
    const proto: Proto = table.startsWith("tcp") ? "tcp" : "udp";
    // TCP_LISTEN = 0A; an unconnected UDP socket is TCP_CLOSE = 07
    const listening = proto === "tcp" ? "0A" : "07";
    for (const line of lines) {
      const f = line.trim().split(/\s+/);
      if (f.length < 4 || f[3] !== listening) continue;
      const [addr, port] = f[1].split(":");
      if (proto === "udp" && f[2].split(":")[1] !== "0000") continue; // connected UDP
      out.push({ proto, address: hexAddress(addr), port: parseInt(port, 16), process: null });
    }
  }
  return out;
}

export function listeners(sockets: { tool: "ss" | "proc"; lines: Record<string, string[]> }): Listener[] {
  const all = sockets.tool === "ss" ? parseSs(sockets.lines.ss ?? []) : parseProcNet(sockets.lines);
  const seen = new Set<string>();
  return all.filter((l) => {
    const k = `${l.proto} ${l.address} ${l.port}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** Loopback only: nothing outside the host can reach it, whatever the firewall says. */
export function isLoopback(address: string): boolean {
  return /^127\./.test(address) || address === "::1" || /^::ffff:127\./.test(address);
}
