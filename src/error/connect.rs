//! The next step after a failed connection, picked by its cause: a refused password, a
//! database that does not exist, a server that wants TLS, a host that does not answer or
//! does not resolve. The cause is read from the SQLSTATE the server sent, else from the
//! I/O error underneath; hints are built from the masked target, so they never hold a
//! password.

use postgres::error::SqlState;

/// How to write a password that holds URL delimiters.
pub(super) const ENCODE_HINT: &str = "percent-encode them in the URL: `@` is `%40`, `#` is `%23`, `?` is `%3F`, `/` is `%2F` (and `%` itself is `%25`), e.g. `postgres://app:p%40ss@db.example.com:5432/app`";

/// Why a connection failed, as far as the hint cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cause {
    WrongPassword,
    NoPassword,
    NoDatabase,
    NeedsTls,
    ServerWithoutTls,
    Certificate,
    Rejected,
    Refused,
    NoSocket,
    UnknownHost,
    TimedOut,
    Other,
}

/// The hint for `Error::Connect`: `database` is the masked target.
pub(super) fn hint(database: &str, source: &postgres::Error) -> String {
    let missing = source
        .as_db_error()
        .filter(|db| *db.code() == SqlState::INVALID_CATALOG_NAME)
        .and_then(|db| quoted_name(db.message()));
    match cause(source) {
        Cause::NoDatabase => create_hint(database, missing.as_deref()),
        other => text(other).to_string(),
    }
}

fn text(cause: Cause) -> &'static str {
    match cause {
        Cause::WrongPassword => "the server refused the password for this user (or the user does not exist): check both in the URL or `.env`; a password that holds `@`, `#`, `?`, `/` or `%` must be percent-encoded (`@` is `%40`)",
        Cause::NoPassword => "the server asks for a password: put it in the URL (`postgres://USER:PASSWORD@HOST:5432/DBNAME`) or add `password=...` to the conninfo string",
        Cause::NeedsTls => "the server accepts only encrypted connections from here: add `sslmode=require` to the URL (`...?sslmode=require`), or `sslmode=require` to the conninfo string",
        Cause::ServerWithoutTls => "the server does not offer TLS: connect with `sslmode=prefer` (or `disable`), or turn `ssl` on in the server",
        Cause::Certificate => "the server's certificate could not be verified: give its CA with `sslrootcert=PATH`, or use `sslmode=require` to encrypt without checking the certificate",
        Cause::Rejected => "the server's `pg_hba.conf` has no rule that lets this user reach this database from here: check the user and database names, or ask the server's administrator",
        Cause::Refused => "nothing accepts connections at that host and port: check both, and that the server is running; `--wait SECS` waits for a server that is still starting",
        Cause::NoSocket => "no server socket in that folder: check that the server runs and that this is its socket folder (often `/var/run/postgresql` or `/tmp`); `--wait SECS` waits for a server that is still starting",
        Cause::UnknownHost => "the host name does not resolve: check its spelling, and the network (VPN, DNS) when it is a private name",
        Cause::TimedOut => "no answer before the connect timeout: check the host and port and any firewall or VPN in between, or raise `--connect-timeout SECS`",
        Cause::NoDatabase | Cause::Other => "check the URL and that the server is up; `--wait SECS` waits for a server that is still starting",
    }
}

fn cause(source: &postgres::Error) -> Cause {
    if let Some(db) = source.as_db_error() {
        let code = db.code();
        return if *code == SqlState::INVALID_PASSWORD {
            Cause::WrongPassword
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            Cause::NoDatabase
        } else if *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION {
            if db.message().contains("no encryption") {
                Cause::NeedsTls
            } else {
                Cause::Rejected
            }
        } else {
            Cause::Other
        };
    }
    let mut text = String::new();
    let mut io_kind = None;
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(source);
    while let Some(e) = current {
        text.push_str(&e.to_string().to_lowercase());
        text.push('\n');
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        current = e.source();
    }
    from_text(&text, io_kind)
}

/// The cause of a failure the server did not explain, from the error chain's text and
/// the kind of its I/O error.
fn from_text(text: &str, io_kind: Option<std::io::ErrorKind>) -> Cause {
    use std::io::ErrorKind;
    let has = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if has(&["password missing"]) {
        Cause::NoPassword
    } else if has(&["server does not support tls"]) {
        Cause::ServerWithoutTls
    } else if has(&["certificate"]) {
        Cause::Certificate
    } else if has(&[
        "failed to lookup address",
        "name or service not known",
        "nodename nor servname",
        "no address associated",
        "temporary failure in name resolution",
    ]) {
        Cause::UnknownHost
    } else {
        match io_kind {
            Some(ErrorKind::ConnectionRefused) => Cause::Refused,
            Some(ErrorKind::NotFound) => Cause::NoSocket,
            Some(ErrorKind::TimedOut) => Cause::TimedOut,
            _ if has(&["timed out"]) => Cause::TimedOut,
            _ => Cause::Other,
        }
    }
}

