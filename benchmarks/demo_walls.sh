#!/usr/bin/env bash
# Wall time of the three demos (issue 49: each about a minute; `make run`'s `oneclass demo` within its earlier time
# + 30 s, measured as before with OMP_NUM_THREADS=1), on an otherwise idle machine; the defects demo from a cold
# cache (it generates its data set first). Appends the tables and the times to $1.
#   bash benchmarks/demo_walls.sh results/demo-walls-49.txt
set -euo pipefail
out=${1:?usage: demo_walls.sh OUT}
tmp=$(mktemp -d)
run() {  # label, then the command
    local label=$1; shift
    local start=$(date +%s.%N)
    "$@" > "$tmp/log" 2>&1
    local wall=$(echo "$(date +%s.%N) - $start" | bc)
    { echo "# $label: $* — wall $(printf '%.1f' "$wall") s ($(git rev-parse --short HEAD), $(nproc) cores)";
      grep -v -e "Warning" -e "warn" "$tmp/log" | grep -A40 "^method\|^category" ; echo; } >> "$out"
}
run "make run's demo, one thread" env OMP_NUM_THREADS=1 .venv/bin/oneclass demo --out "$tmp/demo"
run "demo --video" .venv/bin/oneclass demo --video --out "$tmp/video"
rm -rf "${XDG_CACHE_HOME:-$HOME/.cache}/oneclass/defects"
run "demo --defects, cold cache" .venv/bin/oneclass demo --defects --out "$tmp/defects"
rm -rf "$tmp"
