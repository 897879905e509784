#!/bin/bash
# engine-layer.sh ROOTDIR LAYERDIR PACKAGE... - a cached overlay layer with a container engine from Debian
# (docker.io, podman) on top of a lab root (the root itself is shared and never changed): the upper dir of
# an overlay over ROOTDIR in which apt installed PACKAGEs. Its identity is the root's stamp plus the package list; a layer built for
# another root or list is rebuilt beside nothing else. Concurrent builds of one LAYERDIR wait on its lock.
set -euo pipefail
die() { echo "engine-layer: $*" >&2; exit 1; }
[ $# -ge 3 ] || die "usage: engine-layer.sh ROOTDIR LAYERDIR PACKAGE..."
ROOT=$(readlink -m "$1") LAYER=$(readlink -m "$2")
shift 2
PACKAGES=("$@")
[ -f "$ROOT/.harden-root" ] || die "$ROOT is not a finished lab root"
ID="root=$(cat "$ROOT/.harden-root") packages=${PACKAGES[*]}"
STAMP=$LAYER/.harden-layer

mkdir -p "$(dirname "$LAYER")"
exec 9>"$LAYER.lock"
flock 9
if [ -f "$STAMP" ] && [ "$(head -n 1 "$STAMP")" = "$ID" ]; then exit 0; fi
if [ -e "$LAYER" ]; then
  if grep -qF " $LAYER/" /proc/self/mountinfo; then die "mounts still active under $LAYER"; fi
  rm -rf --one-file-system "$LAYER"
fi
mkdir -p "$LAYER/upper" "$LAYER/work" "$LAYER/merged"

t0=$(date +%s)
# Everything mounted here lives in a private mount namespace and vanishes with it. The root ships a
# policy-rc.d exiting 101, so no postinst starts a daemon.
unshare --mount --propagation private /bin/bash -euo pipefail -c '
  ROOT=$1 LAYER=$2; shift 2
  M=$LAYER/merged
  mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$LAYER/upper,workdir=$LAYER/work" "$M"
  mount -t proc proc "$M/proc"
  mount --bind /dev "$M/dev"
  mount -t tmpfs tmpfs "$M/tmp"
  cp /etc/resolv.conf "$M/etc/resolv.conf"
  in_root() { chroot "$M" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }
  in_root apt-get update -qq
  in_root apt-get install -y -qq --no-install-recommends "$@"
  in_root apt-get clean
  rm -rf "$M/var/lib/apt/lists/"*
  : > "$M/etc/resolv.conf"
  umount "$M/tmp" "$M/dev" "$M/proc" "$M"
' engine-layer "$ROOT" "$LAYER" "${PACKAGES[@]}" >"$LAYER.apt.log" 2>&1 \
  || { tail -n 30 "$LAYER.apt.log" >&2; die "package install failed (log: $LAYER.apt.log)"; }
rm -rf "$LAYER/work" "$LAYER/merged"
printf '%s\ninstalled in %ss\n' "$ID" "$(($(date +%s) - t0))" >"$STAMP.tmp"
mv "$STAMP.tmp" "$STAMP"
echo "engine-layer: done ($(tail -n 1 "$STAMP"))"
