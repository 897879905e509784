// The crontab entries a distribution ships, which drift never reports. Decision: the allowlist is
// exact (whitespace-normalised) lines per OS, not "any run-parts line", so an edited stock line
// (run-parts of another directory, a changed PATH) is still reported. A policy can declare more in
// cron.expected. Debian 12/13 lines are copied from the packages (cron, e2fsprogs, php-common);
// Ubuntu and RHEL lines from their packages' files, not checked on a live host here.
import type { ExpectedCronEntry, OsId } from "../policy/types";

/** Debian's /etc/crontab from the cron package: environment plus run-parts for the periodic dirs. */
const DEBIAN_CRONTAB = [
  "SHELL=/bin/sh",
  "17 * * * * root cd / && run-parts --report /etc/cron.hourly",
  "25 6 * * * root test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.daily; }",
  "47 6 * * 7 root test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.weekly; }",
  "52 6 1 * * root test -x /usr/sbin/anacron || { cd / && run-parts --report /etc/cron.monthly; }",
];
const PATH_12 = "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin";
const PATH_13 = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/** e2fsprogs before 1.47.1 keeps the helper under the multiarch libdir. */
const MULTIARCH = [
  "x86_64-linux-gnu", "aarch64-linux-gnu", "arm-linux-gnueabihf", "i386-linux-gnu",
  "powerpc64le-linux-gnu", "s390x-linux-gnu", "riscv64-linux-gnu", "mips64el-linux-gnuabi64",
];
const E2SCRUB_WEEKLY = (helper: string) => `30 3 * * 0 root test -e /run/systemd/system || SERVICE_MODE=1 ${helper}`;
const E2SCRUB_DAILY = "10 3 * * * root test -e /run/systemd/system || SERVICE_MODE=1 /sbin/e2scrub_all -A -r";
const PHP_SESSIONCLEAN =
  "09,39 * * * * root [ -x /usr/lib/php/sessionclean ] && if [ ! -d /run/systemd/system ]; then /usr/lib/php/sessionclean; fi";

function at(source: string, lines: string[]): ExpectedCronEntry[] {
  return lines.map((line) => ({ source, line }));
}

const debianLike = (path: string, e2scrubHelpers: string[]): ExpectedCronEntry[] => [
  ...at("/etc/crontab", [...DEBIAN_CRONTAB, path]),
  ...at("/etc/cron.d/e2scrub_all", [...e2scrubHelpers.map(E2SCRUB_WEEKLY), E2SCRUB_DAILY]),
  ...at("/etc/cron.d/php", [PHP_SESSIONCLEAN]),
];
const multiarchE2scrub = MULTIARCH.map((t) => `/usr/lib/${t}/e2fsprogs/e2scrub_all_cron`);

const ENTRIES: Record<OsId, ExpectedCronEntry[]> = {
  "debian-12": debianLike(PATH_12, multiarchE2scrub),
  "debian-13": debianLike(PATH_13, ["/usr/libexec/e2fsprogs/e2scrub_all_cron"]),
  "ubuntu-22.04": debianLike(PATH_12, multiarchE2scrub),
  "ubuntu-24.04": debianLike(PATH_12, multiarchE2scrub),
  "rhel-9": [
    ...at("/etc/crontab", ["SHELL=/bin/bash", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", "MAILTO=root"]),
    ...at("/etc/cron.d/0hourly", ["SHELL=/bin/bash", "PATH=/sbin:/bin:/usr/sbin:/usr/bin", "MAILTO=root", "01 * * * * root run-parts /etc/cron.hourly"]),
  ],
};

export function distroCronEntries(os: OsId): ExpectedCronEntry[] {
  return ENTRIES[os].map((e) => ({ ...e }));
}
