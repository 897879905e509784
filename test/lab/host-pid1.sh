#!/bin/bash
# PID 1 of a lab host (installed as /usr/local/sbin/hl-init): name the host, start its services, wait.
# When this process exits the kernel kills every process of the host's PID namespace, which ends the host.
# It exits on TERM (lab teardown) or when its stdin reaches EOF: stdin is a pipe from the lab process, a
# lease that ends with that process however it ends (even SIGKILL), so no host outlives its test run.
set -uo pipefail
NAME=$1 SVCS=$2
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C
hostname "$NAME"
echo "$NAME" >/etc/hostname
printf '127.0.0.1\tlocalhost\n127.0.1.1\t%s\n::1\tlocalhost ip6-localhost ip6-loopback\n' "$NAME" >/etc/hosts
: >/run/utmp
# Like a real server, not a build chroot: no policy-rc.d (Debian 12's image and our Debian 13 root carry one
# that exits 101), or invoke-rc.d would silently skip every reload a unit script asks for. This removes it
# in the host's overlay only.
rm -f /usr/sbin/policy-rc.d
ms() { t=$(date +%s%N); echo $((t / 1000000)); }
for s in $SVCS; do
  t0=$(ms)
  hl-service start "$s" || { echo "HL-FAIL service $s did not start"; exit 1; }
  echo "HL-TIME $s $(($(ms) - t0)) ms"              # where host-up time goes (see console())
done
trap 'exit 0' TERM INT
echo "HL-READY"
while read -r _; do :; done
exit 0
