// The host addresses of one lab /24: what is taken, what is free. Both kinds of lab hand them out the
// same way; only their reserved addresses (uplink, repository) differ.

export class AddressPool {
  private readonly used: Set<number>;
  private readonly firstHost: number;

  /**
   * @param label    prefix of every error ("lab", "systemd lab")
   * @param reserved last octets never handed out besides .0 and .255, named in errors (e.g. ".1 is the uplink")
   */
  constructor(readonly net: string, private label: string, reserved: number[], private reservedNote: string) {
    this.used = new Set([0, 255, ...reserved]);
    this.firstHost = Math.max(...reserved) + 1;
  }

  /** `ip` if given (checked and marked taken), else the first free address from `.from` on. */
  take(ip: string | undefined, from: number): string {
    if (ip !== undefined) {
      const m = new RegExp(`^${this.net.replace(/\./g, "\\.")}\\.(\\d{1,3})$`).exec(ip);
      const last = m ? Number(m[1]) : NaN;
      if (!(last >= this.firstHost && last < 255)) throw new Error(`${this.label}: ${ip} is not a host address in ${this.net}.0/24 (${this.reservedNote})`);
      if (this.used.has(last)) throw new Error(`${this.label}: ${ip} is already in use`);
      this.used.add(last);
      return ip;
    }
    for (let i = from; i < 255; i++) {
      if (!this.used.has(i)) {
        this.used.add(i);
        return `${this.net}.${i}`;
      }
    }
    throw new Error(`${this.label}: no free address left`);
  }

  give(ip: string): void {
    this.used.delete(Number(ip.split(".")[3]));
  }
}
