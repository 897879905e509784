#!/bin/bash
# Stage 1 of a lab host, run by lab.ts as PID 1 of a fresh PID namespace inside a private mount, UTS and
# IPC namespace and the host's netns:  host-init.sh NAME HOSTDIR LOWER "SERVICES" "MASKS"
# Builds the host's root (overlayfs: LOWER read-only, HOSTDIR/upper takes every write), pivots into it and
# execs hl-init (host-pid1.sh, seeded into the upper dir by lab.ts) as the host's PID 1.
set -euo pipefail
NAME=$1 HD=$2 LOWER=$3 SVCS=$4 MASKS=$5
trap 'echo "HL-FAIL stage1 line $LINENO: $BASH_COMMAND"' ERR
R=$HD/merged
mount -t overlay overlay -o "lowerdir=$LOWER,upperdir=$HD/upper,workdir=$HD/work" "$R"
mount -t proc proc "$R/proc"                       # this PID namespace's processes only
mount -t sysfs sysfs "$R/sys"                      # shows this netns's interfaces
mount -t tmpfs -o mode=0755,size=64m tmpfs "$R/run"
mount -t tmpfs -o mode=1777,size=256m tmpfs "$R/tmp"
# Hide the machine's private dirs (and the repo checkout, which holds the lab's own state) behind empty
# tmpfs: with the live / as lower layer a host would otherwise see them.
for d in /root $MASKS; do
  [ -d "$R$d" ] || continue
  mode=0755; [ "$d" = /root ] && mode=0700
  mount -t tmpfs -o "mode=$mode,size=64m" tmpfs "$R$d"
done
mkdir -p -m 0700 "$R/root/.ssh"
install -m 0600 "$HD/authorized_keys" "$R/root/.ssh/authorized_keys"
cp -a "$R/etc/skel/." "$R/root/" 2>/dev/null || true
# A minimal /dev: the machine's real device nodes are bound one by one, never the whole /dev.
mount -t tmpfs -o mode=0755,size=1m tmpfs "$R/dev"
for d in null zero full random urandom tty; do touch "$R/dev/$d"; mount --bind "/dev/$d" "$R/dev/$d"; done
mkdir -p "$R/dev/pts" "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o mode=1777 tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"; ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"; ln -s /proc/self/fd/2 "$R/dev/stderr"
cd "$R"
pivot_root . .                                     # new root stacked on the old one at "/"
umount -l .                                        # ... which is then detached: the machine's / is gone
cd /
exec /usr/local/sbin/hl-init "$NAME" "$SVCS"
