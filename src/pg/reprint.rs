//! Telling a reprint from a difference. PostgreSQL keeps expressions (check constraints,
//! defaults and generated columns, index predicates, view bodies, policies) as parse
//! trees and prints them back; printing then parsing again is not always the identity
//! (`varchar IN ('a', 'b')` prints with a cast around the whole array, which parses back
//! as a cast on each element). So a snapshot, which is the source's printed schema,
//! reloads into expressions that print differently from the source's while meaning the
//! same. This module passes both printed forms through the server once more, inside a
//! transaction it rolls back, and calls them the same when the server prints them alike.
//! Anything it cannot pass through (a type, a missing object, an expression the server
//! refuses) stays a difference. `compare` reads the catalogs; this module only probes.

use postgres::{Client, Transaction};

use crate::error::Result;
use crate::pg::compare::Description;
use crate::pg::connect::query_error;

/// The name probes create, rolled back before the transaction ends.
const PROBE: &str = "dbkit_reprint_probe";

/// Replaces each definition in `copy` that differs from the source's only by how the
/// server prints it with the source's, so that `compare::differences` reports real
/// differences only. `client` is connected to the copy (probes create objects there, in
/// a transaction that is rolled back). `database` is for errors.
pub fn settle(
    client: &mut Client,
    source: &Description,
    copy: &mut Description,
    database: &str,
) -> Result<()> {
    settle_with(client, source, copy, database, true)
}

/// [`settle`], probing index definitions only when `indexes` (a probe builds the index,
/// in a transaction that is rolled back: fine in a throwaway database, not in a live
/// one, where only expressions are probed, in `pg_temp`).
pub fn settle_with(
    client: &mut Client,
    source: &Description,
    copy: &mut Description,
    database: &str,
    indexes: bool,
) -> Result<()> {
    let differing: Vec<_> = copy
        .iter()
        .filter_map(|(key, theirs)| {
            let ours = source.get(key)?;
            (ours != theirs).then(|| (key.clone(), ours.clone(), theirs.clone()))
        })
        .collect();
    if differing.is_empty() {
        return Ok(());
    }
    let what = "comparing reprinted expressions";
    let mut transaction = client.transaction().map_err(query_error(what, database))?;
    transaction
        .batch_execute("SET LOCAL search_path = pg_catalog")
        .map_err(query_error(what, database))?;
    for ((kind, name), ours, theirs) in differing {
        if kind == "index" && !indexes {
            continue;
        }
        if same_in(&mut transaction, &kind, &name, &ours, &theirs) {
            copy.insert((kind, name), ours);
        }
    }
    transaction
        .rollback()
        .map_err(query_error(what, database))?;
    Ok(())
}

/// Whether two definitions of one item (`kind`, `name` as `compare` names it) print
/// alike once passed through the server `client` is connected to; nothing is kept.
pub fn same(
    client: &mut Client,
    kind: &str,
    name: &str,
    source: &str,
    copy: &str,
    database: &str,
) -> Result<bool> {
    let what = "comparing reprinted expressions";
    let mut transaction = client.transaction().map_err(query_error(what, database))?;
    transaction
        .batch_execute("SET LOCAL search_path = pg_catalog")
        .map_err(query_error(what, database))?;
    let same = same_in(&mut transaction, kind, name, source, copy);
    transaction
        .rollback()
        .map_err(query_error(what, database))?;
    Ok(same)
}

/// Definitions are `' | '`-separated parts (see `compare`); each part that differs must
/// be an expression both sides of which reprint alike.
fn same_in(
    transaction: &mut Transaction<'_>,
    kind: &str,
    name: &str,
    ours: &str,
    theirs: &str,
) -> bool {
    let (ours, theirs): (Vec<&str>, Vec<&str>) =
        (ours.split(" | ").collect(), theirs.split(" | ").collect());
    ours.len() == theirs.len()
        && ours.iter().zip(&theirs).all(|(a, b)| {
            a == b
                || matches!(
                    (reprint(transaction, kind, name, a), reprint(transaction, kind, name, b)),
                    (Some(x), Some(y)) if x == y
                )
        })
}

