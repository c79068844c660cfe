use super::*;

/// Splits and checks what must hold for every result: each piece's text
/// is its slice of the source, positions match `line_col`, and pieces
/// come in increasing, non-overlapping order.
fn split_ok(src: &str) -> Vec<Piece<'_>> {
    let pieces = split(src).unwrap_or_else(|e| panic!("split failed: {e}\n{src:?}"));
    check_pieces(src, &pieces);
    pieces
}

fn check_pieces(src: &str, pieces: &[Piece<'_>]) {
    let mut prev_end = 0;
    for piece in pieces {
        let (text, start, end, line) = match piece {
            Piece::Statement(s) => {
                assert_eq!(line_col(src, s.start), (s.line, s.column), "{s:?}");
                assert!(!s.text.starts_with(|c: char| c.is_whitespace()), "{s:?}");
                (s.text, s.start, s.end, s.line)
            }
            Piece::Meta(m) => {
                assert_eq!(&src[m.start..m.start + 1], "\\");
                (m.text, m.start, m.end, m.line)
            }
            Piece::CopyData(d) => (d.text, d.start, d.end, d.line),
        };
        assert_eq!(&src[start..end], text, "{piece:?}");
        assert_eq!(line_col(src, start).0, line, "{piece:?}");
        assert!(start >= prev_end, "pieces overlap or go back: {pieces:?}");
        prev_end = end;
    }
}

fn statements(src: &str) -> Vec<&str> {
    split_ok(src)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Statement(s) => Some(s.text),
            _ => None,
        })
        .collect()
}

fn only_statement(src: &str) -> Statement<'_> {
    match split_ok(src).as_slice() {
        [Piece::Statement(s)] => s.clone(),
        other => panic!("expected one statement, got {other:?}"),
    }
}

fn error(src: &str) -> SplitError {
    match split(src) {
        Err(e) => e,
        Ok(pieces) => panic!("expected an error, got {pieces:?}"),
    }
}

#[test]
fn splits_simple_statements_with_positions() {
    let src = "SELECT 1;\n  select 2 ;  -- tail\n\n/* lead */ SELECT 3;";
    let pieces = split_ok(src);
    let expected = [
        ("SELECT 1;", 0, 1, 1),
        ("select 2 ;", 12, 2, 3),
        ("SELECT 3;", 44, 4, 12),
    ];
    assert_eq!(pieces.len(), expected.len());
    for (piece, (text, start, line, column)) in pieces.iter().zip(expected) {
        let Piece::Statement(s) = piece else {
            panic!("{piece:?}")
        };
        assert_eq!(
            (s.text, s.start, s.end, s.line, s.column),
            (text, start, start + text.len(), line, column)
        );
    }
}

#[test]
fn columns_count_chars_not_bytes() {
    let src = "SELECT 'é'; SELECT 2;";
    let pieces = split_ok(src);
    let Piece::Statement(s) = &pieces[1] else {
        panic!()
    };
    assert_eq!((s.start, s.line, s.column), (13, 1, 13));
}

#[test]
fn trailing_statement_without_semicolon_ends_at_last_token() {
    assert_eq!(
        statements("SELECT 1;\nSELECT 2 -- no semicolon\n  "),
        ["SELECT 1;", "SELECT 2"]
    );
    assert_eq!(statements("SELECT 2 /* c */\n"), ["SELECT 2"]);
}

#[test]
fn comments_and_whitespace_only_give_nothing() {
    assert!(split_ok("").is_empty());
    assert!(split_ok("  \n\t\r\n").is_empty());
    assert!(split_ok("-- one\n/* two /* nested */ */\n-- three").is_empty());
}

#[test]
fn semicolons_in_comments_do_not_split() {
    assert_eq!(
        statements("SELECT 1 -- a; b\n + 2; SELECT /* x; */ 3;"),
        ["SELECT 1 -- a; b\n + 2;", "SELECT /* x; */ 3;"]
    );
}

