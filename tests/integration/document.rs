//! What the analyzer finds in a migration: one hand-written case per section and per
//! risk, the example folder as JSON snapshots, and the public corpora without a panic.

use crate::util;

use dbkit::ddl::summary::{FileSummary, RiskKind};
use dbkit::ddl::{analyze_text, Schema};

/// A schema model as a small earlier migration leaves it.
fn existing() -> Schema {
    let mut schema = Schema::default();
    analyze_text(
        "000_base.sql",
        "CREATE TABLE public.users (id bigint PRIMARY KEY, email text NOT NULL, name varchar(50));\n\
         CREATE TABLE orders (id bigint PRIMARY KEY, user_id bigint REFERENCES users(id), total numeric);\n\
         CREATE TYPE status AS ENUM ('new', 'paid');\n\
         CREATE INDEX orders_user_idx ON orders (user_id);\n",
        &mut schema,
    )
    .expect("base parses");
    schema
}

/// The file's summary, without `require-lock-timeout`: nearly every case here changes
/// an existing table without setting `lock_timeout`, and that rule has its own test.
fn analyze(sql: &str) -> FileSummary {
    let mut s = analyze_all(sql);
    // The timeout rules fire on nearly every case here; they have tests of their own.
    s.risks.retain(|r| {
        !matches!(
            r.risk,
            RiskKind::RequireLockTimeout | RiskKind::RequireStatementTimeout
        )
    });
    s
}

fn analyze_all(sql: &str) -> FileSummary {
    analyze_text("m.sql", sql, &mut existing()).expect("analyzes")
}

fn risks(summary: &FileSummary) -> Vec<(RiskKind, usize, bool)> {
    summary
        .risks
        .iter()
        .map(|r| (r.risk, r.at.line, r.allowed))
        .collect()
}

#[test]
fn a_new_table_with_its_columns_and_relationships() {
    let s = analyze(
        "-- payments\nCREATE TABLE payments (\n  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,\n  order_id bigint NOT NULL REFERENCES orders (id) ON DELETE CASCADE,\n  amount numeric(12,2) NOT NULL DEFAULT 0,\n  CONSTRAINT positive CHECK (amount >= 0)\n);\n",
    );
    assert_eq!(s.new_tables.len(), 1);
    let table = &s.new_tables[0];
    assert_eq!(
        (table.table.as_str(), table.columns.len(), table.at.line),
        ("payments", 3, 2)
    );
    assert!(table.columns[0].primary_key && !table.columns[0].nullable);
    assert_eq!(table.columns[2].default.as_deref(), Some("0"));
    assert_eq!(table.columns[2].data_type, "numeric(12,2)");
    assert!(s.modified_tables.is_empty());
    let rel = &s.relationships[0];
    assert_eq!(
        (rel.references_table.as_str(), rel.table.as_str()),
        ("orders", "payments")
    );
    assert_eq!(
        (rel.columns.clone(), rel.on_delete.as_deref()),
        (vec!["order_id".to_string()], Some("CASCADE"))
    );
    assert_eq!(s.constraints[0].kind, "check");
    assert!(s.risks.is_empty(), "{:?}", s.risks);
}

#[test]
fn a_column_added_to_an_existing_table_modifies_it() {
    let s = analyze("ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT 'en';\nALTER TABLE public.users ADD COLUMN org_id bigint;\nALTER TABLE users ADD CONSTRAINT users_org_fk FOREIGN KEY (org_id) REFERENCES orgs (id) NOT VALID;\n");
    assert!(s.new_tables.is_empty());
    assert_eq!(s.modified_tables.len(), 1);
    assert_eq!(
        s.modified_tables[0].changes,
        ["add column locale", "add column org_id", "add foreign key"]
    );
    assert!(s
        .new_columns
        .iter()
        .all(|c| c.existing_table && c.table == "users"));
    assert_eq!(s.relationships[0].references_table, "orgs");
    assert!(s.relationships[0].not_valid);
    assert!(
        s.risks.is_empty(),
        "NOT VALID foreign keys and defaults are safe: {:?}",
        s.risks
    );
}

