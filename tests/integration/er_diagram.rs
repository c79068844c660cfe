//! er-diagram from the files: the example's whole schema as Mermaid and Graphviz (every
//! table and foreign key, partitions folded), --around/--depth, --schema, -o, Graphviz
//! rendering when `dot` is installed (required under CI), and bad input.

use crate::util;

use std::process::Command;

use util::{Project, Run};

fn er(project: &Project, args: &[&str]) -> Run {
    let mut command = project.command("er-diagram");
    command.args(args);
    Run::of(command)
}

/// The example's tables (partitions excepted) and foreign keys, from a database built
/// from the same files would be the truth; the files' model is what the program reads.
const EXAMPLE_TABLES: [&str; 11] = [
    "activities",
    "app_user",
    "contract",
    "contract_clause",
    "contract_document",
    "contract_party",
    "contract_pii_mapping",
    "contract_type",
    "currency",
    "organization",
    "party_role",
];

#[test]
fn the_example_as_mermaid_has_every_table_and_key() {
    let project = Project::example();
    let out = er(&project, &[]).success().stdout;
    assert!(out.starts_with("erDiagram\n"), "{out}");
    for table in EXAMPLE_TABLES {
        assert!(out.contains(&format!("    {table} {{\n")), "{table}: {out}");
    }
    assert!(
        !out.contains("activities_2026_09 {"),
        "partitions are folded: {out}"
    );
    assert!(out.contains("%% activities is partitioned"), "{out}");
    let edges = out.lines().filter(|l| l.contains("--")).count();
    assert_eq!(edges, 15, "{out}");
    // A NOT NULL key is a required parent; a nullable one is optional.
    assert!(
        out.contains("contract ||--o{ contract_clause : \"contract_id\""),
        "{out}"
    );
    assert!(
        out.contains("app_user |o--o{ contract_clause : \"reviewed_by\""),
        "{out}"
    );
}

#[test]
fn around_a_table_draws_its_neighbours_to_the_depth_asked() {
    let project = Project::example();
    let out = er(&project, &["--around", "contract_clause"])
        .success()
        .stdout;
    let drawn: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("    ")?.strip_suffix(" {"))
        .collect();
    assert_eq!(drawn, ["app_user", "contract", "contract_clause"], "{out}");
    let wider = er(
        &project,
        &["--around", "public.contract_clause", "--depth", "2"],
    )
    .success()
    .stdout;
    assert!(wider.contains("    organization {"), "{wider}");
    assert!(
        !wider.contains("    contract_pii_mapping {")
            || wider.contains("contract ||--o{ contract_pii_mapping")
    );
}

#[test]
fn one_schema_of_several() {
    let project = Project::empty();
    project.write(
        "migrations/001_two_schemas.sql",
        "CREATE SCHEMA billing;\n\
         CREATE TABLE customer (id bigint PRIMARY KEY);\n\
         CREATE TABLE billing.invoice (id bigint PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customer (id));\n\
         CREATE TABLE billing.line (invoice_id bigint REFERENCES billing.invoice (id), amount numeric);\n",
    );
    let all = er(&project, &["--format", "dot"]).success().stdout;
    assert!(
        all.contains("\"billing.invoice\":\"customer_id.e\":e -> \"customer\":\"id.w\":w"),
        "{all}"
    );
    let billing = er(&project, &["--schema", "billing"]).success().stdout;
    assert!(billing.contains("\"billing.invoice\" {"), "{billing}");
    assert!(!billing.contains("customer {"), "{billing}");
    assert!(
        billing.contains("\"billing.invoice\" |o--o{ \"billing.line\""),
        "{billing}"
    );
}