#[test]
fn block_comments_nest() {
    let src = "/* a /* b; */ c; */ SELECT 1; /* x */*/ SELECT 2;";
    assert_eq!(statements(src), ["SELECT 1;", "*/ SELECT 2;"]);
    assert_eq!(
        statements("SELECT 1 /*/ still; comment */;"),
        ["SELECT 1 /*/ still; comment */;"]
    );
    assert_eq!(
        statements("SELECT 2 /**/; SELECT 3 /***/;"),
        ["SELECT 2 /**/;", "SELECT 3 /***/;"]
    );
}

#[test]
fn standard_strings_double_their_quotes_and_keep_backslashes() {
    assert_eq!(
        statements("SELECT 'it''s; fine'; SELECT 2;"),
        ["SELECT 'it''s; fine';", "SELECT 2;"]
    );
    // With standard_conforming_strings a backslash is literal: '\' is a whole string.
    assert_eq!(
        statements(r"SELECT '\'; SELECT 2;"),
        [r"SELECT '\';", "SELECT 2;"]
    );
}

#[test]
fn escape_strings_use_backslash() {
    assert_eq!(
        statements(r"SELECT E'\''; SELECT 2;"),
        [r"SELECT E'\'';", "SELECT 2;"]
    );
    assert_eq!(
        statements(r"SELECT e'a\\'; SELECT 2;"),
        [r"SELECT e'a\\';", "SELECT 2;"]
    );
    assert_eq!(
        statements(r"SELECT e'it''s\'; ok'; SELECT 2;"),
        [r"SELECT e'it''s\'; ok';", "SELECT 2;"]
    );
    // Only a one-letter E prefix makes an escape string.
    assert_eq!(
        statements(r"SELECT xe'\'; SELECT 2;"),
        [r"SELECT xe'\';", "SELECT 2;"]
    );
}

#[test]
fn string_after_newline_is_a_new_standard_string_as_in_psql() {
    let src = "SELECT E'a'\n '\\'; SELECT 2;";
    assert_eq!(statements(src), ["SELECT E'a'\n '\\';", "SELECT 2;"]);
    assert_eq!(
        statements("SELECT 'a'\n'b;c'; SELECT 2;"),
        ["SELECT 'a'\n'b;c';", "SELECT 2;"]
    );
}

#[test]
fn prefixed_literals_and_quoted_identifiers() {
    let src = "SELECT B'1;0', X'AF;', N'n;', U&'d\\0061t;', U&\"a;b\", \"x\"\"y;z\"; SELECT 2;";
    assert_eq!(statements(src).len(), 2);
    assert_eq!(
        statements("SELECT \"a;\"\"b\" FROM t; SELECT 2;"),
        ["SELECT \"a;\"\"b\" FROM t;", "SELECT 2;"]
    );
}

#[test]
fn dollar_quotes_hide_everything_until_the_same_tag() {
    let src = "CREATE FUNCTION f() RETURNS text AS $body$\nSELECT $$a;b$$; SELECT 'x;\n$body$ LANGUAGE sql;\nSELECT 2;";
    let got = statements(src);
    assert_eq!(got.len(), 2, "{got:?}");
    assert!(got[0].ends_with("$body$ LANGUAGE sql;"));
    assert_eq!(
        statements("SELECT $a$ $b$ ; $ab$ $a$; SELECT 2;"),
        ["SELECT $a$ $b$ ; $ab$ $a$;", "SELECT 2;"]
    );
    assert_eq!(
        statements("SELECT $$ $x$ ; $$; SELECT 2;"),
        ["SELECT $$ $x$ ; $$;", "SELECT 2;"]
    );
    // A tag that matches only in part does not close the quote.
    assert_eq!(statements("SELECT $a$ $ab$; $aa$ $a$; SELECT 2;").len(), 2);
}

#[test]
fn positional_parameters_are_not_dollar_quotes() {
    assert_eq!(
        statements("SELECT $1; SELECT $2 + $10;"),
        ["SELECT $1;", "SELECT $2 + $10;"]
    );
    assert_eq!(
        statements("PREPARE p AS SELECT $1$;"),
        ["PREPARE p AS SELECT $1$;"]
    );
}