#[test]
fn drops_renames_and_column_changes() {
    let s = analyze(
        "ALTER TABLE orders DROP COLUMN total;\nALTER TABLE users RENAME COLUMN name TO full_name;\nALTER TABLE orders RENAME TO purchases;\nDROP TABLE IF EXISTS legacy CASCADE;\nALTER TABLE users ALTER COLUMN email TYPE varchar(320), ALTER COLUMN full_name SET NOT NULL, ALTER COLUMN email SET DEFAULT '';\n",
    );
    assert_eq!(s.dropped_columns[0].object, "orders.total");
    assert_eq!(s.dropped_tables[0].object, "legacy");
    assert!(s.dropped_tables[0].cascade);
    assert_eq!(
        (
            s.renamed_columns[0].from.as_str(),
            s.renamed_columns[0].to.as_str()
        ),
        ("name", "full_name")
    );
    assert_eq!(
        (
            s.renamed_tables[0].from.as_str(),
            s.renamed_tables[0].to.as_str()
        ),
        ("orders", "purchases")
    );
    let changes: Vec<&str> = s
        .changed_columns
        .iter()
        .map(|c| c.change.as_str())
        .collect();
    assert_eq!(
        changes,
        ["type text → varchar(320)", "set not null", "default ''"]
    );
    let kinds: Vec<RiskKind> = s.risks.iter().map(|r| r.risk).collect();
    assert_eq!(
        kinds,
        [
            RiskKind::DataLoss,
            RiskKind::Rename,
            RiskKind::Rename,
            RiskKind::DataLoss,
            RiskKind::MayFailOnExistingData,
            RiskKind::TableRewrite,
            RiskKind::LongLock
        ]
    );
}

#[test]
fn indexes_types_and_other_objects() {
    let s = analyze(
        "CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users USING btree (lower(email)) WHERE email IS NOT NULL;\n\
         DROP INDEX orders_user_idx;\n\
         ALTER TYPE status ADD VALUE 'refunded';\n\
         ALTER TYPE status ADD VALUE IF NOT EXISTS 'shipped' AFTER 'paid';\n\
         CREATE TYPE money_pair AS (amount numeric, currency text);\n\
         CREATE OR REPLACE VIEW paid_orders AS SELECT * FROM orders;\n\
         CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;\n\
         CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch();\n\
         ALTER TABLE users ENABLE ROW LEVEL SECURITY;\n\
         CREATE POLICY own_rows ON users FOR SELECT USING (id = 1);\n\
         CREATE EXTENSION IF NOT EXISTS pgcrypto;\n\
         CREATE SCHEMA audit;\n\
         COMMENT ON TABLE users IS 'people';\n\
         GRANT SELECT ON users TO reporting;\n",
    );
    let index = &s.indexes[0];
    assert!(index.unique && index.concurrently && !index.dropped);
    assert_eq!(
        (index.method.as_deref(), index.predicate.as_deref()),
        (Some("btree"), Some("email IS NOT NULL"))
    );
    assert!(s.indexes[1].dropped && s.indexes[1].table == "orders");
    assert_eq!(s.types[0].action, "value added");
    assert_eq!(s.types[1].detail.as_deref(), Some("after 'paid'"));
    assert_eq!(
        (s.types[2].name.as_str(), s.types[2].kind.as_str()),
        ("money_pair", "composite")
    );
    assert_eq!(s.views[0].action, "created or replaced");
    assert_eq!(s.functions[0].name, "touch");
    assert_eq!(
        s.triggers[0].detail.as_deref(),
        Some("before update on users")
    );
    assert_eq!(
        s.policies
            .iter()
            .map(|p| p.action.as_str())
            .collect::<Vec<_>>(),
        ["row-level security enabled", "created"]
    );
    assert_eq!(s.extensions[0].name, "pgcrypto");
    assert_eq!(s.schemas[0].name, "audit");
    assert_eq!(s.comments[0].name, "table users");
    assert_eq!(s.grants[0].action, "granted");
    assert_eq!(
        risks(&s),
        [
            (RiskKind::BlockingIndex, 2, false),
            (RiskKind::EnumValueOrder, 3, false)
        ]
    );
}