#[test]
fn graphviz_output_renders_with_dot() {
    let project = Project::example();
    let dot = er(&project, &["--format", "dot"]).success().stdout;
    assert!(dot.starts_with("digraph schema {"), "{dot}");
    assert_eq!(dot.matches(" -> ").count(), 15, "{dot}");
    assert!(
        dot.contains("arrowhead=teetee, arrowtail=crowodot"),
        "{dot}"
    );
    let installed = Command::new("dot").arg("-V").output().is_ok();
    if !installed {
        assert!(!util::required(), "Graphviz `dot` is missing under CI");
        return;
    }
    let png = project.dir.path().join("er.png");
    let path = project.dir.path().join("er.dot");
    std::fs::write(&path, &dot).expect("writes");
    let rendered = Command::new("dot")
        .arg("-Tpng")
        .arg(&path)
        .arg("-o")
        .arg(&png)
        .output()
        .expect("runs dot");
    assert!(
        rendered.status.success() && rendered.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&rendered.stderr)
    );
    assert!(std::fs::metadata(&png).expect("png").len() > 10_000);
}

#[test]
fn output_to_a_file_and_bad_input() {
    let project = Project::example();
    let written = er(&project, &["-o", "er.mmd"]).success();
    assert!(
        written.stderr.contains("wrote er.mmd (11 tables)"),
        "{}",
        written.stderr
    );
    let text = std::fs::read_to_string(project.dir.path().join("er.mmd")).expect("reads");
    assert!(text.starts_with("erDiagram"));

    let unknown = er(&project, &["--around", "nope"]).expect_code(2);
    assert!(
        unknown.stderr.contains("no table `nope`"),
        "{}",
        unknown.stderr
    );

    project.write(
        "migrations/013_broken.sql",
        "CREATE TABLE ok (id int);\nCREAT TABLE x (id int);\n",
    );
    let broken = er(&project, &[]).expect_code(1);
    assert!(
        broken.stderr.contains("013_broken.sql:2:1"),
        "{}",
        broken.stderr
    );

    let empty = Project::empty();
    std::fs::remove_dir(empty.database()).expect("removes");
    let missing = er(&empty, &[]).expect_code(1);
    assert!(missing.stderr.contains("database"), "{}", missing.stderr);
}

#[test]
fn the_examples_committed_diagram_is_what_the_files_draw() {
    let project = Project::example();
    let drawn = er(&project, &["--format", "dot"]).success().stdout;
    let committed = project.read("diagrams/schema.dot");
    assert!(
        drawn == committed,
        "database/diagrams/schema.dot is out of date: run `er-diagram --format dot -o database/diagrams/schema.dot && dot -Tsvg database/diagrams/schema.dot -o database/diagrams/schema.svg`"
    );
}

#[test]
fn from_the_database_it_draws_what_the_files_draw() {
    let server = require_pg!();
    let db = util::TestDb::new(server, "er_live");
    let project = Project::example();
    project.apply(&db, &[]).success();
    for format in ["mermaid", "dot"] {
        let files = er(&project, &["--format", format]).success().stdout;
        let live = er(
            &project,
            &["--from-database", "-D", &db.url, "--format", format],
        )
        .success()
        .stdout;
        assert_eq!(live, files, "{format}");
    }
    // dbkit's own history tables are not the application's.
    let live = er(&project, &["--from-database", "-D", &db.url])
        .success()
        .stdout;
    assert!(!live.contains("schema_history"), "{live}");
    let unknown = er(
        &project,
        &["--from-database", "-D", &db.url, "--around", "nope"],
    )
    .expect_code(2);
    assert!(
        unknown.stderr.contains("has no table `nope`"),
        "{}",
        unknown.stderr
    );
}

#[test]
fn drawio_is_valid_xml_with_every_table_and_key_and_no_overlaps() {
    let project = Project::example();
    let out = er(&project, &["--format", "drawio"]).success().stdout;
    let doc = roxmltree::Document::parse(&out).expect("valid XML");
    let cells: Vec<roxmltree::Node<'_, '_>> = doc
        .descendants()
        .filter(|n| n.has_tag_name("mxCell"))
        .collect();
    let ids: Vec<&str> = cells.iter().filter_map(|c| c.attribute("id")).collect();
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    for table in EXAMPLE_TABLES {
        assert!(
            unique.contains(format!("dbkit:table:public.{table}").as_str()),
            "{table}"
        );
    }
    let edges: Vec<_> = cells
        .iter()
        .filter(|c| c.attribute("edge") == Some("1"))
        .collect();
    assert_eq!(edges.len(), 15);
    assert!(unique.contains("dbkit:fk:public.contract_party.contract_party_contract_id_fkey"));
    // Table shapes (children of the layer), one per table.
    let boxes: Vec<(f64, f64, f64, f64)> = cells
        .iter()
        .filter(|c| c.attribute("parent") == Some("1") && c.attribute("vertex") == Some("1"))
        .map(|c| bounds(*c))
        .collect();
    assert_eq!(boxes.len(), EXAMPLE_TABLES.len());
    // Unique ids, every parent and edge end present, no overlaps.
    assert_consistent(&out);
}

