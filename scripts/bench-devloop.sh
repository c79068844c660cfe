#!/usr/bin/env bash
# bench-devloop.sh: the dev loop (reset, apply the schema, load the test data) on the
# example database/, dbkit against the old scripts' way, in the same run.
#
#   dbkit warm: `reset --yes --reapply` with the template and its spare copy there (the
#              database replaced by the spare, which the reset before it left a
#              background run making; the bench waits for that run between rounds)
#   back to back: the same right after another reset, its background run still going
#              (the reset waits for the spare being made)
#   dbkit cold: the same with no template (the first run: it replays, then leaves the
#              template and the spare to a background run)
#   dbkit replay: `reset --yes --reapply --no-template` (reset, snapshot + 12 migrations
#              with history, reference data and fixtures, then the validation checks)
#   baseline:  what the old shell scripts did: one `psql` process per step and per file
#              (DROP/CREATE SCHEMA; the snapshot; each migration; each seed file)
#   test-database --count 8: the wall time, and the time per database
#   library:   how long each of 16 tests waits for `dbkit::testing`'s fresh database
#              when each then works 50 ms (examples/fresh_per_test.rs), with the copies
#              made ahead by its thread and without (DBKIT_TEST_POOL=0)
#   gen500:    warm and cold `reset --reapply` on the apply benchmark's workload (a
#              50-table snapshot + 500 migrations, scripts/bench/gen-workload.py)
# All run against databases of one throwaway local cluster (fsync on), alternating
# order between rounds. Reports the median wall time of each and the ratios. After the
# warm-up it checks the dbkit and psql databases hold the same tables and row counts,
# and fails otherwise.
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
    cargo build --quiet --release --manifest-path "$root/Cargo.toml" --bin reset --bin apply-schema --bin load-test-data --bin test-database --example fresh_per_test
fi
bin="$root/target/release"

# shellcheck source=lib/bench-cluster.sh
. "$root/scripts/lib/bench-cluster.sh"
bench_cluster devloop

cp -r "$root/database" "$work/project-database"
db_url() { echo "host=$work port=5432 user=postgres dbname=$1"; }
psql_q() { PGOPTIONS="-c client_min_messages=warning" psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url "$1")" "${@:2}" >/dev/null; }
psql_q postgres -c "CREATE DATABASE loop_dbkit" -c "CREATE DATABASE loop_psql" -c "CREATE DATABASE loop_cold" -c "CREATE DATABASE loop_replay" -c "CREATE DATABASE loop_gen"

