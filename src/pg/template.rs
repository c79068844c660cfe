//! Template databases: a database built once (`dbkit_tpl_<project>_<key>`), marked as a template
//! that takes no connections, and cloned with `CREATE DATABASE ... TEMPLATE` in the
//! time it takes the server to copy its files. The key says what it holds (see
//! `ops::fresh`); this module only names, finds, marks, clones and drops them, and reads
//! a database's catalog fingerprint, which tells a template changed by hand.
//!
//! A template is built in a throwaway database (`pg::scratch`) and renamed only when the
//! build finished, so a failed or interrupted build never leaves a template behind. Its comment records its fingerprint and when it was built.

use postgres::Client;

use crate::error::Result;
use crate::pg::connect::{connect, query_error, ConnectOptions};
use crate::project::settings::ConnectionSettings;
use crate::sql::{quote_ident, quote_literal};

/// Every template's name starts with this.
pub const PREFIX: &str = "dbkit_tpl_";

/// The template of project `project` (8 hex digits) for `key`.
pub fn name(project: &str, key: &str) -> String {
    format!("{PREFIX}{project}_{key}")
}

/// A template found on the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: String,
    /// The catalog fingerprint recorded when it was built.
    pub fingerprint: String,
    /// When it was built (`YYYY-MM-DD HH:MM:SS` UTC), for keeping the newest.
    pub built: String,
    /// How many validation checks passed on it when it was built.
    pub checks: usize,
    /// How long its build took: what a replay costs, against which a copy is weighed.
    pub build_ms: f64,
}

/// The templates of project `project` on the server `client` is connected to, newest
/// first. A database with a template's name that is not marked as one, or whose comment
/// does not read (made by hand, or by another dbkit), has an empty fingerprint: it is
/// never used, and is built again.
pub fn list(client: &mut Client, project: &str, database: &str) -> Result<Vec<Template>> {
    let rows = client
        .query(
            "SELECT datname::text, coalesce(shobj_description(oid, 'pg_database'), '')
               FROM pg_database WHERE starts_with(datname::text, $1)",
            &[&format!("{PREFIX}{project}_")],
        )
        .map_err(query_error("listing template databases", database))?;
    let mut found: Vec<Template> = rows
        .iter()
        .map(|row| {
            let name: String = row.get(0);
            let comment: String = row.get(1);
            let (fingerprint, built, checks, build_ms) =
                parse_comment(&comment).unwrap_or_default();
            Template {
                name,
                fingerprint,
                built,
                checks,
                build_ms,
            }
        })
        .collect();
    found.sort_by(|a, b| b.built.cmp(&a.built));
    Ok(found)
}

/// `dbkit template fingerprint <hex> checks <n> ms <build ms> built <when>`.
fn comment(fingerprint: &str, checks: usize, build_ms: f64, built: &str) -> String {
    format!(
        "dbkit template fingerprint {fingerprint} checks {checks} ms {build_ms:.0} built {built}"
    )
}

fn parse_comment(comment: &str) -> Option<(String, String, usize, f64)> {
    let rest = comment.strip_prefix("dbkit template fingerprint ")?;
    let (fingerprint, rest) = rest.split_once(" checks ")?;
    let (checks, rest) = rest.split_once(" ms ")?;
    let (ms, built) = rest.split_once(" built ")?;
    Some((
        fingerprint.to_string(),
        built.to_string(),
        checks.parse().ok()?,
        ms.parse().ok()?,
    ))
}

/// Makes the built database `built` the template `name`: renamed, marked as a template
/// that takes no connections, its fingerprint recorded. No session may be connected to
/// `built`.
pub fn promote(
    client: &mut Client,
    built: &str,
    name: &str,
    (fingerprint, checks, build_ms): (&str, usize, f64),
    database: &str,
) -> Result<()> {
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string();
    client
        .batch_execute(&format!(
            "ALTER DATABASE {b} RENAME TO {n};
             ALTER DATABASE {n} WITH ALLOW_CONNECTIONS false IS_TEMPLATE true;
             COMMENT ON DATABASE {n} IS {c};",
            b = quote_ident(built),
            n = quote_ident(name),
            c = quote_literal(&comment(fingerprint, checks, build_ms, &now)),
        ))
        .map_err(query_error(
            &format!("making `{name}` a template"),
            database,
        ))
}

/// Drops a template (it must be unmarked first).
pub fn drop(client: &mut Client, name: &str, database: &str) -> Result<()> {
    // Connections are refused on a template; a drop must end none.
    client
        .batch_execute(&format!(
            "ALTER DATABASE {n} WITH IS_TEMPLATE false",
            n = quote_ident(name)
        ))
        .map_err(query_error(
            &format!("unmarking template `{name}`"),
            database,
        ))?;
    crate::pg::scratch::drop_database(client, name, database)
}