/// The name between the first pair of double quotes: `database "app" does not exist`.
fn quoted_name(message: &str) -> Option<String> {
    let start = message.find('"')? + 1;
    let end = start + message[start..].find('"')?;
    Some(message[start..end].to_string())
}

/// How to create a missing database on the server `database` (masked) points at.
fn create_hint(database: &str, name: Option<&str>) -> String {
    let target = Target::of(database);
    let name = name
        .map(str::to_string)
        .or(target.dbname.clone())
        .unwrap_or_else(|| "DBNAME".into());
    let mut flags = String::new();
    for (flag, value) in [
        ("-h", &target.host),
        ("-p", &target.port),
        ("-U", &target.user),
    ] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            flags.push_str(&format!(" {flag} {}", shell_quote(value)));
        }
    }
    let sql = format!("CREATE DATABASE {}", crate::sql::quote_ident(&name));
    format!(
        "the database does not exist yet: create it with `create-database` (same connection flags) or `apply-schema --create`, or with `createdb{flags} {}` or `psql{flags} -d postgres -c {}` (as a user allowed to create databases); or fix the database name",
        shell_quote(&name),
        shell_quote(&sql)
    )
}

/// Host, port, user and database read back from a masked target
/// (`postgres://user:****@host:5432/db?...` or `host=/run port=5432 user=u dbname=db`).
#[derive(Debug, Default, PartialEq, Eq)]
struct Target {
    host: Option<String>,
    port: Option<String>,
    user: Option<String>,
    dbname: Option<String>,
}

impl Target {
    fn of(masked: &str) -> Target {
        if let Some(rest) = masked.strip_prefix("postgres://") {
            let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
            let (user, hostport) = match authority.rsplit_once('@') {
                Some((user, hostport)) => (Some(user.split(':').next().unwrap_or("")), hostport),
                None => (None, authority),
            };
            let (host, port) = match hostport.rsplit_once(':') {
                Some((host, port)) if !host.ends_with(':') => (host, Some(port)),
                _ => (hostport, None),
            };
            let dbname = path.split('?').next().filter(|d| !d.is_empty());
            return Target {
                host: Some(
                    host.trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                ),
                port: port.map(str::to_string),
                user: user.map(str::to_string),
                dbname: dbname.map(str::to_string),
            };
        }
        // `describe` writes sockets as `host=PATH port=N user=U dbname=D`, unquoted.
        let socket = regex::Regex::new(r"^host=(.*) port=(\d+) user=(.*) dbname=(.*)$")
            .expect("valid regex");
        match socket.captures(masked) {
            Some(c) => Target {
                host: Some(c[1].to_string()),
                port: Some(c[2].to_string()),
                user: Some(c[3].to_string()),
                dbname: Some(c[4].to_string()),
            },
            None => Target {
                dbname: masked.strip_prefix("dbname=").map(str::to_string),
                ..Target::default()
            },
        }
    }
}

/// A word as a POSIX shell reads it back unchanged.
fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:,=+@%".contains(c));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::ErrorKind;

    #[test]
    fn reads_causes_the_server_did_not_explain() {
        let cases = [
            ("error connecting to server: connection refused (os error 111)", Some(ErrorKind::ConnectionRefused), Cause::Refused),
            ("error connecting to server: failed to lookup address information: name or service not known", None, Cause::UnknownHost),
            ("error connecting to server: connection timed out", Some(ErrorKind::TimedOut), Cause::TimedOut),
            ("error connecting to server: no such file or directory (os error 2)", Some(ErrorKind::NotFound), Cause::NoSocket),
            ("error performing tls handshake: server does not support tls", None, Cause::ServerWithoutTls),
            ("invalid configuration: password missing", None, Cause::NoPassword),
            ("something else", None, Cause::Other),
        ];
        for (text, kind, cause) in cases {
            assert_eq!(from_text(text, kind), cause, "{text}");
        }
        assert!(text(Cause::TimedOut).contains("--connect-timeout"));
    }

    #[test]
    fn suggests_creating_a_missing_database_on_the_same_server() {
        let url = create_hint(
            "postgres://app:****@db.example.com:6543/shop?sslmode=require",
            None,
        );
        assert!(
            url.contains("`create-database` (same connection flags) or `apply-schema --create`"),
            "{url}"
        );
        assert!(
            url.contains("`createdb -h db.example.com -p 6543 -U app shop`"),
            "{url}"
        );
        assert!(
            url.contains(
                "`psql -h db.example.com -p 6543 -U app -d postgres -c 'CREATE DATABASE \"shop\"'`"
            ),
            "{url}"
        );
        let socket = create_hint(
            "host=/tmp/my dir port=5432 user=postgres dbname=x",
            Some("New App"),
        );
        assert!(
            socket.contains("createdb -h '/tmp/my dir' -p 5432"),
            "{socket}"
        );
        assert!(socket.contains("'New App'"), "{socket}");
        assert_eq!(
            Target::of("postgres://u@[::1]:5433/d"),
            Target {
                host: Some("::1".into()),
                port: Some("5433".into()),
                user: Some("u".into()),
                dbname: Some("d".into()),
            }
        );
    }
}
