//! Creating the configured database when it does not exist, as dbmate and sqlx do: on
//! the same server with the same credentials, through the `postgres` maintenance
//! database (or `template1` when that one cannot be reached), owned by the URL's user,
//! from `template0` (so nothing added to `template1` comes along) with the server's
//! default encoding and locale unless told otherwise. A database that exists is left
//! alone. Connecting is `connect`'s job; the programs' flags are `cli`'s.

use postgres::error::SqlState;
use postgres::Client;

use crate::error::{Error, Result};
use crate::pg::connect::{connect, query_error, ConnectOptions};
use crate::project::settings::ConnectionSettings;

/// The maintenance databases tried, in order, to create another one from.
const MAINTENANCE: [&str; 2] = ["postgres", "template1"];

/// How to create a database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreateOptions {
    /// `ENCODING` (default: template0's, the server's default).
    pub encoding: Option<String>,
    /// `LOCALE`, collation and character classes both (default: template0's).
    pub locale: Option<String>,
}

/// What [`ensure`] found or did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Created {
    /// The database, password masked.
    pub database: String,
    /// Its name.
    pub name: String,
    /// True when this run created it; false when it existed.
    pub created: bool,
    /// Its owner.
    pub owner: String,
    /// Its encoding (`UTF8`).
    pub encoding: String,
    /// The maintenance database it was created through, when it was created.
    pub via: Option<String>,
}

/// Creates the database `settings` points at unless it exists. The owner is the URL's
/// user: named with `OWNER` when the connecting role differs and may hand it over,
/// otherwise the connecting role (the same user) owns it.
pub fn ensure(
    settings: &ConnectionSettings,
    options: &CreateOptions,
    connect_options: ConnectOptions,
) -> Result<Created> {
    let name = settings.dbname().to_string();
    match connect(settings, connect_options) {
        Ok(mut client) => return describe(&mut client, settings.masked(), &name, false, None),
        Err(error) if is_missing_database(&error) => {}
        Err(error) => return Err(error),
    }
    let (mut admin, via) = maintenance(settings, connect_options)?;
    let shown = settings.masked();
    let exists = admin
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(query_error("looking up the database", shown))?
        .is_some();
    if exists {
        return describe(&mut admin, shown, &name, false, None);
    }
    let owner = owner_clause(&mut admin, shown, settings.config.get_user())?;
    let sql = create_sql(&name, owner.as_deref(), options);
    match admin.batch_execute(&sql) {
        Ok(()) => describe(&mut admin, shown, &name, true, Some(via)),
        // Another session created it in the meantime.
        Err(source) if source.code() == Some(&SqlState::DUPLICATE_DATABASE) => {
            describe(&mut admin, shown, &name, false, None)
        }
        Err(source) => Err(Error::CreateDatabase {
            database: shown.to_string(),
            name,
            source,
        }),
    }
}

/// `CREATE DATABASE "app" OWNER "app" TEMPLATE template0 ENCODING 'UTF8'`.
fn create_sql(name: &str, owner: Option<&str>, options: &CreateOptions) -> String {
    use crate::sql::{quote_ident, quote_literal};
    let mut sql = format!("CREATE DATABASE {}", quote_ident(name));
    if let Some(owner) = owner {
        sql += &format!(" OWNER {}", quote_ident(owner));
    }
    sql += " TEMPLATE template0";
    if let Some(encoding) = &options.encoding {
        sql += &format!(" ENCODING {}", quote_literal(encoding));
    }
    if let Some(locale) = &options.locale {
        sql += &format!(" LOCALE {}", quote_literal(locale));
    }
    sql
}

/// The role to name with `OWNER`: the URL's user when the session runs as another role
/// that is a member of it (a superuser is a member of every role); `None` to let the
/// connecting role own it.
fn owner_clause(client: &mut Client, shown: &str, user: Option<&str>) -> Result<Option<String>> {
    let Some(user) = user else {
        return Ok(None);
    };
    let row = client
        .query_one(
            "SELECT current_user::text <> $1
                    AND EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)
                    AND pg_has_role(current_user, (SELECT oid FROM pg_roles WHERE rolname = $1), 'MEMBER')",
            &[&user],
        )
        .map_err(query_error("looking up the owner's role", shown))?;
    Ok(row
        .get::<_, Option<bool>>(0)
        .unwrap_or(false)
        .then(|| user.to_string()))
}

/// A connection to a maintenance database of the same server: `postgres`, else
/// `template1`. When neither answers, the error of the first that exists.
pub fn maintenance(
    settings: &ConnectionSettings,
    connect_options: ConnectOptions,
) -> Result<(Client, String)> {
    let mut errors = Vec::new();
    for name in MAINTENANCE {
        match connect(&settings.with_dbname(name), connect_options) {
            Ok(client) => return Ok((client, name.to_string())),
            Err(error) => errors.push(error),
        }
    }
    let index = errors
        .iter()
        .position(|e| !is_missing_database(e))
        .unwrap_or(errors.len() - 1);
    Err(errors.swap_remove(index))
}

/// The database's name, owner and encoding as the server has them.
fn describe(
    client: &mut Client,
    shown: &str,
    name: &str,
    created: bool,
    via: Option<String>,
) -> Result<Created> {
    let row = client
        .query_one(
            "SELECT pg_get_userbyid(datdba)::text, pg_encoding_to_char(encoding)::text
               FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .map_err(query_error("looking up the database", shown))?;
    Ok(Created {
        database: shown.to_string(),
        name: name.to_string(),
        created,
        owner: row.get(0),
        encoding: row.get(1),
        via,
    })
}

/// A connection refused because the database does not exist.
fn is_missing_database(error: &Error) -> bool {
    matches!(error, Error::Connect { source, .. }
        if source.code() == Some(&SqlState::INVALID_CATALOG_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_from_template0_with_what_it_was_told() {
        assert_eq!(
            create_sql("app", None, &CreateOptions::default()),
            "CREATE DATABASE \"app\" TEMPLATE template0"
        );
        let options = CreateOptions {
            encoding: Some("LATIN1".into()),
            locale: Some("C".into()),
        };
        assert_eq!(
            create_sql("New \"App\"", Some("app owner"), &options),
            "CREATE DATABASE \"New \"\"App\"\"\" OWNER \"app owner\" TEMPLATE template0 ENCODING 'LATIN1' LOCALE 'C'"
        );
    }
}
