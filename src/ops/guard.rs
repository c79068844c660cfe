//! Whether a destructive development operation (`reset`, `restore --replace`, loading
//! fixtures) may touch a database. Two facts count: where the database is (this machine:
//! a Unix socket, localhost, 127.0.0.0/8 or ::1) and whether it is marked as production,
//! either by the database itself (the `dbkit.environment` setting, written with
//! `apply-schema --mark-environment production`, which every session of that database
//! sees) or by the environment (`DBKIT_ENV=production`, read by the binaries). The user
//! overrides a refusal only by naming the database (`--confirm-database NAME`), so an
//! override written for one database cannot fire on another.
//!
//! `reset` asks one more thing: whether dbkit has history in the database. One without
//! (a team's other database, a restored copy) that holds objects is refused unless named
//! the same way, saying what it holds; an empty one is fine.

use postgres::Client;

use crate::error::{Error, Result};
use crate::pg::connect::query_error;
use crate::project::settings::ConnectionSettings;

/// The database-level setting that marks an environment.
pub const SETTING: &str = "dbkit.environment";

/// The environment variable that marks an environment.
pub const ENV_VAR: &str = "DBKIT_ENV";

/// What a guarded operation needs from the database it is about to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Requirement {
    /// On this machine and not production (`reset`, `restore --replace`).
    LocalDevelopment,
    /// Not production (loading fixtures).
    NotProduction,
}

/// The database's mark (`dbkit.environment`), if any. The database's own setting is
/// read from the catalog, because a session value (from the role's settings or the
/// connection's `options`) would hide it; a session value that says production counts
/// too.
pub fn database_mark(client: &mut Client, database: &str) -> Result<Option<String>> {
    let row = client
        .query_one(
            "SELECT (SELECT nullif(substr(c, length('dbkit.environment=') + 1), '')
                       FROM pg_db_role_setting s, unnest(s.setconfig) AS c
                      WHERE s.setrole = 0
                        AND s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
                        AND c LIKE 'dbkit.environment=%'),
                    nullif(current_setting('dbkit.environment', true), '')",
            &[],
        )
        .map_err(query_error("reading the environment mark", database))?;
    let (own, session): (Option<String>, Option<String>) = (row.get(0), row.get(1));
    Ok(match (own, session) {
        (_, Some(session)) if is_production(&session) => Some(session),
        (Some(own), _) => Some(own),
        (None, session) => session,
    })
}

pub fn is_production(mark: &str) -> bool {
    mark.eq_ignore_ascii_case("production") || mark.eq_ignore_ascii_case("prod")
}

/// Marks the database as an environment (`production`, `staging`, ...), for every later
/// session; an empty name removes the mark.
pub fn mark(client: &mut Client, settings: &ConnectionSettings, environment: &str) -> Result<()> {
    let name = crate::sql::quote_ident(settings.dbname());
    let sql = if environment.is_empty() {
        format!("ALTER DATABASE {name} RESET {SETTING}")
    } else {
        format!(
            "ALTER DATABASE {name} SET {SETTING} = {}",
            crate::sql::quote_literal(environment)
        )
    };
    client.batch_execute(&sql).map_err(query_error(
        "marking the database's environment",
        settings.masked(),
    ))
}

/// Refuses `action` on the database unless it meets `requirement` or the user named it
/// in `confirmed`. `env_mark` is `DBKIT_ENV`'s value.
pub fn check(
    action: &str,
    settings: &ConnectionSettings,
    requirement: Requirement,
    database_mark: Option<&str>,
    env_mark: Option<&str>,
    confirmed: Option<&str>,
) -> Result<()> {
    let dbname = settings.dbname();
    if confirmed == Some(dbname) {
        return Ok(());
    }
    let production = |mark: Option<&str>| mark.is_some_and(is_production);
    let reason = if production(database_mark) {
        format!(
            "the database is marked as production ({SETTING} = '{}')",
            database_mark.unwrap_or_default()
        )
    } else if production(env_mark) {
        format!("{ENV_VAR} is `{}`", env_mark.unwrap_or_default())
    } else if requirement == Requirement::LocalDevelopment && !settings.is_local() {
        "it is not on this machine (only a Unix socket, localhost, 127.0.0.0/8 or ::1 count)"
            .to_string()
    } else {
        return Ok(());
    };
    Err(Error::Guarded {
        action: action.to_string(),
        database: settings.masked().to_string(),
        dbname: dbname.to_string(),
        reason,
    })
}

/// Refuses `action` on a database without dbkit history (no history tables, or nothing
/// recorded in them) that holds objects, unless the user named it in `confirmed`.
/// `schemas` are the schemas the action drops: a hosted platform's schema counts when
/// it is one of them.
pub fn check_managed(
    action: &str,
    client: &mut Client,
    settings: &ConnectionSettings,
    schemas: &[String],
    confirmed: Option<&str>,
) -> Result<()> {
    let dbname = settings.dbname();
    if confirmed == Some(dbname) {
        return Ok(());
    }
    let database = settings.masked();
    let history = crate::apply::history::read(client, database)?;
    if history.is_some_and(|h| !h.is_empty()) {
        return Ok(());
    }
    match crate::pg::inspect::holdings(client, database, schemas)? {
        None => Ok(()),
        Some(holds) => Err(Error::Unmanaged {
            action: action.to_string(),
            database: database.to_string(),
            dbname: dbname.to_string(),
            holds: holds.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(url: &str) -> ConnectionSettings {
        ConnectionSettings::parse(url, Some("me")).expect("parses")
    }

    #[test]
    fn refuses_remote_and_production_unless_the_database_is_named() {
        let remote = settings("postgres://app:pw@db.example.com/app");
        let local = settings("postgres://app@127.0.0.2/app");
        let socket = settings("host=/tmp dbname=dev");
        let dev = Requirement::LocalDevelopment;
        assert!(check("reset", &local, dev, None, None, None).is_ok());
        assert!(check("reset", &socket, dev, Some("development"), None, None).is_ok());
        let error = check("reset", &remote, dev, None, None, None).expect_err("remote");
        assert!(error.to_string().contains("not on this machine"), "{error}");
        assert!(!error.to_string().contains("pw"), "{error}");
        assert!(check("reset", &remote, dev, None, None, Some("app")).is_ok());
        assert!(check("reset", &remote, dev, None, None, Some("other")).is_err());
        assert!(check(
            "load",
            &remote,
            Requirement::NotProduction,
            None,
            None,
            None
        )
        .is_ok());
        let error = check("reset", &socket, dev, Some("production"), None, None).expect_err("prod");
        assert!(
            error.to_string().contains("marked as production"),
            "{error}"
        );
        let error = check(
            "load",
            &local,
            Requirement::NotProduction,
            None,
            Some("PROD"),
            None,
        )
        .expect_err("env");
        assert!(error.to_string().contains("DBKIT_ENV is `PROD`"), "{error}");
        assert!(check("reset", &socket, dev, Some("production"), None, Some("dev")).is_ok());
    }
}
