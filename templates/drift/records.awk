# harden probe: turns "SECTION<TAB>KEY<TAB>VALUE" lines into one JSON document. VALUE is the rest of
# the line, tabs included. Escapes what JSON requires (backslash, quote, control characters) and
# passes every other byte through, so hostile content (crontab lines, file names) stays data.
BEGIN {
	for (i = 1; i < 32; i++) { c = sprintf("%c", i); rep[c] = sprintf("\\u%04x", i); special = special c }
	rep["\t"] = "\\t"; rep["\\"] = "\\\\"; rep["\""] = "\\\""
	special = "[\\\\\"" special "]"
	printf "{\"harden_probe\":1,\"records\":["
	n = 0
}
function esc(s,   out, c) {
	out = ""
	while (match(s, special)) {
		c = substr(s, RSTART, 1)
		out = out substr(s, 1, RSTART - 1) rep[c]
		s = substr(s, RSTART + 1)
	}
	return out s
}
{
	a = index($0, "\t"); rest = substr($0, a + 1); b = index(rest, "\t")
	if (a == 0 || b == 0) next
	printf "%s\n[\"%s\",\"%s\",\"%s\"]", (n++ ? "," : ""), esc(substr($0, 1, a - 1)), esc(substr(rest, 1, b - 1)), esc(substr(rest, b + 1))
}
END { print "\n]}" }