dir="$work/project-database"
reset_dbkit() {
    DATABASE_URL=$(db_url loop_dbkit) "$bin/reset" --dir "$dir" --yes --reapply >/dev/null
}
# Waits for reset's background runs (the template and the spare copy) to finish.
wait_background() {
    while [ "$(psql -X -At -d "$(db_url postgres)" -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dbkit spare maker'")" != 0 ]; do
        sleep 0.05
    done
}
drop_templates() {
    local t
    wait_background
    for t in $(psql -X -At -d "$(db_url postgres)" -c "SELECT datname FROM pg_database WHERE datname LIKE 'dbkit\_tpl\_%' OR datname LIKE 'dbkit\_spare\_%'"); do
        psql_q postgres -c "ALTER DATABASE $t WITH IS_TEMPLATE false" -c "DROP DATABASE $t"
    done
}
run_cold() {
    DATABASE_URL=$(db_url loop_cold) "$bin/reset" --dir "$dir" --yes --reapply >/dev/null
}
run_replay() {
    DATABASE_URL=$(db_url loop_replay) "$bin/reset" --dir "$dir" --yes --reapply --no-template >/dev/null
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

reset_dbkit && run_psql # warm-up, and a check that both work
if [ "$(exact_counts loop_dbkit)" != "$(exact_counts loop_psql)" ]; then
    echo "bench-devloop: the two databases differ after one loop" >&2
    echo "  dbkit: $(exact_counts loop_dbkit)" >&2
    echo "  psql:  $(exact_counts loop_psql)" >&2
    exit 1
fi

# Cold drops the templates, so it goes before warm, which needs one (its own warm-up
# builds it again).
drop_templates && run_cold && run_replay && wait_background && reset_dbkit
dbkit_times=()
psql_times=()
cold_times=()
replay_times=()
back_times=()
for ((i = 0; i < rounds; i++)); do
    drop_templates
    cold_times+=("$(time_ms run_cold)")
    wait_background
    reset_dbkit
    back_times+=("$(time_ms reset_dbkit)")
    if ((i % 2 == 0)); then
        wait_background
        dbkit_times+=("$(time_ms reset_dbkit)")
        replay_times+=("$(time_ms run_replay)")
        psql_times+=("$(time_ms run_psql)")
    else
        psql_times+=("$(time_ms run_psql)")
        replay_times+=("$(time_ms run_replay)")
        wait_background
        dbkit_times+=("$(time_ms reset_dbkit)")
    fi
done
# test-database --count 8, the template there.
run_eight() {
    DATABASE_URL=$(db_url loop_dbkit) "$bin/test-database" --dir "$dir" --count 8 --format json >"$work/eight.json"
    DATABASE_URL=$(db_url loop_dbkit) "$bin/test-database" --dir "$dir" --drop-all >/dev/null
}
eight_times=()
per_db=()
for ((i = 0; i < rounds; i++)); do
    eight_times+=("$(time_ms run_eight)")
    per_db+=("$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["ms_per_database"])' "$work/eight.json")")
done
# The library, per test: copies made ahead, and none (the baseline), alternating.
per_test() {
    DATABASE_URL=$(db_url loop_dbkit) DBKIT_TEST_POOL=$1 "$root/target/release/examples/fresh_per_test" "$dir" --tests 16 --work-ms 50
    DATABASE_URL=$(db_url loop_dbkit) "$bin/test-database" --dir "$dir" --drop-all >/dev/null
}
ahead_waits=()
none_waits=()
for ((i = 0; i < rounds; i++)); do
    ahead_waits+=("$(per_test 4 | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
    none_waits+=("$(per_test 0 | python3 -c 'import json,sys; print(json.load(sys.stdin)["median_ms"])')")
done
# The 500-migration workload, warm and cold.
python3 "$root/scripts/bench/gen-workload.py" "$work/gen" --migrations 500 >/dev/null
gen="$work/gen"
gen_warm() { DATABASE_URL=$(db_url loop_gen) "$bin/reset" --dir "$gen" --yes --reapply >/dev/null; }
gen_cold() { drop_templates; gen_warm; }
gen_cold
gen_warm_times=()
gen_cold_times=()
for ((i = 0; i < rounds; i++)); do
    drop_templates
    gen_cold_times+=("$(time_ms gen_warm)")
    wait_background
    gen_warm_times+=("$(time_ms gen_warm)")
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
files=$(ls "$dir"/versions/*.sql "$dir"/migrations/*.sql "$dir"/seed/reference/*.sql "$dir"/seed/fixtures/*.sql | grep -vc "\.down\.sql$")
d=$(median "${dbkit_times[@]}")
p=$(median "${psql_times[@]}")
c=$(median "${cold_times[@]}")
b=$(median "${back_times[@]}")
r=$(median "${replay_times[@]}")
e=$(median "${eight_times[@]}")
pd=$(median "${per_db[@]}")
gw=$(median "${gen_warm_times[@]}")
gc=$(median "${gen_cold_times[@]}")
echo "dev loop on the example database/ ($files SQL files), median of $rounds rounds:"
printf '  reset --reapply, warm (template there)   %8.1f ms   (rounds: %s)\n' "$d" "${dbkit_times[*]}"
printf '  reset --reapply, back to back            %8.1f ms   (rounds: %s)\n' "$b" "${back_times[*]}"
printf '  reset --reapply, cold (builds it)        %8.1f ms   (rounds: %s)\n' "$c" "${cold_times[*]}"
printf '  reset --reapply --no-template (replay)   %8.1f ms   (rounds: %s)\n' "$r" "${replay_times[*]}"
printf '  psql, one process per file               %8.1f ms   (rounds: %s)\n' "$p" "${psql_times[*]}"
awk -v d="$d" -v c="$c" -v r="$r" -v p="$p" 'BEGIN {
    printf "  ratios: warm / psql %.3fx, warm / cold %.3fx, replay / psql %.3fx\n", d / p, d / c, r / p }'
printf '  test-database --count 8                  %8.1f ms   (%s ms per database)\n' "$e" "$pd"
printf '  library, wait per test (copied ahead)    %8.1f ms   (rounds: %s)\n' "$(median "${ahead_waits[@]}")" "${ahead_waits[*]}"
printf '  library, wait per test (none ahead)      %8.1f ms   (rounds: %s)\n' "$(median "${none_waits[@]}")" "${none_waits[*]}"
echo "500-migration workload (gen-workload.py --migrations 500):"
printf '  reset --reapply, warm                    %8.1f ms   (rounds: %s)\n' "$gw" "${gen_warm_times[*]}"
printf '  reset --reapply, cold                    %8.1f ms   (rounds: %s)\n' "$gc" "${gen_cold_times[*]}"
awk -v w="$gw" -v c="$gc" 'BEGIN {printf "  ratio warm / cold %.3fx\n", w / c}'
