# Sourced by the lab's root builders (bash). `mirror` prints the Debian archive this machine's apt already
# uses (deb822 *.sources or one-line *.list), so a build works wherever apt works: the first URI ending in
# /debian is the main archive (not debian-security). HARDEN_LAB_MIRROR overrides it.
mirror() {
  if [ -n "${HARDEN_LAB_MIRROR:-}" ]; then echo "$HARDEN_LAB_MIRROR"; return; fi
  local sources lists
  sources=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
  lists=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
  {
    awk 'tolower($1)=="uris:" { for (i = 2; i <= NF; i++) print $i }' <<<"$sources"
    awk '$1=="deb" { for (i = 2; i <= NF; i++) { if ($i ~ /^\[/) { while ($i !~ /\]$/ && i < NF) i++; continue } print $i; break } }' <<<"$lists"
  } | grep -E '^(https?|file)://.*/debian/?$' | head -n1 || true
}