#[test]
fn data_statements_are_counted_per_table() {
    let s = analyze("INSERT INTO users (id, email) VALUES (1, 'a');\nINSERT INTO public.users (id, email) VALUES (2, 'b');\nUPDATE users SET name = 'x' WHERE id = 1;\nDELETE FROM orders WHERE id = 3;\nCOPY users (id, email) FROM stdin;\n3\tc\n\\.\n");
    let users = s.data.iter().find(|d| d.table == "users").expect("users");
    assert_eq!(
        (
            users.inserts,
            users.updates,
            users.copies,
            users.lines.clone()
        ),
        (2, 1, 1, vec![1, 2, 3, 5])
    );
    assert_eq!(
        s.data
            .iter()
            .find(|d| d.table == "orders")
            .map(|d| d.deletes),
        Some(1)
    );
}

#[test]
fn what_cannot_be_parsed_is_listed_with_its_line_and_ddl_in_bodies_is_named() {
    let s = analyze(
        "CREATE TABLE a (id int);\n\nDO $$ BEGIN\n  IF NOT EXISTS (SELECT 1) THEN\n    CREATE TABLE b (id int);\n    ALTER TABLE a ADD COLUMN x int;\n  END IF;\nEND $$;\nALTER SEQUENCE users_id_seq RESTART WITH 100;\nCOMMENT ON FUNCTION touch(integer) IS 'x';\nCREATE AGGREGATE mysum (int) (sfunc = int4pl, stype = int);\n",
    );
    let found: Vec<(String, usize, Option<String>)> = s
        .not_analysed
        .iter()
        .map(|n| (n.kind.clone(), n.at.line, n.note.clone()))
        .collect();
    assert_eq!(
        found[0],
        (
            "DO block".to_string(),
            3,
            Some("contains DDL: CREATE TABLE, ALTER TABLE".to_string())
        )
    );
    let kinds: Vec<&str> = found.iter().map(|f| f.0.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "DO block",
            "ALTER SEQUENCE",
            "COMMENT ON FUNCTION",
            "CREATE AGGREGATE"
        ]
    );
    assert_eq!((s.statements, s.analysed), (5, 1));
}

#[test]
fn every_risk_has_its_case_and_can_be_allowed() {
    let cases: [(&str, RiskKind); 10] = [
        (
            "ALTER TABLE users ALTER COLUMN id TYPE integer;",
            RiskKind::TableRewrite,
        ),
        (
            "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();",
            RiskKind::TableRewrite,
        ),
        (
            "ALTER TABLE users ALTER COLUMN name SET NOT NULL;",
            RiskKind::LongLock,
        ),
        (
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
            RiskKind::LongLock,
        ),
        (
            "ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total > 0);",
            RiskKind::LongLock,
        ),
        (
            "CREATE INDEX users_name_idx ON users (name);",
            RiskKind::BlockingIndex,
        ),
        ("ALTER TABLE users DROP COLUMN name;", RiskKind::DataLoss),
        ("ALTER TABLE users RENAME TO people;", RiskKind::Rename),
        (
            "ALTER TABLE users ADD COLUMN org_id bigint NOT NULL;",
            RiskKind::NotNullWithoutDefault,
        ),
        (
            "ALTER TYPE status ADD VALUE 'void';",
            RiskKind::EnumValueOrder,
        ),
    ];
    // Some statements carry other risks too (a constraint that may also fail on rows).
    let only = |s: &FileSummary, risk| -> Vec<(RiskKind, usize, bool)> {
        risks(s).into_iter().filter(|r| r.0 == risk).collect()
    };
    for (sql, risk) in cases {
        let s = analyze(sql);
        assert_eq!(only(&s, risk), [(risk, 1, false)], "{sql}");
        let allowed = analyze(&format!("-- dbkit:allow {}\n{sql}", risk.name()));
        assert_eq!(only(&allowed, risk), [(risk, 2, true)], "{sql}");
    }
    let long = "x".repeat(64);
    assert_eq!(
        analyze(&format!("CREATE TABLE t_{long} (id int);")).risks[0].risk,
        RiskKind::IdentifierTooLong
    );
    let s = analyze("BEGIN;\nCREATE INDEX CONCURRENTLY users_name_idx ON users (name);\nCOMMIT;\n");
    assert_eq!(risks(&s), [(RiskKind::ConcurrentlyInTransaction, 2, false)]);
    // A new table's index, a binary-compatible type change and a NOT VALID check are safe.
    let s = analyze("CREATE TABLE n (id int);\nCREATE INDEX n_idx ON n (id);\nALTER TABLE users ALTER COLUMN name TYPE text;\nALTER TABLE orders ADD CONSTRAINT c CHECK (total > 0) NOT VALID;\n");
    assert!(s.risks.is_empty(), "{:?}", s.risks);
}

