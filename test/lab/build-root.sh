#!/bin/bash
# build-root.sh ROOT DIR - build a lower root filesystem for lab hosts (needs root, network to Debian's archive).
#   ROOT: debian-13 (trixie). debian-12 needs no build: the lab uses this machine's own / for it.
# Reused when DIR/.harden-root exists (written last, so a killed build is never mistaken for a finished one).
# Concurrent builds of the same DIR wait on DIR.lock. Env: HARDEN_LAB_MIRROR overrides the Debian mirror.
set -euo pipefail

die() { echo "build-root: $*" >&2; exit 1; }
[ $# -eq 2 ] || die "usage: build-root.sh debian-13 DIR"
ROOT_ID=$1 DIR=$(readlink -m "$2")
case $ROOT_ID in
  debian-13) SUITE=trixie ;;
  *) die "unknown root '$ROOT_ID' (known: debian-13)" ;;
esac
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot)"
command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
STAMP=$DIR/.harden-root

# What every lab host needs, on top of minbase. Installed after debootstrap: passing them to --include
# fails (systemd's pre-depends ordering). sudo/at/python3/lynis/nc: tools the scenario tests use inside hosts.
PACKAGES=(openssh-server openssh-client nftables iptables ipset fail2ban python3-pyinotify cron rsyslog
          procps iproute2 netcat-openbsd python3 sudo at lynis less)

# shellcheck source=debian-mirror.sh
. "$(dirname "$0")/debian-mirror.sh"

mkdir -p "$(dirname "$DIR")"
exec 9>"$DIR.lock"
flock 9                                            # a second build of the same DIR waits, then reuses
if [ -f "$STAMP" ]; then echo "build-root: reusing $DIR ($(cat "$STAMP"))"; exit 0; fi

MIRROR=$(mirror)
[ -n "$MIRROR" ] || die "no Debian mirror found in /etc/apt/sources.list(.d); set HARDEN_LAB_MIRROR"
echo "build-root: $ROOT_ID ($SUITE) from $MIRROR into $DIR"

# A leftover of a killed build: never rm -rf across a mount (a bound /dev would lose the real nodes).
if [ -e "$DIR" ]; then
  if grep -qF " $(readlink -f "$DIR")/" /proc/self/mountinfo; then die "mounts still active under $DIR; unmount them first"; fi
  rm -rf --one-file-system "$DIR"
fi
mkdir -p "$DIR"

t0=$(date +%s)
# debootstrap mounts proc/sys inside the target itself; in a private mount namespace those mounts can
# never be left behind in the machine's mount table by a killed build.
unshare --mount --propagation private debootstrap --variant=minbase --keyring=/usr/share/keyrings/debian-archive-keyring.gpg "$SUITE" "$DIR" "$MIRROR" \
  >"$DIR.debootstrap.log" 2>&1 || { tail -n 30 "$DIR.debootstrap.log" >&2; die "debootstrap failed (log: $DIR.debootstrap.log)"; }
t1=$(date +%s)

# Postinst scripts must start no daemon (there is no init in the chroot, and a started sshd would run in
# this machine's namespaces).
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 0755 "$DIR/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$DIR/etc/resolv.conf" 2>/dev/null || true

# The chroot mounts live in a private mount namespace: even if this script is killed they vanish with it
# and never show up in (or leak into) the machine's mount table; the explicit umounts are for tidiness.
unshare --mount --propagation private /bin/bash -euo pipefail -c '
  R=$1; shift
  mount -t proc proc "$R/proc"
  mount -t sysfs sysfs "$R/sys"
  mount --bind /dev "$R/dev"
  mount --bind /dev/pts "$R/dev/pts"
  in_root() { chroot "$R" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
  in_root apt-get update -qq
  in_root apt-get install -y -qq --no-install-recommends "$@"
  in_root apt-get clean
  umount "$R/dev/pts" "$R/dev" "$R/sys" "$R/proc"
' build-root "$DIR" "${PACKAGES[@]}" >"$DIR.apt.log" 2>&1 || { tail -n 30 "$DIR.apt.log" >&2; die "package install failed (log: $DIR.apt.log)"; }
t2=$(date +%s)

rm -rf "$DIR/var/lib/apt/lists/"*                 # smaller root; hosts never run apt against the network
: >"$DIR/etc/resolv.conf"
rm -f "$DIR/etc/ssh/ssh_host_"*                    # each lab host gets its own keys anyway

OPENSSH=$(chroot "$DIR" dpkg-query -W -f='${Version}' openssh-server)
echo "suite=$SUITE mirror=$MIRROR openssh=$OPENSSH debootstrap=$((t1 - t0))s install=$((t2 - t1))s" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"                           # written last: the root is complete
echo "build-root: done in $((t2 - t0))s ($(cat "$STAMP"))"