#[test]
fn dollar_after_identifier_belongs_to_it() {
    assert_eq!(
        statements("SELECT foo$bar, a$$b FROM t; SELECT 2;"),
        ["SELECT foo$bar, a$$b FROM t;", "SELECT 2;"]
    );
    assert_eq!(
        statements("SELECT x$y$; SELECT 2;"),
        ["SELECT x$y$;", "SELECT 2;"]
    );
    // A number is not an identifier: `1$$` is 1 followed by a dollar quote.
    assert_eq!(
        statements("SELECT 1$$;$$; SELECT 2;"),
        ["SELECT 1$$;$$;", "SELECT 2;"]
    );
}

#[test]
fn identifier_glued_to_a_number_belongs_to_it() {
    // As in PostgreSQL 16+: `1e` is one (junk) token, so no E-string starts.
    assert_eq!(
        statements(r"SELECT 1e'\'; SELECT 2;"),
        [r"SELECT 1e'\';", "SELECT 2;"]
    );
    assert_eq!(
        statements("SELECT 1a$$; SELECT 2;"),
        ["SELECT 1a$$;", "SELECT 2;"]
    );
    assert_eq!(
        statements("SELECT $1a$$; SELECT 2;"),
        ["SELECT $1a$$;", "SELECT 2;"]
    );
}

#[test]
fn lone_dollar_then_word() {
    assert_eq!(
        statements("SELECT $abc; SELECT 2;"),
        ["SELECT $abc;", "SELECT 2;"]
    );
}

#[test]
fn begin_atomic_body_is_one_statement() {
    let src = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;\nSELECT 3;";
    assert_eq!(
        statements(src),
        [
            "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;",
            "SELECT 3;"
        ]
    );
    let src =
        "create or replace procedure p() begin atomic insert into t values (1); end; select 1;";
    assert_eq!(statements(src).len(), 2);
}

#[test]
fn case_outside_begin_atomic_does_not_open_a_block() {
    let src = "CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql RETURN CASE WHEN a > 0 THEN 1 END; SELECT 2;";
    assert_eq!(statements(src).len(), 2);
}

#[test]
fn begin_tracking_is_only_for_create_function_or_procedure() {
    assert_eq!(
        statements("BEGIN;\nINSERT INTO t VALUES (1);\nCOMMIT;"),
        ["BEGIN;", "INSERT INTO t VALUES (1);", "COMMIT;"]
    );
    assert_eq!(statements("CREATE TABLE begin (x int); SELECT 1;").len(), 2);
    assert_eq!(
        statements("CREATE TRIGGER t BEFORE INSERT ON x BEGIN; SELECT 1;").len(),
        2
    );
}

#[test]
fn do_block_with_commit_is_one_statement() {
    let src = "DO $$\nBEGIN\n  UPDATE t SET a = 1;\n  COMMIT;\nEND\n$$;\nSELECT 1;";
    assert_eq!(
        statements(src),
        [
            "DO $$\nBEGIN\n  UPDATE t SET a = 1;\n  COMMIT;\nEND\n$$;",
            "SELECT 1;"
        ]
    );
}

#[test]
fn semicolon_inside_parentheses_does_not_end_statement() {
    assert_eq!(
        statements("SELECT (1; 2); SELECT 3;"),
        ["SELECT (1; 2);", "SELECT 3;"]
    );
    assert_eq!(
        statements("SELECT 1); SELECT 2;"),
        ["SELECT 1);", "SELECT 2;"]
    );
}