#[test]
fn a_strong_lock_on_an_existing_table_wants_a_lock_timeout_first() {
    let s = analyze_all("CREATE TABLE n (id int);\nALTER TABLE n ADD COLUMN a int;\nALTER TABLE users ADD COLUMN a int;\nALTER TABLE orders ADD COLUMN a int;\n");
    assert_eq!(risks(&s), [(RiskKind::RequireLockTimeout, 3, false)]);
    assert!(
        s.risks[0].reason.contains("SET lock_timeout"),
        "{}",
        s.risks[0].reason
    );
    for set in [
        "SET lock_timeout = '5s';",
        "SET LOCAL lock_timeout TO 5000;",
        "SELECT set_config('lock_timeout', '5s', true);",
    ] {
        let s = analyze_all(&format!(
            "{set}\nALTER TABLE users ADD COLUMN a int;\nTRUNCATE orders;\n"
        ));
        assert!(
            s.risks
                .iter()
                .all(|r| r.risk != RiskKind::RequireLockTimeout),
            "{set}: {:?}",
            s.risks
        );
    }
    let s = analyze_all("CREATE INDEX CONCURRENTLY users_a_idx ON users (name);\nCREATE INDEX n_idx ON users (name);\n");
    assert_eq!(risks(&s)[0], (RiskKind::RequireLockTimeout, 2, false));
}

#[test]
fn a_type_change_under_a_view_is_blocked() {
    let view = "CREATE VIEW user_names AS SELECT u.id, u.name FROM users u;\n";
    let mut schema = existing();
    analyze_text("001_view.sql", view, &mut schema).expect("analyzes");
    let s = analyze_text(
        "m.sql",
        "ALTER TABLE users ALTER COLUMN name TYPE varchar(80);\n",
        &mut schema.clone(),
    )
    .expect("analyzes");
    assert_eq!(
        risks(&s)
            .iter()
            .filter(|r| r.0 == RiskKind::BlockedByView)
            .count(),
        1,
        "{:?}",
        s.risks
    );
    assert!(
        s.risks.iter().any(|r| r.reason.contains("`user_names`")),
        "{:?}",
        s.risks
    );
    // A column the view does not use, or the view dropped first: PostgreSQL allows it.
    for sql in [
        "ALTER TABLE users ALTER COLUMN email TYPE varchar(80);\n",
        "DROP VIEW user_names;\nALTER TABLE users ALTER COLUMN name TYPE varchar(80);\n",
    ] {
        let s = analyze_text("m.sql", sql, &mut schema.clone()).expect("analyzes");
        assert!(
            s.risks.iter().all(|r| r.risk != RiskKind::BlockedByView),
            "{sql}: {:?}",
            s.risks
        );
    }
}

#[test]
fn a_new_enum_value_used_in_its_own_transaction() {
    let s = analyze("ALTER TYPE status ADD VALUE 'void' AFTER 'paid';\nUPDATE orders SET total = 0 WHERE status = 'void';\n");
    assert_eq!(
        risks(&s),
        [(RiskKind::EnumValueInSameTransaction, 2, false)]
    );
    assert!(s.risks[0].reason.contains("55P04"));
    // Outside a transaction (marked, or after the file's own COMMIT) the value is usable.
    for sql in [
        "-- dbkit:no-transaction\nALTER TYPE status ADD VALUE 'void' AFTER 'paid';\nUPDATE orders SET total = 0 WHERE status = 'void';\n",
        "-- dbkit:no-transaction\nBEGIN;\nALTER TYPE status ADD VALUE 'void' AFTER 'paid';\nCOMMIT;\nUPDATE orders SET total = 0 WHERE status = 'void';\n",
        "ALTER TYPE status ADD VALUE 'void' AFTER 'paid';\nUPDATE orders SET total = 0 WHERE status = 'paid';\n",
    ] {
        assert!(analyze(sql).risks.is_empty(), "{sql}: {:?}", analyze(sql).risks);
    }
    let s = analyze("-- dbkit:no-transaction\nBEGIN;\nALTER TYPE status ADD VALUE 'void' AFTER 'paid';\nSELECT 'void'::status;\nCOMMIT;\n");
    assert_eq!(
        risks(&s),
        [(RiskKind::EnumValueInSameTransaction, 4, false)]
    );
}

