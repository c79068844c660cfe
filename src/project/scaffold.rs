//! New migration files: the folder's naming style read from the files already there
//! (`013_`, `0013-`, `V13__`, 14-digit timestamps, `.up.sql`/`.down.sql` pairs, dbmate's
//! `-- migrate:up`/`-- migrate:down` sections), the next number, an ASCII slug, the text a
//! new file starts with, and moving an unapplied file to the next free number. Files are
//! only ever created, never overwritten. Nothing here talks to a database: the caller
//! passes the versions a database has recorded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;

use crate::error::{Error, Result};
use crate::project::migrations::{self, Direction};

/// How the folder names and shapes its migrations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    /// `V` for Flyway-style names, else empty.
    pub prefix: String,
    /// Digits of the number, zero-padded (14 for `20240101120000`).
    pub width: usize,
    /// Numbers are times (`YYYYMMDDHHMMSS` or a prefix of it): the next is now.
    pub timestamp: bool,
    /// Between number and description: `_`, `-`, `__`.
    pub separator: String,
    /// Between words of the description.
    pub word: char,
    /// Up files end `.up.sql` (golang-migrate, sqlx pairs) rather than `.sql`.
    pub up_suffix: bool,
    /// Where downs go.
    pub downs: DownStyle,
}

/// Where a folder keeps its downs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownStyle {
    /// No migration has one yet: `--down` writes a `.down.sql` file.
    None,
    /// `NNN_name.down.sql` beside the up file.
    Files,
    /// dbmate: one file with `-- migrate:up` and `-- migrate:down` sections.
    Sections,
}

impl Default for Style {
    /// The example's style: `001_add_things.sql`.
    fn default() -> Self {
        Style {
            prefix: String::new(),
            width: 3,
            timestamp: false,
            separator: "_".into(),
            word: '_',
            up_suffix: false,
            downs: DownStyle::None,
        }
    }
}

static NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(v?)(\d+)([_.\-]*)(.*?)(\.up|\.down)?\.sql$").expect("valid regex")
});

/// A migration file in the folder as named: for reading the style and for renumbering
/// (which must work while two files share a number, so this does not use the catalog).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Named {
    pub version: u64,
    pub file: String,
    pub path: PathBuf,
    pub down: bool,
}

/// Every versioned `.sql` file in `dir`, ups and downs, duplicates included, by version.
pub fn files(dir: &Path) -> Result<Vec<Named>> {
    let mut named = Vec::new();
    for (file, path) in crate::project::layout::sql_files(dir)? {
        if let Some((version, _, direction)) = migrations::parse_name(&file) {
            named.push(Named {
                version,
                file,
                path,
                down: direction == Direction::Down,
            });
        }
    }
    named.sort_by(|a, b| (a.version, &a.file).cmp(&(b.version, &b.file)));
    Ok(named)
}

/// The style of the folder's newest up file (the convention a team follows now), or the
/// default for an empty folder. Downs: files when any `.down.sql` exists or ups end
/// `.up.sql`, sections when a recent up file has a `-- migrate:down` line.
pub fn style(named: &[Named]) -> Result<Style> {
    let ups: Vec<&Named> = named.iter().filter(|n| !n.down).collect();
    let Some(newest) = ups.last() else {
        let mut style = Style::default();
        if named.iter().any(|n| n.down) {
            style.downs = DownStyle::Files;
        }
        return Ok(style);
    };
    let caps = NAME.captures(&newest.file).expect("a parsed name matches");
    let digits = &caps[2];
    let description = &caps[4];
    let word = if description.contains('-') && !description.contains('_') {
        '-'
    } else {
        '_'
    };
    let separator = match &caps[3] {
        "" => "_".to_string(),
        s => s.to_string(),
    };
    let up_suffix = caps.get(5).is_some();
    let downs = if up_suffix || named.iter().any(|n| n.down) {
        DownStyle::Files
    } else if ups.iter().rev().take(20).any(|n| has_down_section(&n.path)) {
        DownStyle::Sections
    } else {
        DownStyle::None
    };
    Ok(Style {
        prefix: caps[1].to_string(),
        width: digits.len(),
        timestamp: digits.len() >= 8 && migrations::is_timestamp(newest.version),
        separator,
        word,
        up_suffix,
        downs,
    })
}

fn has_down_section(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .map(|text| migrations::sections(&text).down.is_some())
        .unwrap_or(false)
}

