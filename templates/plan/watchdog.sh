#!/bin/sh
# harden rollback watchdog, for hosts without systemd: runs detached so it outlives the SSH session
# that armed it. Once the deadline passes (units re-arm it), the transaction is rolled back.
STATE=/var/lib/harden
TXN=$STATE/txn
echo $$ > "$TXN/watchdog.pid"
while [ -f "$TXN/armed" ]; do
  [ "$(date +%s)" -ge "$(cat "$TXN/deadline" 2>/dev/null || echo 0)" ] && sh "$STATE/rollback.sh" timer
  sleep 1
done
