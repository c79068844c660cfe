# bench-cluster.sh: sourced by the bench scripts. `bench_cluster NAME` starts a throwaway
# PostgreSQL (initdb from PATH or the newest /usr/lib/postgresql/*/bin; fsync on; Unix
# socket only, port 5432 in the work folder) and sets:
#   work    a fresh folder, /tmp/dbkit-NAME-XXXXXX, that holds the cluster (data/, log)
#   pgbin   the folder of the server's binaries (pg_ctl, pg_dump, postgres)
#   as_pg   the prefix that runs a command as `postgres` when this is root, else empty
# The cluster is stopped and the folder removed when the script exits.
bench_cluster() {
    local name=$1 initdb
    initdb=$(command -v initdb || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1)
    [ -x "$initdb" ] || { echo "bench-$name: initdb not found" >&2; exit 1; }
    pgbin=$(dirname "$(readlink -f "$initdb")")
    as_pg=()
    if [ "$(id -u)" = 0 ]; then as_pg=(runuser -u postgres --); fi

    work=$(mktemp -d "/tmp/dbkit-$name-XXXXXX")
    chmod 755 "$work"
    trap bench_cluster_cleanup EXIT
    [ "${#as_pg[@]}" = 0 ] || chown postgres "$work"
    "${as_pg[@]}" "$pgbin/initdb" -D "$work/data" -U postgres --auth=trust --no-locale -E UTF8 >/dev/null
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" -l "$work/log" -w \
        -o "-k $work -c listen_addresses='' -p 5432" start >/dev/null
}

bench_cluster_cleanup() {
    "${as_pg[@]}" "$pgbin/pg_ctl" -D "$work/data" stop -m immediate >/dev/null 2>&1 || true
    rm -rf "$work"
}