#[test]
fn stray_semicolons_are_empty_statements() {
    let pieces = split_ok("SELECT 1;; ;");
    let empties: Vec<bool> = pieces
        .iter()
        .map(|p| match p {
            Piece::Statement(s) => s.is_empty(),
            _ => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(empties, [false, true, true]);
}

#[test]
fn meta_command_lines() {
    let src = "\\restrict abcDEF123\nSET x = 1;\n\\connect  mydb \n\\unrestrict abcDEF123\n";
    let pieces = split_ok(src);
    assert_eq!(pieces.len(), 4, "{pieces:?}");
    let Piece::Meta(m) = &pieces[0] else {
        panic!("{pieces:?}")
    };
    assert_eq!(
        (m.name, m.args, m.text, m.start, m.end, m.line),
        ("restrict", "abcDEF123", "\\restrict abcDEF123", 0, 19, 1)
    );
    let Piece::Meta(m) = &pieces[2] else {
        panic!("{pieces:?}")
    };
    assert_eq!(
        (m.name, m.args, m.text, m.line),
        ("connect", "mydb", "\\connect  mydb ", 3)
    );
    let Piece::Meta(m) = &pieces[3] else {
        panic!("{pieces:?}")
    };
    assert_eq!((m.name, m.args, m.line), ("unrestrict", "abcDEF123", 4));
}

#[test]
fn meta_command_after_sql_flushes_the_statement() {
    let pieces = split_ok("SELECT 1 AS a \\gset\nSELECT :a;");
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    let Piece::Statement(s) = &pieces[0] else {
        panic!("{pieces:?}")
    };
    assert_eq!(s.text, "SELECT 1 AS a");
    let Piece::Meta(m) = &pieces[1] else {
        panic!("{pieces:?}")
    };
    assert_eq!((m.name, m.args, m.start), ("gset", "", 14));
    let Piece::Statement(s) = &pieces[2] else {
        panic!("{pieces:?}")
    };
    assert_eq!(s.text, "SELECT :a;");
}

#[test]
fn meta_command_name_stops_at_space_or_backslash() {
    let pieces = split_ok("\\dt+ public.*\n\\x\\\\ SELECT 1;\n\\\n");
    let names: Vec<(&str, &str)> = pieces
        .iter()
        .map(|p| match p {
            Piece::Meta(m) => (m.name, m.args),
            _ => panic!("{p:?}"),
        })
        .collect();
    assert_eq!(
        names,
        [("dt+", "public.*"), ("x", "\\\\ SELECT 1;"), ("", "")]
    );
}

#[test]
fn backslash_semicolon_does_not_end_or_start_anything() {
    assert_eq!(
        statements("SELECT 1 \\; SELECT 2;\nSELECT 3;"),
        ["SELECT 1 \\; SELECT 2;", "SELECT 3;"]
    );
}

#[test]
fn backslash_inside_quotes_is_not_a_meta_command() {
    assert_eq!(
        statements("SELECT '\\x', $$\\y$$, \"\\z\" -- \\c\n;"),
        ["SELECT '\\x', $$\\y$$, \"\\z\" -- \\c\n;"]
    );
}

#[test]
fn copy_from_stdin_data() {
    let src = "SET a = 1;\nCOPY public.t (a, b) FROM stdin;\n1\tx;y\n2\tit's \\N\n\\.\nSELECT 2;\n";
    let pieces = split_ok(src);
    assert_eq!(pieces.len(), 4, "{pieces:?}");
    let Piece::Statement(s) = &pieces[1] else {
        panic!("{pieces:?}")
    };
    assert_eq!(s.text, "COPY public.t (a, b) FROM stdin;");
    let Piece::CopyData(d) = &pieces[2] else {
        panic!("{pieces:?}")
    };
    assert_eq!((d.text, d.line), ("1\tx;y\n2\tit's \\N\n", 3));
    let Piece::Statement(s) = &pieces[3] else {
        panic!("{pieces:?}")
    };
    assert_eq!((s.text, s.line), ("SELECT 2;", 6));
}

#[test]
fn copy_with_options_and_odd_case() {
    let src =
        "copy t FROM STDIN WITH (FORMAT csv, DELIMITER ';'); -- load\n\"a;\",'b\n\\.\r\nSELECT 1;";
    let pieces = split_ok(src);
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    let Piece::CopyData(d) = &pieces[1] else {
        panic!("{pieces:?}")
    };
    assert_eq!(d.text, "\"a;\",'b\n");
}

#[test]
fn copy_with_no_data_lines_still_gets_copy_data() {
    let pieces = split_ok("COPY t FROM stdin;\n\\.\nSELECT 1;");
    let Piece::CopyData(d) = &pieces[1] else {
        panic!("{pieces:?}")
    };
    assert_eq!((d.text, d.start, d.line), ("", 19, 2));
    assert_eq!(pieces.len(), 3);
}

#[test]
fn copy_terminator_at_end_of_input_without_newline() {
    let pieces = split_ok("COPY t FROM stdin;\n1\n\\.");
    assert_eq!(pieces.len(), 2, "{pieces:?}");
}

#[test]
fn other_copies_are_plain_statements() {
    let src = "COPY t TO stdout;\nCOPY t FROM '/tmp/x';\nCOPY (SELECT 1 FROM stdin) TO stdout;\nSELECT 1;";
    assert_eq!(statements(src).len(), 4);
    assert_eq!(statements("SELECT 1 FROM stdin;\nSELECT 2;").len(), 2);
}

#[test]
fn backslash_copy_from_stdin_reads_data_lines() {
    let src = "\\copy t from stdin\n1\t'x;\n\\.\nSELECT 1;";
    let pieces = split_ok(src);
    assert_eq!(pieces.len(), 3, "{pieces:?}");
    let Piece::CopyData(d) = &pieces[1] else {
        panic!("{pieces:?}")
    };
    assert_eq!(d.text, "1\t'x;\n");
}

#[test]
fn sql_after_copy_on_its_line_is_scanned_before_the_data() {
    let pieces = split_ok("COPY t FROM stdin; SELECT 1;\n1\n\\.\nSELECT 2;");
    let kinds: Vec<&str> = pieces
        .iter()
        .map(|p| match p {
            Piece::Statement(s) => s.text,
            Piece::CopyData(d) => d.text,
            Piece::Meta(m) => m.text,
        })
        .collect();
    assert_eq!(
        kinds,
        ["COPY t FROM stdin;", "SELECT 1;", "1\n", "SELECT 2;"]
    );
}

#[test]
fn crlf_positions_are_bytes_and_columns_chars() {
    let src = "SELECT 1;\r\n  SELECT 'a\r\nb';\r\n\\restrict k\r\n";
    let pieces = split_ok(src);
    let Piece::Statement(s) = &pieces[1] else {
        panic!("{pieces:?}")
    };
    assert_eq!(
        (s.text, s.start, s.line, s.column),
        ("SELECT 'a\r\nb';", 13, 2, 3)
    );
    let Piece::Meta(m) = &pieces[2] else {
        panic!("{pieces:?}")
    };
    assert_eq!((m.text, m.args, m.line), ("\\restrict k", "k", 4));
    assert_eq!(line_col(src, 9), (1, 10));
    assert_eq!(
        line_col(src, 10),
        (1, 10),
        "a \\r before \\n is not a column"
    );
    assert_eq!(line_col(src, 11), (2, 1));
}

#[test]
fn crlf_copy_data() {
    let src = "COPY t FROM stdin;\r\n1\t2\r\n\\.\r\nSELECT 1;\r\n";
    let pieces = split_ok(src);
    let Piece::CopyData(d) = &pieces[1] else {
        panic!("{pieces:?}")
    };
    assert_eq!((d.text, d.line), ("1\t2\r\n", 2));
    let Piece::Statement(s) = &pieces[2] else {
        panic!("{pieces:?}")
    };
    assert_eq!((s.text, s.line, s.column), ("SELECT 1;", 4, 1));
}

#[test]
fn byte_order_mark_is_skipped() {
    let src = "\u{feff}SELECT 1;\nSELECT 2;";
    let pieces = split_ok(src);
    let Piece::Statement(s) = &pieces[0] else {
        panic!("{pieces:?}")
    };
    assert_eq!((s.text, s.start, s.line, s.column), ("SELECT 1;", 3, 1, 1));
    assert_eq!(line_col(src, 0), (1, 1));
    assert_eq!(line_col(src, 4), (1, 2));
    assert!(split_ok("\u{feff}").is_empty());
    assert_eq!(error("\u{feff}'x").column, 1);
}

#[test]
fn line_col_edges() {
    assert_eq!(line_col("", 0), (1, 1));
    assert_eq!(line_col("ab\ncd", 5), (2, 3));
    assert_eq!(line_col("ab\ncd", 99), (2, 3));
    assert_eq!(line_col("ab\n", 2), (1, 3));
    assert_eq!(line_col("\r\n", 1), (1, 1));
    assert_eq!(
        line_col("aé\nb", 2),
        (1, 3),
        "an offset inside a char does not panic"
    );
}

#[test]
fn error_kinds_and_positions() {
    let cases: [(&str, SplitErrorKind, usize, usize); 8] = [
        (
            "SELECT 1;\n  SELECT 'abc",
            SplitErrorKind::UnterminatedString,
            2,
            10,
        ),
        ("SELECT E'abc\\'", SplitErrorKind::UnterminatedString, 1, 8),
        ("SELECT E'abc\\", SplitErrorKind::UnterminatedString, 1, 8),
        (
            "SELECT \"abc\"\"",
            SplitErrorKind::UnterminatedQuotedIdentifier,
            1,
            8,
        ),
        (
            "SELECT 1;\n/* a /* b */ c",
            SplitErrorKind::UnterminatedComment,
            2,
            1,
        ),
        (
            "SELECT 1;\nDO $body$ BEGIN $$ $bod$ END;",
            SplitErrorKind::UnterminatedDollarQuote { tag: "body".into() },
            2,
            4,
        ),
        (
            "é $$",
            SplitErrorKind::UnterminatedDollarQuote { tag: String::new() },
            1,
            3,
        ),
        (
            "COPY t FROM stdin;\n1\t2\n\\.x\n",
            SplitErrorKind::UnterminatedCopyData,
            2,
            1,
        ),
    ];
    for (src, kind, line, column) in cases {
        assert_eq!(error(src), SplitError { line, column, kind }, "{src:?}");
    }
}

#[test]
fn error_messages() {
    let message = |kind: SplitErrorKind| kind.to_string();
    assert_eq!(
        message(SplitErrorKind::UnterminatedString),
        "unterminated quoted string"
    );
    assert_eq!(
        message(SplitErrorKind::UnterminatedQuotedIdentifier),
        "unterminated quoted identifier"
    );
    assert_eq!(
        message(SplitErrorKind::UnterminatedComment),
        "unterminated block comment"
    );
    assert_eq!(
        message(SplitErrorKind::UnterminatedDollarQuote { tag: "body".into() }),
        "unterminated dollar-quoted string `$body$`"
    );
    assert_eq!(
        message(SplitErrorKind::UnterminatedCopyData),
        "`COPY ... FROM stdin` data has no terminating `\\.` line"
    );
    let e = error("SELECT 'x");
    assert_eq!(
        e.to_string(),
        "unterminated quoted string at line 1, column 8"
    );
}

#[test]
fn code_strips_comments_and_collapses_whitespace() {
    let s = only_statement("CREATE  /* c */ UNIQUE\n\tINDEX -- x\n CONCURRENTLY i ON t (a)  ;");
    assert_eq!(s.code(), "CREATE UNIQUE INDEX CONCURRENTLY i ON t (a) ;");
    let s = only_statement("SELECT 'a  --  b', \"x  y\", $$ /* keep */  $$, a/*gap*/b;");
    assert_eq!(
        s.code(),
        "SELECT 'a  --  b', \"x  y\", $$ /* keep */  $$, a b;"
    );
}

#[test]
fn leading_keywords_stop_at_non_words() {
    let s = only_statement("create /* x */ unique\nindex concurrently idx on t (a);");
    assert_eq!(s.leading_keywords(3), ["CREATE", "UNIQUE", "INDEX"]);
    assert_eq!(s.leading_keywords(0), Vec::<String>::new());
    assert_eq!(s.leading_keywords(99).len(), 7);
    let s = only_statement("ALTER TABLE \"T\" ADD x int;");
    assert_eq!(s.leading_keywords(5), ["ALTER", "TABLE"]);
    assert_eq!(
        only_statement("E'x';").leading_keywords(2),
        Vec::<String>::new()
    );
}

#[test]
fn dollar_bodies_in_order() {
    let s = only_statement("DO $$ BEGIN COMMIT; END $$; ");
    assert_eq!(s.dollar_bodies(), [" BEGIN COMMIT; END "]);
    let s = only_statement(
        "CREATE FUNCTION f() RETURNS int AS $f$ SELECT $$x$$ $f$ LANGUAGE sql COST $x$$x$;",
    );
    assert_eq!(s.dollar_bodies(), [" SELECT $$x$$ ", ""]);
    assert!(only_statement("SELECT $1, a$$b;")
        .dollar_bodies()
        .is_empty());
}

#[test]
fn statement_views_survive_hand_built_unterminated_text() {
    let s = Statement {
        text: "SELECT 'abc /* $$",
        start: 0,
        end: 17,
        line: 1,
        column: 1,
    };
    assert_eq!(s.code(), "SELECT 'abc /* $$");
    assert!(!s.is_empty());
    let s = Statement {
        text: "DO $q$ x",
        start: 0,
        end: 8,
        line: 1,
        column: 1,
    };
    assert_eq!(s.dollar_bodies(), [" x"]);
    let s = Statement {
        text: "/* open",
        start: 0,
        end: 7,
        line: 1,
        column: 1,
    };
    assert!(s.is_empty());
}

#[test]
fn is_empty_ignores_comments() {
    assert!(Statement {
        text: "/* c */ ;",
        start: 0,
        end: 9,
        line: 1,
        column: 1
    }
    .is_empty());
    assert!(!only_statement("SELECT;").is_empty());
}

/// A tiny deterministic generator, so the test needs no dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

#[test]
fn random_fragments_never_panic_and_stay_ordered() {
    const FRAGMENTS: &[&str] = &[
        "SELECT 1",
        ";",
        " ",
        "\n",
        "\r\n",
        "\t",
        "'a;b'",
        "'",
        "E'\\''",
        "e'\\",
        "\"q;\"\"x\"",
        "\"",
        "$$ x; $$",
        "$$",
        "$t$ $$ ; $t$",
        "$t$",
        "$1",
        "foo$bar",
        "$",
        "/* c; /* n */ */",
        "/*",
        "*/",
        "-- c;\n",
        "--",
        "(",
        ")",
        "BEGIN",
        "END",
        "CASE",
        "CREATE FUNCTION f() ",
        "CREATE OR REPLACE PROCEDURE p() ",
        "ATOMIC",
        "\\echo hi\n",
        "\\",
        "\\;",
        "\\.",
        "COPY t FROM stdin;\n1\t2;'\n\\.\n",
        "COPY t FROM stdin;",
        "\\copy t from stdin\n",
        "U&'x'",
        "B'1'",
        "é",
        "\u{feff}",
        "DO $$ BEGIN COMMIT; END $$;",
        "-",
        "/",
        "*",
        "x",
        "1e'\\'",
        "N'",
        "U&\"",
        "\r",
        "\\.\n",
    ];
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for _ in 0..600 {
        let len = rng.below(24);
        let src: String = (0..len)
            .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len())])
            .collect();
        match split(&src) {
            Ok(pieces) => {
                check_pieces(&src, &pieces);
                for piece in &pieces {
                    if let Piece::Statement(s) = piece {
                        let _ = (
                            s.code(),
                            s.leading_keywords(3),
                            s.dollar_bodies(),
                            s.is_empty(),
                        );
                    }
                }
            }
            Err(e) => {
                assert!(e.line >= 1 && e.column >= 1, "{e:?}");
            }
        }
    }
}

#[test]
fn statements_resplit_to_themselves() {
    let src = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\
               DO $$ BEGIN PERFORM 1; END $$;\nSELECT 'a;' || E'\\';';\nSELECT (1;2);";
    for text in statements(src) {
        assert_eq!(statements(text), [text]);
    }
}

/// Real migration folders from `shared/corpora`, when they are there.
#[test]
fn real_world_corpora_split_cleanly() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpora");
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return; // the corpora are optional; nothing to check without them
    };
    let mut files = 0;
    let mut with_dollar_semicolons = 0;
    for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
        for file in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = file.path();
            let Ok(src) = std::fs::read_to_string(&path) else {
                continue;
            };
            files += 1;
            let pieces = split(&src).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            check_pieces(&src, &pieces);
            let has = pieces.iter().any(|p| match p {
                Piece::Statement(s) => s.dollar_bodies().iter().any(|b| b.contains(';')),
                _ => false,
            });
            if has && path.to_string_lossy().contains("supabase-storage") {
                with_dollar_semicolons += 1;
            }
        }
    }
    assert!(files > 100, "found only {files} corpus files");
    assert_eq!(
        with_dollar_semicolons, 40,
        "the corpus README counts 40 such files"
    );
}