#[test]
fn changes_that_fail_on_rows_already_there() {
    for sql in [
        "ALTER TABLE users ADD PRIMARY KEY (email);",
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);",
        "ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total > 0);",
        "ALTER TABLE orders ADD CONSTRAINT o_fk FOREIGN KEY (user_id) REFERENCES users (id);",
        "CREATE UNIQUE INDEX users_email_idx ON users (email);",
        "ALTER TABLE users ALTER COLUMN name SET NOT NULL;",
    ] {
        let kinds: Vec<RiskKind> = analyze(sql).risks.iter().map(|r| r.risk).collect();
        assert!(
            kinds.contains(&RiskKind::MayFailOnExistingData),
            "{sql}: {kinds:?}"
        );
    }
    for sql in [
        "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;",
        "ALTER TABLE orders ADD CONSTRAINT total_positive CHECK (total > 0) NOT VALID;",
        "CREATE UNIQUE INDEX CONCURRENTLY users_email_idx ON users (email);",
        "CREATE TABLE n (id int);\nALTER TABLE n ADD PRIMARY KEY (id);\nALTER TABLE n ALTER COLUMN id SET NOT NULL;",
    ] {
        let kinds: Vec<RiskKind> = analyze(sql).risks.iter().map(|r| r.risk).collect();
        assert!(!kinds.contains(&RiskKind::MayFailOnExistingData), "{sql}: {kinds:?}");
    }
}

#[test]
fn drop_index_reindex_and_detach_partition_want_concurrently() {
    for (sql, risk) in [
        ("DROP INDEX orders_user_idx;", RiskKind::BlockingIndex),
        ("REINDEX INDEX orders_user_idx;", RiskKind::BlockingIndex),
        ("REINDEX TABLE orders;", RiskKind::BlockingIndex),
        (
            "ALTER TABLE orders DETACH PARTITION orders_2020;",
            RiskKind::LongLock,
        ),
    ] {
        let kinds: Vec<RiskKind> = analyze(sql).risks.iter().map(|r| r.risk).collect();
        assert_eq!(kinds, [risk], "{sql}");
    }
    for sql in [
        "REINDEX INDEX CONCURRENTLY orders_user_idx;",
        "CREATE TABLE n (id int);\nCREATE INDEX n_idx ON n (id);\nREINDEX TABLE n;\nREINDEX INDEX n_idx;\nDROP INDEX n_idx;",
        "ALTER TABLE orders DETACH PARTITION orders_2020 CONCURRENTLY;",
    ] {
        assert!(analyze(sql).risks.is_empty(), "{sql}: {:?}", analyze(sql).risks);
    }
}

#[test]
fn a_create_without_if_not_exists_breaks_the_projects_convention() {
    let mut schema = Schema::default();
    let convention = "CREATE TABLE IF NOT EXISTS a (id int);\nCREATE TABLE IF NOT EXISTS b (id int);\nCREATE INDEX IF NOT EXISTS a_idx ON a (id);\nCREATE SCHEMA IF NOT EXISTS s;\n";
    analyze_text("001.sql", convention, &mut schema).expect("analyzes");
    let s = analyze_text(
        "002.sql",
        "CREATE TABLE c (id int);\nCREATE TABLE IF NOT EXISTS d (id int);\n",
        &mut schema,
    )
    .expect("analyzes");
    assert_eq!(risks(&s), [(RiskKind::NotIdempotent, 1, false)]);
    // A project that does not use IF NOT EXISTS gets no such note.
    assert!(analyze("CREATE TABLE c (id int);").risks.is_empty());
}

