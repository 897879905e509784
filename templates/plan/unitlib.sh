# ---- harden unit functions ----
# One run at a time per host; the watchdog must not inherit this descriptor.
begin_unit() {
  mkdir -p "$STATE" && chmod 0700 "$STATE" || die "cannot create $STATE"
  if command -v flock >/dev/null 2>&1; then
    exec 9>"$STATE/lock"
    flock -w 30 9 || die "another harden run holds $STATE/lock"
  fi
  STAGE=$(mktemp -d "$STATE/stage.XXXXXX") || die "cannot create a staging directory"
  trap 'rm -rf "$STAGE"' EXIT
  MANIFEST=$STAGE/.manifest
  PERMS=$STAGE/.perms
  : > "$MANIFEST"; : > "$PERMS"
  BACKUP=$TXN/$UNIT
  CHANGED=""
}
# "@primary" stands for the owner's primary group, which only the host knows.
resolve_group() {
  if [ "$2" = "@primary" ]; then id -gn "$1"; else printf '%s\n' "$2"; fi
}
mode_of() { stat -c '%a %U %G' "$1" 2>/dev/null; }
# stage PATH MODE OWNER GROUP < content
stage() {
  id -u "$3" >/dev/null 2>&1 || die "$1: owner $3 does not exist on this host; nothing was changed"
  grp=$(resolve_group "$3" "$4") || die "$1: group of $3 unknown; nothing was changed"
  mkdir -p "$STAGE$(dirname "$1")"
  cat > "$STAGE$1"
  chmod "$2" "$STAGE$1"
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$grp" >> "$MANIFEST"
  if [ ! -f "$1" ] || ! cmp -s "$STAGE$1" "$1" || [ "$(mode_of "$1")" != "$2 $3 $grp" ]; then
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
  : > "$TXN/armed"
  watchdog_alive && return 0
  cat > "$STATE/watchdog.sh" <<'HARDEN_WATCHDOG_EOF'
{{> watchdog}}HARDEN_WATCHDOG_EOF
  if command -v setsid >/dev/null 2>&1; then
    setsid sh "$STATE/watchdog.sh" </dev/null >/dev/null 2>&1 9>&- &
  else
    nohup sh "$STATE/watchdog.sh" </dev/null >/dev/null 2>&1 9>&- &
  fi
  say "rollback armed: restores in ${ROLLBACK_SECONDS}s unless a new login confirms"
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
restore_now() { sh "$BACKUP/restore.sh" >&2 || say "restore reported errors (see above)"; }
