//! Restoring the rows of chosen tables (`restore --table`) from a custom or directory
//! archive into tables that exist in the configured database, leaving their definitions
//! (indexes, constraints, grants) and every other table as they are.
//!
//! The archive's table of contents (`pg_restore -l`) says which tables it has rows for;
//! an unqualified name must match one schema's table. pg_restore writes just those rows
//! (and the tables' own sequences' values, which the rows' keys need) as a script, the
//! way `-L` selects entries, and one psql session loads it in one transaction: after
//! `TRUNCATE` of the chosen tables when `--replace` replaces rows, so a failure leaves
//! the old rows in place. Without `--replace` a table with rows is refused.

use std::io::Write;
use std::path::Path;

use postgres::Client;

use crate::error::{Error, Result};
use crate::ops::backup::Kind;
use crate::pg::connect::query_error;
use crate::pg::dump::{client_command, client_for_server, ServerVersion};
use crate::project::settings::ConnectionSettings;
use crate::sql::quote_ident;

use super::load::{self, Feed, Stage};
use super::{Context, Guard, Request};

/// An entry of an archive's table of contents that `--table` can restore.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The line as `pg_restore -l` wrote it, for a `-L` list.
    line: String,
    /// `TABLE DATA` or `SEQUENCE SET`.
    rows: bool,
    schema: String,
    name: String,
}

/// A chosen table as the target has it.
struct Table {
    schema: String,
    name: String,
    has_rows: bool,
    /// `schema.name` of the sequences it owns (serial and identity columns).
    sequences: Vec<(String, String)>,
}

impl Table {
    fn shown(&self) -> String {
        format!("{}.{}", self.schema, self.name)
    }
}

/// Restores the rows of `request.tables`; returns the database, whether rows were
/// replaced and the tables, or `None` when the user said no.
pub(super) fn restore(
    configured: &ConnectionSettings,
    mut client: Client,
    request: &Request,
    kind: Kind,
    guard: Guard<'_>,
    context: &Context<'_>,
) -> Result<Option<(String, bool, Vec<String>)>> {
    let path = &request.backup;
    if matches!(kind, Kind::Plain | Kind::PlainGzip) {
        return Err(Error::Usage(format!(
            "`--table` needs a custom or directory backup, which pg_restore can pick tables from; `{}` is plain SQL (restore it whole with `--into NAME`, or make a custom one with `backup -F custom`)",
            path.display()
        )));
    }
    if request.into.is_some() {
        return Err(Error::Usage(
            "`--table` restores rows into the configured database's tables; leave out `--into`"
                .into(),
        ));
    }
    let database = configured.masked().to_string();
    let server = ServerVersion::query(&mut client, &database)?;
    let (pg_restore, _) = client_for_server(context.finder, "pg_restore", &server)?;
    let toc = contents(&pg_restore, configured, path)?;
    let picked = pick(&toc, &request.tables, path)?;
    let tables = picked
        .iter()
        .map(|(schema, name)| inspect(&mut client, &database, schema, name))
        .collect::<Result<Vec<_>>>()?;
    let with_rows: Vec<String> = tables
        .iter()
        .filter(|t| t.has_rows)
        .map(Table::shown)
        .collect();
    let replacing = !with_rows.is_empty();
    if replacing && !request.replace {
        return Err(Error::RestoreTablesNotEmpty {
            database,
            tables: with_rows,
        });
    }
    if !replacing {
        // Rows go in all the same: not into a production database unless it was named,
        // as with fixtures.
        super::pass_guard(
            &guard,
            &mut client,
            configured,
            "restore rows into",
            crate::ops::guard::Requirement::NotProduction,
        )?;
    }
    if replacing {
        let question = format!(
            "Replace the rows of {} in {database} with the backup's (other tables stay as they are)?",
            with_rows
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !super::approve(guard, &mut client, configured, &question)? {
            return Ok(None);
        }
    }
    drop(client);
    let list = list_file(&toc, &tables)?;
    let truncate = replacing.then(|| {
        let names: Vec<String> = tables
            .iter()
            .map(|t| format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name)))
            .collect();
        format!("TRUNCATE TABLE ONLY {}", names.join(", "))
    });
    let mut command = client_command(&pg_restore, configured);
    command.arg("-L").arg(list.as_os_str()).args(["-f", "-"]);
    if kind == Kind::Directory {
        command.arg(path);
    }
    let first = Stage {
        command,
        name: format!("pg_restore {}", path.display()),
        stdin_shown_as: None,
    };
    let (psql, _check) = load::psql(context, &server, configured, truncate.as_deref())?;
    let then = Stage {
        command: psql,
        name: format!("psql (the rows of the tables from {})", path.display()),
        stdin_shown_as: None,
    };
    let feed = Feed::of(path, kind);
    load::measured(context.meter, path, kind, || {
        load::execute(first, &feed, Some(then), context.meter)
    })
    .map_err(|e| {
        crate::pg::interrupt::explain(e, || {
            "stopped restoring the tables; the load was rolled back and their rows are as they were"
                .to_string()
        })
    })?;
    Ok(Some((
        database,
        replacing,
        tables.iter().map(Table::shown).collect(),
    )))
}

