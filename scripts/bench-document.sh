#!/usr/bin/env bash
# bench-document.sh: how fast document-migration reads SQL, and how much memory it needs.
#
# Inputs (generated, deterministic):
#   * dump:      a pg_dump --schema-only shaped file of at least 6 MB
#                (scripts/bench/gen-dump.py: types, tables, identity columns, functions,
#                views, comments, keys, foreign keys, indexes, triggers)
#   * workload:  the apply benchmark's 50-table baseline + 500 migrations
#                (scripts/bench/gen-workload.py), documented in one run, all 500 files
# For each input, in the same run:
#   * dbkit:     document-migration (text to /dev/null; JSON too for the dump)
#   * baseline:  the old tool, `grep -E 'CREATE TABLE|ALTER TABLE|ADD COLUMN|REFERENCES'`
#                over the same files
# Reports the median of N runs, throughput in MB/s, the ratio dbkit/grep, and dbkit's
# peak memory (max RSS) as a multiple of the input size. Targets (issue 3): 20 MB/s or
# better, memory under 10x the input.
#
# Usage: scripts/bench-document.sh [--runs N] [--no-build]
set -euo pipefail

runs=5
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bench-document: unknown option $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/target/release/document-migration"
if [ "$build" = 1 ]; then
    echo "bench-document: building document-migration (release; a first build takes a few minutes)" >&2
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin document-migration
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

python3 "$root/scripts/bench/gen-dump.py" "$work/dump.sql" 6
python3 "$root/scripts/bench/gen-workload.py" "$work/workload" >/dev/null
mkdir -p "$work/empty"

# median_ms CMD...: the median wall time of $runs runs, in milliseconds.
median_ms() {
    local times=() i start end
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        "$@" >/dev/null
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

# peak_kb CMD...: the peak resident memory of one run, in KB.
peak_kb() {
    /usr/bin/time -f '%M' "$@" 2>&1 >/dev/null | tail -n 1
}

report() { # name bytes dbkit_ms grep_ms peak_kb
    awk -v n="$1" -v b="$2" -v d="$3" -v g="$4" -v k="$5" 'BEGIN {
        mb = b / 1e6
        printf "%-34s %7.2f MB %9.1f ms %8.1f MB/s %8.1f ms  %6.1fx  %6.1f MB  %5.1fx\n",
            n, mb, d, mb / (d / 1000), g, d / g, k / 1024, (k * 1024) / b }'
}

dump_bytes=$(stat -c %s "$work/dump.sql")
mapfile -t migrations < <(find "$work/workload/migrations" -name '*.sql' | sort)
workload_bytes=$(cat "${migrations[@]}" | wc -c)
grep_old() { grep -cE 'CREATE TABLE|ALTER TABLE|ADD COLUMN|REFERENCES' "$@" || true; }

printf '%-34s %10s %12s %13s %11s %7s %9s %7s\n' input size dbkit throughput grep ratio memory "x input"
report "pg_dump shaped (text)" "$dump_bytes" \
    "$(median_ms "$bin" --dir "$work/empty" "$work/dump.sql")" \
    "$(median_ms grep_old "$work/dump.sql")" \
    "$(peak_kb "$bin" --dir "$work/empty" "$work/dump.sql")"
report "pg_dump shaped (json)" "$dump_bytes" \
    "$(median_ms "$bin" --dir "$work/empty" --format json "$work/dump.sql")" \
    "$(median_ms grep_old "$work/dump.sql")" \
    "$(peak_kb "$bin" --dir "$work/empty" --format json "$work/dump.sql")"
report "500 migrations, one run (text)" "$workload_bytes" \
    "$(median_ms "$bin" --dir "$work/workload" "${migrations[@]}")" \
    "$(median_ms grep_old "${migrations[@]}")" \
    "$(peak_kb "$bin" --dir "$work/workload" "${migrations[@]}")"
echo "(ratio: dbkit time / grep time in the same run; memory: dbkit's peak RSS, and as a multiple of the input)"