#[test]
fn bad_input_names_the_file_and_line() {
    let mut schema = Schema::default();
    let error = analyze_text("bad.sql", "SELECT 1;\nSELECT 'unterminated;\n", &mut schema)
        .expect_err("fails");
    assert_eq!(error.to_string(), "bad.sql:2:8: unterminated quoted string");
}

/// Per corpus: files, statements, analysed, not analysed. The README states these.
#[test]
fn the_public_corpora_are_analysed_without_a_panic() {
    for (name, expected) in [
        ("supabase-storage", (63, 188, 149, 39)),
        ("authelia", (26, 206, 206, 0)),
    ] {
        let Some(dir) = util::corpus(name) else {
            continue;
        };
        let found = dbkit::project::migrations::discover(&dir).expect("discovers");
        let mut schema = Schema::default();
        let (mut statements, mut analysed, mut not_analysed) = (0, 0, 0);
        for migration in &found.migrations {
            let text = std::fs::read_to_string(&migration.path).expect("reads");
            let s = analyze_text(&migration.file, &text, &mut schema).expect("analyzes");
            assert_eq!(
                s.analysed + s.not_analysed.len(),
                s.statements,
                "{}",
                migration.file
            );
            (statements, analysed, not_analysed) = (
                statements + s.statements,
                analysed + s.analysed,
                not_analysed + s.not_analysed.len(),
            );
        }
        eprintln!("{name}: {} files, {statements} statements, {analysed} analysed, {not_analysed} not analysed", found.migrations.len());
        assert_eq!(
            (found.migrations.len(), statements, analysed, not_analysed),
            expected,
            "{name}"
        );
    }
}

/// Every example migration, documented in order, as the JSON `--format json` prints.
#[test]
fn the_example_migrations_as_json() {
    let layout = dbkit::project::layout::Layout::new("database");
    insta::glob!("../../database/migrations", "*.sql", |path| {
        let relative = path
            .strip_prefix(env!("CARGO_MANIFEST_DIR"))
            .expect("inside")
            .to_path_buf();
        let relative = relative
            .strip_prefix("/")
            .unwrap_or(&relative)
            .to_path_buf();
        let documented = dbkit::ddl::document(&layout, &[relative]).expect("documents");
        let json = serde_json::to_string_pretty(&documented.summaries[0]).expect("serializes");
        insta::assert_snapshot!("example_json", json);
    });
}

#[test]
fn pg_dumps_identity_columns_are_understood() {
    let mut schema = Schema::default();
    let dump = "CREATE TABLE public.\"Account\" (\n    id bigint NOT NULL,\n    name text\n);\n\n\
                ALTER TABLE public.\"Account\" ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY (\n    SEQUENCE NAME public.\"Account_id_seq\"\n    START WITH 1\n    INCREMENT BY 1\n    NO MINVALUE\n    NO MAXVALUE\n    CACHE 1\n);\n";
    let s = analyze_text("dump.sql", dump, &mut schema).expect("analyzes");
    assert_eq!((s.statements, s.analysed, s.not_analysed.len()), (2, 2, 0));
    assert_eq!(
        s.changed_columns[0].change,
        "add generated by default as identity"
    );
    assert_eq!(
        (
            s.changed_columns[0].table.as_str(),
            s.changed_columns[0].at.line
        ),
        ("Account", 6)
    );
    let id = schema.tables["Account"].column("id").expect("id").clone();
    assert_eq!(
        id.generated.as_deref(),
        Some("GENERATED BY DEFAULT AS IDENTITY")
    );
}

#[test]
fn a_primary_key_added_after_create_table_is_on_the_new_tables_columns() {
    let mut schema = Schema::default();
    let dump = "CREATE TABLE public.account (\n    id bigint,\n    name text\n);\n\
                ALTER TABLE ONLY public.account\n    ADD CONSTRAINT account_pkey PRIMARY KEY (id);\n\
                CREATE TABLE note (id int, body text);\n\
                ALTER TABLE note ADD CONSTRAINT note_pkey PRIMARY KEY (id);\n";
    let s = analyze_text("dump.sql", dump, &mut schema).expect("analyzes");
    for table in &s.new_tables {
        let id = &table.columns[0];
        assert!(id.primary_key && !id.nullable, "{}: {id:?}", table.table);
        assert!(!table.columns[1].primary_key);
    }
    let json = serde_json::to_value(&s).expect("serializes");
    assert_eq!(json["new_tables"][0]["columns"][0]["primary_key"], true);
    assert_eq!(schema.tables["account"].primary_key, ["id"]);
    assert!(
        schema.tables["account"]
            .column("id")
            .expect("id")
            .primary_key
    );
}

