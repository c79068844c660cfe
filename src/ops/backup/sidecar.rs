//! A backup's sidecar: the small JSON file `<backup name>.json` written next to each
//! backup, saying what it holds (database, server, content, table selection, format)
//! and when and by which dbkit it was made. The sidecar is how dbkit attributes a
//! backup: `--keep` prunes and `--list` shows only backups whose sidecar names them, so
//! a file without one (made by hand, by another tool, by an older dbkit) is never
//! touched. Reading the folder is `folder`'s job.

use std::path::Path;

use chrono::{DateTime, Utc};
use postgres::config::Host;

use crate::project::settings::ConnectionSettings;

use super::{BackupOptions, Content, Format};

/// The layout version written in every sidecar; a sidecar with another one (a newer
/// dbkit's) is not read as this tool's.
pub const LAYOUT: u32 = 1;

/// The server a backup was taken from, without user or password.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Server {
    /// The host name, address or Unix-socket folder (several joined with `,`).
    pub host: String,
    pub port: u16,
    /// The server's version (`16.4`); not part of a backup's identity, so backups taken
    /// before an upgrade are still pruned with later ones.
    pub version: String,
}

/// What a backup holds, as recorded next to it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sidecar {
    /// Marks the file as a dbkit backup description ([`LAYOUT`]).
    pub dbkit_backup: u32,
    /// The backup's file (or folder) name, in the same folder.
    pub file: String,
    /// The database's name.
    pub database: String,
    pub server: Server,
    pub content: Content,
    /// pg_dump table patterns, as given (empty: every table).
    pub tables: Vec<String>,
    pub format: Format,
    /// pg_dump's compression level, when one was given.
    pub compress: Option<u32>,
    pub created: DateTime<Utc>,
    /// The backup's size (a directory backup: its files together).
    pub bytes: u64,
    pub dbkit_version: String,
}

/// Whose backups to look for: a database on a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub database: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    /// The database `settings` point at. Two spellings of one server (a socket and
    /// `localhost`) count as two: pruning then keeps more, never less.
    pub fn of(settings: &ConnectionSettings) -> Origin {
        let config = &settings.config;
        let mut hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|host| match host {
                Host::Unix(path) => path.display().to_string(),
                Host::Tcp(name) => name.clone(),
            })
            .collect();
        if hosts.is_empty() {
            hosts = config
                .get_hostaddrs()
                .iter()
                .map(|ip| ip.to_string())
                .collect();
        }
        Origin {
            database: settings.dbname().to_string(),
            host: hosts.join(","),
            port: config.get_ports().first().copied().unwrap_or(5432),
        }
    }

    /// `app on db.example.com:5432`.
    pub fn describe(&self) -> String {
        format!("`{}` on {}:{}", self.database, self.host, self.port)
    }
}

impl Sidecar {
    /// The description of a new backup named `file`.
    pub fn new(
        origin: &Origin,
        server_version: &str,
        options: &BackupOptions,
        file: String,
        bytes: u64,
    ) -> Sidecar {
        Sidecar {
            dbkit_backup: LAYOUT,
            file,
            database: origin.database.clone(),
            server: Server {
                host: origin.host.clone(),
                port: origin.port,
                version: server_version.to_string(),
            },
            content: options.content,
            tables: options.tables.clone(),
            format: options.format,
            compress: options.compress,
            created: options.created,
            bytes,
            dbkit_version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// Whether the backup is of that database on that server.
    pub fn is_of(&self, origin: &Origin) -> bool {
        self.database == origin.database
            && self.server.host == origin.host
            && self.server.port == origin.port
    }

    /// Whether two backups of one database hold the same thing in the same way (content,
    /// format, table selection in any order): those are pruned together.
    pub fn same_kind(&self, other: &Sidecar) -> bool {
        let sorted = |tables: &[String]| {
            let mut tables = tables.to_vec();
            tables.sort();
            tables.dedup();
            tables
        };
        self.content == other.content
            && self.format == other.format
            && sorted(&self.tables) == sorted(&other.tables)
    }

    /// The sidecar's name for a backup named `file`.
    pub fn name_for(file: &str) -> String {
        format!("{file}.json")
    }

    /// Reads a sidecar; `Err` says in words why it cannot be used.
    pub fn read(path: &Path) -> std::result::Result<Sidecar, String> {
        let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
        if meta.len() > 64 * 1024 {
            return Err("too large to be a sidecar".into());
        }
        let text = std::fs::read(path).map_err(|e| e.to_string())?;
        let sidecar: Sidecar = serde_json::from_slice(&text).map_err(|e| e.to_string())?;
        if sidecar.dbkit_backup != LAYOUT {
            return Err(format!(
                "layout {} (this dbkit reads {LAYOUT})",
                sidecar.dbkit_backup
            ));
        }
        Ok(sidecar)
    }

    /// The sidecar as its file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut text = serde_json::to_vec_pretty(self).expect("a sidecar serializes");
        text.push(b'\n');
        text
    }
}

/// A database name as a file-name part: ASCII letters, digits, `-` and `_` kept, any
/// other character `-`, at most 63 characters (`db` for a name with nothing left).
pub fn file_safe(name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(63)
        .collect();
    if safe.chars().all(|c| c == '-') {
        "db".to_string()
    } else {
        safe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_become_file_safe() {
        assert_eq!(file_safe("app"), "app");
        assert_eq!(file_safe("my app/../x"), "my-app----x");
        assert_eq!(file_safe("Ünïcode"), "-n-code");
        assert_eq!(file_safe("..."), "db");
        assert_eq!(file_safe(&"x".repeat(100)).len(), 63);
    }

    #[test]
    fn origins_come_from_the_connection_without_the_password() {
        let settings = ConnectionSettings::parse(
            "postgres://app:s3cret@db.example.com:6543/shop?sslmode=require",
            None,
        )
        .expect("parses");
        let origin = Origin::of(&settings);
        assert_eq!(
            origin,
            Origin {
                database: "shop".into(),
                host: "db.example.com".into(),
                port: 6543
            }
        );
        let socket =
            ConnectionSettings::parse("host=/run/postgresql dbname=app", None).expect("parses");
        assert_eq!(Origin::of(&socket).host, "/run/postgresql");
        assert_eq!(Origin::of(&socket).port, 5432);
    }
}