/// The top-level `mxCell` elements of a draw.io text, by id, as their exact bytes.
fn cell_texts(text: &str) -> std::collections::BTreeMap<String, String> {
    let doc = roxmltree::Document::parse(text).expect("valid XML");
    doc.descendants()
        .filter(|n| n.has_tag_name("mxCell"))
        .filter_map(|n| Some((n.attribute("id")?.to_string(), text[n.range()].to_string())))
        .collect()
}

/// `(x, y, width, height)` of the cell with this id.
fn geometry(text: &str, id: &str) -> (f64, f64, f64, f64) {
    let doc = roxmltree::Document::parse(text).expect("valid XML");
    let cell = doc
        .descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("{id} in the file"));
    bounds(cell)
}

/// `(x, y, width, height)` of a cell's `mxGeometry` (a missing coordinate is 0).
fn bounds(cell: roxmltree::Node<'_, '_>) -> (f64, f64, f64, f64) {
    let g = cell
        .children()
        .find(|n| n.has_tag_name("mxGeometry"))
        .expect("geometry");
    let n = |a: &str| {
        g.attribute(a)
            .unwrap_or("0")
            .parse::<f64>()
            .expect("number")
    };
    (n("x"), n("y"), n("width"), n("height"))
}

/// Every edge's ends exist, and no two shapes on the layer overlap.
fn assert_consistent(text: &str) {
    let doc = roxmltree::Document::parse(text).expect("valid XML");
    let cells: Vec<roxmltree::Node<'_, '_>> = doc
        .descendants()
        .filter(|n| n.has_tag_name("mxCell"))
        .collect();
    let ids: std::collections::BTreeSet<&str> =
        cells.iter().filter_map(|c| c.attribute("id")).collect();
    assert_eq!(ids.len(), cells.len(), "ids are unique");
    for cell in &cells {
        if let Some(parent) = cell.attribute("parent") {
            assert!(ids.contains(parent), "parent {parent} exists");
        }
        if cell.attribute("edge") == Some("1") {
            for end in ["source", "target"] {
                let id = cell.attribute(end).expect("end");
                assert!(ids.contains(id), "{end} {id} exists");
            }
        }
    }
    let boxes: Vec<(String, (f64, f64, f64, f64))> = cells
        .iter()
        .filter(|c| c.attribute("parent") == Some("1") && c.attribute("vertex") == Some("1"))
        .map(|c| (c.attribute("id").expect("id").to_string(), bounds(*c)))
        .collect();
    for (i, (ida, a)) in boxes.iter().enumerate() {
        for (idb, b) in &boxes[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "{ida} {a:?} overlaps {idb} {b:?}");
        }
    }
}

const NOTE: &str = r##"<mxCell id="note-1" value="Ask Dana before touching &lt;b&gt;contract&lt;/b&gt;" style="shape=note;whiteSpace=wrap;html=1;fillColor=#fff2cc;" vertex="1" parent="1">
          <mxGeometry x="40" y="1400" width="200" height="60" as="geometry"/>
        </mxCell>"##;
const ARROW: &str = r##"<mxCell id="arrow-1" style="endArrow=classic;html=1;" edge="1" parent="1" source="note-1" target="dbkit:table:public.contract">
          <mxGeometry relative="1" as="geometry"/>
        </mxCell>"##;

