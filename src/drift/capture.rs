//! `--capture`: the drift written as the next migration. The script is `script`'s,
//! from the files' replay to the live database, numbered and named as the folder names
//! its migrations (`project::scaffold`), with document-migration's risks as comments
//! above the statements they are about. It is proven before anything is written: the
//! files replayed into a second throwaway database plus the new file must show no drift
//! against the live database. When the folder keeps `.down.sql` files the way back is
//! written too, and proven to take the proof back to the replay; a down that cannot be
//! written or proven is left out with a warning, the up is still written.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use crate::drift::{
    compare, describe, facts, phrase, replay::Files, script, Compared, Db, Options,
};
use crate::error::{Error, Result};
use crate::pg::connect::{connect, query_error, ConnectOptions};
use crate::pg::scratch::Scratch;
use crate::project::layout::{Layout, Migration};
use crate::project::migrations::{checksum, MigrationFile};
use crate::project::scaffold;

/// What to capture into.
pub struct Request<'a> {
    pub layout: &'a Layout,
    /// The files the database has (its replay's).
    pub files: &'a Files,
    /// Versions the database has recorded (to number the new file past them).
    pub recorded: BTreeMap<u64, String>,
    /// The folder keeps `.down.sql` files.
    pub keeps_downs: bool,
    /// What the migration does, for its name.
    pub description: &'a str,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Captured {
    pub version: u64,
    /// The up, then the down when there is one.
    pub paths: Vec<PathBuf>,
    /// Why a down was not written.
    pub warnings: Vec<String>,
}

/// Writes the next migration that turns the replay (`replayed`, a throwaway database
/// holding `request.files`) into `live`. `throwaway` makes the database the proof runs
/// in.
pub fn capture(
    mut live: Db<'_>,
    replayed: Db<'_>,
    (compared, options): (&Compared, &Options),
    request: &Request<'_>,
    throwaway: &mut dyn FnMut(&str) -> Result<Scratch>,
) -> Result<Captured> {
    let live_facts = facts::read(live.client, &live.shown)?;
    let replay_facts = facts::read(replayed.client, &replayed.shown)?;
    let up = crate::drift::script(compared, &live_facts, &replay_facts, true);
    unclosed(&up.unwritten)?;
    let folder = request.layout.migrations();
    let named = scaffold::files(&folder)?;
    let style = scaffold::style(&named)?;
    let version = scaffold::next_version(&style, &named, &request.recorded);
    let slug = scaffold::slug(request.description, style.word)?;
    let (up_name, down_name) = scaffold::names(&style, version, &slug, request.keeps_downs);
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    let header = vec![
        format!("{}: {}", up_name, request.description.trim()),
        format!("Captured by check-drift from {} on {now}.", live.shown),
        "The database already has this change: record it there with".to_string(),
        format!("`apply-schema --mark-applied {version}`; other databases apply it as usual."),
    ];
    let up_text = with_risks(request, &up_name, &up.text(&header, false));
    let mut warnings = Vec::new();
    // The way back: the other direction, destructive steps included.
    let down = down_name.map(|name| {
        let script = crate::drift::script(compared, &live_facts, &replay_facts, false);
        let header = vec![format!(
            "{name}: undoes {up_name} (written by check-drift --capture)"
        )];
        (name, script.text(&header, false), script.unwritten)
    });

    // Proof: the files' replay plus the new file is the database.
    let scratch = throwaway("capture")?;
    let proof_shown = scratch.settings.masked().to_string();
    let mut proof = connect(&scratch.settings, ConnectOptions::default())?;
    let mut with_it = request.files.catalog.clone();
    with_it.migrations.push(Migration {
        file: MigrationFile {
            version,
            file: up_name.clone(),
            description: slug.clone(),
            path: folder.join(&up_name),
        },
        checksum: checksum(&up_text),
        text: up_text.clone(),
        down_section: None,
    });
    let rejected = |why: Vec<String>| Error::DriftUnclosed {
        what: "the captured migration".into(),
        differences: why,
        rolled_back: false,
    };
    if let Err(e) = crate::apply::run::build(&mut proof, &with_it, &proof_shown) {
        return Err(rejected(vec![format!(
            "it fails on a replay of the files: {}{}",
            crate::report::error::chain(&e),
            keep_rejected(&up_name, &up_text)
        )]));
    }
    let again = compare(
        live.reborrow(),
        Db {
            client: &mut proof,
            settings: &scratch.settings,
            shown: proof_shown.clone(),
        },
        options,
    )?;
    if !again.is_clean() {
        let mut left: Vec<String> = again
            .findings
            .iter()
            .map(|f| phrase(f, "the replay"))
            .collect();
        left.push(format!(
            "(after a replay of the files and it){}",
            keep_rejected(&up_name, &up_text)
        ));
        return Err(rejected(left));
    }
    // The down must take the proof back to the replay.
    let down = match down {
        Some((name, text, unwritten)) if unwritten.is_empty() => {
            let proven = proof
                .batch_execute(&format!("BEGIN;\n{text}\nCOMMIT;"))
                .map_err(query_error(
                    &format!("running the captured down {name}"),
                    &proof_shown,
                ))
                .and_then(|()| {
                    let before = describe(replayed.client, &options.scope, &replayed.shown)?;
                    let after = describe(&mut proof, &options.scope, &proof_shown)?;
                    Ok(before == after)
                });
            match proven {
                Ok(true) => Some((name, text)),
                Ok(false) => {
                    warnings.push(format!("the down check-drift wrote does not undo {up_name} exactly, so it was not written: write {name} by hand"));
                    None
                }
                Err(e) => {
                    warnings.push(format!(
                        "the down check-drift wrote failed on a replay ({}), so it was not written: write {name} by hand",
                        crate::report::error::chain(&e)
                    ));
                    None
                }
            }
        }
        Some((name, _, unwritten)) => {
            warnings.push(format!(
                "part of the way back cannot be written by dbkit ({}), so {name} was not written: write it by hand",
                listed(&unwritten).join("; ")
            ));
            None
        }
        None => None,
    };
    drop(proof);
    drop(scratch);
    let mut paths = Vec::new();
    let up_path = folder.join(&up_name);
    scaffold::create(&up_path, &up_text)?;
    paths.push(up_path);
    if let Some((name, text)) = down {
        let path = folder.join(&name);
        scaffold::create(&path, &text)?;
        paths.push(path);
    }
    Ok(Captured {
        version,
        paths,
        warnings,
    })
}

