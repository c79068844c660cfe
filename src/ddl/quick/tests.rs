use super::read;
use crate::ddl::parse::parse_one;

/// `quick` reads `sql`, into exactly sqlparser's AST.
#[track_caller]
fn same(sql: &str) {
    let quick = read(sql).unwrap_or_else(|| panic!("quick does not read {sql}"));
    assert_eq!(Some(quick), parse_one(sql), "{sql}");
}

#[track_caller]
fn declines(sql: &str) {
    assert_eq!(read(sql), None, "{sql}");
}

#[test]
fn reads_what_pg_dump_writes() {
    same("CREATE TABLE app0.t0 (\n    id bigint NOT NULL,\n    c0 character varying(120),\n    c1 numeric(12,2) NOT NULL DEFAULT now(),\n    c2 timestamp with time zone DEFAULT now() NOT NULL\n);");
    same("CREATE TABLE public.contract (\n    id integer NOT NULL,\n    status public.contract_status DEFAULT 'draft'::public.contract_status NOT NULL,\n    note text DEFAULT ''::text,\n    amount numeric(14) DEFAULT 0 NOT NULL,\n    active boolean DEFAULT true,\n    closed boolean DEFAULT false NULL,\n    created timestamp without time zone,\n    d date, uid uuid, doc jsonb, b bytea, n smallint, i int, code varchar(3), t timestamp, c character varying, v varchar\n);");
    same("create table if not exists \"Audit\".\"Log Entry\" (\"Id\" BIGINT not null)");
    same("ALTER TABLE ONLY app0.t1\n    ADD CONSTRAINT t1_pkey PRIMARY KEY (id);");
    same("ALTER TABLE ONLY app0.t1 ADD CONSTRAINT t1_key PRIMARY KEY (a, \"B\");");
    same("ALTER TABLE ONLY app0.t1\n    ADD CONSTRAINT t1_t0_fkey FOREIGN KEY (c0) REFERENCES app0.t0(id) ON DELETE CASCADE;");
    same("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a, b) REFERENCES p ON UPDATE SET NULL ON DELETE SET DEFAULT");
    same("ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p (x) ON DELETE RESTRICT ON UPDATE NO ACTION;");
    same("CREATE INDEX t0_c0_idx ON app0.t0 USING btree (c0);");
    same("CREATE UNIQUE INDEX IF NOT EXISTS u ON t USING gin (a, b);");
    same("CREATE INDEX i ON t (a);");
    for method in ["hash", "gist", "brin"] {
        same(&format!("CREATE INDEX i ON t USING {method} (a);"));
    }
    same("COMMENT ON TABLE app0.t0 IS 'Table t0 of app0, generated for the benchmark';");
    same("COMMENT ON COLUMN public.users.email IS 'the user''s -- address';");
    same("-- Name: t0\nCREATE TABLE t0 (id bigint) -- trailing\n;");
}

#[test]
fn reads_common_names_that_are_keywords_as_sqlparser_does() {
    for name in super::reader::NAME_KEYWORDS {
        let lower = name.to_lowercase();
        for n in [name.to_string(), lower] {
            same(&format!("CREATE TABLE {n}.{n} ({n} {n}.{n} DEFAULT f() NOT NULL, x {n} DEFAULT 'a'::{n}.{n});"));
            same(&format!(
                "ALTER TABLE ONLY {n}.{n} ADD CONSTRAINT {n} PRIMARY KEY ({n}, {n});"
            ));
            same(&format!("ALTER TABLE {n} ADD CONSTRAINT {n} FOREIGN KEY ({n}) REFERENCES {n}.{n}({n}) ON DELETE CASCADE;"));
            same(&format!(
                "CREATE INDEX {n} ON {n}.{n} USING btree ({n}, {n});"
            ));
            same(&format!("COMMENT ON COLUMN {n}.{n}.{n} IS '{n}';"));
        }
    }
}

