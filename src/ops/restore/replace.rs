//! The databases a restore makes: one `--into` names (created when missing, dropped
//! again when its restore fails), and the side database `--replace` loads into and then
//! swaps in place of the target, so that a failed or interrupted restore leaves the
//! target as it was and no side database behind. Once the swap starts it runs to its end,
//! out of an interrupt's reach; the copy is kept under a name of its own first, so a swap
//! that fails still leaves the restored data (and says what to run).

use std::time::Duration;

use postgres::Client;

use crate::error::{Error, Result};
use crate::pg::connect::{connect, connect_uncancellable, query_error, ConnectOptions};
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
/// the server's maintenance database and holding dbkit's migration lock on the target
/// (waiting up to `lock_timeout` for it), so a run applying migrations there is never
/// ended half-way by the drop: creates a throwaway side database (the target's owner,
/// from template0), runs `load` into it, and only when that worked swaps it in (see
/// [`swap_in`]). When `load` fails or is interrupted the side database is dropped and
/// the target is untouched.
pub fn replace_database(
    target: &ConnectionSettings,
    lock_timeout: Duration,
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
    // Held until the drop ends this session (or the function returns).
    let mut locked = connect(target, ConnectOptions::default())?;
    crate::pg::lock::acquire(&mut locked, target.masked(), lock_timeout, &notice)?;
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
    // The last point at which an interrupt stops the restore: the swap runs to its end.
    crate::pg::interrupt::check(|| {
        format!(
            "stopped before replacing `{name}`, which is unchanged; the restored copy was dropped"
        )
    })?;
    swap_in(side, &maintenance, name, &settings)?;
    drop(locked);
    Ok(())
}

/// Puts the loaded copy `side` in the place of database `name`, on a connection an
/// interrupt's cancel requests never reach, so no step stops half-way (a cancelled
/// `DROP DATABASE` leaves the target invalid). First the copy gets a name no sweep of
/// throwaway databases matches (`<name>_restored_<UTC stamp>`), so it stays whatever
/// happens next (a failed drop, a second Ctrl-C); then the target is dropped and the
/// copy renamed to its name, with the target's database settings.
fn swap_in(
    side: Scratch,
    maintenance: &ConnectionSettings,
    name: &str,
    settings: &[String],
) -> Result<()> {
    let shown = maintenance.masked().to_string();
    let mut client = connect_uncancellable(maintenance, ConnectOptions::default())?;
    let stamp: String = client
        .query_one(
            "SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYYMMDD\"T\"HH24MISS\"Z\"')",
            &[],
        )
        .map_err(query_error("reading the server's clock", &shown))?
        .get(0);
    // Two replaces of one database within a second get `_2`, `_3`, ...
    let mut kept = kept_name(name, &stamp);
    for n in 2.. {
        let taken = client
            .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&kept])
            .map_err(query_error("looking up database names", &shown))?
            .is_some();
        if !taken {
            break;
        }
        kept = kept_name(name, &format!("{stamp}_{n}"));
    }
    client
        .batch_execute(&format!(
            "ALTER DATABASE {} RENAME TO {}",
            quote_ident(side.name()),
            quote_ident(&kept)
        ))
        .map_err(query_error(
            &format!(
                "renaming the restored copy `{}` to `{kept}` (`{name}` is unchanged; the copy is dropped)",
                side.name()
            ),
            &shown,
        ))?;
    side.keep();
    match scratch::drop_database(&mut client, name, &shown) {
        Ok(()) => {}
        Err(Error::Query {
            what,
            database,
            source,
        }) => {
            let state = after_failed_drop(&mut client, name, &kept);
            return Err(Error::Query {
                what: format!("{what}; {state}"),
                database,
                source,
            });
        }
        Err(other) => return Err(other),
    }
    client
        .batch_execute(&swap_sql(&kept, name, settings))
        .map_err(|source| Error::Query {
            what: format!(
                "putting the restored copy `{kept}` in the place of `{name}`, which was dropped (rename the copy with `{}`)",
                rename_sql(&kept, name)
            ),
            database: shown,
            source,
        })
}

/// What a failed drop of the target left, and what to run: the target may be left
/// invalid (PostgreSQL 15.4 and later mark a database whose drop stopped part-way with
/// `datconnlimit = -2`; it cannot be connected to and can only be dropped).
fn after_failed_drop(client: &mut Client, name: &str, kept: &str) -> String {
    let drop_target = format!("DROP DATABASE {} WITH (FORCE)", quote_ident(name));
    let rename = rename_sql(kept, name);
    let state = client.query_opt(
        "SELECT datconnlimit = -2 OR NOT datallowconn FROM pg_database WHERE datname = $1",
        &[&name],
    );
    match state {
        Ok(None) => format!("`{name}` is gone; the restored copy is kept as `{kept}`: run `{rename}`"),
        Ok(Some(row)) if row.get::<_, bool>(0) => format!(
            "`{name}` is left invalid (its drop stopped part-way) and cannot be used; the restored copy is kept as `{kept}`: run `{drop_target}`, then `{rename}`"
        ),
        Ok(Some(_)) => format!(
            "`{name}` is unchanged; the restored copy is kept as `{kept}`: to use it, run `{drop_target}`, then `{rename}`; else drop it with `DROP DATABASE {}`",
            quote_ident(kept)
        ),
        Err(_) => format!(
            "the restored copy is kept as `{kept}`; whether `{name}` is still usable is unknown (it is not when `datconnlimit` is -2 in `pg_database`): if not, run `{drop_target}`, then `{rename}`"
        ),
    }
}

fn rename_sql(from: &str, to: &str) -> String {
    format!(
        "ALTER DATABASE {} RENAME TO {}",
        quote_ident(from),
        quote_ident(to)
    )
}

/// `<name>_restored_<stamp>`, with `name` cut (at a character boundary) so the whole fits
/// PostgreSQL's 63 bytes. It never starts like a throwaway database's name unless `name`
/// does, and then ends in `_restored_<stamp>`, which no throwaway name does, so no sweep
/// drops it.
fn kept_name(name: &str, stamp: &str) -> String {
    let suffix = format!("_restored_{stamp}");
    let room = 63usize.saturating_sub(suffix.len());
    let mut end = name.len().min(room);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{suffix}", &name[..end])
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
    fn a_kept_copy_fits_and_is_no_throwaway() {
        let stamp = "20260101T120000Z";
        assert_eq!(kept_name("app", stamp), "app_restored_20260101T120000Z");
        let long = kept_name(&"é".repeat(40), stamp);
        assert!(long.len() <= 63 && long.ends_with("_restored_20260101T120000Z"));
    }

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
