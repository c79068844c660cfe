//! Fresh seeded databases for a project's own Rust tests: each call returns the URL of a
//! new database holding the schema, reference data and fixtures, cloned in milliseconds
//! from the template `test-database` and `reset --reapply` use (built on first use, and
//! again whenever a file of the database folder changes). Local, non-production servers
//! only, as for `test-database`.
//!
//! ```no_run
//! // In a test: one database of its own, dropped with `test-database --drop-all`.
//! let url = dbkit::testing::fresh_database("database").expect("a fresh database");
//! let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connects");
//! ```

use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

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
        })
    }

    /// A new database, as a URL in the form the server was given in.
    pub fn fresh(&mut self) -> Result<String> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "{}{}_{}",
            self.prefix,
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
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
        Ok(url_with_dbname(&self.url, &name))
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
