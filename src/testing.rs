//! Fresh seeded databases for a project's own Rust tests: each call returns the URL of a
//! new database holding the schema, reference data and fixtures, cloned in milliseconds
//! from the template `test-database` and `reset --reapply` use (built on first use, and
//! again whenever a file of the database folder changes). Local, non-production servers
//! only, as for `test-database`.
//!
//! After the first database, a thread of the process keeps a few more copied ahead
//! (`DBKIT_TEST_POOL`, default the number of cores up to 4; 0: none), so a test that
//! asks while it copies gets one at once instead of waiting for a copy. The ones made
//! ahead and not asked for stay when the process ends, like the others: named like
//! them, dropped with `test-database --drop-all`.
//!
//! ```no_run
//! // In a test: one database of its own, dropped with `test-database --drop-all`.
//! let url = dbkit::testing::fresh_database("database").expect("a fresh database");
//! let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connects");
//! ```

use std::collections::VecDeque;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use postgres::Client;

use crate::cli::{ConnectionArgs, SafetyArgs};
use crate::error::{Error, Result};
use crate::ops::fresh::{self, Ready};
use crate::ops::guard::Requirement;
use crate::project::layout::{Catalog, Layout};
use crate::project::settings::{url_with_dbname, ConnectionSettings};

/// A source of fresh databases for one database folder on one server.
pub struct TestDatabases {
    admin: Client,
    server: ConnectionSettings,
    /// The URL as given (or the local cluster's), to name each new database in.
    url: String,
    catalog: Catalog,
    ready: Ready,
    prefix: String,
    checked: bool,
    /// Databases copied ahead by a thread, once the first one was checked.
    ahead: Option<Arc<Ahead>>,
}

/// The databases a thread copies ahead of the tests that will ask for them.
struct Ahead {
    /// The names of the databases ready, oldest first.
    ready: Mutex<VecDeque<String>>,
    changed: Condvar,
    /// How many it keeps ready.
    size: usize,
}

/// How many databases are copied ahead: `DBKIT_TEST_POOL`, else the cores up to 4.
fn ahead_size() -> usize {
    match std::env::var("DBKIT_TEST_POOL") {
        Ok(v) => v.trim().parse().unwrap_or(0),
        Err(_) => std::thread::available_parallelism().map_or(2, |n| n.get().min(4)),
    }
}

/// The next test database name of this process.
fn next_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl TestDatabases {
    /// For the database folder `dir`, on the server `DATABASE_URL` (or `SUPABASE_DB_URL`)
    /// names, else the project's local PostgreSQL.
    pub fn new(dir: impl AsRef<Path>) -> Result<TestDatabases> {
        let url = std::env::var("DATABASE_URL")
            .or_else(|_| std::env::var("SUPABASE_DB_URL"))
            .ok();
        TestDatabases::connect(dir.as_ref(), url)
    }

    /// For the database folder `dir`, on the server `url` reaches.
    pub fn with_url(dir: impl AsRef<Path>, url: &str) -> Result<TestDatabases> {
        TestDatabases::connect(dir.as_ref(), Some(url.to_string()))
    }

    fn connect(dir: &Path, url: Option<String>) -> Result<TestDatabases> {
        let layout = Layout::new(dir);
        let connection = ConnectionArgs {
            database_url: url.clone(),
            supabase_db_url: None,
            connect_timeout: None,
            wait: 0,
            os_user: std::env::var("USER").ok(),
        };
        let safety = SafetyArgs {
            confirm_database: None,
            environment: std::env::var("DBKIT_ENV").ok(),
        };
        safety.precheck(
            "test databases",
            &connection,
            None,
            Requirement::LocalDevelopment,
        )?;
        let mut target = connection.connect(&layout)?;
        safety.check("test databases", &mut target, Requirement::LocalDevelopment)?;
        let url = match url {
            Some(url) => url,
            None => crate::cli::project_cluster(&layout)?.conninfo(target.settings.dbname()),
        };
        let catalog = layout.catalog()?;
        let server = target.settings.clone();
        let mut admin = target.client;
        let ready = fresh::ensure(&mut admin, &server, &catalog, |_| {})?;
        Ok(TestDatabases {
            admin,
            server,
            url,
            prefix: fresh::test_prefix(&catalog),
            catalog,
            ready,
            checked: false,
            ahead: None,
        })
    }

    /// A new database, as a URL in the form the server was given in: one copied ahead
    /// when there is one ready, else a copy made now.
    pub fn fresh(&mut self) -> Result<String> {
        if let Some(name) = self.ahead.as_ref().and_then(|a| a.take()) {
            return Ok(url_with_dbname(&self.url, &name));
        }
        let name = next_name(&self.prefix);
        let check = !self.checked;
        fresh::clone(
            &mut self.admin,
            &self.server,
            &self.catalog,
            &mut self.ready,
            &name,
            check,
            |_| {},
        )?;
        self.checked = true;
        if self.ahead.is_none() {
            self.ahead = self.copy_ahead();
        }
        Ok(url_with_dbname(&self.url, &name))
    }

    /// Starts the thread that keeps databases copied ahead (after the first copy was
    /// checked against the template's fingerprint).
    fn copy_ahead(&self) -> Option<Arc<Ahead>> {
        let size = ahead_size();
        if size == 0 {
            return None;
        }
        let ahead = Arc::new(Ahead {
            ready: Mutex::new(VecDeque::new()),
            changed: Condvar::new(),
            size,
        });
        let (filler, server, template, prefix) = (
            ahead.clone(),
            self.server.clone(),
            self.ready.template.clone(),
            self.prefix.clone(),
        );
        std::thread::spawn(move || filler.fill(&server, &template, &prefix));
        Some(ahead)
    }
}

impl Ahead {
    /// One database copied ahead, if one is ready.
    fn take(&self) -> Option<String> {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        let name = ready.pop_front();
        if name.is_some() {
            self.changed.notify_all();
        }
        name
    }

    /// Copies the template into new test databases while fewer than `size` are ready;
    /// stops for good at the first failure (the tests then copy their own, and see
    /// the error themselves).
    fn fill(&self, server: &ConnectionSettings, template: &str, prefix: &str) {
        let Ok(mut admin) = crate::pg::connect::connect(server, Default::default()) else {
            return;
        };
        let shown = server.masked().to_string();
        loop {
            {
                let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
                while ready.len() >= self.size {
                    ready = self.changed.wait(ready).unwrap_or_else(|e| e.into_inner());
                }
            }
            let name = next_name(prefix);
            if crate::pg::template::clone(&mut admin, template, &name, None, &shown).is_err() {
                return;
            }
            self.ready
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_back(name);
        }
    }
}

/// A new database for a test, from one [`TestDatabases`] per process (made on first
/// use for `dir`, on the server `DATABASE_URL` names or the local PostgreSQL).
pub fn fresh_database(dir: impl AsRef<Path>) -> Result<String> {
    static SHARED: OnceLock<Mutex<Option<TestDatabases>>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| Mutex::new(None));
    let mut guard = shared
        .lock()
        .map_err(|_| Error::Usage("a test panicked while making a database".into()))?;
    if guard.is_none() {
        *guard = Some(TestDatabases::new(dir)?);
    }
    guard.as_mut().expect("made above").fresh()
}
