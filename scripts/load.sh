#!/usr/bin/env bash
# Runs the ghz load configs in tests/load/ against Drover and checks every run (`make load`).
#
#   scripts/load.sh [CONFIG...]    CONFIG is a file name in tests/load/ without .json
#                                  (e.g. `scripts/load.sh chat run-noop`); default: all of them
#
# Target: without DROVER_LOAD_SCHEDULER, starts `$DROVER_BIN up` (default target/debug/drover)
# on 127.0.0.1:0 with one browser of four pages and the stand-in AI provider, reads the
# scheduler's and the ai-router's addresses from its stdout, and stops it with SIGTERM at the
# end, also on failure or Ctrl-C. With DROVER_LOAD_SCHEDULER=HOST:PORT (and, for the configs
# that call the AI router, DROVER_LOAD_AI_ROUTER=HOST:PORT) it runs against that deployment
# instead; a config whose service has no address is skipped.
#
# Each config writes ghz's JSON report to target/load/<config>.json and prints one line (rps,
# p50, p99, errors). tests/load/check.py fails a run on any error or non-OK status, and, for
# the scheduler's configs, on any task of the run (its own tenant) that did not succeed.
# Exits 1 if any run failed or drover up did not stop cleanly.
#
# ghz is built from the Go module proxy into tools/bin at the version pinned here, only when
# it is missing or another version (go install leaves no version in the binary, so a stamp
# file records it, as scripts/setup.sh does for its Go tools).
set -euo pipefail
cd "$(dirname "$0")/.."

GHZ_VERSION=v0.120.0
GHZ=tools/bin/ghz
OUT=target/load
# The venv that scripts/setup.sh makes has grpcio; the generated Python code is checked in.
PYTHON=tools/venv/bin/python
export PYTHONPATH="$PWD/clients/python/src${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONDONTWRITEBYTECODE=1

say() { printf 'load: %s\n' "$*"; }

install_ghz() {
  local stamp=tools/bin/.ghz.version
  if [ ! -x "$GHZ" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$GHZ_VERSION" ]; then
    say "installing ghz $GHZ_VERSION into tools/bin"
    mkdir -p tools/bin
    GOBIN="$PWD/tools/bin" GOFLAGS=-mod=mod go install "github.com/bojand/ghz/cmd/ghz@$GHZ_VERSION"
    echo "$GHZ_VERSION" >"$stamp"
  fi
}

# drover up, when this script starts it.
drover_pid=

start_drover() {
  local bin=${DROVER_BIN:-target/debug/drover}
  if [ ! -x "$bin" ]; then
    say "$bin is missing: build it with cargo build --locked -p drover (or run make load)"
    exit 1
  fi
  # Emptied here, not by the redirection below, which runs in the child: the wait for the
  # ready line must never read the previous run's output.
  : >"$OUT/drover-up.out"
  # Its own session and process group, so a last-resort kill reaches its browsers too.
  setsid "$bin" up --listen 127.0.0.1:0 --metrics-listen off --browsers 1 --pages-per-browser 4 \
    >"$OUT/drover-up.out" 2>"$OUT/drover-up.log" &
  drover_pid=$!
  # Polls the output for the ready line, for at most 60 s.
  local tries=0
  until grep -q '^drover up: scheduler listening on ' "$OUT/drover-up.out"; do
    if ! kill -0 "$drover_pid" 2>/dev/null || [ $((tries += 1)) -gt 600 ]; then
      say "drover up did not become ready; the end of $OUT/drover-up.log:"
      tail -n 20 "$OUT/drover-up.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  scheduler=$(sed -n 's/^drover up: scheduler listening on \([^ ]*\).*/\1/p' "$OUT/drover-up.out")
  ai_router=$(sed -n 's/^drover up: ai-router listening on \([^ ]*\).*/\1/p' "$OUT/drover-up.out")
  if [ -z "$scheduler" ] || [ -z "$ai_router" ]; then
    say "could not read the scheduler's and the ai-router's addresses from $OUT/drover-up.out"
    exit 1
  fi
  say "drover up (pid $drover_pid): scheduler $scheduler, ai-router $ai_router; logs in $OUT/drover-up.log"
}

# SIGTERM, then up to 30 s for the drain; returns drover up's exit status. Idempotent, so the
# EXIT trap can call it after the normal path has.
stop_drover() {
  [ -n "$drover_pid" ] || return 0
  local pid=$drover_pid status=0 tries=0
  drover_pid=
  kill -TERM "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null && [ $((tries += 1)) -le 300 ]; do sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then
    say "drover up did not stop within 30 s of SIGTERM; killing its process group"
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  wait "$pid" || status=$?
  return "$status"
}

trap 'stop_drover || true' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The configs to run, in name order.
configs=()
if [ $# -eq 0 ]; then
  configs=(tests/load/*.json)
else
  for name in "$@"; do
    [ -f "tests/load/$name.json" ] || { say "no config tests/load/$name.json"; exit 2; }
    configs+=("tests/load/$name.json")
  done
fi

install_ghz
mkdir -p "$OUT"
scheduler=${DROVER_LOAD_SCHEDULER:-}
ai_router=${DROVER_LOAD_AI_ROUTER:-}
if [ -z "$scheduler" ]; then
  start_drover
else
  say "against the deployment: scheduler $scheduler, ai-router ${ai_router:-(none)}"
fi

# Each run's tasks go under a tenant of their own, which check.py reads back.
run_id=$(date -u +%Y%m%d%H%M%S)-$$
failed=()
ran=0
for config in "${configs[@]}"; do
  name=$(basename "$config" .json)
  call=$(sed -n 's/^ *"call": *"\([^"]*\)".*/\1/p' "$config")
  check=()
  case "$call" in
    drover.v1.SchedulerService/*)
      host=$scheduler
      check=(--scheduler "$scheduler" --tenant "load-$name-$run_id")
      ;;
    drover.v1.AiRouterService/*)
      host=$ai_router
      if [ -z "$host" ]; then
        say "$name: skipped (set DROVER_LOAD_AI_ROUTER to run it)"
        continue
      fi
      ;;
    *) say "$name: no address for the service of $call"; failed+=("$name"); continue ;;
  esac
  ran=$((ran + 1))
  report="$OUT/$name.json"
  rm -f "$report"
  if ! DROVER_LOAD_TENANT="load-$name-$run_id" "$GHZ" --config "$config" -O json -o "$report" "$host"; then
    say "$name: ghz failed"
    failed+=("$name")
    continue
  fi
  "$PYTHON" tests/load/check.py "$report" "${check[@]}" || failed+=("$name")
done

if ! stop_drover; then
  say "drover up did not exit cleanly after SIGTERM; see $OUT/drover-up.log"
  failed+=("drover-up")
fi
if [ "$ran" -eq 0 ]; then
  say "no config was run"
  failed+=("(none run)")
fi
if [ ${#failed[@]} -gt 0 ]; then
  say "FAILED: ${failed[*]} (reports in $OUT/)"
  exit 1
fi
say "ok: $ran configs run, reports in $OUT/"
