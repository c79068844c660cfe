#!/usr/bin/env bash
# bench-devloop.sh: the dev loop (reset, apply the schema, load the test data) on the
# example database/, dbkit against the old scripts' way, in the same run.
#
#   dbkit:     `reset --yes --reapply` (one process: reset, snapshot + 12 migrations with
#              history, reference data and fixtures, each file in a transaction, then
#              the validation checks)
#   baseline:  what the old shell scripts did: one `psql` process per step and per file
#              (DROP/CREATE SCHEMA; the snapshot; each migration; each seed file)
# Both run against databases of one throwaway local cluster (fsync on), alternating
# order between rounds. Reports the median wall time of each and the ratio dbkit/psql.
# After each dbkit round it checks the two databases hold the same tables and row
# counts, and fails otherwise.
#
# Usage: scripts/bench-devloop.sh [--rounds N] [--no-build]
set -euo pipefail

rounds=7
build=1
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --no-build) build=0; shift ;;
        -h | --help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) echo "bench-devloop: unknown option $1" >&2; exit 2 ;;
    esac
done

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ "$build" = 1 ]; then
    echo "bench-devloop: building reset, apply-schema and load-test-data (release; a first build takes a few minutes)" >&2
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin reset --bin apply-schema --bin load-test-data
fi
bin="$root/target/release"

# shellcheck source=lib/bench-cluster.sh
. "$root/scripts/lib/bench-cluster.sh"
bench_cluster devloop

cp -r "$root/database" "$work/project-database"
db_url() { echo "host=$work port=5432 user=postgres dbname=$1"; }
psql_q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url "$1")" "${@:2}" >/dev/null; }
psql_q postgres -c "CREATE DATABASE loop_dbkit" -c "CREATE DATABASE loop_psql"

dir="$work/project-database"
run_dbkit() {
    DATABASE_URL=$(db_url loop_dbkit) "$bin/reset" --dir "$dir" --yes --reapply >/dev/null
}
run_psql() {
    psql_q loop_psql -c "DROP SCHEMA IF EXISTS public CASCADE" -c "CREATE SCHEMA public"
    local f
    for f in "$dir"/versions/*.sql "$dir"/migrations/*.sql \
        "$dir"/seed/reference/*.sql "$dir"/seed/fixtures/*.sql; do
        # A rollback file is not a step of the loop.
        case "$f" in *.down.sql) continue ;; esac
        psql_q loop_psql -f "$f"
    done
}
now_ms() { date +%s%N | awk '{printf "%.1f", $1 / 1000000}'; }
time_ms() {
    local start end
    start=$(now_ms)
    "$@"
    end=$(now_ms)
    awk -v a="$start" -v b="$end" 'BEGIN {printf "%.1f", b - a}'
}
exact_counts() {
    psql -X -At -d "$(db_url "$1")" -c "SELECT string_agg(t, ' ' ORDER BY t) FROM (SELECT format('%s=%s', c.relname, (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), false, true, '')))[1]::text) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r') s"
}

run_dbkit && run_psql # warm-up, and a check that both work
if [ "$(exact_counts loop_dbkit)" != "$(exact_counts loop_psql)" ]; then
    echo "bench-devloop: the two databases differ after one loop" >&2
    echo "  dbkit: $(exact_counts loop_dbkit)" >&2
    echo "  psql:  $(exact_counts loop_psql)" >&2
    exit 1
fi

dbkit_times=()
psql_times=()
for ((i = 0; i < rounds; i++)); do
    if ((i % 2 == 0)); then
        dbkit_times+=("$(time_ms run_dbkit)")
        psql_times+=("$(time_ms run_psql)")
    else
        psql_times+=("$(time_ms run_psql)")
        dbkit_times+=("$(time_ms run_dbkit)")
    fi
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
files=$(ls "$dir"/versions/*.sql "$dir"/migrations/*.sql "$dir"/seed/reference/*.sql "$dir"/seed/fixtures/*.sql | grep -vc "\.down\.sql$")
d=$(median "${dbkit_times[@]}")
p=$(median "${psql_times[@]}")
echo "dev loop on the example database/ ($files SQL files), median of $rounds rounds:"
printf '  dbkit  reset --reapply          %8.1f ms   (rounds: %s)\n' "$d" "${dbkit_times[*]}"
printf '  psql   one process per file     %8.1f ms   (rounds: %s)\n' "$p" "${psql_times[*]}"
awk -v d="$d" -v p="$p" 'BEGIN {printf "  ratio  dbkit / psql             %8.3fx\n", d / p}'
