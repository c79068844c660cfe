#!/usr/bin/env python3
"""Generate the dbkit apply benchmark workload (deterministic, stdlib only).

Usage:
    gen-workload.py OUTDIR [--seed N] [--tables N] [--migrations N]

Writes into OUTDIR (which must be empty or absent):
    versions/v1.0_baseline.sql   baseline snapshot: --tables tables in schema public
    migrations/NNN_name.sql      --migrations migrations, 2-6 statements each
    all.sql                      baseline + every migration concatenated in order
                                 (the input of the `psql --single-transaction` baseline)

The same seed always produces byte-identical files. Every statement is
transactional (no CONCURRENTLY, no VACUUM, no explicit BEGIN/COMMIT), so the
whole workload applies inside one transaction as well as one transaction per file.
Prints a one-line JSON summary on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys

DEFAULT_SEED = 20260101

BASE_NAMES = [
    "organizations", "users", "teams", "team_members", "projects", "customers",
    "addresses", "products", "product_categories", "suppliers", "warehouses",
    "inventory_items", "orders", "order_lines", "invoices", "invoice_lines",
    "payments", "refunds", "shipments", "shipment_items", "carriers",
    "price_lists", "price_list_items", "discounts", "coupons", "carts",
    "cart_items", "reviews", "tickets", "ticket_comments", "tags", "taggings",
    "documents", "document_versions", "attachments", "notifications",
    "subscriptions", "plans", "usage_records", "api_keys", "webhooks",
    "webhook_deliveries", "audit_events", "sessions", "login_attempts",
    "feature_flags", "experiments", "experiment_assignments", "reports",
    "report_runs", "regions", "currencies", "tax_rates", "contracts",
]

# Lookup tables (code/label) that receive reference rows via INSERT.
LOOKUP_BASE = ["order_statuses", "payment_methods", "ticket_priorities",
               "country_codes", "unit_types"]

COLUMN_POOL = [
    ("name", "text"), ("title", "text"), ("description", "text"),
    ("status", "text"), ("code", "text"), ("email", "text"), ("notes", "text"),
    ("external_ref", "text"), ("slug", "text"), ("locale", "text"),
    ("quantity", "integer"), ("position", "integer"), ("priority", "integer"),
    ("attempts", "integer"), ("version", "integer"), ("retry_count", "integer"),
    ("amount", "numeric(12,2)"), ("price", "numeric(12,2)"),
    ("score", "numeric(6,3)"), ("weight_kg", "numeric(10,3)"),
    ("is_active", "boolean"), ("is_deleted", "boolean"), ("is_public", "boolean"),
    ("verified", "boolean"),
    ("starts_at", "timestamptz"), ("ends_at", "timestamptz"),
    ("processed_at", "timestamptz"), ("archived_at", "timestamptz"),
    ("metadata", "jsonb"), ("settings", "jsonb"), ("payload", "jsonb"),
    ("big_counter", "bigint"), ("external_id", "bigint"),
]

NEW_COLUMN_POOL = [
    ("label", "text"), ("summary", "text"), ("source", "text"), ("channel", "text"),
    ("region_code", "text"), ("timezone", "text"), ("phone", "text"),
    ("website", "text"), ("color", "text"), ("reason", "text"), ("category", "text"),
    ("mime_type", "text"), ("checksum", "text"),
    ("level", "integer"), ("rank", "integer"), ("sequence_no", "integer"),
    ("limit_value", "integer"), ("legacy_id", "bigint"), ("owner_ref", "bigint"),
    ("threshold", "numeric(10,3)"), ("ratio", "numeric(6,3)"),
    ("margin", "numeric(12,2)"), ("balance", "numeric(12,2)"), ("cost", "numeric(12,2)"),
    ("flagged", "boolean"), ("pinned", "boolean"), ("locked", "boolean"),
    ("visible", "boolean"),
    ("synced_at", "timestamptz"), ("expires_at", "timestamptz"),
    ("confirmed_at", "timestamptz"), ("reviewed_at", "timestamptz"),
    ("extra", "jsonb"), ("config", "jsonb"), ("context", "jsonb"),
]

DEFAULTS = {
    "text": ["''", "'unknown'", "'pending'", "'n/a'"],
    "integer": ["0", "1", "10", "100"],
    "bigint": ["0", "1"],
    "numeric(12,2)": ["0", "0.00", "1.50"],
    "numeric(6,3)": ["0", "1.000"],
    "numeric(10,3)": ["0"],
    "boolean": ["false", "true"],
    "timestamptz": ["now()", "'2026-01-01 00:00:00+00'"],
    "jsonb": ["'{}'::jsonb", "'[]'::jsonb", "'{\"v\": 1}'::jsonb"],
}

COMMENT_PHRASES = [
    "Owned by the billing team", "Customer's preferred value; may be NULL",
    "Denormalised for reporting", "Kept for the legacy importer (don't drop)",
    "Populated by the nightly job", "Source of truth for routing decisions",
    "Soft-delete marker", "Free-form; validated by the application",
    "See ADR-0042; semicolons; are; fine; here", "Audit trail entry",
]


def q(s: str) -> str:
    """SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


