#!/bin/bash
# fetch-nspawn.sh - puts systemd-nspawn from Debian's systemd-container, the version of this machine's
# libsystemd-shared (the binary links it), into the lab cache without installing anything on the machine:
# apt-get download + dpkg-deb -x. Prints the binary's path on its last line. Cache: $HARDEN_LAB_CACHE
# (default /var/cache/harden-lab)/systemd/nspawn-VERSION, complete when its .done exists.
set -euo pipefail
die() { echo "fetch-nspawn: $*" >&2; exit 1; }
VERSION=$(dpkg-query -W -f='${Version}' libsystemd-shared 2>/dev/null) || die "libsystemd-shared is not installed: this machine has no systemd to match"
CACHE=${HARDEN_LAB_CACHE:-/var/cache/harden-lab}
DIR=$CACHE/systemd/nspawn-$VERSION
BIN=$DIR/usr/bin/systemd-nspawn
mkdir -p "$CACHE/systemd"
exec 9>"$DIR.lock"
flock 9
if [ ! -f "$DIR/.done" ]; then
  rm -rf "$DIR" "$DIR.tmp"
  mkdir -p "$DIR.tmp"
  chmod 0755 "$DIR.tmp"
  ( cd "$DIR.tmp" && apt-get download -q "systemd-container=$VERSION" >&2 ) \
    || die "apt-get download systemd-container=$VERSION failed (run apt-get update?)"
  set -- "$DIR.tmp"/systemd-container_*.deb
  [ -f "$1" ] || die "apt-get download systemd-container=$VERSION left no .deb (is $(command -v apt-get) Debian's apt-get?)"
  dpkg-deb -x "$1" "$DIR.tmp"
  rm -f "$DIR.tmp"/*.deb
  [ -x "$DIR.tmp/usr/bin/systemd-nspawn" ] || die "no usr/bin/systemd-nspawn in systemd-container $VERSION"
  mv "$DIR.tmp" "$DIR"
  echo "systemd-container=$VERSION" >"$DIR/.done"
fi
"$BIN" --version >/dev/null || die "$BIN does not run: $("$BIN" --version 2>&1 | head -n 3)"
echo "$BIN"