/// The number a new migration takes: one above everything the folder holds and the
/// database has recorded; for timestamp folders, now (UTC, at the folder's precision)
/// unless that is not above them.
pub fn next_version(style: &Style, named: &[Named], recorded: &BTreeMap<u64, String>) -> u64 {
    let highest = named
        .iter()
        .map(|n| n.version)
        .chain(recorded.keys().copied())
        .max();
    let above = highest.map_or(1, |v| v + 1);
    if style.timestamp {
        let now = chrono::Utc::now().format("%Y%m%d%H%M%S").to_string();
        let now: u64 = now[..style.width.min(14)].parse().unwrap_or(0);
        return now.max(above);
    }
    // An empty folder starts at 1, as the example does.
    above
}

/// Recorded migrations above everything in the folder: applied from another branch, so
/// the number goes above them; each as a warning line.
pub fn ahead_of_folder(
    named: &[Named],
    recorded: &BTreeMap<u64, String>,
    database: &str,
) -> Vec<String> {
    let highest = named.iter().map(|n| n.version).max().unwrap_or(0);
    recorded
        .range(highest + 1..)
        .map(|(version, file)| {
            format!(
                "{database} has applied migration {version} (`{file}`), which this folder does not have: the new file is numbered above it; pull the branch that added it before you apply"
            )
        })
        .collect()
}

/// The description as an ASCII slug: transliterated, lower case, words joined by the
/// folder's word separator, at most 60 characters cut at a word.
pub fn slug(description: &str, word: char) -> Result<String> {
    let ascii = deunicode::deunicode(description).to_ascii_lowercase();
    let words: Vec<&str> = ascii
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    if words.is_empty() {
        return Err(Error::Usage(format!(
            "the description {description:?} has no letters or digits to name the file with; say what the migration does, e.g. \"add user preferences\""
        )));
    }
    let mut slug = String::new();
    for w in words {
        if !slug.is_empty() && slug.len() + 1 + w.len() > 60 {
            break;
        }
        if !slug.is_empty() {
            slug.push(word);
        }
        slug.push_str(w);
    }
    if slug.len() > 60 {
        slug.truncate(60);
    }
    Ok(slug)
}

/// The number as the folder writes it.
pub fn number(style: &Style, version: u64) -> String {
    format!("{}{version:0width$}", style.prefix, width = style.width)
}

/// The file names for a new migration: the up file, and its down file when there is one
/// (downs as sections live in the up file).
pub fn names(style: &Style, version: u64, slug: &str, down: bool) -> (String, Option<String>) {
    let stem = format!("{}{}{slug}", number(style, version), style.separator);
    let up = if style.up_suffix {
        format!("{stem}.up.sql")
    } else {
        format!("{stem}.sql")
    };
    let down = (down && style.downs != DownStyle::Sections).then(|| format!("{stem}.down.sql"));
    (up, down)
}

/// What a new migration holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Write a down (a file, or a section in dbmate folders).
    pub down: bool,
    /// Mark the file to run outside a transaction.
    pub no_transaction: bool,
}

/// The text of a new up file: a few comment lines saying what goes where (comments, so
/// applying the file as it is does nothing), with the no-transaction marker when asked,
/// and both dbmate sections in a dbmate folder.
/// `number` is the version as the folder writes it (`013`, `V13`).
pub fn up_text(
    number: &str,
    style: &Style,
    description: &str,
    down_file: Option<&str>,
    shape: Shape,
) -> String {
    let sections = style.downs == DownStyle::Sections;
    let mut text = String::new();
    if sections {
        text.push_str(if shape.no_transaction {
            "-- migrate:up transaction:false\n"
        } else {
            "-- migrate:up\n"
        });
    } else if shape.no_transaction {
        text.push_str("-- dbkit:no-transaction\n");
    }
    text.push_str(&format!("-- Migration {number}: {description}\n"));
    if shape.no_transaction {
        text.push_str(
            "-- Runs outside a transaction (the marker above): each statement commits on its own,\n\
             -- so write every step to be safe to run again (IF NOT EXISTS, CONCURRENTLY,\n\
             -- batched updates) after a failure part-way.\n",
        );
    } else {
        text.push_str(
            "-- apply-schema runs this file and its history row in one transaction: a failure\n\
             -- leaves nothing half done.\n",
        );
    }
    text.push_str(
        "-- Changing a table that is in use? Start with SET lock_timeout = '5s'; so the\n\
         -- migration fails fast instead of queueing every query behind its lock.\n",
    );
    match (down_file, sections) {
        (Some(down), _) => text.push_str(&format!(
            "-- Its reverse goes in {down}: rollback runs it, verify-migrations proves it.\n"
        )),
        (None, true) => text.push_str(
            "-- Its reverse goes under -- migrate:down: rollback runs it, verify-migrations proves it.\n",
        ),
        (None, false) => {}
    }
    text.push('\n');
    if sections {
        text.push_str(if shape.no_transaction {
            "\n\n-- migrate:down transaction:false\n"
        } else {
            "\n\n-- migrate:down\n"
        });
        text.push_str("-- Undo the statements above, in reverse order.\n\n");
    }
    text
}

