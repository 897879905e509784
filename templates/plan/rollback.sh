#!/bin/sh
# harden rollback: restores every unit of the open transaction, newest first.
#   rollback.sh timer         the deadline passed without a confirmed login (systemd timer or watchdog)
#   rollback.sh boot          the host booted with the transaction still open (harden-rollback-boot.service)
#   rollback.sh now REASON    a unit of this apply failed
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
STATE=/var/lib/harden
TXN=$STATE/txn
mode=${1:-timer}
[ -f "$TXN/armed" ] || exit 0
case $mode in
  timer)
    [ "$(date +%s)" -ge "$(cat "$TXN/deadline" 2>/dev/null || echo 0)" ] || exit 0
    reason="no confirmed login before the deadline" dest=rolled-back ;;
  boot)
    # services start after this one and read the restored files; nothing is reloaded now
    HARDEN_BOOT=1; export HARDEN_BOOT
    reason="the host booted before the apply was confirmed" dest=rolled-back ;;
  *) reason=${2:-a unit failed} dest=aborted ;;
esac
# confirm and the rollback race for this directory; whoever makes it decides the transaction's fate
mkdir "$TXN/decided" 2>/dev/null || exit 0
units=$(sed -n '1!G;h;$p' "$TXN/units")
{
  echo "rollback at $(date -u +%Y-%m-%dT%H:%M:%SZ): $reason"
  for u in $units; do echo "restoring $u"; sh "$TXN/$u/restore.sh"; done
} > "$TXN/rollback.log" 2>&1
rm -f "$TXN/armed" "$TXN/watchdog.pid"
rm -rf "${STATE:?}/$dest"
mv "$TXN" "$STATE/$dest"
sync
logger -t harden "rolled back units: $(echo $units) ($reason)" 2>/dev/null || true
[ "$mode" != boot ] || cat "$STATE/$dest/rollback.log"
if [ "$mode" = now ]; then
  cat "$STATE/$dest/rollback.log" >&2
  # the timer of this transaction has nothing left to do
  if [ -d /run/systemd/system ]; then systemctl stop 'harden-rollback*.timer' >/dev/null 2>&1 || :; fi
fi
exit 0
