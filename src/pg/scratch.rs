//! Throwaway databases: the ones dbkit makes for one operation (verifying a snapshot,
//! building one from the migrations, restoring beside a database it then replaces) and
//! drops afterwards. This module owns their names, making them, dropping them, and
//! dropping what an earlier run could not (killed, or stopped by a second Ctrl-C).
//!
//! A name says which process made it: `dbkit_<purpose>_<host>_<pid>_<start>_<n>`, where
//! `<host>` is 8 hex digits of a hash of the host name and the process's pid namespace
//! (pids mean something only within one), `<start>` the process's start time in clock
//! ticks since boot (from `/proc`; 0 where there is none) and `<n>` counts the process's
//! throwaway databases. Whether that process is gone is decidable on its host: no process
//! has the pid, or the one that has it started at another time. A name from another host
//! or pid namespace is never judged, and never dropped. At most 47 bytes, within
//! PostgreSQL's 63.
//!
//! A [`Scratch`] drops its database when it goes out of scope, on a new connection
//! opened after an interrupt's cancel requests went out ([`interrupt::settled`]), so an
//! interrupted run cleans up on its way out. Before making one, [`Scratch::create`]
//! drops the leftovers of gone processes on that server and says so through `notice`.
//! Names of the older form (`dbkit_verify_<pid>_<n>`, `<db>_dbkit_restore_<pid>`) do not
//! say their host, so they are left alone.
//!
//! [`interrupt::settled`]: crate::pg::interrupt::settled

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::Client;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::pg::connect::{connect, query_error, ConnectOptions};
use crate::project::settings::ConnectionSettings;
use crate::sql::quote_ident;

/// Every throwaway database's name starts with this.
pub const PREFIX: &str = "dbkit_";

/// The process that made a throwaway database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// 8 hex digits: the host name and pid namespace, hashed.
    pub host: String,
    pub pid: u32,
    /// Clock ticks after boot at which the process started; 0 when unknown.
    pub started: u64,
}

impl Owner {
    /// This process.
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                Owner {
                    host: this_host(),
                    pid,
                    started: started(pid).unwrap_or(0),
                }
            })
            .clone()
    }

    /// The process `pid` of this host, if there is one now.
    pub fn of(pid: u32) -> Option<Owner> {
        Some(Owner {
            host: this_host(),
            pid,
            started: started(pid)?,
        })
    }
}

/// The name of the `n`th throwaway database for `purpose` (lower-case letters) made by
/// `owner`.
pub fn name(purpose: &str, owner: &Owner, n: u32) -> String {
    format!(
        "{PREFIX}{purpose}_{}_{}_{}_{n}",
        owner.host, owner.pid, owner.started
    )
}

/// The purpose and owner a throwaway database's name records; `None` for any other name.
pub fn parse(name: &str) -> Option<(String, Owner)> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.rsplitn(5, '_');
    let (_n, started, pid, host, purpose) = (
        parts.next()?.parse::<u32>().ok()?,
        parts.next()?.parse::<u64>().ok()?,
        parts.next()?.parse::<u32>().ok()?,
        parts.next()?,
        parts.next()?,
    );
    let hex = host.len() == 8 && host.bytes().all(|b| b.is_ascii_hexdigit());
    let word = !purpose.is_empty() && purpose.bytes().all(|b| b.is_ascii_lowercase());
    (hex && word).then(|| {
        (
            purpose.to_string(),
            Owner {
                host: host.to_string(),
                pid,
                started,
            },
        )
    })
}

/// Whether the process that made a throwaway database is gone, judged on host `here`:
/// `running` says when the process that now has a pid started (`Some(0)`: it runs,
/// start unknown), or `None` when none has it.
pub fn gone(owner: &Owner, here: &str, running: impl Fn(u32) -> Option<u64>) -> bool {
    if owner.host != here {
        return false;
    }
    match running(owner.pid) {
        None => true,
        Some(started) => started != 0 && owner.started != 0 && started != owner.started,
    }
}

