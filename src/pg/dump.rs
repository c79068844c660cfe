//! Running `pg_dump` against a target: choosing a copy at least as new as the server,
//! building its arguments from what the user asked for, and turning a failure into an
//! error with its exit status and stderr. The connection (password included) reaches the
//! child through its environment, never its argument list. Finding programs is
//! `pgtools`'s job; what is done with a dump (a snapshot, a backup) is the caller's.

use std::path::{Path, PathBuf};
use std::process::Command;

use postgres::Client;

use crate::error::{Error, Result};
use crate::pg::tools::{Finder, ToolVersion};
use crate::project::settings::ConnectionSettings;

/// The server's version, as it reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerVersion {
    /// `server_version_num`, e.g. 150018.
    pub num: u32,
    /// `15.18`: the leading number of `server_version` (distributions append more).
    pub text: String,
}

impl ServerVersion {
    /// Asks the server.
    pub fn query(client: &mut Client, database: &str) -> Result<ServerVersion> {
        let row = client
            .query_one(
                "SELECT current_setting('server_version_num')::int, current_setting('server_version')",
                &[],
            )
            .map_err(crate::pg::connect::query_error("reading the server version", database))?;
        let num: i32 = row.get(0);
        let text: String = row.get(1);
        Ok(ServerVersion {
            num: u32::try_from(num).unwrap_or(0),
            text: text.split_whitespace().next().unwrap_or("").to_string(),
        })
    }

    /// The release series: 15 for 15.18.
    pub fn major(&self) -> u32 {
        ToolVersion::server_major(self.num)
    }
}

/// A `pg_dump` that can dump the server.
#[derive(Debug, Clone)]
pub struct PgDump {
    pub path: PathBuf,
    pub version: ToolVersion,
}

impl PgDump {
    /// The first `pg_dump` found whose major version is at least the server's: an older
    /// one refuses to dump a newer server. None found is an error naming every copy seen.
    pub fn for_server(finder: &Finder, server: &ServerVersion) -> Result<PgDump> {
        let (path, version) = client_for_server(finder, "pg_dump", server)?;
        Ok(PgDump { path, version })
    }

    /// Dumps the schema (no data) of `target` as SQL text.
    pub fn schema(&self, target: &ConnectionSettings, options: &DumpOptions) -> Result<String> {
        let mut command = self.command(target);
        command.args(options.args(self.version.major));
        command
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = crate::pg::interrupt::output(&mut command).map_err(|source| Error::Spawn {
            command: "pg_dump".into(),
            source,
        })?;
        if !out.status.success() {
            return Err(Error::Command {
                command: format!("pg_dump {}", options.args(self.version.major).join(" ")),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        String::from_utf8(out.stdout).map_err(|_| Error::Command {
            command: "pg_dump".into(),
            status: "output is not UTF-8".into(),
            stderr: String::new(),
        })
    }

    /// `pg_dump` with the target in its environment (the caller's `PG*` settings
    /// removed, so only the target counts) and UTF-8 output.
    pub fn command(&self, target: &ConnectionSettings) -> Command {
        client_command(&self.path, target)
    }
}

/// The first copy of a client program (`pg_dump`, `pg_restore`) whose major version is
/// at least the server's, or an error naming every copy found.
pub fn client_for_server(
    finder: &Finder,
    tool: &str,
    server: &ServerVersion,
) -> Result<(PathBuf, ToolVersion)> {
    let found = finder.find_all(tool);
    if found.is_empty() {
        return Err(finder
            .find(tool)
            .expect_err("nothing was found a moment ago"));
    }
    // The server's own major first: the same schema then gives the same bytes for
    // everyone; else the first newer one.
    let pick = |fits: &dyn Fn(u32) -> bool| {
        found.iter().find_map(|(path, version)| {
            version
                .as_ref()
                .filter(|v| fits(v.major))
                .map(|v| (path.clone(), v.clone()))
        })
    };
    pick(&|major| major == server.major())
        .or_else(|| pick(&|major| major > server.major()))
        .ok_or_else(|| Error::ToolTooOld {
            tool: tool.to_string(),
            found: found
                .iter()
                .map(|(path, version)| {
                    let v = version.as_ref().map_or("unknown version", |v| &v.full);
                    format!("{v} at `{}`", path.display())
                })
                .collect::<Vec<_>>()
                .join(", "),
            server: server.text.clone(),
            server_major: server.major(),
        })
}

/// A PostgreSQL client program aimed at `target` through its environment.
pub fn client_command(program: &Path, target: &ConnectionSettings) -> Command {
    let mut command = Command::new(program);
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("PG") {
            command.env_remove(&key);
        }
    }
    command.envs(target.libpq_env());
    command.env("PGCLIENTENCODING", "UTF8");
    command
}

/// What a schema dump contains.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DumpOptions {
    /// Only these schemas (names, not patterns); empty for every schema.
    pub schemas: Vec<String>,
    /// Schemas left out besides dbkit's own, which is always left out.
    pub exclude_schemas: Vec<String>,
    /// Keep `ALTER ... OWNER TO` statements.
    pub owners: bool,
    /// Keep `GRANT`/`REVOKE` statements.
    pub privileges: bool,
}

impl DumpOptions {
    /// pg_dump's arguments for a pg_dump of `major` version. Tablespaces are always left
    /// out: they belong to a server, not to a schema. With chosen schemas pg_dump would
    /// leave out every extension, which the tables may need, so extensions are asked for
    /// (pg_dump 14 and later).
    pub fn args(&self, major: u32) -> Vec<String> {
        let mut args = vec![
            "--schema-only".to_string(),
            "--no-tablespaces".to_string(),
            format!(
                "--exclude-schema={}",
                pattern(crate::apply::history::SCHEMA)
            ),
        ];
        if !self.owners {
            args.push("--no-owner".into());
        }
        if !self.privileges {
            args.push("--no-privileges".into());
        }
        args.extend(
            self.schemas
                .iter()
                .map(|s| format!("--schema={}", pattern(s))),
        );
        if !self.schemas.is_empty() && major >= 14 {
            args.push("--extension=*".into());
        }
        args.extend(
            self.exclude_schemas
                .iter()
                .map(|s| format!("--exclude-schema={}", pattern(s))),
        );
        args
    }
}

/// A schema name as a pg_dump pattern that matches exactly that name: double-quoted, so
/// case, `*`, `?` and `.` are taken literally.
fn pattern(name: &str) -> String {
    crate::sql::quote_ident(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_leave_out_dbkit_owners_and_privileges_by_default() {
        let args = DumpOptions::default().args(15);
        assert_eq!(
            args,
            [
                "--schema-only",
                "--no-tablespaces",
                "--exclude-schema=\"dbkit\"",
                "--no-owner",
                "--no-privileges"
            ]
        );
        let picked = DumpOptions {
            schemas: vec!["App*".into()],
            owners: true,
            privileges: true,
            ..DumpOptions::default()
        };
        assert_eq!(
            picked.args(15)[3..],
            ["--schema=\"App*\"".to_string(), "--extension=*".to_string()],
            "names are quoted literally"
        );
    }
}
