//! dbkit's history inside the database: the `dbkit` schema with one row per migration
//! (how and when it got there), one row per snapshot load, one row per accepted
//! checksum change, and one row per migration rolled back. The schema is kept apart from the application's so snapshots and
//! drift checks leave it out. This module reads and writes those rows; deciding what to
//! apply is `plan`'s job.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use postgres::{Client, SimpleQueryMessage, SimpleQueryRow};

use crate::error::Result;
use crate::pg::connect::query_error;
use crate::sql::quote_literal as literal;

/// The schema that holds dbkit's tables.
pub const SCHEMA: &str = "dbkit";

/// Creates the history schema and tables if they are missing.
pub const CREATE: &str = "
CREATE SCHEMA IF NOT EXISTS dbkit;
COMMENT ON SCHEMA dbkit IS 'dbkit migration history; managed by apply-schema, do not edit';
CREATE TABLE IF NOT EXISTS dbkit.schema_history (
    version         bigint PRIMARY KEY,
    file            text NOT NULL,
    checksum        text NOT NULL,
    source          text NOT NULL CHECK (source IN ('migration', 'snapshot', 'baseline', 'manual')),
    snapshot        text,
    status          text NOT NULL DEFAULT 'applied' CHECK (status IN ('applied', 'failed', 'running')),
    applied_at      timestamptz NOT NULL DEFAULT now(),
    applied_by      text NOT NULL DEFAULT current_user,
    duration_ms     double precision NOT NULL DEFAULT 0,
    statements_done integer,
    error           text,
    error_line      integer,
    dbkit_version   text NOT NULL
);
CREATE TABLE IF NOT EXISTS dbkit.snapshot_history (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version     text NOT NULL,
    file        text NOT NULL,
    checksum    text NOT NULL,
    source      text NOT NULL CHECK (source IN ('snapshot', 'baseline')),
    loaded_at   timestamptz NOT NULL DEFAULT now(),
    loaded_by   text NOT NULL DEFAULT current_user,
    duration_ms double precision NOT NULL DEFAULT 0,
    dbkit_version text NOT NULL
);
CREATE TABLE IF NOT EXISTS dbkit.rollbacks (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version        bigint NOT NULL,
    file           text NOT NULL,
    checksum       text NOT NULL,
    source         text NOT NULL,
    applied_at     timestamptz NOT NULL,
    applied_by     text NOT NULL,
    down_file      text NOT NULL,
    down_checksum  text NOT NULL,
    rolled_back_at timestamptz NOT NULL DEFAULT now(),
    rolled_back_by text NOT NULL DEFAULT current_user,
    duration_ms    double precision NOT NULL DEFAULT 0,
    dbkit_version  text NOT NULL
);
CREATE TABLE IF NOT EXISTS dbkit.checksum_acceptances (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version      bigint NOT NULL,
    file         text NOT NULL,
    old_checksum text NOT NULL,
    new_checksum text NOT NULL,
    accepted_at  timestamptz NOT NULL DEFAULT now(),
    accepted_by  text NOT NULL DEFAULT current_user
);
";

/// Creates the rollback audit table in history made by a dbkit that had none: one row
/// per migration rolled back (which down, its checksum, who, when, and when the
/// migration had been applied). Needs no privilege when the table exists.
pub const ROLLBACKS: &str = "
DO $dbkit$
BEGIN
    IF to_regclass('dbkit.rollbacks') IS NULL THEN
        CREATE TABLE dbkit.rollbacks (
            id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            version        bigint NOT NULL,
            file           text NOT NULL,
            checksum       text NOT NULL,
            source         text NOT NULL,
            applied_at     timestamptz NOT NULL,
            applied_by     text NOT NULL,
            down_file      text NOT NULL,
            down_checksum  text NOT NULL,
            rolled_back_at timestamptz NOT NULL DEFAULT now(),
            rolled_back_by text NOT NULL DEFAULT current_user,
            duration_ms    double precision NOT NULL DEFAULT 0,
            dbkit_version  text NOT NULL
        );
    END IF;