#[test]
fn drawio_update_keeps_the_hand_layout_and_changes_only_what_the_schema_changed() {
    let project = Project::example();
    let file = "database/diagrams/schema.drawio";
    project.remove("diagrams/schema.drawio");
    let first = er(&project, &["--format", "drawio", "-o", file]).success();
    assert!(first.stderr.contains("(11 tables)"), "{}", first.stderr);
    // A person moves and colours `contract`, widens it, and adds a note with an arrow.
    let drawn = project.read("diagrams/schema.drawio");
    let (x, y, _, h) = geometry(&drawn, "dbkit:table:public.contract");
    let moved = drawn
        .replacen(
            &format!("<mxGeometry x=\"{x}\" y=\"{y}\" width=\"260\" height=\"{h}\""),
            &format!("<mxGeometry x=\"1500\" y=\"900\" width=\"320\" height=\"{h}\""),
            1,
        )
        .replacen(
            "value=\"contract\" style=\"shape=table;",
            "value=\"contract\" style=\"shape=table;fillColor=#f8cecc;",
            1,
        )
        .replacen(
            "      </root>",
            &format!("        {NOTE}\n        {ARROW}\n      </root>"),
            1,
        );
    assert_ne!(moved, drawn);
    project.write("diagrams/schema.drawio", &moved);
    let before = cell_texts(&moved);

    // Nothing changed in the schema: the file is left exactly as it is.
    let same = er(&project, &["--update", file]).success();
    assert!(same.stderr.contains("is up to date"), "{}", same.stderr);
    assert_eq!(project.read("diagrams/schema.drawio"), moved);

    // A migration adds a table, adds a column to `contract`, drops a table.
    project.write(
        "migrations/013_audit.sql",
        "CREATE TABLE public.audit_log (\n    id bigint PRIMARY KEY,\n    contract_id bigint NOT NULL REFERENCES public.contract (id),\n    note text\n);\nALTER TABLE public.contract ADD COLUMN archived_at timestamptz;\nDROP TABLE public.contract_document;\n",
    );
    let updated = er(&project, &["--update", file]).success();
    for line in [
        "added    audit_log",
        "changed  contract",
        "removed  contract_document",
    ] {
        assert!(updated.stderr.contains(line), "{line}: {}", updated.stderr);
    }
    let after_text = project.read("diagrams/schema.drawio");
    let after = cell_texts(&after_text);
    assert_consistent(&after_text);

    // The moved, coloured, widened table keeps its place and style, and grows a row.
    let (x, y, w, h) = geometry(&after_text, "dbkit:table:public.contract");
    assert_eq!((x, y, w), (1500.0, 900.0, 320.0));
    let rows = after
        .keys()
        .filter(|id| {
            id.starts_with("dbkit:column:public.contract.") && id.matches(':').count() == 2
        })
        .count();
    assert_eq!(h, 26.0 * (rows as f64 + 1.0), "{rows} rows");
    assert!(after["dbkit:table:public.contract"].contains("fillColor=#f8cecc;"));
    assert!(after["dbkit:column:public.contract.archived_at:name"]
        .contains("value=\"archived_at timestamptz\""));
    // The person's note and arrow, byte for byte.
    assert!(after_text.contains(NOTE) && after_text.contains(ARROW));
    // Tables the migration did not touch, every cell byte for byte.
    for (id, text) in &before {
        if id.contains("public.currency") || id.contains("public.party_role") {
            assert_eq!(&after[id], text, "{id}");
        }
    }
    // The dropped table and its edges are gone; the new one is there, with its edge,
    // right of everything drawn before.
    assert!(!after.keys().any(|id| id.contains("contract_document")));
    assert!(after.contains_key("dbkit:fk:public.audit_log.audit_log_contract_id_fkey"));
    let (ax, _, _, _) = geometry(&after_text, "dbkit:table:public.audit_log");
    assert!(ax >= 1500.0 + 320.0, "audit_log at x={ax}");

    // Running it again changes nothing.
    let again = er(&project, &["--update", file]).success();
    assert!(again.stderr.contains("is up to date"), "{}", again.stderr);
    assert_eq!(project.read("diagrams/schema.drawio"), after_text);
}

