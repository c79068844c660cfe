//! Names as PostgreSQL folds them: unquoted identifiers lower-cased, quoted ones kept,
//! and the `public` schema dropped so `public.contract` and `contract` are one table.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

/// One identifier, folded.
pub fn ident(ident: &Ident) -> String {
    match ident.quote_style {
        Some(_) => ident.value.clone(),
        None => ident.value.to_lowercase(),
    }
}

/// A possibly qualified name, folded, without a leading `public.`.
pub fn object(name: &ObjectName) -> String {
    let parts: Vec<String> = name
        .0
        .iter()
        .map(|part| match part {
            ObjectNamePart::Identifier(i) => ident(i),
            other => other.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [schema, rest @ ..] if schema == "public" && !rest.is_empty() => rest.join("."),
        _ => parts.join("."),
    }
}

/// The last part of a name (a column's name in `table.column`).
pub fn last(name: &ObjectName) -> String {
    object(name)
        .rsplit('.')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Longer than PostgreSQL's 63-byte limit (it truncates silently).
pub fn too_long(name: &str) -> bool {
    name.rsplit('.').next().unwrap_or(name).len() > 63
}

/// A name as written in SQL text (`public."Log"`, `audit.log`), folded, without a
/// leading `public.`: for the few statements read without sqlparser.
pub fn from_sql(text: &str) -> String {
    let parts: Vec<String> = text.split('.').map(|part| fold(part.trim())).collect();
    match parts.as_slice() {
        [schema, rest @ ..] if schema == "public" && !rest.is_empty() => rest.join("."),
        _ => parts.join("."),
    }
}

fn fold(part: &str) -> String {
    match part.strip_prefix('"').and_then(|p| p.strip_suffix('"')) {
        Some(quoted) => quoted.replace("\"\"", "\""),
        None => part.to_lowercase(),
    }
}
