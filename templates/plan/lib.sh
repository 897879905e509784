# ---- harden common functions (identical in every script) ----
STATE=/var/lib/harden
TXN=$STATE/txn
BOOT_UNIT=/etc/systemd/system/harden-rollback-boot.service
say() { printf '%s: %s\n' "$UNIT" "$*"; }
die() { printf '%s: FAILED: %s\n' "$UNIT" "$*" >&2; exit 1; }
has_systemd() { [ -d /run/systemd/system ]; }
# systemctl when systemd runs the host, else the init script; the caller falls back further (signals).
service_reload() {
  if has_systemd; then systemctl reload "$1"
  elif command -v service >/dev/null 2>&1; then service "$1" reload
  else return 1; fi
}
service_restart() {
  if has_systemd; then systemctl restart "$1"
  elif command -v service >/dev/null 2>&1; then service "$1" restart
  else return 1; fi
}
# Refuse to touch a host that is not what the policy says it is, or a login without root.
preflight() {
  want_id=$1 want_ver=$2
  [ "$(id -u)" = 0 ] || die "must run as root (the plan uses sudo -n for other users); nothing was changed"
  [ -r /etc/os-release ] || die "/etc/os-release is missing, cannot check the declared os; nothing was changed"
  have_id=$(. /etc/os-release && printf '%s' "${ID:-unknown}")
  have_ver=$(. /etc/os-release && printf '%s' "${VERSION_ID:-unknown}")
  case "$have_ver" in "$want_ver"|"$want_ver".*) ver_ok=1 ;; *) ver_ok=0 ;; esac
  [ "$have_id" = "$want_id" ] && [ "$ver_ok" = 1 ] ||
    die "host runs $have_id $have_ver but the policy declares $want_id-$want_ver; nothing was changed"
}
need_commands() {
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "required command not found: $tool (the packages step installs what the policy needs)"
  done
}
watchdog_alive() {
  [ -f "$TXN/watchdog.pid" ] || return 1
  wpid=$(cat "$TXN/watchdog.pid" 2>/dev/null) || return 1
  [ -n "$wpid" ] && kill -0 "$wpid" 2>/dev/null && grep -q watchdog "/proc/$wpid/cmdline" 2>/dev/null
}
# Used by restore.sh: files back as they were, new ones removed, permissions back.
restore_files() {
  [ -d "$BACKUP/files" ] && (cd "$BACKUP/files" && find . -type f) | while read -r rel; do
    path=${rel#.}
    cp -p "$BACKUP/files$path" "$path.harden-tmp" && mv -f "$path.harden-tmp" "$path"
  done
  [ -f "$BACKUP/absent" ] && while read -r path; do rm -f "$path"; done < "$BACKUP/absent"
  [ -f "$BACKUP/perms" ] && while IFS="$(printf '\t')" read -r path perm; do
    set -- $perm
    chmod "$1" "$path"; chown "$2:$3" "$path"
  done < "$BACKUP/perms"
  return 0
}
