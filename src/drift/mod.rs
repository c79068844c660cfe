//! Drift (`check-drift`): a live database compared with what the files build (its
//! snapshot and applied migrations replayed in a throwaway database, `replay`) or with
//! another live database, and the SQL that closes the gap either way (`script`, from
//! each side's `facts`).
//!
//! The comparison is `pg::compare`'s, the one snapshot verification and
//! verify-migrations use, with three things added for drift: expressions that differ
//! only in how the server prints them are settled (`pg::reprint`), so there are no false
//! positives; column order is a note, not drift (PostgreSQL cannot move a column, so a
//! column put back by a repair lands last, and nothing reads columns by position but
//! `SELECT *`); and every kind of object `compare` does not model is still compared,
//! from pg_dump's entries (`dump`). Which migration last touched a drifted object comes
//! from document-migration's analysis of the applied files (`origin`).
//!
//! Comparing reads both databases and writes neither. `capture` writes the drift as the
//! next migration, proven on a second replay; `repair` writes the way back and runs it
//! under the migration lock, proven before it commits; `snapshots` proves each snapshot
//! against the migrations it claims. The throwaway databases they need, and the guard,
//! question and backup before a repair, are the program's.

pub mod capture;
pub mod dump;
pub mod facts;
mod origin;
pub mod repair;
pub mod replay;
pub mod script;
pub mod snapshots;

use std::collections::{BTreeMap, BTreeSet};

use postgres::Client;
use serde::Serialize;

use crate::error::Result;
use crate::pg::compare::{self, Description, Scope};
use crate::pg::dump::{DumpOptions, PgDump};
use crate::project::settings::ConnectionSettings;

pub use origin::last_touched;

/// One database to compare.
pub struct Db<'a> {
    pub client: &'a mut Client,
    pub settings: &'a ConnectionSettings,
    /// How messages name it (password masked).
    pub shown: String,
}

impl Db<'_> {
    /// The same database, borrowed again for one more call.
    pub fn reborrow(&mut self) -> Db<'_> {
        Db {
            client: self.client,
            settings: self.settings,
            shown: self.shown.clone(),
        }
    }
}

/// What to compare.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub scope: Scope,
    /// pg_dump for the comparison of kinds the catalog comparison does not model.
    pub pg_dump: Option<PgDump>,
    /// The expected side is a throwaway database: reprint probes may build indexes in
    /// it. On another live database only expressions are probed (in `pg_temp`).
    pub expected_is_throwaway: bool,
}

/// How an object differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// Only in the database.
    Extra,
    /// Only in the files (or the other database): missing from the database.
    Missing,
    /// In both, defined differently.
    Different,
}

/// One drifted object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// `tables`, `columns`, `indexes`, ... (see [`GROUPS`]).
    pub group: &'static str,
    /// `compare`'s kind: `column`, `enum`, `materialized view`, or pg_dump's entry type
    /// for an unmodelled kind (`rule`).
    pub kind: String,
    pub name: String,
    pub change: Change,
    /// Its definition in the database, when it has it.
    pub database: Option<String>,
    /// Its definition in the files (or the other database), when they have it.
    pub expected: Option<String>,
    /// What differs, in words, where that is shorter than the definitions (enum labels).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The applied migration that last touched it, where the analysis can tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_touched: Option<String>,
    /// False for a kind only the pg_dump comparison sees.
    pub modelled: bool,
}

/// The groups findings are reported in, in this order.
pub const GROUPS: &[&str] = &[
    "schemas",
    "extensions",
    "types",
    "tables",
    "columns",
    "constraints",
    "indexes",
    "sequences",
    "views",
    "functions",
    "triggers",
    "policies",
    "comments",
    "owners",
    "privileges",
    "other (pg_dump)",
];

fn group(kind: &str) -> &'static str {
    match kind {
        "schema" => "schemas",
        "extension" => "extensions",
        "enum" | "domain" | "range" | "type" | "composite type" => "types",
        "table" | "foreign table" => "tables",
        "column" => "columns",
        "constraint" => "constraints",
        "index" => "indexes",
        "sequence" | "sequence settings" => "sequences",
        "view" | "materialized view" => "views",
        "function" | "procedure" | "aggregate" => "functions",
        "trigger" => "triggers",
        "policy" => "policies",
        "comment" => "comments",
        "owner" => "owners",
        "privilege" => "privileges",
        _ => "other (pg_dump)",
    }
}

