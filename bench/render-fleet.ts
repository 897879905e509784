// Benchmark (not a test): validate + render + plan 1,000 hosts, 50 of which share one
// 100,000-CIDR blocklist, and build the review tree. Reports time, time per host, peak memory
// and how many distinct payloads were rendered (the big list must be rendered once).
import { performance } from "node:perf_hooks";
import { reviewTree } from "../src/cli/review-tree";
import { planFleet } from "../src/plan/plan";

const HOSTS = Number(process.env.BENCH_HOSTS ?? 1000);
const SHARED = Number(process.env.BENCH_SHARED ?? 50);
const CIDRS = Number(process.env.BENCH_CIDRS ?? 100_000);
const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEQLdClm/sBCzdaxzi1EMy6aCDg3g2NlRufH43GhhYYi";
const ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAING+T0NaM/kLMjI1+zunpab60tPU1vXjfPIR1emNm5Fb admin@ops";

/** Distinct, non-overlapping networks: /24s and /32s spread over 11.0.0.0 upwards. */
function blocklist(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const a = 11 + Math.floor(i / 65536), b = Math.floor(i / 256) % 256, c = i % 256;
    return i % 2 === 0 ? `${a}.${b}.${c}.0/24` : `${a + 100}.${b}.${c}.${1 + (i % 250)}/32`;
  });
}

function fleet() {
  const hosts = Array.from({ length: HOSTS }, (_, i) => ({
    name: `host${String(i).padStart(4, "0")}`,
    address: `10.${Math.floor(i / 250)}.${i % 250}.10`,
    groups: i < SHARED ? ["edge"] : ["web"],
    os: i % 2 ? "debian-13" : "debian-12",
    connection: { user: "root", port: 22 },
    hostKey: HOST_KEY,
  }));
  return {
    defaults: {
      ssh: { port: 2222, authorizedKeys: { root: [ADMIN_KEY] } },
      firewall: { sshAllow: ["198.51.100.0/24"] },
    },
    groups: {
      web: { firewall: { services: [{ port: 443, proto: "tcp" }] } },
      edge: { firewall: { services: [{ port: 443, proto: "tcp" }], blocklists: [{ name: "abuse", cidrs: blocklist(CIDRS) }] } },
    },
    hosts,
  };
}

let peakRss = 0;
const sampler = setInterval(() => { peakRss = Math.max(peakRss, process.memoryUsage().rss); }, 5);
const input = fleet();
const t0 = performance.now();
const plans = planFleet(input);
const t1 = performance.now();
const tree = reviewTree(plans);
const t2 = performance.now();
clearInterval(sampler);
peakRss = Math.max(peakRss, process.resourceUsage().maxRSS * 1024);

const payloads = new Set(plans.flatMap((p) => p.uploads.map((u) => u.sha256)));
const bytes = [...tree.values()].reduce((n, s) => n + s.length, 0);
const mb = (b: number) => (b / 1048576).toFixed(0);
console.log(`hosts: ${HOSTS} (${SHARED} share a ${CIDRS}-CIDR blocklist)`);
console.log(`validate+render+plan: ${(t1 - t0).toFixed(0)} ms, ${((t1 - t0) / HOSTS).toFixed(2)} ms/host`);
console.log(`review tree: ${(t2 - t1).toFixed(0)} ms, ${tree.size} files, ${mb(bytes)} MiB`);
console.log(`total: ${(t2 - t0).toFixed(0)} ms, ${((t2 - t0) / HOSTS).toFixed(2)} ms/host`);
console.log(`distinct payloads: ${payloads.size} (hosts referencing one: ${plans.filter((p) => p.uploads.length).length})`);
console.log(`peak RSS: ${mb(peakRss)} MiB`);
