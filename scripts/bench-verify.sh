#!/usr/bin/env bash
# bench-verify.sh: how long proving reversibility takes, dbkit's verify-migrations
# against doing the same steps by hand with stock tools, in the same run.
#
#   dbkit:     `verify-migrations --require-down --format json`: a throwaway database built
#              like a fresh apply, then for each migration: catalog, up, down, compare,
#              up, compare
#   baseline:  the same steps with psql and pg_dump, as a team would script them: a fresh
#              database (the snapshot loaded first, with psql), then for each migration
#              `psql --single-transaction -f up`, `pg_dump --schema-only`, `psql -f down`,
#              pg_dump and diff with the dump before the up, `psql -f up`, pg_dump and
#              diff with the dump after the first up
# On two projects: the example database/ (snapshot + 12 migrations with downs) and a
# generated workload of N migrations with downs (scripts/bench/gen-reversible.py). One
# throwaway local cluster, fsync on, default settings. Reports the median wall time of
# each over the rounds, seconds per migration and the ratio dbkit/baseline. Fails when
# either says a migration is not reversible, or when verify-migrations leaves a
# throwaway database behind.
#
# Usage: scripts/bench-verify.sh [--rounds N] [--migrations N] [--no-build] [--bin DIR]
#   --rounds N       rounds of each measurement (default 3)
#   --migrations N   migrations in the generated workload (default 200)
#   --no-build       use the release build as it is
#   --bin DIR        take verify-migrations from DIR (implies --no-build)
# About a minute on a 2-core machine with the defaults (the baseline takes most of it).
set -euo pipefail

rounds=3
migrations=200
build=1
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$root/target}/release"
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --migrations) migrations=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        --bin) bin=$2; build=0; shift 2 ;;
        -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bench-verify: unknown option $1" >&2; exit 2 ;;
    esac
done

if [ "$build" = 1 ]; then
    echo "bench-verify: building verify-migrations (release; a first build takes a few minutes)" >&2
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin verify-migrations
fi
verify="$bin/verify-migrations"
[ -x "$verify" ] || { echo "bench-verify: $verify not found (build it, or pass --bin)" >&2; exit 1; }

# shellcheck source=lib/bench-cluster.sh
. "$root/scripts/lib/bench-cluster.sh"
bench_cluster verify

url() { echo "host=$work port=5432 user=postgres dbname=$1"; }
psql_q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$(url "$1")" "${@:2}" >/dev/null; }
dump() { "$pgbin/pg_dump" --schema-only --no-owner --no-privileges -d "$(url "$1")" | grep -v -e '^--' -e '^\\restrict' -e '^\\unrestrict' >"$2"; }
now() { date +%s%N; }

# Projects: the example, and the generated workload.
mkdir -p "$work/example"
cp -r "$root/database" "$work/example/database"
python3 "$root/scripts/bench/gen-reversible.py" "$work/generated" --migrations "$migrations"

# The baseline for one project: prints its wall time in ns, fails on a difference.
baseline() {
    local project=$1 db="base_$RANDOM$RANDOM"
    local start end
    start=$(now)
    psql_q postgres -c "CREATE DATABASE $db"
    local snapshot
    snapshot=$(ls "$project"/database/versions/*.sql 2>/dev/null | sort -V | tail -n 1 || true)
    [ -z "$snapshot" ] || psql_q "$db" --single-transaction -f "$snapshot"
    dump "$db" "$work/before.sql"
    local up down
    for up in $(ls "$project"/database/migrations/*.sql | grep -v '\.down\.sql$' | sort -V); do
        down="${up%.sql}.down.sql"
        local single=(--single-transaction)
        grep -q -- '-- dbkit:no-transaction' "$up" && single=()
        psql_q "$db" "${single[@]}" -f "$up"
        dump "$db" "$work/after.sql"
        local down_single=(--single-transaction)
        grep -q -- '-- dbkit:no-transaction' "$down" && down_single=()
        psql_q "$db" "${down_single[@]}" -f "$down"
        dump "$db" "$work/down.sql"
        diff -q "$work/before.sql" "$work/down.sql" >/dev/null ||
            { echo "bench-verify: baseline: $(basename "$down") does not restore the schema" >&2; exit 1; }
        psql_q "$db" "${single[@]}" -f "$up"
        dump "$db" "$work/before.sql"
        diff -q "$work/after.sql" "$work/before.sql" >/dev/null ||
            { echo "bench-verify: baseline: $(basename "$up") applies differently the second time" >&2; exit 1; }
    done
    end=$(now)
    psql_q postgres -c "DROP DATABASE $db"
    echo $((end - start))
}

# dbkit for one project: prints its wall time in ns, fails unless all are reversible.
dbkit() {
    local project=$1 start end
    start=$(now)
    (cd "$project" && "$verify" -D "$(url postgres)" --require-down --format json >"$work/verify.json") ||
        { echo "bench-verify: verify-migrations failed on $project:" >&2; cat "$work/verify.json" >&2; exit 1; }
    end=$(now)
    local left
    left=$(psql -X -At -d "$(url postgres)" -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit\_verify%'")
    [ "$left" = 0 ] || { echo "bench-verify: verify-migrations left $left throwaway database(s)" >&2; exit 1; }
    echo $((end - start))
}

checked() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(1 for c in d["checked"] if c["outcome"]=="reversible"))' "$work/verify.json"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

report() {
    local name=$1 project=$2 count
    local dk=() bl=()
    for round in $(seq "$rounds"); do
        echo "bench-verify: $name, round $round of $rounds" >&2
        if [ $((round % 2)) = 1 ]; then
            dk+=("$(dbkit "$project")"); bl+=("$(baseline "$project")")
        else
            bl+=("$(baseline "$project")"); dk+=("$(dbkit "$project")")
        fi
    done
    count=$(checked)
    local d b
    d=$(printf '%s\n' "${dk[@]}" | median)
    b=$(printf '%s\n' "${bl[@]}" | median)
    awk -v name="$name" -v n="$count" -v d="$d" -v b="$b" 'BEGIN {
        printf "%-22s %4d migrations  dbkit %7.2f s (%6.1f ms each)  psql+pg_dump %7.2f s (%6.1f ms each)  ratio %.3f\n",
            name, n, d / 1e9, d / 1e6 / n, b / 1e9, b / 1e6 / n, d / b }'
}

echo "PostgreSQL $("$pgbin/postgres" --version | awk '{print $3}'), $(nproc) cores, medians of $rounds rounds"
report "example" "$work/example"
report "generated ($migrations)" "$work/generated"
