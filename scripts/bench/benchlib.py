#!/usr/bin/env python3
"""Timing and reporting helpers for scripts/bench-apply.sh (stdlib only).

    benchlib.py time [--repeat K] [--log PREFIX] -- CMD [ARG...]
        Run CMD K times (default 1), one after the other. Prints each run's
        wall time in nanoseconds (time.perf_counter_ns, monotonic), one per line.
        The command's stdout/stderr go to PREFIX.out / PREFIX.err (default
        /dev/null), opened outside the timed region. If a run exits non-zero,
        prints the tail of its output to stderr and exits with its status.

    benchlib.py time-each --list FILE [--log PREFIX] -- CMD [ARG...]
        Run `CMD ARG... LINE` once for every line of FILE, in order, and print
        the total wall time of the whole sequence in nanoseconds.

    benchlib.py libpq-batch CONNINFO FILE
        Reference "server floor": connect with libpq (via ctypes), send the
        whole FILE wrapped in BEGIN/COMMIT as ONE simple-query message, and
        print the wall time (connect + execute + disconnect) in nanoseconds.
        No client-side parsing and one round trip: roughly the least time any
        client can take to make the server run that SQL in one transaction.
        Exits 2 if libpq cannot be loaded.

    benchlib.py report RESULTS_TSV META_JSON [--json] [--strict]
        Summarise the results file written by bench-apply.sh (lines:
        metric<TAB>round<TAB>nanoseconds) as a table, or as JSON with --json.
        With --strict, exit 3 when a target is missed.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

TARGET_RATIO = 0.95
TARGET_NOOP_MS = 15.0
NOISY_SPREAD = 1.25  # psql's slowest round / fastest round above this: warn


def _tail(path: str, n: int = 30) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


def _run_timed(cmd: list[str], log: str | None) -> tuple[int, int]:
    out_path = f"{log}.out" if log else "/dev/null"
    err_path = f"{log}.err" if log else "/dev/null"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        t0 = time.perf_counter_ns()
        rc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err).returncode
        t1 = time.perf_counter_ns()
    if rc != 0:
        sys.stderr.write(f"benchlib: command failed (exit {rc}): {' '.join(cmd)}\n")
        if log:
            sys.stderr.write(f"--- stdout tail ({out_path}) ---\n{_tail(out_path)}")
            sys.stderr.write(f"--- stderr tail ({err_path}) ---\n{_tail(err_path)}")
    return rc, t1 - t0


def _split(argv: list[str]) -> tuple[dict[str, str], list[str]]:
    if "--" not in argv:
        sys.exit("benchlib: missing -- before the command")
    i = argv.index("--")
    opts, cmd = argv[:i], argv[i + 1:]
    if not cmd:
        sys.exit("benchlib: empty command")
    d: dict[str, str] = {}
    it = iter(opts)
    for k in it:
        if not k.startswith("--"):
            sys.exit(f"benchlib: unexpected argument {k!r}")
        d[k[2:]] = next(it)
    return d, cmd


def cmd_time(argv: list[str]) -> int:
    opts, cmd = _split(argv)
    repeat = int(opts.get("repeat", "1"))
    log = opts.get("log")
    results = []
    for _ in range(repeat):
        rc, ns = _run_timed(cmd, log)
        if rc != 0:
            return rc
        results.append(ns)
    print("\n".join(str(ns) for ns in results))
    return 0


def cmd_time_each(argv: list[str]) -> int:
    opts, cmd = _split(argv)
    with open(opts["list"]) as f:
        items = [line.rstrip("\n") for line in f if line.strip()]
    log = opts.get("log")
    total = 0
    for item in items:
        rc, ns = _run_timed(cmd + [item], log)
        total += ns
        if rc != 0:
            sys.stderr.write(f"benchlib: failed on {item}\n")
            return rc
    print(total)
    return 0


def cmd_libpq_batch(argv: list[str]) -> int:
    import ctypes
    import ctypes.util

    if len(argv) != 2:
        sys.exit("benchlib: libpq-batch CONNINFO FILE")
    conninfo, path = argv
    lib = None
    for name in (ctypes.util.find_library("pq"), "libpq.so.5", "libpq.so"):
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    if lib is None:
        sys.stderr.write("benchlib: libpq not found\n")
        return 2
    vp, cp = ctypes.c_void_p, ctypes.c_char_p
    lib.PQconnectdb.restype, lib.PQconnectdb.argtypes = vp, [cp]
    lib.PQstatus.restype, lib.PQstatus.argtypes = ctypes.c_int, [vp]
    lib.PQexec.restype, lib.PQexec.argtypes = vp, [vp, cp]
    lib.PQresultStatus.restype, lib.PQresultStatus.argtypes = ctypes.c_int, [vp]
    lib.PQerrorMessage.restype, lib.PQerrorMessage.argtypes = cp, [vp]
    lib.PQclear.restype, lib.PQclear.argtypes = None, [vp]
    lib.PQfinish.restype, lib.PQfinish.argtypes = None, [vp]
    with open(path, "rb") as f:
        sql = b"BEGIN;\n" + f.read() + b"\nCOMMIT;\n"
    t0 = time.perf_counter_ns()
    conn = lib.PQconnectdb(conninfo.encode())
    if lib.PQstatus(conn) != 0:  # CONNECTION_OK
        sys.stderr.write(f"benchlib: connect failed: {lib.PQerrorMessage(conn).decode()}\n")
        return 1
    res = lib.PQexec(conn, sql)
    status = lib.PQresultStatus(res)
    lib.PQclear(res)
    if status not in (1, 2):  # PGRES_COMMAND_OK, PGRES_TUPLES_OK
        sys.stderr.write(f"benchlib: batch failed: {lib.PQerrorMessage(conn).decode()}\n")
        lib.PQfinish(conn)
        return 1
    lib.PQfinish(conn)
    t1 = time.perf_counter_ns()
    print(t1 - t0)
    return 0


def _ms(ns: float) -> float:
    return ns / 1e6


def cmd_report(argv: list[str]) -> int:
    want_json = "--json" in argv
    strict = "--strict" in argv
    pos = [a for a in argv if not a.startswith("--")]
    results_path, meta_path = pos[0], pos[1]
    with open(meta_path) as f:
        meta = json.load(f)

    samples: dict[str, dict[int, list[int]]] = {}
    with open(results_path) as f:
        for line in f:
            if not line.strip():
                continue
            metric, rnd, ns = line.split("\t")
            samples.setdefault(metric, {}).setdefault(int(rnd), []).append(int(ns))

    def per_round(metric: str) -> dict[int, float]:
        # one value per round: the median of that round's samples
        return {r: statistics.median(v) for r, v in sorted(samples.get(metric, {}).items())}

    def summary(metric: str):
        pr = per_round(metric)
        if not pr:
            return None
        vals = list(pr.values())
        allv = [x for v in samples[metric].values() for x in v]
        return {
            "median_ms": round(_ms(statistics.median(vals)), 3),
            "min_ms": round(_ms(min(vals)), 3),
            "max_ms": round(_ms(max(vals)), 3),
            "rounds": len(vals),
            "samples": len(allv),
            "per_round_ms": [round(_ms(v), 3) for v in vals],
        }

    metrics = {
        "psql_single_tx": summary("psql"),
        "dbkit_apply": summary("dbkit"),
        "dbkit_noop": summary("noop"),
        "psql_per_file": summary("perfile"),
        "libpq_one_batch_floor": summary("floor"),
        "psql_connect_floor": summary("connect"),
        "spawn_floor": summary("spawn"),
    }

    psql_r, dbkit_r, floor_r = per_round("psql"), per_round("dbkit"), per_round("floor")
    ratios: dict[str, float | None] = {
        "dbkit_over_psql": None,
        "dbkit_over_psql_paired_median": None,
        "floor_over_psql_paired_median": None,
        "dbkit_over_psql_per_file": None,
        "psql_per_file_over_psql": None,
        "noop_over_psql_connect_floor": None,
    }
    m = metrics
    if m["dbkit_apply"] and m["psql_single_tx"]:
        ratios["dbkit_over_psql"] = m["dbkit_apply"]["median_ms"] / m["psql_single_tx"]["median_ms"]
        paired = [dbkit_r[r] / psql_r[r] for r in dbkit_r if r in psql_r]
        ratios["dbkit_over_psql_paired_median"] = statistics.median(paired)
        per_round_ratios = [round(x, 3) for x in paired]
    else:
        per_round_ratios = []
    if floor_r and psql_r:
        ratios["floor_over_psql_paired_median"] = statistics.median(
            floor_r[r] / psql_r[r] for r in floor_r if r in psql_r)
    if m["dbkit_apply"] and m["psql_per_file"]:
        ratios["dbkit_over_psql_per_file"] = m["dbkit_apply"]["median_ms"] / m["psql_per_file"]["median_ms"]
    if m["psql_per_file"] and m["psql_single_tx"]:
        ratios["psql_per_file_over_psql"] = m["psql_per_file"]["median_ms"] / m["psql_single_tx"]["median_ms"]
    if m["dbkit_noop"] and m["psql_connect_floor"]:
        ratios["noop_over_psql_connect_floor"] = m["dbkit_noop"]["median_ms"] / m["psql_connect_floor"]["median_ms"]
    ratios = {k: (round(v, 3) if v is not None else None) for k, v in ratios.items()}

    # Noise check: the same psql run should take about the same time every round.
    psql_vals = list(psql_r.values())
    spread = max(psql_vals) / min(psql_vals) if len(psql_vals) > 1 else 1.0
    # Other work on the machine: this benchmark alone keeps about one CPU busy,
    # so a 1-minute load average of at least the CPU count means someone else
    # was competing for the CPUs (typical: a cargo build running alongside).
    def load1(key: str) -> float:
        try:
            return float((meta.get(key) or "").split()[0])
        except (ValueError, IndexError):
            return 0.0
    cpus = meta.get("cpus") or 1
    busy = max(load1("loadavg_start"), load1("loadavg_end")) >= cpus
    noise = {
        "psql_max_over_min": round(spread, 3),
        "dbkit_over_psql_per_round": per_round_ratios,
        "machine_busy": busy,
        "noisy": spread > NOISY_SPREAD or busy,
    }

    targets = {
        # Judged on the median of the per-round paired ratios: both runs of a
        # round share the machine's state, so drift between rounds cancels out.
        "apply_ratio": {
            "target": f"dbkit/psql <= {TARGET_RATIO}",
            "value": ratios["dbkit_over_psql_paired_median"],
            "met": None if ratios["dbkit_over_psql_paired_median"] is None
            else ratios["dbkit_over_psql_paired_median"] <= TARGET_RATIO,
        },
        "noop": {
            "target": f"no-op re-run < {TARGET_NOOP_MS:g} ms",
            "value": m["dbkit_noop"]["median_ms"] if m["dbkit_noop"] else None,
            "met": None if not m["dbkit_noop"] else m["dbkit_noop"]["median_ms"] < TARGET_NOOP_MS,
        },
    }
    doc = {"meta": meta, "metrics": metrics, "ratios": ratios, "targets": targets, "noise": noise}

    if want_json:
        print(json.dumps(doc, indent=2))
    else:
        print(_render(doc))
    missed = any(t["met"] is False for t in targets.values())
    unmeasured = any(t["met"] is None for t in targets.values())
    return 3 if strict and (missed or unmeasured) else 0


def _fmt(x) -> str:
    return "n/a" if x is None else f"{x:.3f}x"


def _render(doc) -> str:
    meta, m, r, t, nz = doc["meta"], doc["metrics"], doc["ratios"], doc["targets"], doc["noise"]
    w = meta.get("workload", {})
    lines = [
        f"dbkit apply benchmark: {w.get('baseline_tables', '?')} baseline tables + "
        f"{w.get('migrations', '?')} migrations ({w.get('statements', '?')} statements, seed {w.get('seed', '?')})",
        f"PostgreSQL {meta.get('server_version', '?')}, fsync={meta.get('fsync', '?')}, "
        f"{meta.get('cpus', '?')} CPUs; rounds={meta.get('rounds')}, no-op runs/round={meta.get('noop_runs')}",
        "",
        f"{'measurement':<50}{'median ms':>11}{'min ms':>10}{'max ms':>10}{'n':>5}",
    ]
    rows = [
        ("psql --single-transaction -f all.sql", "psql_single_tx"),
        ("dbkit apply-schema (fresh db)", "dbkit_apply"),
        ("dbkit no-op re-run (per-round medians)", "dbkit_noop"),
        ("ref: psql -f per file, 1 process each (round 1)", "psql_per_file"),
        ("ref: libpq, all.sql as ONE query (server floor)", "libpq_one_batch_floor"),
        ("ref: psql -c 'SELECT 1' (connect floor)", "psql_connect_floor"),
        ("ref: spawn /bin/true (timer floor)", "spawn_floor"),
    ]
    for label, key in rows:
        s = m[key]
        if s is None:
            lines.append(f"{label:<50}{'n/a':>11}{'n/a':>10}{'n/a':>10}{'0':>5}")
        else:
            lines.append(f"{label[:50]:<50}{s['median_ms']:>11.2f}{s['min_ms']:>10.2f}"
                         f"{s['max_ms']:>10.2f}{s['samples']:>5}")
    lines += [
        "",
        "ratios (same run):",
        f"  dbkit / psql single-tx, median of per-round ratios  {_fmt(r['dbkit_over_psql_paired_median'])}",
        f"  dbkit / psql single-tx, ratio of medians            {_fmt(r['dbkit_over_psql'])}",
        "  dbkit / psql single-tx, each round                  "
        + (" ".join(f"{x:.3f}" for x in nz["dbkit_over_psql_per_round"]) or "n/a"),
        f"  server floor / psql single-tx (best any client)     {_fmt(r['floor_over_psql_paired_median'])}",
        f"  dbkit / psql per-file (old shell-script way)        {_fmt(r['dbkit_over_psql_per_file'])}",
        f"  psql per-file / psql single-tx                      {_fmt(r['psql_per_file_over_psql'])}",
        f"  dbkit no-op / psql connect+SELECT 1                 {_fmt(r['noop_over_psql_connect_floor'])}",
        "",
        "targets:",
    ]
    for name, tt in t.items():
        met = {True: "MET", False: "MISSED", None: "NOT MEASURED"}[tt["met"]]
        val = tt["value"]
        vs = "n/a" if val is None else (f"{val:.3f}x" if name == "apply_ratio" else f"{val:.2f} ms")
        lines.append(f"  {tt['target']:<34} {vs:>10}   {met}")
    if nz["noisy"]:
        lines += [
            "",
            f"WARNING: noisy run: psql's slowest round took {nz['psql_max_over_min']:.2f}x its fastest; "
            f"load average {meta.get('loadavg_start', '?')} at start, {meta.get('loadavg_end', '?')} at end "
            f"on {meta.get('cpus', '?')} CPUs.",
            "         Other work competed for the machine; ratios from this run are unreliable"
            " (contention penalises",
            "         psql's one-round-trip-per-statement more than batched clients). Re-run on an idle machine.",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    sub, rest = argv[0], argv[1:]
    if sub == "time":
        return cmd_time(rest)
    if sub == "time-each":
        return cmd_time_each(rest)
    if sub == "libpq-batch":
        return cmd_libpq_batch(rest)
    if sub == "report":
        return cmd_report(rest)
    sys.exit(f"benchlib: unknown subcommand {sub!r}")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
