#!/usr/bin/env bash
# Installs what Drover's build and tests need, and only what is missing, so it is safe to run
# before every `make test` (a second run changes nothing and takes about a second).
#
#   Debian: protobuf-compiler (protoc), libprotobuf-dev (well-known .proto files), chromium
#   npm:    @bufbuild/buf at the exact version in tools/package.json, into tools/node_modules
#   rustup: the rustfmt and clippy components, if the toolchain lacks them
#
# Nothing here downloads a browser or binary outside the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Debian packages: look first, update the package lists once, install what is missing.
missing=()
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
[ -f /usr/include/google/protobuf/duration.proto ] || missing+=(libprotobuf-dev)
[ -x /usr/lib/chromium/chromium ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# buf, from npm, at the exact version tools/package.json names; reinstalled only if absent or
# at another version. No lock file: buf pins its per-platform binary packages exactly itself,
# and npm here leaves the other platforms' optional packages out of a lock, which `npm ci`
# would then refuse.
want_buf=$(node -p "require('./tools/package.json').devDependencies['@bufbuild/buf']")
have_buf=$(tools/node_modules/.bin/buf --version 2>/dev/null || true)
if [ "$have_buf" != "$want_buf" ]; then
  say "installing buf $want_buf into tools/node_modules"
  npm install --prefix tools --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
fi

# Rust components used by `make test`.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "adding rustup component $component"
    rustup component add "$component"
  fi
done

say "ok (protoc $(protoc --version | cut -d' ' -f2), buf $(tools/node_modules/.bin/buf --version), $(/usr/lib/chromium/chromium --version 2>/dev/null | head -1))"
