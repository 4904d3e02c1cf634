#!/usr/bin/env bash
# Installs what Drover's build and tests need, and only what is missing, so it is safe to run
# before every `make test` (a second run changes nothing and takes about a second).
#
#   Debian: protobuf-compiler (protoc), libprotobuf-dev (well-known .proto files), chromium
#   npm:    @bufbuild/buf at the exact version in tools/package.json, into tools/node_modules
#   npm:    @bufbuild/protoc-gen-es (TypeScript client generation), same place
#   go:     protoc-gen-go and protoc-gen-go-grpc at pinned versions, into tools/bin
#   PyPI:   grpcio-tools at a pinned version, into the virtualenv tools/venv
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
# The browser-pool launches the headless shell (same Chromium, no desktop UI layer: half the
# CPU per task); the full chromium stays for the tests that drive it directly.
[ -x /usr/lib/chromium/chromium-headless-shell ] || missing+=(chromium-headless-shell)
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
want_es=$(node -p "require('./tools/package.json').devDependencies['@bufbuild/protoc-gen-es']")
have_es=$(tools/node_modules/.bin/protoc-gen-es --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have_buf" != "$want_buf" ] || [ "$have_es" != "v$want_es" ]; then
  say "installing buf $want_buf and protoc-gen-es $want_es into tools/node_modules"
  npm install --prefix tools --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null
fi

# Go code generators for `make generate`, built from the Go module proxy at pinned versions.
# A stamp file per tool records the version installed, so a changed pin reinstalls it.
go_tool() { # go_tool NAME MODULE_PATH VERSION
  local stamp="tools/bin/.$1.version"
  if [ ! -x "tools/bin/$1" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$3" ]; then
    say "installing $1 $3 into tools/bin"
    mkdir -p tools/bin
    GOBIN="$PWD/tools/bin" GOFLAGS=-mod=mod go install "$2@$3"
    echo "$3" >"$stamp"
  fi
}
go_tool protoc-gen-go google.golang.org/protobuf/cmd/protoc-gen-go v1.36.10
go_tool protoc-gen-go-grpc google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.5.1

# grpcio-tools for the Python client's generation (scripts/protoc-gen-python-grpc), in a
# virtualenv of its own so nothing touches the system Python. The client's tests use it too.
want_grpc_tools=1.76.0
if [ ! -x tools/venv/bin/python ]; then
  say "creating the virtualenv tools/venv"
  python3 -m venv tools/venv
fi
if [ "$(tools/venv/bin/python -c 'import importlib.metadata as m; print(m.version("grpcio-tools"))' 2>/dev/null)" != "$want_grpc_tools" ]; then
  say "installing grpcio-tools $want_grpc_tools into tools/venv"
  tools/venv/bin/pip install --quiet --disable-pip-version-check "grpcio-tools==$want_grpc_tools"
fi

# Rust components used by `make test`.
for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
    say "adding rustup component $component"
    rustup component add "$component"
  fi
done

say "ok (protoc $(protoc --version | cut -d' ' -f2), buf $(tools/node_modules/.bin/buf --version), grpcio-tools $want_grpc_tools, $(/usr/lib/chromium/chromium --version 2>/dev/null | head -1))"