/// Both sides, described, and how they differ.
#[derive(Debug, Clone)]
pub struct Compared {
    /// The database's items (column positions taken out, see the module header).
    pub live: Description,
    pub expected: Description,
    /// Unmodelled objects (pg_dump's entries), by `(kind, name)`, on each side.
    pub live_other: BTreeMap<(String, String), String>,
    pub expected_other: BTreeMap<(String, String), String>,
    pub findings: Vec<Finding>,
    /// Column order and the like: worth knowing, not drift.
    pub notes: Vec<String>,
    /// How many objects were compared.
    pub items: usize,
}

impl Compared {
    /// No drift.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Compares the database with the expected one.
pub fn compare(live: Db<'_>, expected: Db<'_>, options: &Options) -> Result<Compared> {
    // The dumps run while the catalogs are read.
    let dumps = options.pg_dump.as_ref().map(|pg_dump| {
        let dump_options = DumpOptions {
            schemas: options.scope.schemas.clone(),
            exclude_schemas: options.scope.exclude_schemas.clone(),
            owners: false,
            privileges: options.scope.privileges,
        };
        let (a, b) = (live.settings.clone(), expected.settings.clone());
        let (p1, p2) = (pg_dump.clone(), pg_dump.clone());
        let (o1, o2) = (dump_options.clone(), dump_options);
        (
            std::thread::spawn(move || p1.schema(&a, &o1)),
            std::thread::spawn(move || p2.schema(&b, &o2)),
        )
    });
    let live_items = compare::describe(live.client, &options.scope, &live.shown)?;
    let expected_items = compare::describe(expected.client, &options.scope, &expected.shown)?;
    let (live_items, live_order) = take_positions(live_items);
    let (mut expected_items, expected_order) = take_positions(expected_items);
    crate::pg::reprint::settle_with(
        expected.client,
        &live_items,
        &mut expected_items,
        &expected.shown,
        options.expected_is_throwaway,
    )?;
    let (live_other, expected_other) = match dumps {
        Some((a, b)) => {
            let joined = |h: std::thread::JoinHandle<Result<String>>| {
                h.join().unwrap_or_else(|_| {
                    Err(crate::Error::Usage("pg_dump's thread panicked".into()))
                })
            };
            let (a, b) = (joined(a)?, joined(b)?);
            (
                dump::unmodelled(&crate::project::snapshot::normalize_dump(&a)),
                dump::unmodelled(&crate::project::snapshot::normalize_dump(&b)),
            )
        }
        None => Default::default(),
    };
    let family = Family::read(live.client, &live.shown)?
        .merge(Family::read(expected.client, &expected.shown)?);
    let mut findings = family.fold(differences(&live_items, &expected_items, true));
    findings.extend(
        differences(&live_other, &expected_other, false)
            .into_iter()
            .map(|mut f| {
                f.group = "other (pg_dump)";
                f
            }),
    );
    sort(&mut findings);
    let notes = order_notes(&live_order, &expected_order, &live.shown, &expected.shown);
    let items = live_items.len() + live_other.len();
    Ok(Compared {
        live: live_items,
        expected: expected_items,
        live_other,
        expected_other,
        findings,
        notes,
        items,
    })
}

/// Which tables and indexes are partitions (or children) of which: a change made on a
/// parent shows on every partition, and is one finding, the parent's.
#[derive(Debug, Default)]
struct Family {
    /// Child table or index to its parent.
    parent: BTreeMap<String, String>,
    /// Index to its table.
    table: BTreeMap<String, String>,
    /// Indexes made with what owns them: a key's, or a partition's from its parent's.
    implied: BTreeSet<String>,
}

impl Family {
    fn read(client: &mut impl postgres::GenericClient, shown: &str) -> Result<Family> {
        let rows = client
            .query(
                "SELECT format('%I.%I', cn.nspname, c.relname), format('%I.%I', pn.nspname, p.relname), NULL
                   FROM pg_inherits i
                   JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace
                   JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace pn ON pn.oid = p.relnamespace
                 UNION ALL
                 SELECT format('%I.%I', n.nspname, ic.relname),
                        CASE WHEN EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u', 'x'))
                             THEN '' END,
                        format('%I.%I', tn.nspname, t.relname)
                   FROM pg_index x
                   JOIN pg_class ic ON ic.oid = x.indexrelid JOIN pg_namespace n ON n.oid = ic.relnamespace
                   JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace
                  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname !~ '^pg_toast'",
                &[],
            )
            .map_err(crate::pg::connect::query_error("reading partitions", shown))?;
        let mut family = Family::default();
        for row in rows {
            let name: String = row.get(0);
            match row.get::<_, Option<String>>(1) {
                // A key's index.
                Some(parent) if parent.is_empty() => {
                    family.implied.insert(name.clone());
                }
                Some(parent) => {
                    family.implied.insert(name.clone());
                    family.parent.insert(name.clone(), parent);
                }
                None => {}
            }
            if let Some(table) = row.get::<_, Option<String>>(2) {
                family.table.insert(name, table);
            }
        }
        Ok(family)
    }

