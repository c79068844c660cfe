//! The databases a restore makes: one `--into` names (created when missing, dropped
//! again when its restore fails), and the side database `--replace` loads into and then
//! swaps in place of the target, so that a failed or interrupted restore leaves the
//! target as it was and no side database behind.

use postgres::error::SqlState;
use postgres::Client;

use crate::error::{Error, Result};
use crate::pg::connect::{connect, query_error, ConnectOptions};
use crate::pg::scratch::{self, Scratch};
use crate::project::settings::ConnectionSettings;
use crate::sql::{quote_ident, quote_literal};

/// Creates database `name` on the server `client` is connected to, unless it exists;
/// returns whether it created it.
pub fn create_database(client: &mut Client, database: &str, name: &str) -> Result<bool> {
    let exists = client
        .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&name])
        .map_err(query_error("looking up the database", database))?
        .is_some();
    if !exists {
        client
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE template0",
                quote_ident(name)
            ))
            .map_err(query_error(
                &format!("creating database `{name}`"),
                database,
            ))?;
    }
    Ok(!exists)
}

/// Drops database `name`, which this run created for a restore that failed, through the
/// configured database `configured` (best effort: the error that matters is the
/// restore's). Runs on a new connection, so an interrupt's cancel requests miss it.
pub fn drop_created(configured: &ConnectionSettings, name: &str) {
    crate::pg::interrupt::settled(std::time::Duration::from_secs(5));
    if let Ok(mut client) = connect(configured, ConnectOptions::default()) {
        let _ = scratch::drop_database(&mut client, name, configured.masked());
    }
}

/// Puts a freshly loaded copy in the place of the database `target` names, working from
/// the server's maintenance database: creates a throwaway side database (the target's
/// owner, from template0), runs `load` into it, and only when that worked drops the
/// target (ending its sessions), renames the side database to the target's name and gives
/// it the target's database settings (such as a `dbkit.environment` mark). When `load`
/// fails or is interrupted the side database is dropped and the target is untouched.
pub fn replace_database(
    target: &ConnectionSettings,
    notice: fn(&str),
    load: impl FnOnce(&ConnectionSettings) -> Result<()>,
) -> Result<()> {
    let name = target.dbname();
    let maintenance = ["postgres", "template1"]
        .iter()
        .find(|db| **db != name)
        .map(|db| target.with_dbname(db))
        .expect("two names differ");
    let shown = maintenance.masked().to_string();
    let mut admin = connect(&maintenance, ConnectOptions::default())?;
    let row = admin
        .query_one(
            "SELECT pg_get_userbyid(d.datdba)::text,
                    coalesce((SELECT s.setconfig FROM pg_db_role_setting s WHERE s.setdatabase = d.oid AND s.setrole = 0), '{}')
               FROM pg_database d WHERE d.datname = $1",
            &[&name],
        )
        .map_err(query_error(&format!("looking up database `{name}`"), &shown))?;
    let (owner, settings): (String, Vec<String>) = (row.get(0), row.get(1));
    let side = Scratch::create(&mut admin, &maintenance, "restore", Some(&owner), notice)?;
    load(&side.settings).map_err(|e| {
        crate::pg::interrupt::explain(e, || {
            format!("stopped restoring; `{name}` is unchanged and the side copy is dropped")
        })
    })?;
    crate::pg::interrupt::check(|| {
        format!(
            "stopped before replacing `{name}`, which is unchanged; the restored copy was dropped"
        )
    })?;
    scratch::drop_database(&mut admin, name, &shown)?;
    // From here the copy is all there is: it must not be dropped, whatever happens.
    let side = side.keep();
    let swap = swap_sql(&side, name, &settings);
    let mut swapped = admin.batch_execute(&swap);
    if matches!(&swapped, Err(e) if e.code() == Some(&SqlState::QUERY_CANCELED)) {
        // An interrupt's cancel request (sent once) came just now: run it again, on a
        // connection the request cannot reach.
        crate::pg::interrupt::settled(std::time::Duration::from_secs(5));
        if let Ok(mut fresh) = connect(&maintenance, ConnectOptions::default()) {
            swapped = fresh.batch_execute(&swap);
        }
    }
    swapped.map_err(|source| Error::Query {
        what: format!(
            "putting the restored copy `{side}` in the place of `{name}`, which was dropped (rename the copy with `ALTER DATABASE {} RENAME TO {}`)",
            quote_ident(&side),
            quote_ident(name)
        ),
        database: shown,
        source,
    })
}

/// Renames the copy to the target's name and gives it the target's database settings,
/// in one implicit transaction.
fn swap_sql(side: &str, name: &str, settings: &[String]) -> String {
    let mut swap = format!(
        "ALTER DATABASE {} RENAME TO {};\n",
        quote_ident(side),
        quote_ident(name)
    );
    for setting in settings {
        let Some((key, value)) = setting.split_once('=') else {
            continue;
        };
        if !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
        {
            continue;
        }
        // search_path is stored as SQL list syntax; every other value as plain text.
        let value = if key == "search_path" {
            value.to_string()
        } else {
            quote_literal(value)
        };
        swap += &format!(
            "ALTER DATABASE {} SET {key} = {value};\n",
            quote_ident(name)
        );
    }
    swap
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_swap_renames_and_keeps_settings_that_are_plain_names() {
        let sql = swap_sql(
            "dbkit_restore_x",
            "app",
            &[
                "dbkit.environment=staging".into(),
                "search_path=\"$user\", public".into(),
                "bad key=1".into(),
            ],
        );
        assert_eq!(
            sql,
            "ALTER DATABASE \"dbkit_restore_x\" RENAME TO \"app\";\n\
             ALTER DATABASE \"app\" SET dbkit.environment = 'staging';\n\
             ALTER DATABASE \"app\" SET search_path = \"$user\", public;\n"
        );
    }
}
