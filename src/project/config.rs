//! `dbkit.toml` at the project root: the project's lint settings, the preference rules
//! it turns on and the risks `--deny` stops on when the flag is not given. Only reading
//! and checking the file is here; applying the settings is `ddl`'s and the binaries'
//! job. A missing file is the defaults; a bad one is an error naming file and line.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ddl::RiskKind;
use crate::error::{Error, Result};

/// The file's name, in the project root (the folder that holds `database/`).
pub const FILE: &str = "dbkit.toml";

/// The whole file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub lint: Lint,
}

/// `[lint]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lint {
    /// Preference rules to run (they are off otherwise), e.g. `["prefer-bigint"]`.
    #[serde(default)]
    pub enable: Vec<String>,
    /// Risks that fail a run when `--deny` is not given; `all` for every one.
    #[serde(default)]
    pub deny: Vec<String>,
}

impl Lint {
    /// The preference rules `enable` names (checked when the file was read).
    pub fn preferences(&self) -> Vec<RiskKind> {
        RiskKind::ALL
            .into_iter()
            .filter(|r| r.is_preference() && self.enable.iter().any(|name| name == r.name()))
            .collect()
    }
}

/// Reads `dbkit.toml` from `project_root`; the defaults when there is none.
pub fn read(project_root: &Path) -> Result<Config> {
    let path = project_root.join(FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
        Err(source) => return Err(Error::Io { path, source }),
    };
    parse(&path, &text)
}

/// Parses and checks the file's text; `path` is for messages.
pub fn parse(path: &Path, text: &str) -> Result<Config> {
    let error = |offset: usize, message: String| Error::Config {
        path: PathBuf::from(path),
        line: text[..offset.min(text.len())].matches('\n').count() + 1,
        message,
    };
    let config: Config = toml::from_str(text).map_err(|e| {
        let offset = e.span().map_or(0, |span| span.start);
        error(offset, e.message().to_string())
    })?;
    // Names are checked here rather than by serde, so the message can list the choices.
    let quoted = |name: &str| text.find(&format!("\"{name}\"")).unwrap_or(0);
    for name in &config.lint.enable {
        if !RiskKind::ALL
            .iter()
            .any(|r| r.is_preference() && r.name() == name)
        {
            let choices: Vec<&str> = RiskKind::ALL
                .iter()
                .filter(|r| r.is_preference())
                .map(|r| r.name())
                .collect();
            return Err(error(
                quoted(name),
                format!(
                    "`{name}` is not a preference rule (one of {})",
                    choices.join(", ")
                ),
            ));
        }
    }
    for name in &config.lint.deny {
        if name != "all" && RiskKind::from_name(name).is_none() {
            return Err(error(
                quoted(name),
                format!("`{name}` is not a risk name (see `document-migration --help`)"),
            ));
        }
    }
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_enabled_rules_and_denied_risks() {
        let config = parse(
            Path::new("dbkit.toml"),
            "[lint]\nenable = [\"prefer-bigint\", \"ban-char\"]\ndeny = [\"data-loss\"]\n",
        )
        .expect("parses");
        assert_eq!(config.lint.deny, ["data-loss"]);
        assert_eq!(
            config.lint.preferences(),
            [RiskKind::PreferBigint, RiskKind::BanChar]
        );
        assert_eq!(parse(Path::new("x"), "").expect("empty"), Config::default());
    }

    #[test]
    fn a_bad_file_names_file_and_line() {
        for (text, line, says) in [
            ("[lint]\nenable = [\"prefer-bigint\"\n", 2, ""),
            ("[lint]\n\nenabled = []\n", 3, "unknown field"),
            (
                "[lint]\nenable = [\"data-loss\"]\n",
                2,
                "not a preference rule",
            ),
            (
                "[lint]\ndeny = [\n  \"all\",\n  \"bogus\",\n]\n",
                4,
                "not a risk name",
            ),
        ] {
            let message = parse(Path::new("p/dbkit.toml"), text)
                .expect_err(text)
                .to_string();
            assert!(
                message.starts_with(&format!("p/dbkit.toml:{line}: ")),
                "{text}: {message}"
            );
            assert!(message.contains(says), "{text}: {message}");
        }
    }
}
