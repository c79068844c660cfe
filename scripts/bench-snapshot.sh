#!/usr/bin/env bash
# bench-snapshot.sh: how long cutting a phase snapshot takes, against what the same work
# costs done by hand, in the same run.
#
# Inputs:
#   * example:  this project's database/ (snapshot + 12 migrations)
#   * gen500:   the apply benchmark's workload: a 50-table snapshot plus 500 migrations
#               (scripts/bench/gen-workload.py --migrations 500, fixed seed)
# Each is applied to a database of a throwaway cluster (fsync on). Then the median of N
# runs of (the snapshot file and SCHEMA_CHANGES.md put back as they were between runs):
#   * from the database: `create-phase-snapshot v9.0 Bench` against it (dump, then the
#     verification: the snapshot loaded into a throwaway and compared)
#   * --from-migrations --no-template: the files applied into a throwaway of the
#     project's local PostgreSQL, then the same cut
#   * --from-migrations: the same, the throwaway the spare copy of the schema template
#     an earlier build kept, renamed into place and back (kept only when a build takes
#     longer than a copy, 200 ms by default; a quicker build is replayed each time, so
#     both rows match)
#   * baseline: what a lead scripts by hand for the first row: `pg_dump --schema-only`
#     of the database, a new database, `psql -f` of the dump into it, a second
#     `pg_dump --schema-only` and a diff of the two
# Reports each time and its ratio to the baseline, and the template row against the
# --no-template row.
#
# Usage: scripts/bench-snapshot.sh [--runs N] [--no-build]
set -euo pipefail

runs=5
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bench-snapshot: unknown option $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$build" = 1 ]; then
    echo "bench-snapshot: building create-phase-snapshot, apply-schema and local-db (release; a first build takes a few minutes)" >&2
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" \
        --bin create-phase-snapshot --bin apply-schema --bin local-db
fi
bin="$root/target/release"

# shellcheck source=lib/bench-cluster.sh
. "$root/scripts/lib/bench-cluster.sh"
bench_cluster snapshot
export PATH="$pgbin:$PATH"
db_url() { echo "host=$work port=5432 user=postgres dbname=$1"; }
# The projects' own local clusters (for --from-migrations) are stopped on the way out.
stop_local() {
    for name in example gen500; do
        [ -d "$work/$name/database" ] && (cd "$work/$name" && "$bin/local-db" stop >/dev/null 2>&1) || true
    done
    bench_cluster_cleanup
}
trap stop_local EXIT

mkdir -p "$work/example" "$work/gen500/database"
cp -r "$root/database" "$work/example/database"
python3 "$root/scripts/bench/gen-workload.py" "$work/gen" --migrations 500 >/dev/null
cp -r "$work/gen/versions" "$work/gen/migrations" "$work/gen500/database/"
for name in example gen500; do
    psql -X -q -d "$(db_url postgres)" -c "CREATE DATABASE $name" >/dev/null
    (cd "$work/$name" && DATABASE_URL=$(db_url "$name") "$bin/apply-schema" --no-validate >"$work/apply-$name.log" 2>&1) ||
        { echo "bench-snapshot: applying $name failed:" >&2; tail -n 20 "$work/apply-$name.log" >&2; exit 1; }
done

# put_back NAME: the project as it was before a cut.
put_back() {
    rm -f "$work/$1"/database/versions/v9.0_*.sql
    if [ -f "$work/$1.changes" ]; then cp "$work/$1.changes" "$work/$1/SCHEMA_CHANGES.md"; else rm -f "$work/$1/SCHEMA_CHANGES.md"; fi
}

# median_ms NAME CMD...: the median wall time of $runs runs of CMD, in milliseconds, the
# project NAME put back before each (not timed); a failing run stops the benchmark.
median_ms() {
    local name=$1 times=() i start end
    shift
    for ((i = 0; i < runs; i++)); do
        put_back "$name"
        start=$(date +%s%N)
        "$@" >"$work/run.log" 2>&1 || { echo "bench-snapshot: $* failed:" >&2; tail -n 20 "$work/run.log" >&2; exit 1; }
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    put_back "$name"
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

cut_live() { (cd "$work/$1" && DATABASE_URL=$(db_url "$1") "$bin/create-phase-snapshot" v9.0 Bench); }
cut_files() { (cd "$work/$1" && "$bin/create-phase-snapshot" v9.0 Bench --from-migrations "${@:2}"); }
n=0
baseline() {
    n=$((n + 1))
    local copy="verify_$n"
    pg_dump --schema-only -d "$(db_url "$1")" >"$work/by-hand.sql"
    psql -X -q -d "$(db_url postgres)" -c "CREATE DATABASE $copy"
    psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url "$copy")" -f "$work/by-hand.sql" >/dev/null
    pg_dump --schema-only -d "$(db_url "$copy")" >"$work/by-hand-2.sql"
    diff -q "$work/by-hand.sql" "$work/by-hand-2.sql" >/dev/null || true
    psql -X -q -d "$(db_url postgres)" -c "DROP DATABASE $copy"
}

printf '%-8s %-52s %10s %12s\n' input measure ms "vs baseline"
for name in example gen500; do
    [ -f "$work/$name/SCHEMA_CHANGES.md" ] && cp "$work/$name/SCHEMA_CHANGES.md" "$work/$name.changes"
    migrations=$(ls "$work/$name/database/migrations" | grep -vc '\.down\.sql$')
    base=$(median_ms "$name" baseline "$name")
    row() { printf '%-8s %-52s %10s %11.2fx\n' "$name" "$1" "$2" "$(awk -v a="$2" -v b="$base" 'BEGIN {print a / b}')"; }
    row "baseline: pg_dump, load into a new db, pg_dump, diff" "$base"
    row "create-phase-snapshot (from the database)" "$(median_ms "$name" cut_live "$name")"
    cold=$(median_ms "$name" cut_files "$name" --no-template)
    row "--from-migrations --no-template ($migrations migr.)" "$cold"
    # The first build keeps the template (when it is slow enough to be worth one).
    put_back "$name"
    cut_files "$name" >/dev/null 2>&1
    warm=$(median_ms "$name" cut_files "$name")
    row "--from-migrations (template)" "$warm"
    printf '%-8s %-52s %10s %11.2fx\n' "$name" "  template against --no-template" "" "$(awk -v a="$warm" -v b="$cold" 'BEGIN {print a / b}')"
done