#[test]
fn drop_cascade_drops_what_the_model_knows_depends_on_it() {
    let mut schema = existing();
    analyze_text(
        "001.sql",
        "CREATE SCHEMA app;\nCREATE TABLE app.a (id int);\nCREATE TABLE app.b (id int);\nCREATE VIEW app.v AS SELECT 1;\n",
        &mut schema,
    )
    .expect("analyzes");
    let s = analyze_text("002.sql", "DROP SCHEMA app CASCADE;\n", &mut schema).expect("analyzes");
    let dropped: Vec<&str> = s.dropped_tables.iter().map(|d| d.object.as_str()).collect();
    assert_eq!(dropped, ["app.a", "app.b"]);
    assert_eq!(
        risks(&s),
        [
            (RiskKind::DataLoss, 1, false),
            (RiskKind::DataLoss, 1, false)
        ]
    );
    assert_eq!(s.views[0].name, "app.v");
    assert!(schema.tables.keys().all(|t| !t.starts_with("app.")));
    assert!(schema.tables.contains_key("users"));

    let s = analyze_text("003.sql", "DROP TABLE users CASCADE;\n", &mut schema).expect("analyzes");
    let key = &s.constraints[0];
    assert_eq!(
        (key.table.as_str(), key.kind.as_str(), key.dropped),
        ("orders", "foreign key", true)
    );
    assert!(schema.tables["orders"].foreign_keys.is_empty());

    // Views on a table dropped with CASCADE go with it; others stay.
    analyze_text(
        "004.sql",
        "CREATE VIEW big_orders AS SELECT o.id FROM orders o WHERE o.id > 10;\nCREATE VIEW other AS SELECT 1 AS one;\n",
        &mut schema,
    )
    .expect("analyzes");
    let s = analyze_text("005.sql", "DROP TABLE orders CASCADE;\n", &mut schema).expect("analyzes");
    let views: Vec<(&str, &str)> = s
        .views
        .iter()
        .map(|v| (v.name.as_str(), v.action.as_str()))
        .collect();
    assert_eq!(views, [("big_orders", "dropped")]);
    assert!(!schema.views.contains("big_orders") && schema.views.contains("other"));
}

#[test]
fn a_quoted_constraint_name_with_a_space_is_kept_whole() {
    let s = analyze(
        "CREATE TABLE a (id int, name text, constraint \"a not empty\" check (name <> ''));\n",
    );
    let c = &s.constraints[0];
    assert_eq!(
        (c.name.as_deref(), c.definition.as_str()),
        (Some("a not empty"), "CHECK (name <> '')")
    );
    let mut text = Vec::new();
    dbkit::report::migration::text(&mut text, &[s]).expect("renders");
    let text = String::from_utf8(text).expect("utf-8");
    assert!(
        text.contains("a: add check \"a not empty\" CHECK (name <> '')"),
        "{text}"
    );
}

#[test]
fn a_syntax_error_is_told_from_a_form_the_parser_does_not_support() {
    let s = analyze(
        "CREATE TABLE a (id int);\nCREAT TABLE b (id int);\nCREATE TABEL c (id int);\nCREATE AGGREGATE mysum (int) (sfunc = int4pl, stype = int);\n",
    );
    let errors: Vec<(usize, usize, &str)> = s
        .syntax_errors
        .iter()
        .map(|e| (e.at.line, e.column, e.message.as_str()))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!((errors[0].0, errors[0].1), (2, 1), "{}", errors[0].2);
    assert!(errors[0].2.contains("CREAT"), "{}", errors[0].2);
    assert_eq!((errors[1].0, errors[1].1), (3, 8), "{}", errors[1].2);
    let kinds: Vec<&str> = s.not_analysed.iter().map(|n| n.kind.as_str()).collect();
    assert_eq!(kinds, ["CREATE AGGREGATE"]);
    assert_eq!((s.statements, s.analysed), (4, 1));
}

