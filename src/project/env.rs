//! The project's own settings files: finding the project root (the folder that holds the
//! database folder) and reading its `.env.local` and `.env`, never a parent folder's,
//! so a `.env` at a monorepo's root or in the home folder cannot pick the target. It
//! returns what the files say; putting it into the environment is the binaries' job, and
//! nothing here prints. A line that cannot be parsed is an error that names the file
//! and line but never shows the line, which may hold a password.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The database folder's default name, looked for in the current folder and its parents.
pub const DATABASE_DIR: &str = "database";

/// The settings files, in the order they are read: a variable set by an earlier one (or
/// by the real environment) wins over a later one.
pub const ENV_FILES: [&str; 2] = [".env.local", ".env"];

/// The project root: the parent of `dir` when the database folder was named explicitly
/// (relative to `cwd`), else the nearest of `cwd` and its parents that holds a
/// `database/` folder. `None` when there is no such folder.
pub fn project_root(cwd: &Path, dir: Option<&Path>) -> Option<PathBuf> {
    match dir {
        Some(dir) => {
            let dir = normalize(&cwd.join(dir));
            Some(dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf))
        }
        None => cwd
            .ancestors()
            .find(|folder| folder.join(DATABASE_DIR).is_dir())
            .map(Path::to_path_buf),
    }
}

/// `path` made absolute with `.` and `..` resolved by name (`database/..` is the
/// folder itself), so the parent of `../database` is a real folder, not `..`.
fn normalize(path: &Path) -> PathBuf {
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = PathBuf::new();
    for part in absolute.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// The variables of one `.env` file, in file order; `None` when the file does not exist.
/// A line that cannot be parsed is [`Error::EnvLine`]; a file that cannot be read is
/// [`Error::Io`].
pub fn read_env_file(path: &Path) -> Result<Option<Vec<(String, String)>>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    let mut vars = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(pair) => vars.push(pair),
            // dotenvy's error holds the line's text, password and all: keep only where
            // it is.
            Err(dotenvy::Error::LineParse(bad, _)) => {
                let line = line_of(text, &bad);
                return Err(Error::EnvLine {
                    path: path.to_path_buf(),
                    line,
                    key: text.lines().nth(line - 1).and_then(key_of),
                });
            }
            Err(dotenvy::Error::Io(source)) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                })
            }
            Err(other) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source: std::io::Error::other(other.to_string()),
                })
            }
        }
    }
    Ok(Some(vars))
}

/// The 1-based line where dotenvy's failing text starts: the first line that is not a
/// comment and holds the text's first line (dotenvy gives the whole logical line, or the
/// value part of it, but not its number).
fn line_of(text: &str, bad: &str) -> usize {
    let first = bad.lines().next().unwrap_or("").trim();
    text.lines()
        .position(|line| !line.trim_start().starts_with('#') && line.contains(first))
        .map_or(1, |index| index + 1)
}

/// The variable a line sets, when it starts like `KEY=` or `export KEY=` (a name, never
/// part of a value).
fn key_of(line: &str) -> Option<String> {
    let pattern =
        regex::Regex::new(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)\s*=").expect("valid regex");
    pattern.captures(line).map(|c| c[1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Option<Vec<(String, String)>>> {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join(".env");
        std::fs::write(&path, text).expect("writes");
        read_env_file(&path)
    }

    #[test]
    fn a_bad_line_is_named_by_number_and_key_without_its_text() {
        let cases = [
            (
                "# db\nDATABASE_URL=postgres://u:top secret@h/db\n",
                2,
                Some("DATABASE_URL"),
            ),
            (
                "A=1\n\nexport DATABASE_URL=\"postgres://u:topsecret@h/db\n",
                3,
                Some("DATABASE_URL"),
            ),
            ("A=1\npostgres://u:topsecret@h/db\n", 2, None),
            (
                "A=1\nDATABASE_URL=postgres://u:top\\qsecret@h/db\nB=2\n",
                2,
                Some("DATABASE_URL"),
            ),
            ("DATABASE URL=postgres://u:topsecret@h/db\n", 1, None),
        ];
        for (text, line, key) in cases {
            let error = parse(text).expect_err(text);
            let Error::EnvLine {
                line: l, key: k, ..
            } = &error
            else {
                panic!("{error:?}");
            };
            assert_eq!((*l, k.as_deref()), (line, key), "{text}");
            let shown = format!("{error} {}", error.hint().unwrap_or_default());
            assert!(
                !shown.contains("top") && !shown.contains("secret"),
                "{shown}"
            );
        }
    }

    #[test]
    fn a_missing_file_is_none_and_a_good_one_keeps_its_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(read_env_file(&dir.path().join(".env"))
            .expect("no error")
            .is_none());
        let vars = parse("\u{feff}B=2 # two\nexport A='x y'\n")
            .expect("parses")
            .expect("exists");
        assert_eq!(vars, [("B".into(), "2".into()), ("A".into(), "x y".into())]);
    }

    #[test]
    fn the_example_file_sets_nothing_when_copied_as_it_is() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join(".env.example");
        let vars = read_env_file(&example).expect("parses").expect("exists");
        assert!(vars.is_empty(), "{vars:?}");
    }

    #[test]
    fn the_project_root_holds_the_database_folder() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = dir.path().join("app");
        let deep = project.join("database").join("migrations");
        std::fs::create_dir_all(&deep).expect("folders");
        assert_eq!(project_root(&deep, None), Some(project.clone()));
        assert_eq!(project_root(&project, None), Some(project.clone()));
        assert_eq!(project_root(dir.path(), None), None);
        assert_eq!(
            project_root(dir.path(), Some(Path::new("app/database"))),
            Some(project.clone())
        );
        assert_eq!(
            project_root(&deep, Some(Path::new("../../database"))),
            Some(project)
        );
    }
}