/// The next throwaway database name of this process for `purpose`.
fn next_name(purpose: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    name(
        purpose,
        &Owner::current(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
    )
}

/// A database that exists for one operation and is dropped when this goes out of scope
/// (unless [`Scratch::keep`] hands it over).
pub struct Scratch {
    /// Connects to it.
    pub settings: ConnectionSettings,
    admin: ConnectionSettings,
    name: String,
    armed: bool,
    notice: fn(&str),
}

impl Scratch {
    /// Creates a throwaway database for `purpose` (lower-case letters: `verify`,
    /// `build`, `restore`) from `template0` on the server `client` is connected to, as
    /// `owner` when given, after dropping the leftovers of gone processes there.
    /// `admin` reaches the server (any database but the new one); `notice` hears what
    /// was dropped.
    pub fn create(
        client: &mut Client,
        admin: &ConnectionSettings,
        purpose: &str,
        owner: Option<&str>,
        notice: fn(&str),
    ) -> Result<Scratch> {
        Scratch::create_from(client, admin, purpose, owner, "template0", notice)
    }

    /// [`Scratch::create`], as a copy of database `template`.
    pub fn create_from(
        client: &mut Client,
        admin: &ConnectionSettings,
        purpose: &str,
        owner: Option<&str>,
        template: &str,
        notice: fn(&str),
    ) -> Result<Scratch> {
        sweep(client, admin.masked(), notice);
        let name = next_name(purpose);
        let owner = owner
            .map(|o| format!(" OWNER {}", quote_ident(o)))
            .unwrap_or_default();
        client
            .batch_execute(&format!(
                "CREATE DATABASE {}{owner} TEMPLATE {}",
                quote_ident(&name),
                quote_ident(template)
            ))
            .map_err(query_error(
                &format!("creating the throwaway database `{name}`"),
                admin.masked(),
            ))?;
        Ok(Scratch {
            settings: admin.with_dbname(&name),
            admin: admin.clone(),
            name,
            armed: true,
            notice,
        })
    }

    /// Takes over the database `existing` (closed to connections, no session on it) as a
    /// throwaway for `purpose`: renamed to a throwaway's name and opened to connections,
    /// in one transaction. `Ok(None)` when there is no such database (another run took
    /// it first).
    pub fn adopt(
        client: &mut Client,
        admin: &ConnectionSettings,
        purpose: &str,
        existing: &str,
        notice: fn(&str),
    ) -> Result<Option<Scratch>> {
        let name = next_name(purpose);
        let taken = client.batch_execute(&format!(
            "BEGIN; ALTER DATABASE {e} RENAME TO {n}; ALTER DATABASE {n} WITH ALLOW_CONNECTIONS true; COMMIT",
            e = quote_ident(existing),
            n = quote_ident(&name),
        ));
        if let Err(e) = taken {
            let _ = client.batch_execute("ROLLBACK");
            if e.code() == Some(&SqlState::UNDEFINED_DATABASE) {
                return Ok(None);
            }
            return Err(query_error(
                &format!("taking `{existing}` as the throwaway database `{name}`"),
                admin.masked(),
            )(e));
        }
        Ok(Some(Scratch {
            settings: admin.with_dbname(&name),
            admin: admin.clone(),
            name,
            armed: true,
            notice,
        }))
    }

    /// The settings that reach the server it is on (not it).
    pub fn admin(&self) -> &ConnectionSettings {
        &self.admin
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keeps the database: it is no longer a throwaway (it was renamed into another's
    /// place). Returns its name.
    pub fn keep(mut self) -> String {
        self.armed = false;
        std::mem::take(&mut self.name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let interrupted = crate::pg::interrupt::requested();
        crate::pg::interrupt::settled(Duration::from_secs(5));
        let dropped = connect(&self.admin, ConnectOptions::default())
            .and_then(|mut client| drop_database(&mut client, &self.name, self.admin.masked()));
        match dropped {
            Ok(()) if interrupted => {
                (self.notice)(&format!("dropped the throwaway database `{}`", self.name));
            }
            Ok(()) => {}
            Err(e) => (self.notice)(&format!(
                "could not drop the throwaway database `{}` ({}); the next dbkit run that makes one on that server drops it",
                self.name,
                reason(&e)
            )),
        }
    }
}

/// Drops database `name` if it exists, ending its sessions: `WITH (FORCE)` on
/// PostgreSQL 13 and later, else by terminating them first (and trying again while a
/// terminated session is still leaving).
pub fn drop_database(client: &mut Client, name: &str, database: &str) -> Result<()> {
    let failed = query_error(&format!("dropping database `{name}`"), database);
    let quoted = quote_ident(name);
    let version: i32 =
        match client.query_one("SELECT current_setting('server_version_num')::int", &[]) {
            Ok(row) => row.get(0),
            Err(e) => return Err(failed(e)),
        };
    if version >= 130_000 {
        return client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)"))
            .map_err(failed);
    }
    let mut attempts = 0;
    loop {
        attempts += 1;
        let outcome = client
            .execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                &[&name],
            )
            .and_then(|_| client.batch_execute(&format!("DROP DATABASE IF EXISTS {quoted}")));
        match outcome {
            Err(e) if attempts < 10 && e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                std::thread::sleep(Duration::from_millis(200));
            }
            other => return other.map_err(failed),
        }
    }
}

/// Drops the throwaway databases on the server `client` is connected to whose process is
/// gone (see the module's header), among those this role may drop; `notice` names each.
/// Best effort: what cannot be listed or dropped is said and left for the next run.
/// Returns the names dropped.
pub fn sweep(client: &mut Client, database: &str, notice: fn(&str)) -> Vec<String> {
    let rows = match client.query(
        "SELECT datname::text FROM pg_database
          WHERE pg_has_role(current_user, datdba, 'MEMBER') ORDER BY 1",
        &[],
    ) {
        Ok(rows) => rows,
        Err(e) => {
            notice(&format!(
                "could not look for throwaway databases left by earlier runs: {}",
                reason(&query_error("listing databases", database)(e))
            ));
            return Vec::new();
        }
    };
    let here = this_host();
    let mut dropped = Vec::new();
    for name in rows.iter().map(|row| row.get::<_, String>(0)) {
        if crate::pg::interrupt::requested() {
            break;
        }
        let Some((_, owner)) = parse(&name) else {
            continue;
        };
        if !gone(&owner, &here, started) {
            continue;
        }
        match drop_database(client, &name, database) {
            Ok(()) => {
                notice(&format!(
                    "dropped `{name}`, a throwaway database left by an earlier dbkit run (process {} on this host, which has ended)",
                    owner.pid
                ));
                dropped.push(name);
            }
            Err(e) => notice(&format!(
                "could not drop `{name}`, a throwaway database left by an earlier dbkit run: {}",
                reason(&e)
            )),
        }
    }
    dropped
}

/// An error in one line, for a notice: the server's or the system's own words.
fn reason(error: &Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message = format!("{message}: {cause}");
        source = cause.source();
    }
    message
}