#[test]
fn knows_sqlparser_keywords() {
    use super::reader::is_keyword;
    let keywords = sqlparser::keywords::ALL_KEYWORDS;
    assert!(keywords
        .iter()
        .all(|k| is_keyword(k) && is_keyword(&k.to_lowercase())));
    assert!(keywords.iter().all(|k| k.len() < 64));
    for word in [
        "c0",
        "app0",
        "t1_pkey",
        "now",
        "citext",
        "",
        "x".repeat(100).as_str(),
    ] {
        assert!(!is_keyword(word), "{word}");
    }
}

#[test]
fn leaves_everything_else_to_sqlparser() {
    for sql in [
        "CREATE TABLE t (a int PRIMARY KEY)",
        "CREATE TABLE t (a integer, CONSTRAINT c CHECK (a > 0))",
        "CREATE TABLE t (a text COLLATE \"C\")",
        "CREATE TABLE t (a text[])",
        "CREATE TABLE t (a numeric(10,2)[])",
        "CREATE TABLE t (a int DEFAULT 1.5)",
        "CREATE TABLE t (a int DEFAULT -1)",
        "CREATE TABLE t (a text DEFAULT E'x')",
        "CREATE TABLE t (a text DEFAULT 'a\\b')",
        "CREATE TABLE t (a timestamp(3) with time zone)",
        "CREATE TABLE t (a public.vector(3))",
        "CREATE TABLE t (order int)",
        "CREATE TABLE t (day date)",
        "CREATE TABLE t (a int DEFAULT now)",
        "CREATE TABLE t (a int DEFAULT current_timestamp())",
        "CREATE TABLE t (a int) PARTITION BY RANGE (a)",
        "CREATE TABLE t (a int) INHERITS (p)",
        "CREATE TABLE t (a int);; SELECT 1",
        "CREATE TABLE t (\"a\"\"b\" int)",
        "CREATE TABLE t (café int)",
        "CREATE TABLE t (a int /* note */)",
        "CREATE TEMP TABLE t (a int)",
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p(id) NOT VALID",
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p(id) ON DELETE CASCADE ON DELETE CASCADE",
        "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES p(id) DEFERRABLE",
        "ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)",
        "ALTER TABLE t ADD COLUMN a int",
        "CREATE INDEX i ON ONLY t USING btree (a)",
        "CREATE INDEX i ON t USING btree (lower(a))",
        "CREATE INDEX i ON t USING btree (a DESC)",
        "CREATE INDEX i ON t USING btree (a) WHERE a > 0",
        "CREATE INDEX CONCURRENTLY i ON t (a)",
        "CREATE INDEX i ON t USING ivfflat (a)",
        "COMMENT ON TABLE t IS E'x'",
        "COMMENT ON TABLE t IS NULL",
        "COMMENT ON FUNCTION f() IS 'x'",
        "INSERT INTO t VALUES (1)",
    ] {
        declines(sql);
    }
}

/// Every statement of the repository's SQL and of the shared corpora that `quick`
/// reads, it reads as sqlparser does.
#[test]
fn agrees_with_sqlparser_on_real_files() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut read_quickly = 0;
    for folder in [root.join("database"), root.join("../shared/corpora")] {
        for entry in walkdir::WalkDir::new(folder).into_iter().flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "sql") {
                continue;
            }
            let text = std::fs::read_to_string(path).expect("readable SQL");
            let Ok(pieces) = crate::sql::split(&text) else {
                continue;
            };
            for piece in pieces {
                if let crate::sql::Piece::Statement(s) = piece {
                    if let Some(quick) = read(s.text) {
                        assert_eq!(
                            Some(quick),
                            parse_one(s.text),
                            "{}: {}",
                            path.display(),
                            s.text
                        );
                        read_quickly += 1;
                    }
                }
            }
        }
    }
    assert!(read_quickly > 10, "only {read_quickly} statements read");
}
