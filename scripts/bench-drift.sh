#!/usr/bin/env bash
# bench-drift.sh: how long check-drift takes, against what its work costs done by hand.
#
# Inputs:
#   * example:  this project's database/ (snapshot + 12 migrations)
#   * gen500:   the apply benchmark's workload: a 50-table snapshot plus 500 migrations
#               (scripts/bench/gen-workload.py --migrations 500, fixed seed)
# Each is applied to a database of a throwaway cluster (fsync on); then, in the same
# run, the median of N runs of:
#   * check-drift (no drift): the whole check; its files' side is the spare copy of the
#     schema template the first check kept, renamed into place and back (kept only
#     when a replay takes longer than a copy, 200 ms by default; a quicker replay is
#     done each time)
#   * check-drift --no-template: the same with the files replayed each time
#   * check-drift with drift: one index added and one table comment changed by hand
#   * check-drift --repair: the same, plus the repair SQL
#   * baseline: a fresh `apply-schema` of the same files into an empty database (the
#     replay check-drift must do) plus two `pg_dump --schema-only` (what comparing two
#     schemas by hand starts from)
# Reports each time and its ratio to the baseline.
#
# Usage: scripts/bench-drift.sh [--runs N] [--no-build]
set -euo pipefail

runs=5
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bench-drift: unknown option $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$build" = 1 ]; then
    echo "bench-drift: building check-drift and apply-schema (release; a first build takes a few minutes)" >&2
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin check-drift --bin apply-schema
fi
bin="$root/target/release"

# shellcheck source=lib/bench-cluster.sh
. "$root/scripts/lib/bench-cluster.sh"
bench_cluster drift
export PATH="$pgbin:$PATH"
db_url() { echo "host=$work port=5432 user=postgres dbname=$1"; }

mkdir -p "$work/example" "$work/gen500/database"
cp -r "$root/database" "$work/example/database"
python3 "$root/scripts/bench/gen-workload.py" "$work/gen" --migrations 500 >/dev/null
cp -r "$work/gen/versions" "$work/gen/migrations" "$work/gen500/database/"
for name in example gen500; do
    for db in "$name" "${name}_drift"; do
        psql -X -q -d "$(db_url postgres)" -c "CREATE DATABASE $db" >/dev/null
        (cd "$work/$name" && DATABASE_URL=$(db_url "$db") "$bin/apply-schema" --no-validate >"$work/apply-$db.log" 2>&1) ||
            { echo "bench-drift: applying $name failed:" >&2; tail -n 20 "$work/apply-$db.log" >&2; exit 1; }
    done
    # The drifted copy: an index added and a comment changed by hand, on the first table.
    table=$(psql -X -At -d "$(db_url "${name}_drift")" -c "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r' AND NOT c.relispartition ORDER BY c.relname LIMIT 1")
    column=$(psql -X -At -d "$(db_url "${name}_drift")" -c "SELECT quote_ident(attname) FROM pg_attribute WHERE attrelid = '$table'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum LIMIT 1")
    psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url "${name}_drift")" -c "CREATE INDEX bench_drift_idx ON $table ($column); COMMENT ON TABLE $table IS 'changed by hand'" >/dev/null
done

# median_ms CMD...: the median wall time of $runs runs, in milliseconds (output dropped).
median_ms() {
    local times=() i start end
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1 || true
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

# baseline NAME: a fresh apply into a new database, then two schema dumps.
n=0
baseline() {
    n=$((n + 1))
    local fresh="fresh_$n"
    psql -X -q -d "$(db_url postgres)" -c "CREATE DATABASE $fresh" >/dev/null
    (cd "$work/$1" && DATABASE_URL=$(db_url "$fresh") "$bin/apply-schema" --no-validate)
    pg_dump --schema-only -d "$(db_url "$1")"
    pg_dump --schema-only -d "$(db_url "$fresh")"
    psql -X -q -d "$(db_url postgres)" -c "DROP DATABASE $fresh" >/dev/null
}
drift() { (cd "$work/$1" && DATABASE_URL=$(db_url "$2") "$bin/check-drift" "${@:3}"); }

printf '%-8s %-44s %10s %12s\n' input measure ms "vs baseline"
for name in example gen500; do
    # The checks must say what they should before they are timed.
    drift "$name" "$name" --format json >/dev/null || { echo "bench-drift: $name shows drift against its own files" >&2; exit 1; }
    found=$(drift "$name" "${name}_drift" --format json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["findings"]))' || true)
    [ "$found" = 2 ] || { echo "bench-drift: $name with two changes by hand: $found findings" >&2; exit 1; }
    migrations=$(ls "$work/$name/database/migrations" | grep -vc '\.down\.sql$')
    base=$(median_ms baseline "$name")
    row() { printf '%-8s %-44s %10s %11.2fx\n' "$name" "$1" "$2" "$(awk -v a="$2" -v b="$base" 'BEGIN {print a / b}')"; }
    row "baseline: fresh apply + 2 pg_dump ($migrations migr.)" "$base"
    row "check-drift --no-template (replayed each time)" "$(median_ms drift "$name" "$name" --no-template)"
    row "check-drift (no drift)" "$(median_ms drift "$name" "$name")"
    row "check-drift (2 changes by hand)" "$(median_ms drift "$name" "${name}_drift")"
    row "check-drift --repair (2 changes)" "$(median_ms drift "$name" "${name}_drift" --repair)"
done
