#!/usr/bin/env bash
# The Python client's tests against a real `drover up` (started by tests/conftest.py).
#
#   DROVER_BIN=/path/to/drover clients/python/test.sh [pytest args...]
#
# Uses the repository's virtualenv tools/venv (scripts/setup.sh makes it; made here if absent)
# and installs this package into it, editable, with its test extra, only when it is missing or
# pyproject.toml changed since the last install: a stamp in the virtualenv records the
# pyproject.toml it was installed from, so a second run installs nothing and needs no network.
set -euo pipefail
# A relative DROVER_BIN means relative to where the caller stands, not to this folder.
if [ -n "${DROVER_BIN:-}" ] && [[ "$DROVER_BIN" != /* ]]; then
  DROVER_BIN="$PWD/$DROVER_BIN"
fi
cd "$(dirname "$0")"

venv=../../tools/venv
stamp="$venv/.drover-client-python.stamp"

if [ ! -x "$venv/bin/python" ]; then
  echo "test.sh: creating the virtualenv tools/venv"
  python3 -m venv "$venv"
fi

want=$(sha256sum pyproject.toml | cut -d' ' -f1)
have=$(cat "$stamp" 2>/dev/null || true)
if [ "$want" != "$have" ] || ! "$venv/bin/python" -c 'import drover, pytest' >/dev/null 2>&1; then
  echo "test.sh: installing drover-client (editable, with its test extra) into tools/venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -e '.[test]'
  echo "$want" >"$stamp"
fi

export DROVER_BIN="${DROVER_BIN:-$PWD/../../target/debug/drover}"
if [ ! -x "$DROVER_BIN" ]; then
  echo "test.sh: no drover binary at $DROVER_BIN (cargo build --locked -p drover, or set DROVER_BIN)" >&2
  exit 1
fi
exec "$venv/bin/python" -m pytest -q "$@"