END
$dbkit$;
";

/// Brings history tables made by an older dbkit up to this one's: the `running` status
/// (a file run outside a transaction, recorded before its first statement). Changes
/// nothing, and needs no ownership, when they are current.
pub const UPGRADE: &str = "
DO $dbkit$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_constraint
                   WHERE conrelid = 'dbkit.schema_history'::regclass
                     AND conname = 'schema_history_status_check'
                     AND pg_catalog.pg_get_constraintdef(oid) LIKE '%running%') THEN
        ALTER TABLE dbkit.schema_history DROP CONSTRAINT IF EXISTS schema_history_status_check;
        ALTER TABLE dbkit.schema_history ADD CONSTRAINT schema_history_status_check
            CHECK (status IN ('applied', 'failed', 'running'));
    END IF;
END
$dbkit$;
";

/// How a migration came to be recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// dbkit ran the file.
    Migration,
    /// Included in a snapshot that dbkit loaded.
    Snapshot,
    /// Declared present with `--baseline` on a database built another way.
    Baseline,
    /// Recorded as done by hand with `--mark-applied`.
    Manual,
}

impl Source {
    /// The value stored in the `source` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Migration => "migration",
            Source::Snapshot => "snapshot",
            Source::Baseline => "baseline",
            Source::Manual => "manual",
        }
    }

    fn parse(s: &str) -> Source {
        match s {
            "snapshot" => Source::Snapshot,
            "baseline" => Source::Baseline,
            "manual" => Source::Manual,
            _ => Source::Migration,
        }
    }
}

/// Where a recorded migration's run got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// It ran to the end (or was recorded as done).
    Applied,
    /// A file run outside a transaction failed part-way.
    Failed,
    /// A file run outside a transaction started and has not finished: a live run is
    /// applying it, or the run that was ended without a trace of how (`kill -9`, a lost
    /// connection), which makes it a failed file.
    Running,
}

/// One row of `dbkit.schema_history`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Recorded {
    pub version: u64,
    pub file: String,
    pub checksum: String,
    pub source: Source,
    pub snapshot: Option<String>,
    pub state: RunState,
    pub applied_at: DateTime<Utc>,
    pub applied_by: String,
    pub duration_ms: f64,
    pub statements_done: Option<usize>,
    pub error: Option<String>,
    pub error_line: Option<usize>,
}

/// One row of `dbkit.snapshot_history`.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SnapshotLoad {
    pub version: String,
    pub file: String,
    pub checksum: String,
    pub source: Source,
    pub loaded_at: DateTime<Utc>,
    pub loaded_by: String,
    pub duration_ms: f64,
}

/// Everything dbkit has recorded in a database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    pub migrations: BTreeMap<u64, Recorded>,
    pub snapshots: Vec<SnapshotLoad>,
}

impl History {
    /// Migrations recorded as started but not finished (`RunState::Running`).
    pub fn running(&self) -> impl Iterator<Item = &Recorded> {
        self.migrations
            .values()
            .filter(|r| r.state == RunState::Running)
    }

    /// True when nothing at all is recorded (the tables may exist, e.g. after a failed
    /// first snapshot load).
    pub fn is_empty(&self) -> bool {
        self.migrations.is_empty() && self.snapshots.is_empty()
    }
}

