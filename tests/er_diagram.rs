//! er-diagram from the files: the example's whole schema as Mermaid and Graphviz (every
//! table and foreign key, partitions folded), --around/--depth, --schema, -o, Graphviz
//! rendering when `dot` is installed (required under CI), and bad input.

mod util;

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
    assert_eq!(unique.len(), ids.len(), "ids are unique");
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
    for edge in &edges {
        for end in ["source", "target"] {
            let id = edge.attribute(end).expect("end");
            assert!(unique.contains(id), "{end} {id} exists");
        }
    }
    // Table shapes (children of the layer) never overlap.
    let boxes: Vec<(f64, f64, f64, f64)> = cells
        .iter()
        .filter(|c| c.attribute("parent") == Some("1") && c.attribute("vertex") == Some("1"))
        .map(|c| {
            let g = c
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
        })
        .collect();
    assert_eq!(boxes.len(), EXAMPLE_TABLES.len());
    for (i, a) in boxes.iter().enumerate() {
        for b in &boxes[i + 1..] {
            let apart =
                a.0 + a.2 <= b.0 || b.0 + b.2 <= a.0 || a.1 + a.3 <= b.1 || b.1 + b.3 <= a.1;
            assert!(apart, "{a:?} overlaps {b:?}");
        }
    }
}