/// One part of a definition as the server prints it after parsing it again, or `None`
/// when the part is not an expression or the server refuses it.
fn reprint(
    transaction: &mut Transaction<'_>,
    kind: &str,
    name: &str,
    part: &str,
) -> Option<String> {
    let parts = split_name(name);
    let table = || (parts.len() == 3).then(|| format!("{}.{}", parts[0], parts[1]));
    let prefixed = |prefix: &str| part.strip_prefix(prefix);
    match kind {
        "constraint" => {
            let body = prefixed("CHECK ")?;
            let (expression, suffix) = [" NOT VALID", " NO INHERIT"]
                .iter()
                .find_map(|s| body.strip_suffix(s).map(|e| (e, *s)))
                .unwrap_or((body, ""));
            let printed = expression_in(transaction, &table()?, expression)?;
            Some(format!("CHECK {printed}{suffix}"))
        }
        "column" => expression_in(transaction, &table()?, prefixed("default ")?),
        "policy" => {
            let (label, expression) = ["using ", "with check "]
                .iter()
                .find_map(|p| prefixed(p).map(|e| (*p, e)))?;
            let printed = expression_in(transaction, &table()?, expression)?;
            Some(format!("{label}{printed}"))
        }
        "index" => index(transaction, parts.first()?, part),
        "view" | "materialized view" => view(transaction, part.trim_end().trim_end_matches(';')),
        _ => None,
    }
}

/// An expression over a table's columns, printed as the server prints it.
fn expression_in(
    transaction: &mut Transaction<'_>,
    table: &str,
    expression: &str,
) -> Option<String> {
    view(
        transaction,
        &format!("SELECT {expression} AS e FROM {table}"),
    )
}

/// A query, printed as the server prints a view's body.
fn view(transaction: &mut Transaction<'_>, query: &str) -> Option<String> {
    probe(
        transaction,
        &format!("CREATE VIEW pg_temp.{PROBE} AS {query}"),
        &format!("SELECT pg_get_viewdef('pg_temp.{PROBE}'::regclass)"),
    )
}

/// An index definition, created again under the probe's name in `schema`.
fn index(transaction: &mut Transaction<'_>, schema: &str, definition: &str) -> Option<String> {
    let rest = definition.strip_prefix("CREATE ")?;
    let (unique, rest) = match rest.strip_prefix("UNIQUE ") {
        Some(rest) => ("UNIQUE ", rest),
        None => ("", rest),
    };
    let rest = rest.strip_prefix("INDEX ")?;
    let (_, on) = rest.split_once(" ON ")?;
    probe(
        transaction,
        &format!("CREATE {unique}INDEX {PROBE} ON {on}"),
        &format!(
            "SELECT pg_get_indexdef('{}.{PROBE}'::regclass)",
            schema.replace('\'', "''")
        ),
    )
}

/// Runs `create` and `print` in a savepoint that is rolled back, and returns what
/// `print` printed; `None` when either fails.
fn probe(transaction: &mut Transaction<'_>, create: &str, print: &str) -> Option<String> {
    let mut savepoint = transaction.transaction().ok()?;
    savepoint.batch_execute(create).ok()?;
    let printed: String = savepoint.query_one(print, &[]).ok()?.get(0);
    savepoint.rollback().ok()?;
    Some(printed)
}

/// `public."my table".col` as its identifiers, each kept as written (quoted or not).
pub(crate) fn split_name(name: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quoted = false;
    for c in name.chars() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => {
                parts.push(String::new());
                continue;
            }
            _ => {}
        }
        parts.last_mut().expect("one part").push(c);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_on_dots_outside_quotes() {
        assert_eq!(split_name("public.t.c"), ["public", "t", "c"]);
        assert_eq!(
            split_name(r#""a.b"."t ""x""".c"#),
            [r#""a.b""#, r#""t ""x""""#, "c"]
        );
    }
}
