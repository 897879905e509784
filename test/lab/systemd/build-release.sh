#!/bin/bash
# build-release.sh RELEASE - build (once) what systemd lab hosts of RELEASE boot from, in the lab cache:
#   stock/     a root like a fresh server from Debian's cloud images: debootstrap minbase + the cloud
#              package list (systemd, dbus, openssh-server, sudo, iptables, netbase, ...), WITHOUT
#              nftables, cron, rsyslog or fail2ban; journald only
#   repo/      a flat apt repository with the .debs of every package a plan may install (and their
#              dependencies, resolved against stock/), fetched once from Debian's archive
#   fail2ban/  stock/ plus Debian's fail2ban installed from repo/ as `apt-get install fail2ban` leaves it
#   docker/    stock/ plus Debian's docker.io installed from repo/ as `apt-get install docker.io` leaves it
#              (docker.service enabled), and busybox-static: the tests' container image is made from it
# RELEASE: debian-12 (bookworm) or debian-13 (trixie). Prints the folder on its last line.
# The folder is $HARDEN_LAB_CACHE/systemd/RELEASE-KEY (cache default: /var/cache/harden-lab), KEY a hash of
# the suite, the package lists and LAYOUT, so a changed list builds anew; DIR/.done is written last.
# Needs root and Debian's archive (HARDEN_LAB_MIRROR, default: the first /debian URI in apt's sources).
set -euo pipefail
die() { echo "build-release: $*" >&2; exit 1; }
[ $# -eq 1 ] || die "usage: build-release.sh debian-12|debian-13"
RELEASE=$1
case $RELEASE in
  debian-12) SUITE=bookworm ;;
  debian-13) SUITE=trixie ;;
  *) die "unknown release '$RELEASE' (known: debian-12, debian-13)" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot)"
for t in debootstrap dpkg-scanpackages flock sha256sum gzip; do
  command -v $t >/dev/null || die "$t is not installed (Debian: debootstrap, dpkg-dev, util-linux, coreutils, gzip)"
done

# Debian's cloud images (genericcloud) start from minbase and add a list like this one; cloud-init and
# the kernel/bootloader are left out (see "How lab hosts differ" in test/lab/README.md).
CLOUD_PACKAGES=(systemd systemd-sysv dbus libpam-systemd openssh-server openssh-client sudo iptables netbase
  iproute2 procps ca-certificates less curl wget vim-tiny bash-completion kmod python3 apt-utils
  systemd-timesyncd)
# Everything a plan may install, with recommends (a superset of what --no-install-recommends needs).
REPO_PACKAGES=(nftables iptables ipset fail2ban python3-systemd python3-pyinotify whois cron rsyslog logrotate)
# The docker kind's packages (also served by repo/): Debian's Docker, and busybox for an image without a registry.
DOCKER_PACKAGES=(docker.io busybox-static)
# never on a stock root
ABSENT=(nftables cron rsyslog fail2ban docker.io)

# Bump when the build makes something different from the same lists.
LAYOUT=3
CACHE=${HARDEN_LAB_CACHE:-/var/cache/harden-lab}
KEY=$(printf '%s\n' "$SUITE" "${CLOUD_PACKAGES[*]}" "${REPO_PACKAGES[*]}" "${DOCKER_PACKAGES[*]}" "${ABSENT[*]}" "layout $LAYOUT" | sha256sum | cut -c1-12)
DIR=$CACHE/systemd/$RELEASE-$KEY
STAMP=$DIR/.done

# shellcheck source=../debian-mirror.sh
. "$(dirname "$0")/../debian-mirror.sh"

mkdir -p "$CACHE/systemd"
exec 9>"$DIR.lock"
flock 9                                       # a concurrent build of the same folder waits, then reuses
if [ -f "$STAMP" ]; then echo "build-release: reusing $DIR ($(cat "$STAMP"))" >&2; echo "$DIR"; exit 0; fi
MIRROR=$(mirror)
[ -n "$MIRROR" ] || die "no Debian mirror found in apt's sources; set HARDEN_LAB_MIRROR"
if [ -e "$DIR" ]; then
  grep -qF " $DIR/" /proc/self/mountinfo && die "mounts still active under $DIR; unmount them first"
  rm -rf --one-file-system "$DIR"
fi
mkdir -p "$DIR"
LOG=$DIR.log
: >"$LOG"
echo "build-release: $RELEASE ($SUITE) from $MIRROR into $DIR (log: $LOG)" >&2
t0=$(date +%s)

# Runs "$@" in root $1 with proc/sys/dev mounted in a private mount namespace (never left behind) and,
# when $REPO_MOUNT is set, the repo folder at /srv/lab-repo.
in_root() {
  local R=$1; shift
  unshare --mount --propagation private /bin/bash -euo pipefail -c '
    R=$1; shift
    mount -t proc proc "$R/proc"; mount -t sysfs sysfs "$R/sys"
    mount --bind /dev "$R/dev"; mount --bind /dev/pts "$R/dev/pts"
    if [ -n "${REPO_MOUNT:-}" ]; then mkdir -p "$R/srv/lab-repo"; mount --bind "$REPO_MOUNT" "$R/srv/lab-repo"; fi
    chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"
  ' in_root "$R" "$@" >>"$LOG" 2>&1 || { tail -n 30 "$LOG" >&2; die "failed in $R: $* (log: $LOG)"; }
}

S=$DIR/stock.tmp
unshare --mount --propagation private debootstrap --variant=minbase \
  --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$S" "$MIRROR" >>"$LOG" 2>&1 \
  || { tail -n 30 "$LOG" >&2; die "debootstrap failed (log: $LOG)"; }