/// Keeps a captured migration that failed its proof where the user can read it (the
/// system's temporary folder, never the migrations folder); the words to say so.
fn keep_rejected(name: &str, text: &str) -> String {
    let path = std::env::temp_dir().join(format!("check-drift-rejected-{name}"));
    match std::fs::write(&path, text) {
        Ok(()) => format!("; the SQL it wrote is kept in {}", path.display()),
        Err(_) => String::new(),
    }
}

/// The script's text with document-migration's risks as comments above the statements
/// they are about (read against the schema the files build).
fn with_risks(request: &Request<'_>, name: &str, text: &str) -> String {
    let paths: Vec<_> = request
        .files
        .catalog
        .migrations
        .iter()
        .map(|m| m.file.path.clone())
        .collect();
    let Ok(documented) = crate::ddl::document(request.layout, &paths) else {
        return text.to_string();
    };
    let mut schema = documented.schema;
    let Ok(summary) = crate::ddl::analyze_text(name, text, &mut schema) else {
        return text.to_string();
    };
    let mut at: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
    for risk in summary.risks.iter().filter(|r| !r.allowed) {
        let kind = serde_json::to_value(risk.risk)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        at.entry(risk.at.line)
            .or_default()
            .insert(format!("-- risk ({kind}): {}", risk.reason));
    }
    let mut out = String::new();
    for (i, line) in text.lines().enumerate() {
        for risk in at.get(&(i + 1)).into_iter().flatten() {
            out.push_str(risk);
            out.push('\n');
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn listed(unwritten: &[script::Unwritten]) -> Vec<String> {
    unwritten
        .iter()
        .map(|u| format!("{} `{}`: {}", u.kind, u.name, u.reason))
        .collect()
}

/// Refuses a capture that would leave a difference unwritten.
fn unclosed(unwritten: &[script::Unwritten]) -> Result<()> {
    if unwritten.is_empty() {
        return Ok(());
    }
    Err(Error::DriftUnclosed {
        what: "the captured migration".into(),
        differences: listed(unwritten),
        rolled_back: false,
    })
}