#[test]
fn drawio_update_keep_dropped_greys_a_table_and_brings_it_back() {
    let project = Project::example();
    let file = "database/diagrams/schema.drawio";
    let original = project.read("diagrams/schema.drawio");
    project.write(
        "migrations/013_drop.sql",
        "DROP TABLE public.contract_document;\n",
    );
    let kept = er(&project, &["--update", file, "--keep-dropped"]).success();
    assert!(
        kept.stderr.contains("dropped  contract_document"),
        "{}",
        kept.stderr
    );
    let text = project.read("diagrams/schema.drawio");
    assert_consistent(&text);
    let cells = cell_texts(&text);
    let table = &cells["dbkit:table:public.contract_document"];
    assert!(
        table.contains("value=\"contract_document (dropped)\""),
        "{table}"
    );
    assert!(table.contains("dbkitDropped=1;"), "{table}");
    assert!(!cells
        .keys()
        .any(|id| id.starts_with("dbkit:fk:public.contract_document.")));
    let again = er(&project, &["--update", file, "--keep-dropped"]).success();
    assert!(again.stderr.contains("is up to date"), "{}", again.stderr);

    // The table comes back: its shape is restored where it stood, its edges return.
    project.remove("migrations/013_drop.sql");
    er(&project, &["--update", file]).success();
    let back = project.read("diagrams/schema.drawio");
    assert_consistent(&back);
    let cells = cell_texts(&back);
    assert!(!cells["dbkit:table:public.contract_document"].contains("dropped"));
    assert_eq!(
        geometry(&back, "dbkit:table:public.contract_document"),
        geometry(&original, "dbkit:table:public.contract_document")
    );
    assert_eq!(
        cells
            .keys()
            .filter(|id| id.starts_with("dbkit:fk:"))
            .count(),
        15
    );
}

#[test]
fn drawio_bad_input_is_refused_and_the_file_left_alone() {
    let project = Project::example();
    let file = "database/diagrams/schema.drawio";
    // `-o` never overwrites a draw.io file: that is what `--update` is for.
    let refused = er(&project, &["--format", "drawio", "-o", file]).expect_code(1);
    assert!(refused.stderr.contains("--update"), "{}", refused.stderr);

    let compressed = "<mxfile host=\"app.diagrams.net\">\n  <diagram id=\"a\" name=\"Page-1\">7VxRc5s4EP41nrl7aAeBjfFjnTjt3Vxn7ibt9fpIQLa5YuQTcuz011dCEiAJ25A4tkl4SczyaRG73367Elix5cdv8h1hVHdAlTKJNtFPSxmjIngmD03t8IRcXfp4qsfPMEn5PYgaOz1YhD0sxdbx9ctT+cDoQMI1Z8hTdpc</diagram>\n</mxfile>\n";
    project.write("diagrams/compressed.drawio", compressed);
    let run = er(
        &project,
        &["--update", "database/diagrams/compressed.drawio"],
    )
    .expect_code(1);
    assert!(
        run.stderr.contains("compressed.drawio:2:") && run.stderr.contains("untick Compressed"),
        "{}",
        run.stderr
    );
    assert_eq!(project.read("diagrams/compressed.drawio"), compressed);

    project.write(
        "diagrams/broken.drawio",
        "<mxfile>\n  <diagram>\n    <mxGraphModel>\n",
    );
    let run = er(&project, &["--update", "database/diagrams/broken.drawio"]).expect_code(1);
    assert!(run.stderr.contains("broken.drawio:"), "{}", run.stderr);

    let run = er(&project, &["--format", "dot", "--update", file]).expect_code(2);
    assert!(run.stderr.contains("--update"), "{}", run.stderr);

    // A file that does not exist yet is drawn new.
    let made = er(&project, &["--update", "new.drawio"]).success();
    assert!(made.stderr.contains("did not exist"), "{}", made.stderr);
    assert_consistent(
        &std::fs::read_to_string(project.dir.path().join("new.drawio")).expect("reads"),
    );
}