/// Reads the history; `None` when the database has no dbkit schema. Two round trips in
/// the simple protocol (no statement preparation): a no-op run is mostly this read.
pub fn read(client: &mut Client, database: &str) -> Result<Option<History>> {
    let err = || query_error("reading dbkit history", database);
    let exists = client
        .simple_query(
            "SELECT to_regclass('dbkit.schema_history') IS NOT NULL AND to_regclass('dbkit.snapshot_history') IS NOT NULL",
        )
        .map_err(err())?;
    if rows(&exists).next().and_then(|r| r.get(0)) != Some("t") {
        return Ok(None);
    }
    let messages = client
        .simple_query(
            "SELECT version, file, checksum, source, snapshot, status, to_json(applied_at) #>> '{}', \
                    applied_by, duration_ms, statements_done, error, error_line \
               FROM dbkit.schema_history ORDER BY version;
             SELECT version, file, checksum, source, to_json(loaded_at) #>> '{}', loaded_by, duration_ms \
               FROM dbkit.snapshot_history ORDER BY id",
        )
        .map_err(err())?;
    let mut history = History::default();
    for row in rows(&messages) {
        match row.len() {
            12 => {
                let recorded = Recorded {
                    version: number(row.get(0)),
                    file: text(row.get(1)),
                    checksum: text(row.get(2)),
                    source: Source::parse(row.get(3).unwrap_or("")),
                    snapshot: row.get(4).map(str::to_string),
                    state: match row.get(5) {
                        Some("failed") => RunState::Failed,
                        Some("running") => RunState::Running,
                        _ => RunState::Applied,
                    },
                    applied_at: timestamp(row.get(6)),
                    applied_by: text(row.get(7)),
                    duration_ms: row.get(8).and_then(|v| v.parse().ok()).unwrap_or(0.0),
                    statements_done: row.get(9).and_then(|v| v.parse().ok()),
                    error: row.get(10).map(str::to_string),
                    error_line: row.get(11).and_then(|v| v.parse().ok()),
                };
                history.migrations.insert(recorded.version, recorded);
            }
            _ => history.snapshots.push(SnapshotLoad {
                version: text(row.get(0)),
                file: text(row.get(1)),
                checksum: text(row.get(2)),
                source: Source::parse(row.get(3).unwrap_or("")),
                loaded_at: timestamp(row.get(4)),
                loaded_by: text(row.get(5)),
                duration_ms: row.get(6).and_then(|v| v.parse().ok()).unwrap_or(0.0),
            }),
        }
    }
    Ok(Some(history))
}

fn rows(messages: &[SimpleQueryMessage]) -> impl Iterator<Item = &SimpleQueryRow> {
    messages.iter().filter_map(|m| match m {
        SimpleQueryMessage::Row(row) => Some(row),
        _ => None,
    })
}

fn text(value: Option<&str>) -> String {
    value.unwrap_or_default().to_string()
}

fn number(value: Option<&str>) -> u64 {
    value.and_then(|v| v.parse().ok()).unwrap_or_default()
}

/// `to_json(timestamptz)` text: RFC 3339 with the session's offset.
fn timestamp(value: Option<&str>) -> DateTime<Utc> {
    value
        .and_then(|v| DateTime::parse_from_rfc3339(v).ok())
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_default()
}

/// A row to write to `dbkit.schema_history`.
#[derive(Debug, Clone)]
pub struct NewRow<'a> {
    pub version: u64,
    pub file: &'a str,
    pub checksum: &'a str,
    pub source: Source,
    pub snapshot: Option<&'a str>,
}

/// SQL text that inserts rows, for sending in the same message as the work they record.
/// `duration` is SQL for the duration in milliseconds (e.g. time since the statement
/// batch arrived: the server measures it, so no extra round trip is needed).
pub fn insert_sql(rows: &[NewRow<'_>], duration: &str) -> String {
    if rows.is_empty() {
        return String::new();
    }
    let values: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "({}, {}, {}, '{}', {}, {duration}, '{}')",
                r.version,
                literal(r.file),
                literal(r.checksum),
                r.source.as_str(),
                r.snapshot.map_or("NULL".into(), literal),
                env!("CARGO_PKG_VERSION"),
            )
        })
        .collect();
    format!(
        "INSERT INTO dbkit.schema_history (version, file, checksum, source, snapshot, duration_ms, dbkit_version) VALUES\n{};\n",
        values.join(",\n")
    )
}