class Table:
    def __init__(self, name: str, lookup: bool = False):
        self.name = name
        self.lookup = lookup
        self.columns: dict[str, str] = {}  # name -> type, insertion order
        self.protected: set[str] = {"id", "created_at", "updated_at"}
        self.fks: list[tuple[str, str]] = []  # (column, parent table)
        self.indexed: set[tuple[str, ...]] = set()
        self.next_code = 1
        self.rows = 0


class Gen:
    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.tables: list[Table] = []
        self.by_name: dict[str, Table] = {}
        self.names_used: set[str] = set()  # relation/index/constraint names
        self.functions: dict[str, str] = {}  # name -> return type (for replace)
        self.counter = 0
        self.stats = {"statements": 0}

    # -- helpers -------------------------------------------------------------
    def uniq(self, base: str) -> str:
        base = base[:50]
        name = base
        n = 2
        while name in self.names_used:
            name = f"{base}_{n}"
            n += 1
        self.names_used.add(name)
        return name

    def add_table(self, t: Table) -> None:
        self.tables.append(t)
        self.by_name[t.name] = t

    def new_column(self, t: Table) -> tuple[str, str]:
        base, ctype = self.rng.choice(NEW_COLUMN_POOL)
        name = base
        n = 2
        while name in t.columns:
            name = f"{base}_{n}"
            n += 1
        return name, ctype

    def count(self, kind: str) -> None:
        self.stats["statements"] += 1
        self.stats[kind] = self.stats.get(kind, 0) + 1

    def pick_table(self, lookup: bool | None = False) -> Table:
        cands = [t for t in self.tables if lookup is None or t.lookup == lookup]
        return self.rng.choice(cands)

    # -- baseline --------------------------------------------------------------
    def create_table_sql(self, t: Table, parents: list[Table], ncols: int) -> list[str]:
        rng = self.rng
        lines = ["    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY"]
        t.columns["id"] = "bigint"
        if t.lookup:
            t.columns.update({"code": "text", "label": "text", "sort_order": "integer"})
            t.protected |= {"code", "label", "sort_order"}
            lines += ["    code text NOT NULL UNIQUE",
                      "    label text NOT NULL",
                      "    sort_order integer NOT NULL DEFAULT 0"]
        for p in parents:
            col = f"{p.name[:40]}_id"
            if col in t.columns:
                continue
            t.columns[col] = "bigint"
            t.fks.append((col, p.name))
            action = rng.choice(["", "", " ON DELETE CASCADE", " ON DELETE SET NULL"])
            null = " NOT NULL" if rng.random() < 0.5 and action != " ON DELETE SET NULL" else ""
            lines.append(f"    {col} bigint{null} REFERENCES {p.name} (id){action}")
        for _ in range(ncols):
            cname, ctype = rng.choice(COLUMN_POOL)
            if cname in t.columns:
                continue
            t.columns[cname] = ctype
            extra = ""
            r = rng.random()
            if r < 0.25:
                extra = " NOT NULL DEFAULT " + rng.choice(DEFAULTS[ctype])
            elif r < 0.35 and ctype == "text" and not t.lookup:
                extra = " NOT NULL"
            lines.append(f"    {cname} {ctype}{extra}")
        t.columns["created_at"] = "timestamptz"
        lines.append("    created_at timestamptz NOT NULL DEFAULT now()")
        if rng.random() < 0.6:
            t.columns["updated_at"] = "timestamptz"
            lines.append("    updated_at timestamptz NOT NULL DEFAULT now()")
        return [f"CREATE TABLE {t.name} (\n" + ",\n".join(lines) + "\n);"]

    def baseline(self, ntables: int) -> str:
        rng = self.rng
        names = list(LOOKUP_BASE) + [n for n in BASE_NAMES]
        names = names[:ntables]
        while len(names) < ntables:
            names.append(f"entity_{len(names):03d}")
        out = [
            "-- Schema Version: v1.0",
            "-- Description: Benchmark baseline",
            "-- Generated: 2026-01-01 00:00:00 UTC",
            "-- DO NOT EDIT: generated",
            "",
        ]
        for i, name in enumerate(names):
            self.names_used.add(name)
            t = Table(name, lookup=name in LOOKUP_BASE)
            parents: list[Table] = []
            if self.tables and not t.lookup:
                k = rng.choice([0, 1, 1, 1, 2, 2, 3])
                parents = rng.sample(self.tables, min(k, len(self.tables)))
            out.extend(self.create_table_sql(t, parents, rng.randint(3, 9)))
            self.count("baseline_table")
            self.add_table(t)
            for col, _parent in t.fks:
                if rng.random() < 0.6:
                    ix = self.uniq(f"ix_{t.name[:30]}_{col[:25]}")
                    out.append(f"CREATE INDEX {ix} ON {t.name} ({col});")
                    t.indexed.add((col,))
                    self.count("baseline_index")
            if i % 7 == 3:
                col = rng.choice([c for c in t.columns if c != "id" and (c,) not in t.indexed])
                t.indexed.add((col,))
                ix = self.uniq(f"ix_{t.name[:30]}_{col[:25]}")
                out.append(f"CREATE INDEX {ix} ON {t.name} ({col});")
                self.count("baseline_index")
            out.append("")
        return "\n".join(out) + "\n"

    # -- migration operations (each returns (slug, [statements])) -------------
    def op_add_column(self):
        t = self.pick_table(None)
        col, ctype = self.new_column(t)
        t.columns[col] = ctype
        self.count("add_column")
        return f"add_{col}_to_{t.name}", [f"ALTER TABLE {t.name} ADD COLUMN {col} {ctype};"]

    def op_add_column_default(self):
        t = self.pick_table(None)
        col, ctype = self.new_column(t)
        t.columns[col] = ctype
        dflt = self.rng.choice(DEFAULTS[ctype])
        self.count("add_column_default")
        return (f"add_{col}_to_{t.name}",
                [f"ALTER TABLE {t.name} ADD COLUMN {col} {ctype} NOT NULL DEFAULT {dflt};"])

    def op_create_index(self):
        t = self.pick_table(None)
        cols = [c for c, ty in t.columns.items()
                if c != "id" and ty != "jsonb" and (c,) not in t.indexed]
        if not cols:
            return self.op_add_column()
        k = 1 if len(cols) < 2 or self.rng.random() < 0.7 else 2
        chosen = self.rng.sample(cols, k)
        t.indexed.add(tuple(chosen))
        ix = self.uniq(f"ix_{t.name[:30]}_{'_'.join(c[:12] for c in chosen)}")
        where = ""
        r = self.rng.random()
        if r < 0.15 and "is_deleted" in t.columns:
            where = " WHERE NOT is_deleted"
        self.count("create_index")
        return (f"index_{t.name}_{chosen[0]}",
                [f"CREATE INDEX {ix} ON {t.name} ({', '.join(chosen)}){where};"])

    def op_create_table(self):
        rng = self.rng
        parent = self.pick_table(False)
        lookup = rng.random() < 0.15
        base = (parent.name[:36] + "_" + rng.choice(
            ["history", "notes", "links", "snapshots", "settings", "metrics", "exports",
             "kinds", "states"] if not lookup else ["kinds", "states", "reasons"]))
        name = self.uniq(base)
        t = Table(name, lookup=lookup)
        parents = [] if lookup else [parent]
        if not lookup and rng.random() < 0.3:
            other = self.pick_table(None)
            if other is not parent:
                parents.append(other)
        stmts = self.create_table_sql(t, parents, rng.randint(2, 6))
        self.add_table(t)
        self.count("create_table")
        for col, _p in t.fks:
            ix = self.uniq(f"ix_{t.name[:30]}_{col[:25]}")
            stmts.append(f"CREATE INDEX {ix} ON {t.name} ({col});")
            t.indexed.add((col,))
            self.count("create_index")
        return f"create_{name}", stmts

    def op_add_check(self):
        t = self.pick_table(None)
        if t.lookup:
            ck = self.uniq(f"ck_{t.name[:30]}_code_len")
            expr = "char_length(code) BETWEEN 1 AND 64"
            col = "code"
        else:
            cands = [(c, ty) for c, ty in t.columns.items()
                     if ty in ("integer", "bigint", "text") or ty.startswith("numeric")]
            col, ty = self.rng.choice(cands)
            ck = self.uniq(f"ck_{t.name[:30]}_{col[:20]}")
            if ty == "text":
                expr = f"char_length({col}) <= {self.rng.choice([64, 200, 1000])}"
            else:
                expr = f"{col} >= 0"
        self.count("add_check")
        return (f"check_{t.name}_{col}",
                [f"ALTER TABLE {t.name} ADD CONSTRAINT {ck} CHECK ({expr});"])

    def op_function(self):
        rng = self.rng
        t = self.pick_table(None)
        # Sometimes replace an existing function (same signature, new body).
        if self.functions and rng.random() < 0.3:
            fname = rng.choice(sorted(self.functions))
            verb = "replace"
        else:
            fname = self.uniq(f"fn_{t.name[:30]}_{rng.choice(['count', 'touch', 'lookup', 'score'])}")
            self.functions[fname] = "integer"
            verb = "create"
        tag = rng.choice(["$$", "$$", "$fn$", "$body$"])
        col = rng.choice(list(t.columns))
        body = f"""CREATE OR REPLACE FUNCTION {fname}(p_id bigint)
RETURNS integer
LANGUAGE plpgsql
AS {tag}
DECLARE
    v_count integer := 0;
    v_note  text := 'checked; id=' || p_id::text;  -- a ';' inside a string
BEGIN
    SELECT count(*) INTO v_count FROM {t.name} WHERE id = p_id AND {col} IS NOT NULL;
    IF v_count = 0 THEN
        RAISE NOTICE 'no row for %: %', p_id, v_note;
    END IF;
    RETURN v_count + {self.counter % 7};
END;
{tag};"""
        self.count("function")
        stmts = [body]
        if verb == "create" and "updated_at" in t.columns and rng.random() < 0.35:
            tf = self.uniq(f"trg_{t.name[:30]}_touch")
            stmts.append(f"""CREATE OR REPLACE FUNCTION {tf}()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;""")
            stmts.append(f"CREATE TRIGGER {tf} BEFORE UPDATE ON {t.name}\n"
                         f"    FOR EACH ROW EXECUTE FUNCTION {tf}();")
            self.count("function")
            self.count("trigger")
        return f"{verb}_{fname}", stmts

    def op_view(self):
        rng = self.rng
        t = self.pick_table(None)
        cols = [c for c in t.columns if c != "id"]
        chosen = rng.sample(cols, min(len(cols), rng.randint(1, 4)))
        select = ["t.id"] + [f"t.{c}" for c in chosen]
        join = ""
        if t.fks and rng.random() < 0.6:
            fk_col, pname = rng.choice(t.fks)
            p = self.by_name[pname]
            pc = rng.choice([c for c in p.columns if c != "id"])
            select.append(f"p.{pc} AS {pname[:25]}_{pc[:25]}")
            join = f"\n    LEFT JOIN {pname} p ON p.id = t.{fk_col}"
        where = ""
        if "created_at" in t.columns and rng.random() < 0.5:
            where = "\n    WHERE t.created_at > now() - interval '90 days'"
        vname = self.uniq(f"v_{t.name[:30]}_{rng.choice(['summary', 'recent', 'active', 'report'])}")
        self.count("view")
        return (f"view_{vname}",
                [f"CREATE VIEW {vname} AS\n    SELECT {', '.join(select)}\n    FROM {t.name} t{join}{where};"])

    def op_comment(self):
        rng = self.rng
        t = self.pick_table(None)
        phrase = rng.choice(COMMENT_PHRASES)
        self.count("comment")
        if rng.random() < 0.4:
            return f"comment_{t.name}", [f"COMMENT ON TABLE {t.name} IS {q(phrase)};"]
        col = rng.choice(list(t.columns))
        return f"comment_{t.name}_{col}", [f"COMMENT ON COLUMN {t.name}.{col} IS {q(phrase)};"]

    def op_insert(self):
        rng = self.rng
        t = self.pick_table(True)
        n = rng.randint(2, 8)
        rows = []
        for _ in range(n):
            c = t.next_code
            t.next_code += 1
            rows.append(f"    ({q(f'{t.name[:6]}_{c:04d}')}, {q(f'Item {c} of {t.name}')}, {c * 10})")
        t.rows += n
        self.count("insert")
        return (f"seed_{t.name}",
                [f"INSERT INTO {t.name} (code, label, sort_order) VALUES\n" + ",\n".join(rows) + ";"])

    def op_rename(self):
        t = self.pick_table(None)
        cands = [c for c in t.columns if c not in t.protected and not c.endswith("_id")]
        if not cands:
            return self.op_comment()
        old = self.rng.choice(cands)
        base = old.split("__")[0]
        n = 2
        new = f"{base}__r{n}"
        while new in t.columns:
            n += 1
            new = f"{base}__r{n}"
        # keep column order stable but rename
        t.columns = {(new if c == old else c): ty for c, ty in t.columns.items()}
        t.indexed = {tuple(new if c == old else c for c in ix) for ix in t.indexed}
        self.count("rename_column")
        return (f"rename_{t.name}_{base}",
                [f"ALTER TABLE {t.name} RENAME COLUMN {old} TO {new};"])

    def migration(self, idx: int) -> tuple[str, str]:
        rng = self.rng
        # (operation, weight, most statements it can emit)
        ops = [
            (self.op_add_column, 14, 1), (self.op_add_column_default, 12, 1),
            (self.op_create_index, 14, 1), (self.op_create_table, 7, 3),
            (self.op_add_check, 8, 1), (self.op_function, 8, 3), (self.op_view, 8, 1),
            (self.op_comment, 12, 1), (self.op_insert, 8, 1), (self.op_rename, 6, 1),
        ]
        target = rng.randint(2, 6)
        stmts: list[str] = []
        slug = None
        while len(stmts) < target:
            self.counter += 1
            room = 6 - len(stmts)
            fits = [(f, w) for f, w, most in ops if most <= room]
            op = rng.choices([f for f, _ in fits], [w for _, w in fits])[0]
            s, ss = op()
            stmts.extend(ss)
            slug = slug or s
        assert 2 <= len(stmts) <= 6, (idx, len(stmts))
        slug = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in slug.lower())[:48]
        fname = f"{idx:03d}_{slug}.sql"
        text = (f"-- Migration {idx:03d}: {slug.replace('_', ' ')}\n"
                f"-- generated by scripts/bench/gen-workload.py\n\n"
                + "\n\n".join(stmts) + "\n")
        return fname, text


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir")
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--tables", type=int, default=50)
    ap.add_argument("--migrations", type=int, default=500)
    a = ap.parse_args(argv)
    if a.migrations > 999:
        ap.error("--migrations must be <= 999 (three-digit prefixes)")

    out = a.outdir
    if os.path.exists(out) and os.listdir(out):
        ap.error(f"{out} exists and is not empty")
    os.makedirs(os.path.join(out, "versions"), exist_ok=True)
    os.makedirs(os.path.join(out, "migrations"), exist_ok=True)

    g = Gen(a.seed)
    baseline = g.baseline(a.tables)
    parts = [baseline]
    with open(os.path.join(out, "versions", "v1.0_baseline.sql"), "w", newline="\n") as f:
        f.write(baseline)
    for i in range(1, a.migrations + 1):
        fname, text = g.migration(i)
        with open(os.path.join(out, "migrations", fname), "w", newline="\n") as f:
            f.write(text)
        parts.append(text)
    with open(os.path.join(out, "all.sql"), "w", newline="\n") as f:
        f.write("\n".join(parts))

    summary = {
        "seed": a.seed,
        "baseline_tables": a.tables,
        "migrations": a.migrations,
        "tables_total": len(g.tables),
        "lookup_rows": sum(t.rows for t in g.tables),
        **g.stats,
    }
    print(json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
