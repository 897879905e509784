# ---- harden unit functions ----
# One run at a time per host; the watchdog must not inherit this descriptor.
begin_unit() {
  mkdir -p "$STATE" && chmod 0700 "$STATE" || die "cannot create $STATE"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE/lock"
    flock -w 30 9 || die "another harden run holds $STATE/lock"
  fi
  STAGE=$(mktemp -d "$STATE/stage.XXXXXX") || die "cannot create a staging directory"
  # Any failure from here on, of this unit or before it in this apply, rolls back the WHOLE open
  # transaction at once, newest unit first. (Subshells reset the trap: verify's drift check is safe.)
  trap 'rc=$?; rm -rf "$STAGE"; [ "$rc" = 0 ] || abort_txn' EXIT
  MANIFEST=$STAGE/.manifest
  PERMS=$STAGE/.perms
  : > "$MANIFEST"; : > "$PERMS"
  BACKUP=$TXN/$UNIT
  CHANGED=""
}
abort_txn() {
  [ -f "$TXN/armed" ] && [ -f "$STATE/rollback.sh" ] || return 0
  say "rolling back every unit of this apply:" $(sed -n '1!G;h;$p' "$TXN/units") >&2
  sh "$STATE/rollback.sh" now "$UNIT failed"
}
# "@primary" stands for the owner's primary group, which only the host knows. "@crontab": the group
# crontab reads cron.allow with, or root on a host without cron (see stage).
resolve_group() {
  case $2 in
    @primary) id -gn "$1" ;;
    @crontab) if getent group crontab >/dev/null 2>&1; then echo crontab; else echo root; fi ;;
    *) printf '%s\n' "$2" ;;
  esac
}
mode_of() { stat -c '%a %U %G' "$1" 2>/dev/null; }
# stage PATH MODE OWNER GROUP < content
stage() {
  id -u "$3" >/dev/null 2>&1 || die "$1: owner $3 does not exist on this host; nothing was changed"
  grp=$(resolve_group "$3" "$4") || die "$1: group of $3 unknown; nothing was changed"
  mode=$2
  # No crontab group (cron not installed): world-readable, so that the setgid crontab of a later
  # install can read it at once; it only lists user names, which /etc/passwd shows anyway.
  [ "$4" = @crontab ] && [ "$grp" = root ] && mode=644
  mkdir -p "$STAGE$(dirname "$1")"
  cat > "$STAGE$1"
  chmod "$mode" "$STAGE$1"
  printf '%s\t%s\t%s\t%s\n' "$1" "$mode" "$3" "$grp" >> "$MANIFEST"
  if [ ! -f "$1" ] || ! cmp -s "$STAGE$1" "$1" || [ "$(mode_of "$1")" != "$mode $3 $grp" ]; then
    CHANGED="$CHANGED $1"
  fi
}
# want_perm PATH MODE OWNER GROUP: mode and ownership of a path whose content is not ours
want_perm() {
  [ -e "$1" ] || return 0
  if [ "$(mode_of "$1")" != "$2 $3 $4" ]; then
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$PERMS"
    CHANGED="$CHANGED $1"
  fi
}
need_payload() {
  [ -f "$1" ] && printf '%s  %s\n' "$2" "$1" | sha256sum -c --status ||
    die "payload $1 is missing or corrupt (the upload must run first); nothing was changed"
}
# The first backup in an open transaction wins: it is the state before the whole apply.
backup_live() {
  [ -f "$BACKUP/.complete" ] && return 0
  rm -rf "$BACKUP" && mkdir -p "$BACKUP/files" || return 1
  : > "$BACKUP/absent"; : > "$BACKUP/perms"
  while IFS="$(printf '\t')" read -r path mode owner grp; do
    if [ -e "$path" ]; then
      mkdir -p "$BACKUP/files$(dirname "$path")" && cp -p "$path" "$BACKUP/files$path" || return 1
    else
      printf '%s\n' "$path" >> "$BACKUP/absent"
    fi
  done < "$MANIFEST"
  while IFS="$(printf '\t')" read -r path mode owner grp; do
    printf '%s\t%s\n' "$path" "$(stat -c '%a %u %g' "$path")" >> "$BACKUP/perms"
  done < "$PERMS"
}
write_restore() {
  [ -f "$BACKUP/.complete" ] && { cat > /dev/null; return 0; }
  cat > "$BACKUP/restore.sh" && : > "$BACKUP/.complete"
}
arm_rollback() {
  grep -qx "$UNIT" "$TXN/units" 2>/dev/null || printf '%s\n' "$UNIT" >> "$TXN/units"
  echo $(( $(date +%s) + ROLLBACK_SECONDS )) > "$TXN/deadline"
  cat > "$STATE/rollback.sh.new" <<'HARDEN_ROLLBACK_EOF' && mv -f "$STATE/rollback.sh.new" "$STATE/rollback.sh"
{{> rollback}}HARDEN_ROLLBACK_EOF
  : > "$TXN/armed"
  if has_systemd && command -v systemd-run >/dev/null 2>&1; then
    arm_systemd || return 1
  elif ! watchdog_alive; then
    cat > "$STATE/watchdog.sh" <<'HARDEN_WATCHDOG_EOF'
{{> watchdog}}HARDEN_WATCHDOG_EOF
    if command -v setsid >/dev/null 2>&1; then
      setsid sh "$STATE/watchdog.sh" </dev/null >/dev/null 2>&1 9>&- &
    else
      nohup sh "$STATE/watchdog.sh" </dev/null >/dev/null 2>&1 9>&- &
    fi
  fi
  # the transaction, its backups and the rollback are on disk before anything is activated
  sync
  say "rollback armed: restores in ${ROLLBACK_SECONDS}s unless a new login confirms"
}
# systemd: a transient timer in the system manager (no session, logind or ssh.service restart can end
# it), re-created with the new deadline by every unit; and a boot-time unit for a reboot before confirm.
arm_systemd() {
  cat > "$STAGE/.boot-unit" <<'HARDEN_BOOT_UNIT_EOF'
{{> rollbackBoot}}HARDEN_BOOT_UNIT_EOF
  if ! cmp -s "$STAGE/.boot-unit" "$BOOT_UNIT"; then
    cp "$STAGE/.boot-unit" "$BOOT_UNIT.harden-tmp" && mv -f "$BOOT_UNIT.harden-tmp" "$BOOT_UNIT" &&
      systemctl daemon-reload && systemctl enable harden-rollback-boot.service >/dev/null 2>&1 ||
      { say "cannot install $BOOT_UNIT"; return 1; }
  fi
  systemctl stop 'harden-rollback*.timer' >/dev/null 2>&1
  systemctl reset-failed 'harden-rollback*' >/dev/null 2>&1
  out=$(systemd-run --quiet --unit="harden-rollback-$(date +%s)-$$" --on-active="${ROLLBACK_SECONDS}s" \
    --timer-property=AccuracySec=1s --description="harden: roll back unless confirmed" \
    /bin/sh "$STATE/rollback.sh" timer 2>&1) || { say "cannot start the rollback timer: $out"; return 1; }
}
install_staged() {
  while IFS="$(printf '\t')" read -r path mode owner grp; do
    mkdir -p "$(dirname "$path")" &&
      cp "$STAGE$path" "$path.harden-tmp" &&
      chown "$owner:$grp" "$path.harden-tmp" && chmod "$mode" "$path.harden-tmp" &&
      mv -f "$path.harden-tmp" "$path" || return 1
  done < "$MANIFEST"
  while IFS="$(printf '\t')" read -r path mode owner grp; do
    chown "$owner:$grp" "$path" && chmod "$mode" "$path" || return 1
  done < "$PERMS"
}
