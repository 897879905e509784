#!/usr/bin/env bash
# Builds the Pulumi engine this project runs against, from the Go module proxy, into .tools/bin/:
#   pulumi                         the CLI, github.com/pulumi/pulumi/pkg/v3 at the @pulumi/pulumi version
#   pulumi-language-nodejs         the Node.js language host, from sdk/v3 v3.68.0 (see LANGUAGE_HOST below)
#   pulumi-resource-command        a STAND-IN for the command provider (tools/command-provider/): the
#                                  proxy refuses github.com/pulumi/pulumi-command/provider at every version
#   pulumi-resource-pulumi-nodejs  the dynamic-provider host, copied from node_modules/@pulumi/pulumi
# Binaries are kept in a cache outside the checkout, one folder per tool and version, so a fresh clone on
# the same machine reuses them. Go's own module and build caches are Go's defaults (GOMODCACHE, GOCACHE).
#
#   HARDEN_TOOLS_CACHE   binary cache (default /var/cache/harden-tools, an overridable default)
#   GOPROXY              default https://proxy.golang.org
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=${HARDEN_TOOLS_CACHE:-/var/cache/harden-tools}
bin=$root/.tools/bin
export GOPROXY=${GOPROXY:-https://proxy.golang.org}
export GOFLAGS=-mod=mod
command -v go >/dev/null || { echo "build-pulumi: go is not installed (needed to build the Pulumi engine)" >&2; exit 1; }

# versions that match the npm packages in the lockfile
locked() { node -e 'const l = require(process.argv[1]); const p = l.packages["node_modules/" + process.argv[2]];
  if (!p) { console.error(`build-pulumi: ${process.argv[2]} is not in package-lock.json`); process.exit(1); }
  console.log(p.version)' "$root/package-lock.json" "$1"; }
PULUMI_VERSION=v$(locked @pulumi/pulumi)
COMMAND_VERSION=$(locked @pulumi/command)
# WHY 3.68.0: the language host module (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3)
# is refused by the proxy at every version; up to sdk/v3 v3.68.0 the host was a package of sdk/v3 itself.
LANGUAGE_HOST=v3.68.0
# the stand-in is keyed by its own sources: a change rebuilds it
STANDIN_KEY=$(cat tools/command-provider/go.mod tools/command-provider/go.sum tools/command-provider/*.go | sha256sum | cut -c1-12)

mkdir -p "$cache" "$bin"
exec 9>"$cache/.lock"
flock -w 3600 9 # one build at a time per cache (CI steps, parallel clones)

# build NAME VERSION_DIR -- COMMAND...: runs COMMAND (which writes $out) unless $cache/VERSION_DIR/NAME exists
build() {
  local name=$1 dir=$cache/$2; shift 3
  out=$dir/$name
  if [ -x "$out" ]; then
    echo "build-pulumi: $name reused from $dir"
  else
    local start=$SECONDS work
    work=$(mktemp -d)
    mkdir -p "$dir"
    ( cd "$work" && "$@" ) || { rm -rf "$work"; echo "build-pulumi: building $name failed" >&2; exit 1; }
    rm -rf "$work"
    echo "build-pulumi: $name built in $((SECONDS - start))s"
  fi
  install -m 0755 "$out" "$bin/$name"
}

# a wrapper module: `go install` refuses modules with replace directives (pkg/v3 has them)
wrapper() { # MODULE_PATH PACKAGE VERSION_STAMP REQUIRE... [-- REPLACE...]
  local pkg=$1 stamp=$2; shift 2
  go mod init harden.local/tools-wrapper >/dev/null 2>&1
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" > tools.go
  local req=() rep=() seen=
  for a in "$@"; do
    if [ "$a" = -- ]; then seen=1; elif [ -z "$seen" ]; then req+=("$a"); else rep+=("$a"); fi
  done
  go get "${req[@]}"
  for r in "${rep[@]}"; do go mod edit -replace "$r"; done
  go mod tidy
  go build -o "$out" -ldflags "-X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=$stamp" "$pkg"
}

build pulumi "pulumi-$PULUMI_VERSION" -- wrapper github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$PULUMI_VERSION" \
  "github.com/pulumi/pulumi/pkg/v3@$PULUMI_VERSION" "github.com/pulumi/pulumi/sdk/v3@$PULUMI_VERSION" \
  -- github.com/atotto/clipboard=github.com/tgummerer/clipboard@v0.0.0-20241001131231-d02d263e614e

build pulumi-language-nodejs "pulumi-language-nodejs-$LANGUAGE_HOST" -- wrapper \
  github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs "$LANGUAGE_HOST" \
  "github.com/pulumi/pulumi/sdk/v3@$LANGUAGE_HOST" -- golang.org/x/text=golang.org/x/text@v0.3.6

build pulumi-resource-command "pulumi-resource-command-standin-$COMMAND_VERSION-$STANDIN_KEY" -- \
  sh -c 'cd "$1" && go build -o "$2" -ldflags "-X main.Version=$3" .' sh \
  "$root/tools/command-provider" "$cache/pulumi-resource-command-standin-$COMMAND_VERSION-$STANDIN_KEY/pulumi-resource-command" "$COMMAND_VERSION"

# the dynamic-provider host ships with the SDK (the CLI's own distribution bundles the same script)
install -m 0755 node_modules/@pulumi/pulumi/pulumi-resource-pulumi-nodejs "$bin/pulumi-resource-pulumi-nodejs"

"$bin/pulumi" version
echo "build-pulumi: .tools/bin ready (CLI $PULUMI_VERSION, language host $LANGUAGE_HOST, command provider STAND-IN reporting $COMMAND_VERSION)"
