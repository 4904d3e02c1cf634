#!/usr/bin/env bash
# The Go client's checks: formatting, go vet, and the tests, which start a real `drover up`
# ($DROVER_BIN, default ../../target/debug/drover; build it with `cargo build --locked -p drover`).
# Idempotent; on a fresh clone `go` downloads the pinned modules (go.mod, go.sum) first.
set -euo pipefail

# A relative DROVER_BIN means relative to where the script was called from.
if [ -n "${DROVER_BIN:-}" ]; then
  DROVER_BIN="$(realpath -m -- "$DROVER_BIN")"
fi
cd "$(dirname "$0")"
export DROVER_BIN="${DROVER_BIN:-$(realpath -m ../../target/debug/drover)}"

if ! command -v go >/dev/null && [ -x /usr/local/go/bin/go ]; then
  export PATH="/usr/local/go/bin:$PATH"
fi

unformatted="$(find . -name '*.go' -not -path './gen/*' -exec gofmt -l {} +)"
if [ -n "$unformatted" ]; then
  echo "clients/go: not gofmt-formatted (run gofmt -w):" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
# -count=1: the outcome depends on the drover binary, which go's test cache cannot see.
go test -count=1 ./...