/// How `CREATE DATABASE` copies a template (PostgreSQL 15 and later choose; older
/// servers always copy files).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Block by block through the WAL: no checkpoint, cost grows with the size.
    WalLog,
    /// The files copied after a checkpoint: a fixed cost, cheap for any size.
    FileCopy,
}

/// Creates database `target` as a copy of `template`.
pub fn clone(
    client: &mut Client,
    template: &str,
    target: &str,
    strategy: Option<Strategy>,
    database: &str,
) -> Result<()> {
    let strategy = match strategy {
        Some(Strategy::WalLog) => " STRATEGY WAL_LOG",
        Some(Strategy::FileCopy) => " STRATEGY FILE_COPY",
        None => "",
    };
    client
        .batch_execute(&format!(
            "CREATE DATABASE {} TEMPLATE {}{strategy}",
            quote_ident(target),
            quote_ident(template)
        ))
        .map_err(query_error(
            &format!("creating `{target}` from template `{template}`"),
            database,
        ))
}

/// Which form of [`fingerprint`] this is: part of a template's key, so a template
/// fingerprinted another way (by an older dbkit) is built again, not taken for one
/// changed by hand.
pub const FINGERPRINT_FORM: u32 = 2;

/// A hash of the database's schema (relations, columns, constraints, functions, indexes,
/// triggers, view definitions, comments, enum labels, policies, extensions), cheap
/// enough to read on a clone: what tells a template (or its clone) changed by hand.
pub fn fingerprint(client: &mut Client, database: &str) -> Result<String> {
    let row = client
        .query_one(
            "WITH ns AS (
               SELECT oid FROM pg_namespace
                WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname !~ '^pg_toast'
             )
             SELECT md5(coalesce(string_agg(x, E'\\n' ORDER BY x), '')) FROM (
               SELECT c.oid::regclass::text || ':' || c.relkind::text || ':' || c.relnatts AS x
                 FROM pg_class c WHERE c.relnamespace IN (SELECT oid FROM ns)
               UNION ALL
               SELECT a.attrelid::regclass::text || '.' || a.attname || ':' || format_type(a.atttypid, a.atttypmod)
                      || ':' || a.attnotnull || ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
                 FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                 LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relnamespace IN (SELECT oid FROM ns)
               UNION ALL
               SELECT conrelid::regclass::text || ':' || conname || ':' || pg_get_constraintdef(oid)
                 FROM pg_constraint WHERE connamespace IN (SELECT oid FROM ns)
               UNION ALL
               SELECT p.oid::regprocedure::text || ':' || md5(p.prosrc) FROM pg_proc p
                WHERE p.pronamespace IN (SELECT oid FROM ns)
               UNION ALL
               SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i
                 JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relnamespace IN (SELECT oid FROM ns)
               UNION ALL
               SELECT 'trigger ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE NOT t.tgisinternal
               UNION ALL
               SELECT 'view ' || c.oid::regclass::text || ':' || md5(pg_get_viewdef(c.oid)) FROM pg_class c
                WHERE c.relkind IN ('v', 'm') AND c.relnamespace IN (SELECT oid FROM ns)
               UNION ALL
               SELECT 'comment ' || d.classoid || ':' || d.objoid || ':' || d.objsubid || ':' || md5(d.description)
                 FROM pg_description d WHERE d.objoid >= 16384
               UNION ALL
               SELECT 'enum ' || e.enumtypid::regtype::text || ':' || e.enumlabel || ':' || e.enumsortorder FROM pg_enum e
               UNION ALL
               SELECT 'policy ' || p.polrelid::regclass::text || ':' || p.polname || ':'
                      || coalesce(pg_get_expr(p.polqual, p.polrelid), '') FROM pg_policy p
               UNION ALL
               SELECT 'extension ' || extname || ':' || extversion FROM pg_extension
             ) s",
            &[],
        )
        .map_err(query_error("reading the catalog fingerprint", database))?;
    Ok(row.get(0))
}

/// [`fingerprint`] of the database `settings` reach, on a connection of its own.
pub fn fingerprint_at(settings: &ConnectionSettings) -> Result<String> {
    let mut client = connect(settings, ConnectOptions::default())?;
    fingerprint(&mut client, settings.masked())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comment_records_the_fingerprint_and_when() {
        let c = comment("abc123", 6, 1234.4, "2026-12-06 10:00:00");
        assert_eq!(
            parse_comment(&c),
            Some((
                "abc123".to_string(),
                "2026-12-06 10:00:00".to_string(),
                6,
                1234.0
            ))
        );
        assert_eq!(parse_comment("made by hand"), None);
        assert!(name("01234567", "0123456789abcdef").len() <= 63);
    }
}