    fn merge(mut self, other: Family) -> Family {
        for (k, v) in other.parent {
            self.parent.entry(k).or_insert(v);
        }
        for (k, v) in other.table {
            self.table.entry(k).or_insert(v);
        }
        self.implied.extend(other.implied);
        self
    }

    /// Leaves out what a parent's finding already says: a partition's column, index or
    /// cloned trigger when its parent has the same finding, and the indexes of a table
    /// that is only on one side that come with it (its keys', its partitions'), and an
    /// extension's own comment.
    fn fold(&self, found: Vec<Finding>) -> Vec<Finding> {
        let keys: BTreeSet<(String, String, Change)> = found
            .iter()
            .map(|f| (f.kind.clone(), f.name.clone(), f.change))
            .collect();
        let has = |kind: &str, name: &str, change: Change| {
            keys.contains(&(kind.to_string(), name.to_string(), change))
        };
        let folded = |f: &Finding| -> bool {
            match f.kind.as_str() {
                "column" | "trigger" => {
                    let (table, own) = script::split_last(&f.name);
                    self.parent
                        .get(&table)
                        .is_some_and(|p| has(&f.kind, &format!("{p}.{own}"), f.change))
                }
                "index" => {
                    self.parent
                        .get(&f.name)
                        .is_some_and(|p| has("index", p, f.change))
                        || (f.change != Change::Different
                            && self.implied.contains(&f.name)
                            && self
                                .table
                                .get(&f.name)
                                .is_some_and(|t| has("table", t, f.change)))
                }
                "comment" => f
                    .name
                    .strip_prefix("extension ")
                    .is_some_and(|e| has("extension", e, f.change)),
                _ => false,
            }
        };
        found.into_iter().filter(|f| !folded(f)).collect()
    }
}

fn sort(findings: &mut [Finding]) {
    let rank = |g: &str| GROUPS.iter().position(|x| *x == g).unwrap_or(GROUPS.len());
    findings.sort_by(|a, b| {
        (rank(a.group), a.change, &a.name, &a.kind).cmp(&(
            rank(b.group),
            b.change,
            &b.name,
            &b.kind,
        ))
    });
}

/// The findings between two descriptions; a table only on one side stands for its
/// columns and constraints.
fn differences(live: &Description, expected: &Description, modelled: bool) -> Vec<Finding> {
    let finding =
        |kind: &str, name: &str, change, database: Option<&String>, expected: Option<&String>| {
            Finding {
                group: group(kind),
                kind: kind.to_string(),
                name: name.to_string(),
                change,
                database: database.cloned(),
                expected: expected.cloned(),
                detail: detail(kind, database, expected),
                last_touched: None,
                modelled,
            }
        };
    let mut found = Vec::new();
    for ((kind, name), definition) in live {
        match expected.get(&(kind.clone(), name.clone())) {
            None => found.push(finding(kind, name, Change::Extra, Some(definition), None)),
            Some(other) if other != definition => found.push(finding(
                kind,
                name,
                Change::Different,
                Some(definition),
                Some(other),
            )),
            Some(_) => {}
        }
    }
    for ((kind, name), definition) in expected {
        if !live.contains_key(&(kind.clone(), name.clone())) {
            found.push(finding(kind, name, Change::Missing, None, Some(definition)));
        }
    }
    // A view's columns follow from its query and the columns it reads, which are
    // compared themselves.
    let is_view = |table: &str| {
        ["view", "materialized view"].iter().any(|kind| {
            let key = (kind.to_string(), table.to_string());
            live.contains_key(&key) || expected.contains_key(&key)
        })
    };
    found.retain(|f| f.kind != "column" || !is_view(&script::split_last(&f.name).0));
    let whole: BTreeSet<(String, Change)> = found
        .iter()
        .filter(|f| {
            matches!(f.kind.as_str(), "table" | "composite type") && f.change != Change::Different
        })
        .map(|f| (f.name.clone(), f.change))
        .collect();
    let sequences: BTreeSet<(String, Change)> = found
        .iter()
        .filter(|f| f.kind == "sequence")
        .map(|f| (f.name.clone(), f.change))
        .collect();
    found.retain(|f| match f.kind.as_str() {
        "column" | "constraint" if f.change != Change::Different => {
            !whole.contains(&(script::split_last(&f.name).0, f.change))
        }
        "sequence settings" => !sequences.contains(&(f.name.clone(), f.change)),
        _ => true,
    });
    found
}

/// Enum labels in words: `label 'c' only in the database`.
fn detail(kind: &str, database: Option<&String>, expected: Option<&String>) -> Option<String> {
    if kind != "enum" {
        return None;
    }
    let (a, b) = (database?, expected?);
    let labels = |s: &str| -> Vec<String> { s.split(", ").map(str::to_string).collect() };
    let (a, b) = (labels(a), labels(b));
    let mut words = Vec::new();
    let only = |x: &[String], y: &[String]| -> Vec<String> {
        x.iter().filter(|l| !y.contains(l)).cloned().collect()
    };
    let extra = only(&a, &b);
    let missing = only(&b, &a);
    if !extra.is_empty() {
        words.push(format!(
            "label(s) {} only in the database",
            extra.join(", ")
        ));
    }
    if !missing.is_empty() {
        words.push(format!("label(s) {} only in the files", missing.join(", ")));
    }
    if words.is_empty() {
        words.push("the same labels in another order".into());
    }
    Some(words.join("; "))
}

/// Columns in order per table, and the items without the `position N` part.
fn take_positions(items: Description) -> (Description, BTreeMap<String, Vec<(u64, String)>>) {
    let mut order: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
    let items = items
        .into_iter()
        .map(|((kind, name), definition)| {
            if kind != "column" {
                return ((kind, name), definition);
            }
            let Some(rest) = definition.strip_prefix("position ") else {
                return ((kind, name), definition);
            };
            let (number, rest) = rest.split_once(" | ").unwrap_or((rest, ""));
            if let Ok(position) = number.parse::<u64>() {
                let (table, column) = script::split_last(&name);
                order.entry(table).or_default().push((position, column));
            }
            ((kind, name), rest.to_string())
        })
        .collect();
    for columns in order.values_mut() {
        columns.sort();
    }
    (items, order)
}

/// A note per table whose shared columns come in another order.
fn order_notes(
    live: &BTreeMap<String, Vec<(u64, String)>>,
    expected: &BTreeMap<String, Vec<(u64, String)>>,
    live_shown: &str,
    expected_shown: &str,
) -> Vec<String> {
    let mut notes = Vec::new();
    for (table, columns) in live {
        let Some(other) = expected.get(table) else {
            continue;
        };
        let names = |c: &[(u64, String)], o: &[(u64, String)]| -> Vec<String> {
            c.iter()
                .filter(|(_, n)| o.iter().any(|(_, m)| m == n))
                .map(|(_, n)| n.clone())
                .collect()
        };
        let (a, b) = (names(columns, other), names(other, columns));
        if a != b {
            notes.push(format!(
                "the columns of `{table}` come in another order: ({}) in {live_shown}, ({}) in {expected_shown}; not counted as drift, since PostgreSQL cannot reorder columns in place",
                a.join(", "),
                b.join(", ")
            ));
        }
    }
    notes
}

/// The SQL that makes the `to` side of a comparison out of its `from` side: with
/// `to_live`, the files' replay into the live database (capture); else the live
/// database back to the files (repair).
pub fn script(
    compared: &Compared,
    live: &facts::Facts,
    expected: &facts::Facts,
    to_live: bool,
) -> script::Script {
    let (from, to, from_other, to_other) = match to_live {
        true => (
            (&compared.expected, expected),
            (&compared.live, live),
            &compared.expected_other,
            &compared.live_other,
        ),
        false => (
            (&compared.live, live),
            (&compared.expected, expected),
            &compared.live_other,
            &compared.expected_other,
        ),
    };
    let made: Vec<(String, String, String)> = to_other
        .iter()
        .filter(|(key, _)| !from_other.contains_key(*key))
        .map(|((kind, name), sql)| (kind.clone(), name.clone(), sql.clone()))
        .collect();
    let mut written = script::write(from, to, &made);
    for ((kind, name), definition) in from_other {
        let same = to_other.get(&(kind.clone(), name.clone())) == Some(definition);
        if same {
            continue;
        }
        let remade = to_other.get(&(kind.clone(), name.clone()));
        match (dump::drop_statement(kind, name), remade) {
            (Some(drop), remade) => {
                written.steps.push(script::Step::new(drop, kind, name, remade.is_none(), 8));
                if let Some(sql) = remade {
                    written.steps.push(script::Step::new(sql.clone(), kind, name, false, 49));
                }
            }
            (None, Some(_)) => written.unwritten.push(script::Unwritten {
                kind: kind.clone(),
                name: name.clone(),
                reason: "dbkit does not model this kind; change it by hand (both definitions are in the report)".into(),
            }),
            (None, None) => written.unwritten.push(script::Unwritten {
                kind: kind.clone(),
                name: name.clone(),
                reason: "dbkit does not model this kind; drop it by hand".into(),
            }),
        }
    }
    written.steps.sort_by_key(script::Step::phase);
    written
}

/// What check-drift found and did, as the report and `--format json` show it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The database checked (password masked).
    pub database: String,
    /// What it was compared with: `the files (snapshot ... + 12 migrations ...)`, or
    /// the other database.
    pub compared_with: String,
    /// How the other side is named in a finding: `the files`, or the other database.
    #[serde(skip)]
    pub expected_label: String,
    /// How this side is named in a finding: `the database` (`the snapshot` for
    /// `--snapshots`).
    #[serde(skip)]
    pub database_label: String,
    pub objects_compared: usize,
    pub findings: Vec<Finding>,
    pub notes: Vec<String>,
    pub duration_ms: f64,
    /// `--repair`: the statements, and what they leave open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repair: Option<Repair>,
    /// `--capture`: the files written.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub captured: Vec<String>,
    /// How the files' side was made, when the files were the other side.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replay: Option<crate::ops::fresh::Made>,
}

