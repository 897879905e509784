#!/bin/bash
# machine.sh NAME HOSTDIR LOWER SWITCH_NS NSPAWN CGROUP_DIRS [NSPAWN_OPTION...] - boots one systemd lab machine, again and again:
# every boot is a fresh systemd-nspawn (so a fresh network namespace, and with it a fresh firewall) over
# the same overlay upper dir, like a server that reboots with its disk.
#   after a boot ends: HOSTDIR/halt exists -> stop; exit 133 (`systemctl reboot` inside) or HOSTDIR/again
#   (a power cycle asked by the lab) -> boot again; anything else -> stop.
# stdin is the lease pipe from the test process: at EOF (the test process died) the machine is killed.
# Events for the lab go to HOSTDIR/events: "boot N PID" (PID: the nspawn process) and "exit N CODE".
set -u
NAME=$1 HD=$2 LOWER=$3 SW=$4 NSPAWN=$5 CGROUPS=$6   # CGROUPS: space-separated cgroup dirs of this machine
shift 6                                              # "$@": extra nspawn options of this machine's kind
exec 3<&0 </dev/null
cat <&3 >/dev/null &
LEASE=$!
boot=0
kill_machine() { for cg in $CGROUPS; do [ -e "$cg/cgroup.kill" ] && echo 1 >"$cg/cgroup.kill"; done; }
while :; do
  boot=$((boot + 1))
  rm -f "$HD/again"
  ip -n "$SW" link del "vb-${NAME:0:11}" 2>/dev/null   # a killed boot's veth may linger for a while
  (
    for cg in $CGROUPS; do echo "$BASHPID" >"$cg/cgroup.procs" || exit 90; done
    # A private mount namespace with a tmpfs on /run/systemd: nspawn's own bookkeeping there, and the
    # overlay, vanish with it. nsenter, not ip netns exec (its fresh /sys would hide the cgroup mounts):
    # the bridge of --network-bridge lives in the switch netns.
    exec nsenter --net="/run/netns/$SW" unshare --mount --propagation private /bin/sh -c '
      set -e
      [ -d /run/systemd ] || mkdir -p /run/systemd
      mount -t tmpfs -o mode=0755 lab-run /run/systemd
      mount -t overlay overlay -o "lowerdir=$2,upperdir=$1/upper,workdir=$1/work" "$1/merged"
      export SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1
      HD=$1 NSPAWN=$3 NAME=$4; shift 4
      exec "$NSPAWN" --quiet --register=no --keep-unit --boot --directory="$HD/merged" --machine="$NAME" \
        --network-bridge=br0 --link-journal=no --resolv-conf=off --timezone=off --console=read-only \
        --kill-signal=SIGRTMIN+3 "$@"
    ' machine "$HD" "$LOWER" "$NSPAWN" "$NAME" "$@"
  ) >>"$HD/console.log" 2>&1 &
  pid=$!
  echo "boot $boot $pid" >>"$HD/events"
  fin=
  wait -n -p fin "$pid" "$LEASE"; rc=$?
  if [ "$fin" != "$pid" ]; then            # the lease ended: the test process is gone
    touch "$HD/halt"; kill_machine
    wait "$pid"; echo "exit $boot lease" >>"$HD/events"; exit 0
  fi
  echo "exit $boot $rc" >>"$HD/events"
  [ -e "$HD/halt" ] && break
  [ "$rc" = 133 ] || [ -e "$HD/again" ] || break
done
kill "$LEASE" 2>/dev/null
exit 0