/// The archive's entries that hold rows or sequence values (`pg_restore -l`).
fn contents(pg_restore: &Path, target: &ConnectionSettings, path: &Path) -> Result<Vec<Entry>> {
    let mut command = client_command(pg_restore, target);
    command
        .arg("-l")
        .arg(path)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let out = crate::pg::interrupt::output(&mut command).map_err(|source| Error::Spawn {
        command: "pg_restore".into(),
        source,
    })?;
    if !out.status.success() {
        return Err(Error::Command {
            command: format!("pg_restore -l {}", path.display()),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(parse_contents(&String::from_utf8_lossy(&out.stdout)))
}

/// Parses `pg_restore -l` lines such as `3345; 0 16386 TABLE DATA public contract app`
/// (the owner may be empty).
fn parse_contents(text: &str) -> Vec<Entry> {
    text.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once("; ")?;
            let mut fields = rest.splitn(3, ' ');
            let (_, _, described) = (fields.next()?, fields.next()?, fields.next()?);
            let (rows, rest) = if let Some(rest) = described.strip_prefix("TABLE DATA ") {
                (true, rest)
            } else {
                (false, described.strip_prefix("SEQUENCE SET ")?)
            };
            let (schema, rest) = rest.split_once(' ')?;
            let (name, _owner) = rest.rsplit_once(' ')?;
            Some(Entry {
                line: line.to_string(),
                rows,
                schema: schema.to_string(),
                name: name.to_string(),
            })
        })
        .collect()
}

/// The archive's tables the user named: `schema.name` exactly, `name` in whichever one
/// schema has it. Names the archive has no rows for are an error naming all of them.
fn pick(toc: &[Entry], names: &[String], path: &Path) -> Result<Vec<(String, String)>> {
    let mut picked: Vec<(String, String)> = Vec::new();
    let mut missing = Vec::new();
    for given in names {
        let matches: Vec<&Entry> = toc
            .iter()
            .filter(|e| e.rows)
            .filter(|e| match given.split_once('.') {
                Some((schema, name)) => e.schema == schema && e.name == name,
                None => &e.name == given,
            })
            .collect();
        match matches.as_slice() {
            [] => missing.push(given.clone()),
            [one] => {
                let table = (one.schema.clone(), one.name.clone());
                if !picked.contains(&table) {
                    picked.push(table);
                }
            }
            several => {
                return Err(Error::Usage(format!(
                    "table `{given}` is in more than one schema of the backup ({}): name it as `schema.{given}`",
                    several
                        .iter()
                        .map(|e| format!("`{}.{}`", e.schema, e.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }
    if !missing.is_empty() {
        return Err(Error::TableNotInBackup {
            path: path.to_path_buf(),
            tables: missing,
        });
    }
    Ok(picked)
}

/// The target's table `schema.name`: whether it has rows, and its sequences. A table
/// that does not exist is refused: its definition is the migrations' business.
fn inspect(client: &mut Client, database: &str, schema: &str, name: &str) -> Result<Table> {
    let shown = format!("{schema}.{name}");
    let what = format!("looking up table `{shown}`");
    let oid: Option<u32> = client
        .query_opt(
            "SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p')",
            &[&schema, &name],
        )
        .map_err(query_error(&what, database))?
        .map(|row| row.get(0));
    let Some(oid) = oid else {
        return Err(Error::Refused(format!(
            "table `{shown}` does not exist in {database}: `--table` restores rows into tables that exist (apply the schema first, or restore the whole backup with `--into NAME`)"
        )));
    };
    let has_rows: bool = client
        .query_one(
            &format!(
                "SELECT EXISTS (SELECT 1 FROM {}.{})",
                quote_ident(schema),
                quote_ident(name)
            ),
            &[],
        )
        .map_err(query_error(&what, database))?
        .get(0);
    let sequences = client
        .query(
            "SELECT n.nspname::text, s.relname::text
               FROM pg_depend d
               JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
               JOIN pg_namespace n ON n.oid = s.relnamespace
              WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass
                AND d.refobjid = $1 AND d.deptype IN ('a', 'i')",
            &[&oid],
        )
        .map_err(query_error(&what, database))?
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    Ok(Table {
        schema: schema.to_string(),
        name: name.to_string(),
        has_rows,
        sequences,
    })
}

/// A `-L` list of the chosen tables' rows and their sequences' values, in the archive's
/// order (which a custom archive read from a pipe needs).
fn list_file(toc: &[Entry], tables: &[Table]) -> Result<tempfile::TempPath> {
    let chosen = |e: &Entry| {
        tables.iter().any(|t| {
            if e.rows {
                t.schema == e.schema && t.name == e.name
            } else {
                t.sequences
                    .iter()
                    .any(|(s, n)| *s == e.schema && *n == e.name)
            }
        })
    };
    let text: String = toc
        .iter()
        .filter(|e| chosen(e))
        .map(|e| format!("{}\n", e.line))
        .collect();
    let dir = std::env::temp_dir();
    let io = |source| Error::Io {
        path: dir.clone(),
        source,
    };
    let mut file = tempfile::Builder::new()
        .prefix("dbkit-restore-tables-")
        .suffix(".list")
        .tempfile()
        .map_err(io)?;
    file.write_all(text.as_bytes()).map_err(io)?;
    Ok(file.into_temp_path())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOC: &str = ";\n; Archive created at 2026-11-22 10:00:00 UTC\n;\n\
        215; 1259 16386 TABLE public contract app\n\
        3345; 0 16386 TABLE DATA public contract app\n\
        3346; 0 16390 TABLE DATA audit contract \n\
        3347; 0 16395 TABLE DATA public line item app\n\
        3350; 0 0 SEQUENCE SET public contract_id_seq app\n";

    #[test]
    fn the_contents_list_rows_and_sequence_values() {
        let toc = parse_contents(TOC);
        let names: Vec<(bool, &str, &str)> = toc
            .iter()
            .map(|e| (e.rows, e.schema.as_str(), e.name.as_str()))
            .collect();
        assert_eq!(
            names,
            [
                (true, "public", "contract"),
                (true, "audit", "contract"),
                (true, "public", "line item"),
                (false, "public", "contract_id_seq"),
            ]
        );
        assert_eq!(toc[0].line, "3345; 0 16386 TABLE DATA public contract app");
    }

    #[test]
    fn names_pick_one_table_or_say_why_not() {
        let toc = parse_contents(TOC);
        let path = Path::new("b.dump");
        let pick_one = |name: &str| pick(&toc, &[name.to_string()], path);
        assert_eq!(
            pick_one("audit.contract").expect("qualified"),
            [("audit".to_string(), "contract".to_string())]
        );
        assert_eq!(
            pick_one("line item").expect("unique"),
            [("public".to_string(), "line item".to_string())]
        );
        let error = pick_one("contract").expect_err("ambiguous").to_string();
        assert!(
            error.contains("`public.contract`, `audit.contract`"),
            "{error}"
        );
        let error = pick(&toc, &["nope".into(), "x.contract".into()], path)
            .expect_err("missing")
            .to_string();
        assert!(
            error.contains("`nope`") && error.contains("`x.contract`"),
            "{error}"
        );
    }
}
