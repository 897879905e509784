// Incident 3: a service listening on a public address that the live firewall lets anyone reach,
// although the policy does not open it to everyone (or it is an internal service like Redis).
import { INTERNAL_PORTS } from "../policy/semantic";
import type { DriftExpect } from "../plan/drift-expect";
import type { DriftItem } from "./item";
import { families, reachable, type LiveFirewall } from "./live-firewall";
import { isLoopback, type Listener } from "./sockets";

export function checkListeners(expect: DriftExpect, live: LiveFirewall, sockets: Listener[]): DriftItem[] {
  const items: DriftItem[] = [];
  for (const l of sockets) {
    if (isLoopback(l.address)) continue;
    const declaredPublic = expect.publicPorts.some((p) => p.port === l.port && p.proto === l.proto);
    const internal = l.port in INTERNAL_PORTS;
    if (declaredPublic && !internal) continue;
    const open = families(l.address).map((f) => ({ f, r: reachable(live, f, l.port, l.proto) })).find((x) => x.r.open);
    if (!open) continue;
    const shown = l.address.includes(":") ? `[${l.address}]` : l.address;
    const what = l.process ? ` (${l.process})` : internal ? ` (${INTERNAL_PORTS[l.port]} port)` : "";
    const why = open.r.hit ? `accepted by ${open.r.hit.chain.table} ${open.r.hit.chain.name}: "${open.r.hit.rule}"` : "no input chain drops it";
    items.push({ unit: declaredPublic ? "host" : "firewall", key: `listening ${l.proto} ${l.address}:${l.port}`,
      expected: "not reachable from anywhere", found: "reachable",
      message: `listening ${shown}:${l.port}/${l.proto}${what} reachable from anywhere (${why})` });
  }
  return items;
}
