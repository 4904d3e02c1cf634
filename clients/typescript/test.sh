#!/usr/bin/env bash
# The TypeScript client's tests, against a real `drover up` that the tests start and stop.
# Installs dependencies with `npm ci` only when node_modules is missing or package-lock.json
# changed since the last install, builds with tsc (clean), then runs `node --test` on the
# compiled tests. DROVER_BIN is the drover binary (default ../../target/debug/drover).
# `make client-tests` runs it from the repo root.
set -euo pipefail
cd "$(dirname "$0")"

export DROVER_BIN="${DROVER_BIN:-$PWD/../../target/debug/drover}"
if [[ ! -x "$DROVER_BIN" ]]; then
  echo "test.sh: no drover binary at $DROVER_BIN (cargo build --locked -p drover)" >&2
  exit 1
fi

# The stamp lives inside node_modules, so removing node_modules removes it too.
stamp=node_modules/.drover-package-lock.sha256
lock=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ ! -d node_modules || "$(cat "$stamp" 2>/dev/null || true)" != "$lock" ]]; then
  npm ci --no-audit --no-fund
  echo "$lock" >"$stamp"
fi

rm -rf dist
npm run --silent build
node --test dist/test/*.test.js