t1=$(date +%s)
# Postinst scripts must start no daemon during the build: without systemd in the chroot, invoke-rc.d
# would run init scripts in this machine's namespaces. Removed at the end (real servers have none).
printf '#!/bin/sh\nexit 101\n' >"$S/usr/sbin/policy-rc.d"; chmod 0755 "$S/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$S/etc/resolv.conf"
in_root "$S" apt-get update -qq
in_root "$S" apt-get install -y -qq --no-install-recommends "${CLOUD_PACKAGES[@]}"
if chroot "$S" apt-cache show systemd-networkd >/dev/null 2>&1; then
  in_root "$S" apt-get install -y -qq --no-install-recommends systemd-networkd   # split out in 13
fi
t2=$(date +%s)

# The repository: download (only) what installing every plan package would fetch on the stock root.
D=$DIR/repo.tmp
mkdir -p "$D/debs"
REPO_MOUNT=$D/debs in_root "$S" apt-get install -y -qq -d -o Dir::Cache::archives=/srv/lab-repo "${REPO_PACKAGES[@]}"
REPO_MOUNT=$D/debs in_root "$S" apt-get install -y -qq -d -o Dir::Cache::archives=/srv/lab-repo "${DOCKER_PACKAGES[@]}"
rm -rf "$D/debs/partial" "$D/debs/lock"
( cd "$D" && dpkg-scanpackages -m debs /dev/null >Packages 2>>"$LOG" && gzip -9nk Packages )
{
  echo "Origin: harden-lab"; echo "Label: harden-lab $RELEASE"; echo "Suite: $SUITE"; echo "Codename: $SUITE"
  echo "Date: $(LC_ALL=C date -u -R)"
  echo "SHA256:"
  for f in Packages Packages.gz; do printf ' %s %s %s\n' "$(sha256sum <"$D/$f" | cut -d' ' -f1)" "$(stat -c %s "$D/$f")" "$f"; done
} >"$D/Release"
t3=$(date +%s)

for p in "${ABSENT[@]}"; do
  if chroot "$S" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then die "$p is installed in the stock root"; fi
done
# How a lab host's apt reaches only the lab's repository (the lab serves it at this name, see README).
set_sources() {
  rm -f "$1/etc/apt/sources.list.d/"*.sources "$1/etc/apt/sources.list.d/"*.list
  echo "deb [trusted=yes] http://harden-lab-repo/$RELEASE ./" >"$1/etc/apt/sources.list"
}
finish_root() {
  local R=$1
  in_root "$R" apt-get clean
  rm -rf "$R/var/lib/apt/lists/"* "$R/srv/lab-repo"
  set_sources "$R"
  : >"$R/etc/resolv.conf"                       # no nameserver: nothing is resolved outside the lab
  printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >"$R/etc/hosts"
  : >"$R/etc/machine-id"                        # each machine gets its own
  rm -f "$R/etc/ssh/ssh_host_"* "$R/var/lib/dbus/machine-id"
  ln -sf /etc/machine-id "$R/var/lib/dbus/machine-id" 2>/dev/null || true
  chroot "$R" systemctl enable systemd-networkd.service >>"$LOG" 2>&1
  rm -f "$R/usr/sbin/policy-rc.d"
}

# The fail2ban kind: Debian's package from the lab repo, as `apt-get install fail2ban` leaves it (with
# recommends, enabled by its postinst; Debian 12's then fails to start for want of /var/log/auth.log).
F=$DIR/fail2ban.tmp
cp -a "$S" "$F"
echo "deb [trusted=yes] file:///srv/lab-repo ./" >"$F/etc/apt/sources.list"
rm -f "$F/etc/apt/sources.list.d/"*
rm -rf "$F/var/lib/apt/lists/"*
REPO_MOUNT=$D in_root "$F" apt-get update -qq
REPO_MOUNT=$D in_root "$F" apt-get install -y -qq fail2ban
[ -e "$F/etc/systemd/system/multi-user.target.wants/fail2ban.service" ] || die "fail2ban is not enabled in the fail2ban root"
finish_root "$F"

# The docker kind: Debian's docker.io as `apt-get install docker.io` leaves it (recommends included; its
# postinst enables docker.service and containerd.service, so they start on every boot).
K=$DIR/docker.tmp
cp -a "$S" "$K"
echo "deb [trusted=yes] file:///srv/lab-repo ./" >"$K/etc/apt/sources.list"
rm -rf "$K/var/lib/apt/lists/"*
REPO_MOUNT=$D in_root "$K" apt-get update -qq
REPO_MOUNT=$D in_root "$K" apt-get install -y -qq "${DOCKER_PACKAGES[@]}"
[ -e "$K/etc/systemd/system/multi-user.target.wants/docker.service" ] || die "docker.service is not enabled in the docker root"
finish_root "$K"
finish_root "$S"
t4=$(date +%s)

mv "$D" "$DIR/repo"; mv "$S" "$DIR/stock"; mv "$F" "$DIR/fail2ban"; mv "$K" "$DIR/docker"
OPENSSH=$(chroot "$DIR/stock" dpkg-query -W -f='${Version}' openssh-server)
DOCKER=$(chroot "$DIR/docker" dpkg-query -W -f='${Version}' docker.io)
SYSTEMD=$(chroot "$DIR/stock" dpkg-query -W -f='${Version}' systemd)
echo "release=$RELEASE suite=$SUITE mirror=$MIRROR systemd=$SYSTEMD openssh=$OPENSSH docker=$DOCKER debs=$(ls "$DIR/repo/debs" | wc -l) debootstrap=$((t1 - t0))s cloud=$((t2 - t1))s repo=$((t3 - t2))s fail2ban+docker=$((t4 - t3))s total=$((t4 - t0))s" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
echo "build-release: done: $(cat "$STAMP")" >&2
echo "$DIR"
