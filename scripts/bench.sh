#!/usr/bin/env bash
# `make bench`: every Drover benchmark, one after another in one run on this machine, then the
# end-to-end comparison (pooled against page-per-task, with faults), collected into one
# Markdown report: docs/benchmarks.md (DROVER_BENCH_REPORT overrides the path).
#
# Each benchmark prints its Markdown tables on stdout and its progress on stderr; this script
# keeps the first and shows the second. Figures are comparable within one report only: they
# depend on the machine and on what else it is doing, so run it on a quiet machine.
#
#   pool_modes  (browser-pool)  pooled / page / context / browser per task; 2,000-task soak
#   overhead    (ai-router)     the router's added latency at fixed request rates
#   dispatch    (scheduler)     submit→assign overhead, submit and completion throughput
#   workflow    (drover)        orchestration share of a browser + AI workflow
#   mixed       (drover)        end to end at 3 and 10 sessions, pooled vs page-per-task, faults
set -euo pipefail
cd "$(dirname "$0")/.."

report=${DROVER_BENCH_REPORT:-docs/benchmarks.md}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

benches=(
  "drover-browser-pool pool_modes"
  "drover-ai-router overhead"
  "drover-scheduler dispatch"
  "drover workflow"
  "drover mixed"
)

echo "bench: building the benchmarks (release)" >&2
for entry in "${benches[@]}"; do
  read -r package bench <<<"$entry"
  cargo bench --locked -p "$package" --bench "$bench" --no-run 2>&1 | grep -v '^\s*\(Compiling\|Finished\|Executable\)' >&2 || true
done

# Whether the tree differs from its commit, decided before the report itself is rewritten.
dirty=$(git status --porcelain --untracked-files=no -- . ":(exclude)$report" 2>/dev/null)
started=$(date -u +%s)
for entry in "${benches[@]}"; do
  read -r package bench <<<"$entry"
  echo "bench: $package/$bench" >&2
  cargo bench --locked -p "$package" --bench "$bench" 2> >(grep -v '^\s*\(Compiling\|Finished\|Running\)' >&2) >"$work/$bench.md"
done
elapsed=$(( $(date -u +%s) - started ))

{
  echo "# Drover benchmark report"
  echo
  echo "Written by \`make bench\` (scripts/bench.sh): every benchmark in one run, one after"
  echo "another, on one machine. Figures compare within this report, not across machines."
  echo
  echo "| | |"
  echo "|---|---|"
  echo "| date | $(date -u '+%Y-%m-%d %H:%M UTC') |"
  echo "| commit | $(git rev-parse --short HEAD 2>/dev/null || echo unknown)${dirty:+ (with local changes)} |"
  echo "| CPU | $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores |"
  echo "| memory | $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo) |"
  if [ -x /usr/lib/chromium/chromium-headless-shell ]; then
    echo "| Chromium | $(/usr/lib/chromium/chromium-headless-shell --version 2>/dev/null | head -1) (chromium-headless-shell, the pool's default) |"
  else
    echo "| Chromium | $(/usr/lib/chromium/chromium --version 2>/dev/null | head -1) |"
  fi
  echo "| rustc | $(rustc --version) |"
  echo "| wall time | ${elapsed} s |"
  for entry in "${benches[@]}"; do
    read -r package bench <<<"$entry"
    echo
    echo "<!-- cargo bench -p $package --bench $bench -->"
    cat "$work/$bench.md"
  done
} >"$report"
echo "bench: report written to $report" >&2
