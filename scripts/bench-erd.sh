#!/usr/bin/env bash
# bench-erd.sh: how long er-diagram takes to draw a schema, in each format.
#
# Inputs:
#   * example:  this project's database/ (snapshot + 12 migrations, 12 tables)
#   * gen300:   a generated 300-table snapshot plus 100 migrations that add 17 more
#               tables, columns, indexes, views and renames (scripts/bench/gen-workload.py
#               --tables 300 --migrations 100, fixed seed)
# For each input, in the same run (median of N runs):
#   * er-diagram from the files: Mermaid, Graphviz dot, draw.io, and `--update` of the
#     draw.io file (a full read, compare and rewrite check of an up-to-date file)
#   * er-diagram --from-database (Mermaid and draw.io) of a throwaway cluster's database
#     that holds the same schema
#   * baseline: `pg_dump --schema-only` of that database, the stock tool's cheapest way
#     to read the schema at all; and `dot -Tsvg` of the Graphviz output, what rendering
#     the drawn diagram costs
# Reports each time and its ratio to pg_dump's.
#
# Usage: scripts/bench-erd.sh [--runs N] [--no-build]
set -euo pipefail

runs=7
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --runs) runs=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bench-erd: unknown option $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$build" = 1 ]; then
    echo "bench-erd: building er-diagram and apply-schema (release; a first build takes a few minutes)" >&2
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin er-diagram --bin apply-schema
fi
bin="$root/target/release"
command -v dot >/dev/null || { echo "bench-erd: Graphviz's dot not found (apt-get install graphviz)" >&2; exit 1; }

# shellcheck source=lib/bench-cluster.sh
. "$root/scripts/lib/bench-cluster.sh"
bench_cluster erd
db_url() { echo "host=$work port=5432 user=postgres dbname=$1"; }

# The two projects, each applied to its own database.
mkdir -p "$work/example" "$work/gen300/database"
cp -r "$root/database" "$work/example/database"
rm -rf "$work/example/database/diagrams"
python3 "$root/scripts/bench/gen-workload.py" "$work/gen" --tables 300 --migrations 100 >/dev/null
cp -r "$work/gen/versions" "$work/gen/migrations" "$work/gen300/database/"
for name in example gen300; do
    psql -X -q -d "$(db_url postgres)" -c "CREATE DATABASE $name" >/dev/null
    (cd "$work/$name" && DATABASE_URL=$(db_url "$name") "$bin/apply-schema" >"$work/apply-$name.log" 2>&1) ||
        { echo "bench-erd: applying $name failed:" >&2; tail -n 20 "$work/apply-$name.log" >&2; exit 1; }
done

# median_ms CMD...: the median wall time of $runs runs, in milliseconds (stdout dropped).
median_ms() {
    local times=() i start end
    for ((i = 0; i < runs; i++)); do
        start=$(date +%s%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s%N)
        times+=($(((end - start) / 1000)))
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
erd() { "$bin/er-diagram" "$@"; }

printf '%-8s %-40s %10s %10s\n' input measure ms "vs pg_dump"
for name in example gen300; do
    cd "$work/$name"
    url=$(db_url "$name")
    erd --format drawio -o "$work/$name.drawio" 2>/dev/null
    erd --format dot >"$work/$name.dot" 2>/dev/null
    tables=$(psql -X -At -d "$url" -c "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition")
    base=$(median_ms pg_dump --schema-only -d "$url")
    row() { printf '%-8s %-40s %10s %9.2fx\n' "$name" "$1" "$2" "$(awk -v a="$2" -v b="$base" 'BEGIN {print a / b}')"; }
    row "pg_dump --schema-only ($tables tables)" "$base"
    row "er-diagram (Mermaid)" "$(median_ms erd)"
    row "er-diagram --format dot" "$(median_ms erd --format dot)"
    row "er-diagram --format drawio" "$(median_ms erd --format drawio)"
    row "er-diagram --update FILE (up to date)" "$(median_ms erd --update "$work/$name.drawio")"
    row "er-diagram --from-database" "$(median_ms env DATABASE_URL="$url" "$bin/er-diagram" --from-database)"
    row "er-diagram --from-database drawio" "$(median_ms env DATABASE_URL="$url" "$bin/er-diagram" --from-database --format drawio)"
    row "dot -Tsvg of the Graphviz output" "$(median_ms dot -Tsvg "$work/$name.dot")"
done