impl Report {
    /// How many findings of a change.
    pub fn count(&self, change: Change) -> usize {
        self.findings.iter().filter(|f| f.change == change).count()
    }
}

/// A repair: written, and perhaps run.
#[derive(Debug, Clone, Serialize)]
pub struct Repair {
    pub steps: Vec<script::Step>,
    /// Destructive steps left out (no `--allow-destructive`).
    pub left_out: Vec<script::Step>,
    pub unwritten: Vec<script::Unwritten>,
    /// The SQL, as printed.
    pub sql: String,
    /// It was run and committed (`--apply`).
    pub applied: bool,
    /// The backup taken first (`--backup-first`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<String>,
    /// After it was run: what still differs (what was left out, and what goes with it).
    pub remaining: Vec<Finding>,
}

/// Describes the database `client` (a transaction too) is connected to as `compare`
/// does, without column positions: for the check a repair makes before it commits.
pub fn describe(
    client: &mut impl postgres::GenericClient,
    scope: &Scope,
    shown: &str,
) -> Result<Description> {
    Ok(take_positions(compare::describe(client, scope, shown)?).0)
}

/// The findings between the database as it is now (read again through `live`, a
/// repair's transaction) and the expected side of `compared`, after settling reprints
/// on the expected side's connection.
pub fn recheck(
    live: &mut impl postgres::GenericClient,
    scope: &Scope,
    live_shown: &str,
    compared: &Compared,
    expected: &mut Client,
    expected_shown: &str,
    throwaway: bool,
) -> Result<Vec<Finding>> {
    let now = take_positions(compare::describe(live, scope, live_shown)?).0;
    let family = Family::read(live, live_shown)?;
    let mut expected_items = compared.expected.clone();
    crate::pg::reprint::settle_with(
        expected,
        &now,
        &mut expected_items,
        expected_shown,
        throwaway,
    )?;
    let family = family.merge(Family::read(expected, expected_shown)?);
    let mut findings = family.fold(differences(&now, &expected_items, true));
    sort(&mut findings);
    Ok(findings)
}

/// A finding in one line: ``index `public.x` only in the database``.
pub fn phrase(finding: &Finding, expected_label: &str) -> String {
    let (kind, name) = (&finding.kind, &finding.name);
    match finding.change {
        Change::Extra => format!("{kind} `{name}` only in the database"),
        Change::Missing => format!("{kind} `{name}` only in {expected_label}"),
        Change::Different => format!("{kind} `{name}` differs"),
    }
}
