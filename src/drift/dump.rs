//! The net under the catalog comparison: both schemas dumped with pg_dump, normalized
//! (`project::snapshot::normalize_dump`), cut into pg_dump's own entries (`-- Name: x;
//! Type: RULE; Schema: public`), and the entries of every kind `pg::compare` does not
//! model (rules, event triggers, publications, statistics objects, text search
//! configurations, operators, casts, collations, foreign servers, default privileges,
//! and whatever a newer pg_dump writes) compared by their text. A kind dbkit does not
//! know is compared, never skipped.

use std::collections::BTreeMap;

/// pg_dump's entry types that `pg::compare` describes (or that hold data, not schema).
const MODELLED: &[&str] = &[
    "SCHEMA",
    "EXTENSION",
    "TYPE",
    "SHELL TYPE",
    "DOMAIN",
    "TABLE",
    "VIEW",
    "MATERIALIZED VIEW",
    "SEQUENCE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "DEFAULT",
    "CONSTRAINT",
    "FK CONSTRAINT",
    "CHECK CONSTRAINT",
    "INDEX",
    "INDEX ATTACH",
    "TABLE ATTACH",
    "TRIGGER",
    "POLICY",
    "ROW SECURITY",
    "FUNCTION",
    "PROCEDURE",
    "AGGREGATE",
    "FOREIGN TABLE",
    "ACL",
    "TABLE DATA",
    "MATERIALIZED VIEW DATA",
    "ENCODING",
    "STDSTRINGS",
    "SEARCHPATH",
    "DATABASE",
    "DATABASE PROPERTIES",
];

/// The unmodelled entries of a normalized schema dump, by `(kind, name)`: the kind is
/// pg_dump's entry type in lower case (`rule`, `event trigger`), the name the entry's
/// schema and name (`public.r_on_t`), the definition its statements with blank and
/// comment lines left out.
pub fn unmodelled(dump: &str) -> BTreeMap<(String, String), String> {
    let mut entries = BTreeMap::new();
    let mut current: Option<((String, String), String)> = None;
    for line in dump.lines() {
        if let Some(header) = line.strip_prefix("-- Name: ") {
            if let Some((key, body)) = current.take() {
                entries.insert(key, body.trim_end().to_string());
            }
            current = entry(header).map(|key| (key, String::new()));
            continue;
        }
        if line.starts_with("-- Data for Name: ") {
            if let Some((key, body)) = current.take() {
                entries.insert(key, body.trim_end().to_string());
            }
            continue;
        }
        if let Some((_, body)) = current.as_mut() {
            if !line.trim().is_empty() && !line.starts_with("--") {
                body.push_str(line);
                body.push('\n');
            }
        }
    }
    if let Some((key, body)) = current {
        entries.insert(key, body.trim_end().to_string());
    }
    entries
}

/// `(kind, name)` of an entry header's rest (`r; Type: RULE; Schema: public; Owner: -`),
/// `None` for a modelled kind.
fn entry(header: &str) -> Option<(String, String)> {
    let mut parts = header.split("; ");
    let name = parts.next()?.to_string();
    let mut kind = None;
    let mut schema = None;
    for part in parts {
        if let Some(t) = part.strip_prefix("Type: ") {
            kind = Some(t.to_string());
        } else if let Some(s) = part.strip_prefix("Schema: ") {
            schema = Some(s.to_string());
        }
    }
    let kind = kind?;
    if MODELLED.contains(&kind.as_str()) {
        return None;
    }
    // Comments on objects that have a schema, or on schemas and extensions, are
    // `compare`'s; comments on objects outside any schema are not.
    let schema = schema.filter(|s| s != "-");
    if kind == "COMMENT"
        && (schema.is_some() || name.starts_with("SCHEMA ") || name.starts_with("EXTENSION "))
    {
        return None;
    }
    let name = match schema {
        Some(schema) => format!("{schema}.{name}"),
        None => name,
    };
    Some((kind.to_lowercase(), name))
}

/// The statement that drops an unmodelled object, for the kinds whose pg_dump name says
/// enough (`public.t r` for a rule on `public.t`); `None` for the others.
pub fn drop_statement(kind: &str, name: &str) -> Option<String> {
    let quoted = |n: &str| {
        n.split_once('.')
            .map(|(s, o)| format!("{}.{}", quote_ident(s), quote_ident(o)))
            .unwrap_or_else(|| quote_ident(n))
    };
    let word = match kind {
        "rule" => {
            let (table, rule) = name.rsplit_once(' ')?;
            return Some(format!(
                "DROP RULE IF EXISTS {} ON {}",
                quote_ident(rule),
                quoted(table)
            ));
        }
        "event trigger" => {
            return Some(format!(
                "DROP EVENT TRIGGER IF EXISTS {}",
                quote_ident(name)
            ))
        }
        "publication" => return Some(format!("DROP PUBLICATION IF EXISTS {}", quote_ident(name))),
        "statistics" => "STATISTICS",
        "collation" => "COLLATION",
        "conversion" => "CONVERSION",
        "text search configuration" => "TEXT SEARCH CONFIGURATION",
        "text search dictionary" => "TEXT SEARCH DICTIONARY",
        _ => return None,
    };
    Some(format!("DROP {word} IF EXISTS {}", quoted(name)))
}

fn quote_ident(name: &str) -> String {
    crate::sql::quote_ident(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kinds_the_catalog_comparison_does_not_model_are_kept() {
        let dump = "--\n-- Name: t; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.t (\n    id integer\n);\n\n\
            --\n-- Name: t r; Type: RULE; Schema: public; Owner: -\n--\n\nCREATE RULE r AS\n    ON DELETE TO public.t DO INSTEAD NOTHING;\n\n\
            --\n-- Name: TABLE t; Type: COMMENT; Schema: public; Owner: -\n--\n\nCOMMENT ON TABLE public.t IS 'x';\n\n\
            --\n-- Name: stop_ddl; Type: EVENT TRIGGER; Schema: -; Owner: -\n--\n\nCREATE EVENT TRIGGER stop_ddl ON ddl_command_start\n   EXECUTE FUNCTION public.f();\n\n\
            --\n-- Name: EVENT TRIGGER stop_ddl; Type: COMMENT; Schema: -; Owner: -\n--\n\nCOMMENT ON EVENT TRIGGER stop_ddl IS 'no';\n";
        let found = unmodelled(dump);
        let keys: Vec<_> = found.keys().map(|(k, n)| format!("{k}: {n}")).collect();
        assert_eq!(
            keys,
            [
                "comment: EVENT TRIGGER stop_ddl",
                "event trigger: stop_ddl",
                "rule: public.t r"
            ]
        );
        assert_eq!(
            found[&("rule".to_string(), "public.t r".to_string())],
            "CREATE RULE r AS\n    ON DELETE TO public.t DO INSTEAD NOTHING;"
        );
    }
}
