//! Waiting is never silent: while a migration runs, a second connection checks once a
//! second whether the migration's session is blocked by another session's lock, and if
//! so says which session holds it (pid, user, application, since when, what it runs), and
//! says it again every few seconds while the wait lasts. The watcher only reads
//! `pg_stat_activity`; it never cancels or terminates anyone.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use postgres::Client;

use crate::pg::connect::{connect, ConnectOptions};
use crate::project::settings::ConnectionSettings;

/// How often the watcher looks, and how often it repeats itself while blocked.
const LOOK_EVERY: Duration = Duration::from_secs(1);
const REPEAT_EVERY: Duration = Duration::from_secs(5);

/// A running watcher; dropping it stops it.
pub struct Watcher {
    stop: Arc<AtomicBool>,
    current: Arc<Mutex<Current>>,
}

/// What the watched session runs: one file, or several migrations sent together (the
/// one running is the first with no history row yet).
#[derive(Debug, Default, Clone)]
struct Current {
    names: Vec<(u64, String)>,
}

impl Current {
    /// The file running now, asked of the server when several were sent together.
    fn running(&self, client: &mut Client) -> String {
        if self.names.len() < 2 {
            return self
                .names
                .first()
                .map(|(_, n)| n.clone())
                .unwrap_or_default();
        }
        let versions: Vec<i64> = self.names.iter().map(|(v, _)| *v as i64).collect();
        let done: i64 = client
            .query_one(
                "SELECT count(*) FROM dbkit.schema_history WHERE version = ANY($1)",
                &[&versions],
            )
            .map_or(0, |row| row.get(0));
        self.names
            .get(done as usize)
            .map(|(_, n)| n.clone())
            .unwrap_or_default()
    }
}

impl Watcher {
    /// Watches the session `pid` through a connection of its own to `settings`;
    /// `notice` receives each message. A watcher that cannot connect stays quiet: the
    /// migration itself does not depend on it.
    pub fn start(settings: &ConnectionSettings, pid: i32, notice: fn(&str)) -> Watcher {
        let stop = Arc::new(AtomicBool::new(false));
        let current = Arc::new(Mutex::new(Current::default()));
        let (settings, stop_flag, current_file) =
            (settings.clone(), Arc::clone(&stop), Arc::clone(&current));
        // Detached: a watcher still connecting (up to its 5 s timeout) must not hold up
        // the end of a run; the stop flag ends it.
        std::thread::spawn(move || {
            let options = ConnectOptions {
                timeout: Duration::from_secs(5),
                wait: Duration::ZERO,
            };
            let Ok(mut client) = connect(&settings, options) else {
                return;
            };
            let _ = client.batch_execute("SET application_name = 'dbkit lock watcher'");
            watch(&mut client, pid, notice, &stop_flag, &current_file);
        });
        Watcher { stop, current }
    }

    /// Names what the watched session is running now (a migration file), for messages.
    pub fn set_current(&self, what: &str) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.names = vec![(0, what.to_string())];
    }

    /// Names migrations sent together in one message, in the order they run.
    pub fn set_batch(&self, migrations: &[(u64, &str)]) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        current.names = migrations
            .iter()
            .map(|(v, n)| (*v, n.to_string()))
            .collect();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn watch(
    client: &mut Client,
    pid: i32,
    notice: fn(&str),
    stop: &AtomicBool,
    current: &Mutex<Current>,
) {
    let mut blocked_since: Option<(Instant, String)> = None;
    let mut last_said: Option<Instant> = None;
    while sleep_unless_stopped(stop, LOOK_EVERY) {
        let Ok(holders) = blockers(client, pid) else {
            return;
        };
        if holders.is_empty() && blocked_since.is_none() {
            continue;
        }
        let now = current.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let what = now.running(client);
        if holders.is_empty() || blocked_since.as_ref().is_some_and(|(_, w)| *w != what) {
            blocked_since = None;
            last_said = None;
        }
        if holders.is_empty() {
            continue;
        }
        let since = blocked_since
            .get_or_insert_with(|| (Instant::now() - LOOK_EVERY, what.clone()))
            .0;
        if last_said.is_none_or(|t| t.elapsed() >= REPEAT_EVERY) {
            let subject = if what.is_empty() {
                "the migration".to_string()
            } else {
                format!("`{what}`")
            };
            notice(&format!(
                "{subject} has been waiting {}s for a lock held by {}",
                since.elapsed().as_secs(),
                holders.join("; and by ")
            ));
            last_said = Some(Instant::now());
        }
    }
}

fn sleep_unless_stopped(stop: &AtomicBool, total: Duration) -> bool {
    let started = Instant::now();
    while started.elapsed() < total {
        if stop.load(Ordering::SeqCst) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !stop.load(Ordering::SeqCst)
}

/// The sessions holding a lock `pid` waits for, described for people.
fn blockers(client: &mut Client, pid: i32) -> Result<Vec<String>, postgres::Error> {
    let rows = client.query(
        "SELECT a.pid, coalesce(a.usename::text, ''), a.application_name, \
                coalesce(host(a.client_addr), 'local socket'), \
                CASE WHEN a.xact_start IS NULL THEN 'connected since ' \
                     ELSE 'in a transaction since ' END || \
                coalesce(to_char(coalesce(a.xact_start, a.backend_start) AT TIME ZONE 'UTC', \
                                 'YYYY-MM-DD HH24:MI:SS'), ''), \
                coalesce(a.state, ''), \
                left(regexp_replace(coalesce(a.query, ''), '\\s+', ' ', 'g'), 80) \
         FROM pg_catalog.pg_stat_activity a \
         WHERE a.pid = ANY (pg_catalog.pg_blocking_pids($1)) ORDER BY a.pid",
        &[&pid],
    )?;
    Ok(rows
        .iter()
        .map(|row| {
            let (holder, user, app, from, since, state, query): (
                i32,
                String,
                String,
                String,
                String,
                String,
                String,
            ) = (
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
                row.get(6),
            );
            format!(
                "pid {holder} (user `{user}`, application `{app}`, from {from}, {since} UTC, {state}: `{query}`)"
            )
        })
        .collect())
}