#[test]
fn the_examples_committed_drawio_is_up_to_date() {
    let project = Project::example();
    let committed = project.read("diagrams/schema.drawio");
    assert_consistent(&committed);
    let run = er(&project, &["--update", "database/diagrams/schema.drawio"]).success();
    assert!(
        run.stderr.contains("is up to date"),
        "database/diagrams/schema.drawio is out of date: run `er-diagram --update database/diagrams/schema.drawio`\n{}",
        run.stderr
    );
    assert_eq!(project.read("diagrams/schema.drawio"), committed);
}

#[test]
fn views_are_drawn_with_their_columns_and_what_they_read() {
    let project = Project::example();
    let mermaid = er(&project, &["--views"]).success().stdout;
    for line in [
        "contract_overview[\"contract_overview (view)\"] {",
        "bigint id",
        "text organization_name",
        "bigint party_count",
        "boolean has_pii_mapping",
        "contract_overview }o..o{ contract : \"reads\"",
        "contract_overview }o..o{ contract_pii_mapping : \"reads\"",
    ] {
        assert!(mermaid.contains(line), "{line}\n{mermaid}");
    }
    assert!(!er(&project, &[])
        .success()
        .stdout
        .contains("contract_overview"));
    let drawio = er(&project, &["--views", "--format", "drawio"])
        .success()
        .stdout;
    assert_consistent(&drawio);
    let cells = cell_texts(&drawio);
    assert!(cells.contains_key("dbkit:view:public.contract_overview"));
    assert!(cells.contains_key("dbkit:uses:public.contract_overview:public.contract"));
    let dot = er(&project, &["--views", "--format", "dot"])
        .success()
        .stdout;
    assert!(
        dot.contains("\"contract_overview\" -> \"contract\" [dir=forward, style=dashed"),
        "{dot}"
    );
}

#[test]
fn views_from_the_database_match_the_files() {
    let server = require_pg!();
    let db = util::TestDb::new(server, "er_views");
    let project = Project::example();
    project.apply(&db, &[]).success();
    let files = er(&project, &["--views"]).success().stdout;
    let live = er(&project, &["--views", "--from-database", "-D", &db.url])
        .success()
        .stdout;
    assert_eq!(live, files);
    // The live database updates a draw.io file drawn from the files with no change.
    let run = er(
        &project,
        &[
            "--update",
            "database/diagrams/schema.drawio",
            "--from-database",
            "-D",
            &db.url,
        ],
    )
    .success();
    assert!(run.stderr.contains("is up to date"), "{}", run.stderr);
}

#[test]
fn a_schema_too_big_for_github_is_split_into_diagrams_github_renders() {
    let project = Project::empty();
    // 300 tables of 12 columns in 30 groups of 10 chained by foreign keys.
    let mut sql = String::new();
    for group in 0..30 {
        for i in 0..10 {
            sql.push_str(&format!(
                "CREATE TABLE g{group:02}_t{i} (\n    id bigint PRIMARY KEY"
            ));
            if i > 0 {
                sql.push_str(&format!(
                    ",\n    parent_id bigint NOT NULL REFERENCES g{group:02}_t{} (id)",
                    i - 1
                ));
            }
            for c in 0..10 {
                sql.push_str(&format!(",\n    column_number_{c} varchar(100)"));
            }
            sql.push_str("\n);\n");
        }
    }
    project.write("migrations/001_big.sql", &sql);
    let whole = er(&project, &["--no-split"]).success();
    assert!(whole.stdout.len() > 50_000, "{}", whole.stdout.len());
    assert!(whole.stdout.starts_with("erDiagram"));
    let split = er(&project, &[]).success();
    assert!(
        split.stderr.contains("more than GitHub renders"),
        "{}",
        split.stderr
    );
    assert!(split.stdout.starts_with("# Entity-relationship diagram"));
    let blocks: Vec<&str> = split
        .stdout
        .split("```mermaid\n")
        .skip(1)
        .map(|b| b.split("```").next().expect("closed"))
        .collect();
    assert!(blocks.len() >= 2, "{}", blocks.len());
    let mut tables = 0;
    for block in &blocks {
        assert!(block.len() <= 50_000, "{}", block.len());
        assert!(block.starts_with("erDiagram"));
        tables += block.lines().filter(|l| l.ends_with(" {")).count();
    }
    assert_eq!(tables, 300, "every table in exactly one diagram");
    // Groups are never cut: every relationship is inside a diagram.
    let relationships: usize = blocks
        .iter()
        .map(|b| b.lines().filter(|l| l.contains("||--o{")).count())
        .sum();
    assert_eq!(relationships, 270);
}