/// SQL that records a snapshot load.
pub fn snapshot_sql(
    version: &str,
    file: &str,
    checksum: &str,
    source: Source,
    duration: &str,
) -> String {
    format!(
        "INSERT INTO dbkit.snapshot_history (version, file, checksum, source, duration_ms, dbkit_version) VALUES ({}, {}, {}, '{}', {duration}, '{}');\n",
        literal(version),
        literal(file),
        literal(checksum),
        source.as_str(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// Server-side milliseconds since the current statement batch arrived.
pub const BATCH_ELAPSED_MS: &str =
    "extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000";

/// SQL that records a file run outside a transaction as started, before its first
/// statement runs (and commits on its own), so a run that dies mid-file leaves a trace.
pub fn running_sql(row: &NewRow<'_>) -> String {
    format!(
        "INSERT INTO dbkit.schema_history (version, file, checksum, source, status, statements_done, dbkit_version) \
         VALUES ({}, {}, {}, '{}', 'running', 0, '{}');\n",
        row.version,
        literal(row.file),
        literal(row.checksum),
        row.source.as_str(),
        env!("CARGO_PKG_VERSION"),
    )
}

/// SQL that counts the statements of a running file that have committed.
pub fn progress_sql(version: u64, statements_done: usize) -> String {
    format!(
        "UPDATE dbkit.schema_history SET statements_done = {statements_done}, duration_ms = \
         extract(epoch FROM clock_timestamp() - applied_at) * 1000 \
         WHERE version = {version} AND status = 'running'"
    )
}

/// SQL that removes the started-row of a running file, to be replaced by its final one.
pub fn finish_running_sql(version: u64) -> String {
    format!("DELETE FROM dbkit.schema_history WHERE version = {version} AND status = 'running';\n")
}

/// Records a file that failed part-way outside a transaction, in place of its started
/// row.
pub fn record_failure(
    client: &mut Client,
    database: &str,
    row: &NewRow<'_>,
    duration_ms: f64,
    statements_done: usize,
    error: &str,
    error_line: usize,
) -> Result<()> {
    let mut transaction = client
        .transaction()
        .map_err(query_error("recording a failed migration", database))?;
    transaction
        .batch_execute(&finish_running_sql(row.version))
        .map_err(query_error("recording a failed migration", database))?;
    transaction
        .execute(
            "INSERT INTO dbkit.schema_history (version, file, checksum, source, status, duration_ms, statements_done, error, error_line, dbkit_version) \
             VALUES ($1, $2, $3, $4, 'failed', $5, $6, $7, $8, $9)",
            &[&(row.version as i64), &row.file, &row.checksum, &row.source.as_str(), &duration_ms, &(statements_done as i32), &error, &(error_line as i32), &env!("CARGO_PKG_VERSION")],
        )
        .map_err(query_error("recording a failed migration", database))?;
    transaction
        .commit()
        .map_err(query_error("recording a failed migration", database))?;
    Ok(())
}

/// Records a new checksum for an applied migration, with the old one in the audit table.
pub fn accept_checksum_sql(version: u64, file: &str, old: &str, new: &str) -> String {
    format!(
        "INSERT INTO dbkit.checksum_acceptances (version, file, old_checksum, new_checksum) VALUES ({version}, {}, {}, {});\n\
         UPDATE dbkit.schema_history SET checksum = {}, file = {} WHERE version = {version};\n",
        literal(file),
        literal(old),
        literal(new),
        literal(new),
        literal(file),
    )
}

/// Removes the row of a migration that failed (or was cut off) part-way, before it runs
/// again or is recorded by hand.
pub fn forget_sql(version: u64) -> String {
    format!(
        "DELETE FROM dbkit.schema_history WHERE version = {version} AND status IN ('failed', 'running');\n"
    )
}

/// Moves an applied migration's record to the version and name its file was renamed to.
pub fn rename_sql(old: u64, new: u64, file: &str) -> String {
    format!(
        "UPDATE dbkit.schema_history SET version = {new}, file = {} WHERE version = {old};\n",
        literal(file)
    )
}
