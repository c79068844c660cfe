//! The migration lock: a session-level advisory lock, per database, that keeps two runs
//! from applying the same file. It is taken by polling `pg_try_advisory_lock` rather than
//! by a blocking `pg_advisory_lock`: a session blocked inside a statement holds a snapshot,
//! and `CREATE INDEX CONCURRENTLY` in the run that holds the lock would wait for it
//! forever. Between polls the waiting session is idle, so it never blocks anyone.

use std::time::{Duration, Instant};

use postgres::Client;

use crate::error::{Error, Result};
use crate::pg::connect::query_error;

/// The advisory lock key: the bytes of "dbkitmig" as a big-endian integer.
pub const KEY: i64 = i64::from_be_bytes(*b"dbkitmig");

/// How long a program waits for the lock unless told otherwise (`--lock-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// How soon a waiting run first says who holds the lock, and how often it says so again.
const FIRST_NOTICE: Duration = Duration::from_millis(900);
const REPEAT_NOTICE: Duration = Duration::from_secs(10);

/// Takes the lock, waiting at most `timeout`. While it waits, `notice` hears within a
/// second who holds the lock, and again every ten seconds. The lock is released by
/// [`release`] or when the session ends.
pub fn acquire(
    client: &mut Client,
    database: &str,
    timeout: Duration,
    notice: &dyn Fn(&str),
) -> Result<()> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(50);
    let mut next_notice = FIRST_NOTICE;
    loop {
        crate::pg::interrupt::check(|| {
            "stopped while waiting for the migration lock; nothing was applied".to_string()
        })?;
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&KEY])
            .map_err(query_error("taking the migration lock", database))?
            .get(0);
        if got {
            return Ok(());
        }
        let waited = started.elapsed();
        if waited >= next_notice && waited < timeout {
            let who = holder(client).unwrap_or_else(|| "a session that just ended".into());
            notice(&format!(
                "waiting for the migration lock on {database} ({}s of {}s): held by {who}",
                waited.as_secs(),
                timeout.as_secs()
            ));
            next_notice = waited + REPEAT_NOTICE;
        }
        if waited >= timeout {
            return Err(Error::LockTimeout {
                database: database.to_string(),
                waited,
                holder: holder(client),
            });
        }
        std::thread::sleep(pause.min(timeout - waited));
        pause = (pause * 2).min(Duration::from_millis(250));
    }
}

/// Runs `work` holding the lock (waiting up to `timeout` for it), and releases it
/// whatever `work` returned; `work`'s error wins over a failed release.
pub fn held<T>(
    client: &mut Client,
    database: &str,
    timeout: Duration,
    notice: &dyn Fn(&str),
    work: impl FnOnce(&mut Client) -> Result<T>,
) -> Result<T> {
    acquire(client, database, timeout, notice)?;
    let outcome = work(client);
    let released = release(client, database);
    let value = outcome?;
    released?;
    Ok(value)
}

/// Releases the lock.
pub fn release(client: &mut Client, database: &str) -> Result<()> {
    client
        .execute("SELECT pg_advisory_unlock($1)", &[&KEY])
        .map_err(query_error("releasing the migration lock", database))?;
    Ok(())
}

/// Who holds the lock: pid, user, application, where from and since when; `None` when
/// nobody does (or the catalog cannot be read).
pub fn holder(client: &mut Client) -> Option<String> {
    let (high, low) = ((KEY >> 32) as u32, KEY as u32);
    let row = client
        .query_opt(
            "SELECT a.pid, a.usename::text, a.application_name, \
                    coalesce(host(a.client_addr), 'local socket'), \
                    to_char(a.backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS') \
             FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid::bigint = $1 \
               AND l.objid::bigint = $2 AND l.objsubid = 1 AND l.database = \
                   (SELECT oid FROM pg_database WHERE datname = current_database()) \
             LIMIT 1",
            &[&i64::from(high), &i64::from(low)],
        )
        .ok()??;
    let (pid, user, app, from, since): (i32, Option<String>, String, String, String) =
        (row.get(0), row.get(1), row.get(2), row.get(3), row.get(4));
    Some(format!(
        "pid {pid} (user `{}`, application `{app}`, from {from}, connected {since} UTC)",
        user.unwrap_or_default()
    ))
}