#[test]
fn altering_a_table_the_model_does_not_know_is_a_warning() {
    let s = analyze(
        "ALTER TABLE nosuch ADD COLUMN c int;\nALTER TABLE users ADD COLUMN d int;\nCREATE TABLE fresh (id int);\nALTER TABLE fresh ADD COLUMN e int;\n",
    );
    let warnings: Vec<(usize, &str)> = s
        .warnings
        .iter()
        .map(|w| (w.at.line, w.message.as_str()))
        .collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].0, 1);
    assert!(warnings[0].1.contains("`nosuch`"), "{}", warnings[0].1);
}

#[test]
fn an_inline_check_on_add_column_is_a_new_constraint() {
    let s =
        analyze("ALTER TABLE users ADD COLUMN age int CONSTRAINT age_positive CHECK (age > 0);\n");
    let c = &s.constraints[0];
    assert_eq!(
        (
            c.table.as_str(),
            c.name.as_deref(),
            c.kind.as_str(),
            c.definition.as_str()
        ),
        ("users", Some("age_positive"), "check", "CHECK (age > 0)")
    );
    assert_eq!(risks(&s), [(RiskKind::LongLock, 1, false)]);
    assert_eq!(
        s.modified_tables[0].changes,
        ["add column age", "add check constraint"]
    );
}

#[test]
fn an_allow_comment_after_the_semicolon_applies_to_its_statement() {
    let s = analyze(
        "ALTER TABLE users DROP COLUMN name; -- dbkit:allow data-loss\nALTER TABLE users DROP COLUMN email;\n",
    );
    assert_eq!(
        risks(&s),
        [
            (RiskKind::DataLoss, 1, true),
            (RiskKind::DataLoss, 2, false)
        ]
    );
}

#[test]
fn comments_grants_and_role_drops_read_as_one_entry_each() {
    let s = analyze(
        "COMMENT ON TABLE users IS 'first line\nsecond line';\nGRANT SELECT, INSERT ON TABLE public.users TO app_user, reporting;\nREVOKE ALL ON orders FROM public;\nDROP ROLE a, b, c;\n",
    );
    assert_eq!(
        s.comments[0].detail.as_deref(),
        Some("first line second line")
    );
    let grants: Vec<(&str, &str, Option<&str>)> = s
        .grants
        .iter()
        .map(|g| (g.name.as_str(), g.action.as_str(), g.detail.as_deref()))
        .collect();
    assert_eq!(
        grants,
        [
            ("users", "granted", Some("SELECT, INSERT to app_user")),
            ("users", "granted", Some("SELECT, INSERT to reporting")),
            ("orders", "revoked", Some("ALL from PUBLIC")),
        ]
    );
    let dropped: Vec<(&str, Option<&str>)> = s
        .not_analysed
        .iter()
        .map(|n| (n.kind.as_str(), n.note.as_deref()))
        .collect();
    assert_eq!(dropped, [("DROP ROLE", Some("a, b, c"))]);
    assert_eq!(s.analysed + s.not_analysed.len(), s.statements);
}

#[test]
fn a_long_statement_on_an_existing_table_wants_a_statement_timeout() {
    let kinds = |s: &FileSummary| -> Vec<(RiskKind, usize)> {
        s.risks
            .iter()
            .filter(|r| r.risk == RiskKind::RequireStatementTimeout)
            .map(|r| (r.risk, r.at.line))
            .collect()
    };
    // A rewrite, then an index build: noted once, at the first.
    let s = analyze_all(
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2);\nCREATE INDEX orders_total ON orders (total);\n",
    );
    assert_eq!(kinds(&s), [(RiskKind::RequireStatementTimeout, 1)]);
    // With a timeout set first: nothing.
    let s = analyze_all(
        "SET statement_timeout = '15min';\nALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2);\n",
    );
    assert!(kinds(&s).is_empty());
    // Quick statements and new tables: nothing.
    let s = analyze_all(
        "DROP INDEX orders_user_idx;\nCREATE TABLE fresh (id int);\nCREATE INDEX fresh_id ON fresh (id);\n",
    );
    assert!(kinds(&s).is_empty());
}