#[test]
fn a_table_statement_the_reader_cannot_read_is_named_and_its_shape_kept() {
    let project = Project::example();
    let file = "database/diagrams/schema.drawio";
    // Valid enough to look like a CREATE TABLE, not SQL sqlparser reads: the diagram
    // would lose the table without a word.
    project.write(
        "migrations/013_review.sql",
        "CREATE TABLE contract_review (id bigint PRIMARY KEY, contract_id bigint NOT NULL REFERENCES contract (id));\n",
    );
    er(&project, &["--update", file]).success();
    let drawn = project.read("diagrams/schema.drawio");
    assert!(drawn.contains("dbkit:table:public.contract_review"));
    project.write(
        "migrations/013_review.sql",
        "CREATE TABLE contract_review (id bigint PRIMARY KEY, contract_id bigint NOT NUL REFERENCES contract (id));\n",
    );
    let run = er(&project, &[]).success();
    assert!(
        run.stderr.contains(
            "database/migrations/013_review.sql:1: CREATE TABLE (not parsed by sqlparser: "
        ) && run.stderr.contains("--from-database"),
        "{}",
        run.stderr
    );
    // --update greys the table instead of removing the shape someone placed.
    let run = er(&project, &["--update", file]).success();
    assert!(run.stderr.contains("greyed"), "{}", run.stderr);
    let text = project.read("diagrams/schema.drawio");
    assert_consistent(&text);
    let cells = cell_texts(&text);
    assert!(cells["dbkit:table:public.contract_review"].contains("dbkitDropped=1;"));
    assert_eq!(
        geometry(&text, "dbkit:table:public.contract_review"),
        geometry(&drawn, "dbkit:table:public.contract_review")
    );
}

#[test]
fn output_into_a_folder_that_does_not_exist_yet() {
    let project = Project::example();
    let run = er(
        &project,
        &["--format", "drawio", "-o", "docs/er/schema.drawio"],
    )
    .success();
    assert!(
        run.stderr.contains("wrote docs/er/schema.drawio"),
        "{}",
        run.stderr
    );
    assert_consistent(
        &std::fs::read_to_string(project.dir.path().join("docs/er/schema.drawio")).expect("reads"),
    );
}

#[test]
fn aliases_are_drawn_as_the_catalog_names_them() {
    let project = Project::empty();
    project.write(
        "migrations/001_init.sql",
        "CREATE TABLE t (id serial PRIMARY KEY, a int4 NOT NULL, b bool, c float8, d decimal(10,2), e char(3), f varchar(20), g int[], h timestamptz);\n",
    );
    let run = er(&project, &["--format", "dot"]).success();
    for shown in [
        "integer PK",
        "integer NN",
        "boolean",
        "double precision",
        "numeric(10,2)",
        "character(3)",
        "varchar(20)",
        "integer[]",
        "timestamptz",
    ] {
        assert!(run.stdout.contains(shown), "{shown}:\n{}", run.stdout);
    }
    let mermaid = er(&project, &[]).success();
    assert!(
        mermaid.stdout.contains("integer a \"not null\""),
        "{}",
        mermaid.stdout
    );
    // The database names them the same way, so both sources draw the same diagram.
    let server = require_pg!();
    let db = util::TestDb::new(server, "er_aliases");
    project.apply(&db, &[]).success();
    for format in ["mermaid", "dot", "drawio"] {
        let files = er(&project, &["--format", format]).success().stdout;
        let live = er(
            &project,
            &["--from-database", "-D", &db.url, "--format", format],
        )
        .success()
        .stdout;
        assert_eq!(live, files, "{format}");
    }
}