/// This machine (its machine id where the system has one: two machines, or two cloned
/// VMs, often share a host name), host name and pid namespace, hashed to 8 hex digits.
fn this_host() -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let namespace = std::fs::read_link("/proc/self/ns/pid")
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let machine = ["/etc/machine-id", "/var/lib/dbus/machine-id"]
            .iter()
            .find_map(|path| std::fs::read_to_string(path).ok())
            .unwrap_or_default();
        let digest = Sha256::new()
            .chain_update(machine.trim())
            .chain_update([0])
            .chain_update(hostname())
            .chain_update([0])
            .chain_update(namespace)
            .finalize();
        digest[..4].iter().map(|b| format!("{b:02x}")).collect()
    })
    .clone()
}

fn hostname() -> Vec<u8> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at most that much.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0;
    let len = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    if ok {
        buf[..len].to_vec()
    } else {
        Vec::new()
    }
}

/// When process `pid` started, in clock ticks after boot (field 22 of
/// `/proc/PID/stat`); without `/proc`, `Some(0)` when the process exists. `None` when no
/// process has the pid.
fn started(pid: u32) -> Option<u64> {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The command name (field 2) is in parentheses and may hold spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(19))
            .and_then(|ticks| ticks.parse().ok())
            .or(Some(0)),
        Err(_) if std::path::Path::new("/proc/self/stat").exists() => None,
        Err(_) => {
            let pid = libc::pid_t::try_from(pid).ok()?;
            // SAFETY: signal 0 only checks whether the process exists.
            let alive = unsafe { libc::kill(pid, 0) } == 0
                || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM);
            alive.then_some(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_postgresql_and_say_their_owner() {
        let owner = Owner {
            host: "0a1b2c3d".into(),
            pid: 4_194_304,
            started: 18_446_744_073_709_551_615,
        };
        let made = name("restore", &owner, u32::MAX);
        assert!(made.len() <= 63, "{made}: {} bytes", made.len());
        assert_eq!(parse(&made), Some(("restore".into(), owner)));
        for other in [
            "dbkit",
            "dbkit_verify_1234_0",
            "app_dbkit_restore_1234",
            "dbkit_verify_0a1b2c3g_1_2_3",
            "dbkit_Verify_0a1b2c3d_1_2_3",
            "dbkit__0a1b2c3d_1_2_3",
        ] {
            assert_eq!(parse(other), None, "{other}");
        }
    }

    #[test]
    fn only_a_gone_process_of_this_host_is_gone() {
        let owner = Owner {
            host: "0a1b2c3d".into(),
            pid: 10,
            started: 500,
        };
        assert!(gone(&owner, "0a1b2c3d", |_| None), "no such pid");
        assert!(gone(&owner, "0a1b2c3d", |_| Some(501)), "pid reused");
        assert!(!gone(&owner, "0a1b2c3d", |_| Some(500)), "still running");
        assert!(!gone(&owner, "0a1b2c3d", |_| Some(0)), "start unknown");
        assert!(!gone(&owner, "ffffffff", |_| None), "another host's");
    }

    #[test]
    fn this_process_runs_and_its_start_is_known_on_linux() {
        let me = Owner::current();
        assert_eq!(Owner::of(me.pid), Some(me.clone()));
        assert!(!gone(&me, &me.host, started));
        if cfg!(target_os = "linux") {
            assert_ne!(me.started, 0);
        }
    }
}
