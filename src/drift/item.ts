// One drifted fact on a host, in the words the operator reads.
import type { UnitName } from "../render/unit";

export interface DriftItem {
  /** the unit whose re-apply heals it; "host" when no unit owns it (a foreign rule, an at job) */
  unit: UnitName | "host";
  /** stable and unique per host: the key of the Pulumi diff */
  key: string;
  expected: string | null;
  found: string | null;
  /** "sshd passwordauthentication: expected no, found yes (from /etc/ssh/sshd_config.d/50-cloud-init.conf:1)" */
  message: string;
  /** reported, not drift: does not make the host drifted nor fail `--expect-no-changes` */
  info?: true;
}

/** Items that make a host drifted (information apart). */
export const drifted = (items: DriftItem[]) => items.filter((i) => !i.info);

/** A value quoted for a message: hostile text stays on one line and visibly delimited. */
export function quote(text: string, max = 200): string {
  const s = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(s);
}

/** Keys made unique in order of appearance (two identical undeclared lines stay two items). */
export function uniqueKeys(items: DriftItem[]): DriftItem[] {
  const seen = new Map<string, number>();
  return items.map((item) => {
    const n = (seen.get(item.key) ?? 0) + 1;
    seen.set(item.key, n);
    return n === 1 ? item : { ...item, key: `${item.key} #${n}` };
  });
}