/// The text of a new down file.
pub fn down_text(up_file: &str, shape: Shape) -> String {
    let mut text = String::new();
    if shape.no_transaction {
        text.push_str("-- dbkit:no-transaction\n");
    }
    text.push_str(&format!(
        "-- Reverses {up_file}: undo its statements in reverse order, so the schema is\n\
         -- exactly what it was before (verify-migrations checks it).\n\n"
    ));
    text
}

/// Writes `text` to a file that must not exist yet.
pub fn create(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => Error::Refused(format!(
                "`{}` already exists: new-migration never overwrites a file",
                path.display()
            )),
            _ => io(e),
        })?;
    file.write_all(text.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// A file to move to a new number: the up file and the down file that goes with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Move {
    pub from: PathBuf,
    pub to: PathBuf,
}

/// The moves that renumber `file` (an up file in the folder) to `version`: it, and its
/// `.down.sql` (the one with the same name) when there is one. The file keeps its own
/// way of writing the number (prefix, width).
pub fn renumber_moves(named: &[Named], file: &Path, version: u64) -> Result<Vec<Move>> {
    let wanted = file.canonicalize().map_err(|source| Error::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let up = named
        .iter()
        .find(|n| !n.down && n.path.canonicalize().ok().as_ref() == Some(&wanted))
        .ok_or_else(|| {
            Error::Usage(format!(
                "`{}` is not an up migration in the migrations folder; pass one of its files (e.g. `database/migrations/013_x.sql`)",
                file.display()
            ))
        })?;
    let renamed = |name: &str| -> String {
        let caps = NAME.captures(name).expect("a parsed name matches");
        let width = caps[2].len();
        let digits = caps.get(2).expect("digits");
        format!(
            "{}{version:0width$}{}",
            &name[..digits.start()],
            &name[digits.end()..]
        )
    };
    let mut moves = vec![Move {
        from: up.path.clone(),
        to: up.path.with_file_name(renamed(&up.file)),
    }];
    let stem = up
        .file
        .strip_suffix(".up.sql")
        .or_else(|| up.file.strip_suffix(".sql"))
        .unwrap_or(&up.file);
    let down_name = format!("{stem}.down.sql");
    if let Some(down) = named.iter().find(|n| n.down && n.file == down_name) {
        moves.push(Move {
            from: down.path.clone(),
            to: down.path.with_file_name(renamed(&down.file)),
        });
    }
    Ok(moves)
}

/// Moves each file, refusing (before moving anything) when a target exists. A move is a
/// hard link then an unlink, so a target that appears meanwhile is never overwritten.
pub fn apply_moves(moves: &[Move]) -> Result<()> {
    if let Some(taken) = moves.iter().find(|m| m.to.exists()) {
        return Err(Error::Refused(format!(
            "`{}` already exists: new-migration never overwrites a file",
            taken.to.display()
        )));
    }
    for m in moves {
        let io = |source| Error::Io {
            path: m.to.clone(),
            source,
        };
        std::fs::hard_link(&m.from, &m.to)
            .or_else(|_| {
                // A file system without hard links: a rename, the target checked above.
                std::fs::rename(&m.from, &m.to)
            })
            .map_err(io)?;
        if m.from.exists() {
            std::fs::remove_file(&m.from).map_err(|source| Error::Io {
                path: m.from.clone(),
                source,
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(files: &[&str]) -> Vec<Named> {
        files
            .iter()
            .filter_map(|f| {
                let (version, _, direction) = migrations::parse_name(f)?;
                Some(Named {
                    version,
                    file: f.to_string(),
                    path: PathBuf::from("/nowhere").join(f),
                    down: direction == Direction::Down,
                })
            })
            .collect()
    }

    fn name_after(files: &[&str], slug_text: &str) -> String {
        let named = named(files);
        let style = style(&named).expect("style");
        let version = next_version(&style, &named, &BTreeMap::new());
        let slug = slug(slug_text, style.word).expect("slug");
        names(&style, version, &slug, false).0
    }

    #[test]
    fn keeps_the_folders_number_width_and_separators() {
        let prefs = "add user preferences";
        assert_eq!(name_after(&[], prefs), "001_add_user_preferences.sql");
        assert_eq!(
            name_after(&["001_a.sql", "012_b.sql"], prefs),
            "013_add_user_preferences.sql"
        );
        assert_eq!(
            name_after(&["0012-add-things.sql"], prefs),
            "0013-add-user-preferences.sql"
        );
        assert_eq!(
            name_after(&["V12__add_things.sql"], prefs),
            "V13__add_user_preferences.sql"
        );
        assert_eq!(
            name_after(&["000012_a.up.sql", "000012_a.down.sql"], prefs),
            "000013_add_user_preferences.up.sql"
        );
        assert_eq!(name_after(&["999_a.sql"], "x"), "1000_x.sql");
    }

    #[test]
    fn a_timestamp_folder_gets_now() {
        let old = named(&["20200101000000_a.sql"]);
        let style = style(&old).expect("style");
        assert!(style.timestamp);
        let version = next_version(&style, &old, &BTreeMap::new());
        let now: u64 = chrono::Utc::now()
            .format("%Y%m%d%H%M%S")
            .to_string()
            .parse()
            .expect("number");
        assert!(version <= now && version + 5 >= now, "{version} vs {now}");
        // A folder already at (or past) now goes one above.
        let ahead = named(&["29990101000000_a.sql"]);
        assert_eq!(
            next_version(&style, &ahead, &BTreeMap::new()),
            29990101000001
        );
    }

    #[test]
    fn history_above_the_folder_raises_the_number_and_warns() {
        let named = named(&["001_a.sql", "002_b.sql"]);
        let style = style(&named).expect("style");
        let recorded =
            BTreeMap::from([(1, "001_a.sql".into()), (5, "005_other_branch.sql".into())]);
        assert_eq!(next_version(&style, &named, &recorded), 6);
        let warnings = ahead_of_folder(&named, &recorded, "db");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("005_other_branch.sql"), "{warnings:?}");
    }

    #[test]
    fn slugs_are_ascii_words() {
        assert_eq!(
            slug("Add Ümlaut café index!", '_').unwrap(),
            "add_umlaut_cafe_index"
        );
        assert_eq!(slug("  user--prefs  ", '-').unwrap(), "user-prefs");
        assert!(slug("—", '_').is_err());
        let long = slug(&"word ".repeat(40), '_').unwrap();
        assert!(long.len() <= 60 && !long.ends_with('_'), "{long}");
    }

    #[test]
    fn a_new_file_is_comments_only_with_the_markers_asked_for() {
        let style = Style::default();
        let plain = up_text(
            "013",
            &style,
            "x",
            None,
            Shape {
                down: false,
                no_transaction: false,
            },
        );
        assert!(
            plain.lines().all(|l| l.is_empty() || l.starts_with("--")),
            "{plain}"
        );
        assert!(plain.contains("lock_timeout"));
        let marked = up_text(
            "013",
            &style,
            "x",
            None,
            Shape {
                down: false,
                no_transaction: true,
            },
        );
        assert!(marked.starts_with("-- dbkit:no-transaction\n"), "{marked}");
        let dbmate = Style {
            downs: DownStyle::Sections,
            ..Style::default()
        };
        let both = up_text(
            "013",
            &dbmate,
            "x",
            None,
            Shape {
                down: true,
                no_transaction: false,
            },
        );
        let sections = migrations::sections(&both);
        assert!(both.starts_with("-- migrate:up\n"));
        assert!(sections.down.is_some(), "{both}");
        assert_eq!(names(&dbmate, 13, "x", true).1, None);
    }

    #[test]
    fn create_and_moves_never_overwrite() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("001_a.sql");
        std::fs::write(&path, "mine").expect("write");
        let err = create(&path, "new").expect_err("refused");
        assert!(err.to_string().contains("never overwrites"), "{err}");
        let other = dir.path().join("002_b.sql");
        std::fs::write(&other, "theirs").expect("write");
        let moves = [Move {
            from: other.clone(),
            to: path.clone(),
        }];
        assert!(apply_moves(&moves).is_err());
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "mine");
        assert_eq!(std::fs::read_to_string(&other).expect("read"), "theirs");
    }
}
