//! Connection settings: parsing a `postgres://` URL or a `key=value` conninfo string,
//! the TLS options libpq users expect (`sslmode` up to `verify-full`, `sslrootcert`,
//! `sslcert`/`sslkey`), and the masked form shown to people. It does not read the
//! environment or `.env` files (the binaries do) and does not connect (`db` does).

use std::path::PathBuf;

use postgres::config::Host;

use crate::error::{Error, Result};

/// libpq's `sslmode`, all of it: tokio-postgres knows only the first three.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    Disable,
    Allow,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// TLS settings taken out of the connection string.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    pub mode: SslMode,
    /// `sslrootcert`: a PEM file of trusted roots (added to the system's).
    pub root_cert: Option<PathBuf>,
    /// `sslcert`/`sslkey`: a client certificate and its PKCS#8 PEM key.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

/// A parsed connection target.
#[derive(Debug, Clone)]
pub struct ConnectionSettings {
    /// What tokio-postgres connects with (TLS keys removed).
    pub config: postgres::Config,
    pub tls: TlsSettings,
    masked: String,
}

impl ConnectionSettings {
    /// Parses a URL (`postgres://user:pass@host:5432/db?sslmode=require`) or a conninfo
    /// string (`host=/run/postgresql dbname=app`). `default_user` fills a missing user,
    /// as libpq fills it with the operating-system user.
    pub fn parse(input: &str, default_user: Option<&str>) -> Result<Self> {
        let is_url = input.starts_with("postgres://") || input.starts_with("postgresql://");
        if is_url && !clear_userinfo(input) {
            return Err(Error::UrlNeedsEncoding {
                shown: mask_userinfo(input),
            });
        }
        let (rest, tls) = if is_url {
            take_url_tls(input)
        } else {
            take_conninfo_tls(input)
        }
        .map_err(|reason| Error::BadConnection {
            shown: mask_input(input),
            reason,
        })?;
        let mut config: postgres::Config =
            rest.parse()
                .map_err(|e: postgres::Error| Error::BadConnection {
                    shown: mask_input(input),
                    reason: e.to_string(),
                })?;
        if config.get_user().is_none() {
            if let Some(user) = default_user {
                config.user(user);
            }
        }
        if config.get_hosts().is_empty() && config.get_hostaddrs().is_empty() {
            // libpq's default: the usual socket folder, which Debian and most packages use.
            config.host_path("/var/run/postgresql");
        }
        if config.get_application_name().is_none() {
            config.application_name("dbkit");
        }
        config.ssl_mode(match tls.mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        });
        let masked = describe(&config, tls.mode);
        Ok(ConnectionSettings {
            config,
            tls,
            masked,
        })
    }

    /// The target as shown to people: no password, ever.
    ///
    /// ```
    /// use dbkit::project::settings::ConnectionSettings;
    /// let s = ConnectionSettings::parse("postgres://app:s3cret@db.example.com/app?sslmode=require", None).unwrap();
    /// assert_eq!(s.masked(), "postgres://app:****@db.example.com:5432/app?sslmode=require");
    /// ```
    pub fn masked(&self) -> &str {
        &self.masked
    }

    /// The database name (defaults to the user name, as in libpq).
    pub fn dbname(&self) -> &str {
        self.config
            .get_dbname()
            .or(self.config.get_user())
            .unwrap_or("postgres")
    }

    /// True when every host is a Unix socket or a loopback address. A `hostaddr` is
    /// where a TCP connection really goes, whatever `host` says, so it counts first.
    pub fn is_local(&self) -> bool {
        let addrs = self.config.get_hostaddrs();
        if !addrs.is_empty() {
            return addrs.iter().all(|ip| ip.is_loopback());
        }
        self.config.get_hosts().iter().all(|host| match host {
            Host::Unix(_) => true,
            Host::Tcp(name) => {
                let name = name.trim_start_matches('[').trim_end_matches(']');
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
        })
    }

    /// The target as libpq environment variables (`PGHOST`, `PGPASSWORD`, `PGSSLMODE`,
    /// ...), for child programs such as `pg_dump` and `psql`: the password reaches them
    /// through their environment, never their argument list, where `ps` would show it.
    pub fn libpq_env(&self) -> Vec<(&'static str, String)> {
        let config = &self.config;
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|host| match host {
                Host::Unix(path) => path.display().to_string(),
                Host::Tcp(name) => name.clone(),
            })
            .collect();
        let ports: Vec<String> = config.get_ports().iter().map(u16::to_string).collect();
        let mut env = vec![("PGDATABASE", self.dbname().to_string())];
        if !hosts.is_empty() {
            env.push(("PGHOST", hosts.join(",")));
        }
        let addrs: Vec<String> = config
            .get_hostaddrs()
            .iter()
            .map(|ip| ip.to_string())
            .collect();
        if !addrs.is_empty() {
            env.push(("PGHOSTADDR", addrs.join(",")));
        }
        if !ports.is_empty() {
            env.push(("PGPORT", ports.join(",")));
        }
        if let Some(user) = config.get_user() {
            env.push(("PGUSER", user.to_string()));
        }
        if let Some(password) = config.get_password() {
            env.push(("PGPASSWORD", String::from_utf8_lossy(password).into_owned()));
        }
        if let Some(options) = config.get_options() {
            env.push(("PGOPTIONS", options.to_string()));
        }
        if let Some(name) = config.get_application_name() {
            env.push(("PGAPPNAME", name.to_string()));
        }
        if let Some(timeout) = config.get_connect_timeout() {
            env.push(("PGCONNECT_TIMEOUT", timeout.as_secs().max(1).to_string()));
        }
        let mode = match self.tls.mode {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        };
        env.push(("PGSSLMODE", mode.to_string()));
        if let Some(root) = &self.tls.root_cert {
            env.push(("PGSSLROOTCERT", root.display().to_string()));
        }
        if let Some((cert, key)) = &self.tls.client_cert {
            env.push(("PGSSLCERT", cert.display().to_string()));
            env.push(("PGSSLKEY", key.display().to_string()));
        }
        env
    }

    /// The same target with another database name.
    pub fn with_dbname(&self, dbname: &str) -> Self {
        let mut other = self.clone();
        other.config.dbname(dbname);
        other.masked = describe(&other.config, other.tls.mode);
        other
    }
}

/// A connection string as the user wrote it (URL or conninfo), naming another database:
/// what a program prints for a database it made, password and options kept, so it can
/// be used as it is.
pub fn url_with_dbname(url: &str, dbname: &str) -> String {
    let url = url.trim();
    if let Some((scheme, rest)) = url.split_once("://") {
        let (before_query, query) = match rest.split_once('?') {
            Some((b, q)) => (b, Some(q)),
            None => (rest, None),
        };
        let authority = before_query.split('/').next().unwrap_or(before_query);
        let encoded: String = dbname
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => {
                    (b as char).to_string()
                }
                other => format!("%{other:02X}"),
            })
            .collect();
        return match query {
            Some(q) => format!("{scheme}://{authority}/{encoded}?{q}"),
            None => format!("{scheme}://{authority}/{encoded}"),
        };
    }
    let quoted = format!("'{}'", dbname.replace('\\', "\\\\").replace('\'', "\\'"));
    let kept: Vec<&str> = url
        .split_whitespace()
        .filter(|part| !part.starts_with("dbname="))
        .collect();
    let mut out = kept.join(" ");
    if !out.is_empty() {
        out.push(' ');
    }
    out.push_str(&format!("dbname={quoted}"));
    out
}

const TLS_KEYS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];

fn apply_tls_key(
    tls: &mut TlsSettings,
    cert: &mut Option<PathBuf>,
    key: &mut Option<PathBuf>,
    name: &str,
    value: &str,
) -> Result<(), String> {
    match name {
        "sslmode" => {
            tls.mode = match value {
                "disable" => SslMode::Disable,
                "allow" => SslMode::Allow,
                "prefer" => SslMode::Prefer,
                "require" => SslMode::Require,
                "verify-ca" => SslMode::VerifyCa,
                "verify-full" => SslMode::VerifyFull,
                other => return Err(format!("unknown sslmode `{other}` (use disable, prefer, require, verify-ca or verify-full)")),
            }
        }
        "sslrootcert" => tls.root_cert = Some(value.into()),
        "sslcert" => *cert = Some(value.into()),
        _ => *key = Some(value.into()),
    }
    Ok(())
}

fn finish_tls(
    mut tls: TlsSettings,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<TlsSettings, String> {
    tls.client_cert = match (cert, key) {
        (Some(c), Some(k)) => Some((c, k)),
        (None, None) => None,
        _ => return Err("`sslcert` and `sslkey` go together".into()),
    };
    Ok(tls)
}

/// Splits the TLS keys out of a URL's query string.
fn take_url_tls(url: &str) -> Result<(String, TlsSettings), String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let (mut tls, mut cert, mut key) = (TlsSettings::default(), None, None);
    let mut kept = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        if TLS_KEYS.contains(&name) {
            apply_tls_key(&mut tls, &mut cert, &mut key, name, &percent_decode(value))?;
        } else {
            kept.push(pair);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, finish_tls(tls, cert, key)?))
}

/// Splits the TLS keys out of a `key=value` string, honouring `'quoted values'`.
fn take_conninfo_tls(conninfo: &str) -> Result<(String, TlsSettings), String> {
    let (mut tls, mut cert, mut key) = (TlsSettings::default(), None, None);
    let mut kept = Vec::new();
    for (name, raw, value) in conninfo_pairs(conninfo)? {
        if TLS_KEYS.contains(&name.as_str()) {
            apply_tls_key(&mut tls, &mut cert, &mut key, &name, &value)?;
        } else {
            kept.push(format!("{name}={raw}"));
        }
    }
    Ok((kept.join(" "), finish_tls(tls, cert, key)?))
}

/// `(key, raw value as written, unquoted value)` for each pair of a conninfo string.
fn conninfo_pairs(s: &str) -> Result<Vec<(String, String, String)>, String> {
    let mut pairs = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let name: String =
            std::iter::from_fn(|| chars.next_if(|&c| c != '=' && !c.is_whitespace())).collect();
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!("missing `=` after `{name}`"));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let (mut raw, mut value) = (String::new(), String::new());
        let quoted = chars.next_if_eq(&'\'').is_some();
        if quoted {
            raw.push('\'');
        }
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let next = chars.next().ok_or("trailing backslash")?;
                    raw.extend(['\\', next]);
                    value.push(next);
                }
                '\'' if quoted => {
                    raw.push('\'');
                    break;
                }
                c if c.is_whitespace() && !quoted => break,
                c => {
                    raw.push(c);
                    value.push(c);
                }
            }
        }
        pairs.push((name, raw, value));
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Builds the masked description from the parsed settings (never from the input text,
/// which may hold a password anywhere).
fn describe(config: &postgres::Config, mode: SslMode) -> String {
    let user = config.get_user().unwrap_or("");
    let db = config.get_dbname().unwrap_or(user);
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Unix(path)) => {
            format!(
                "host={} port={port} user={user} dbname={db}",
                path.display()
            )
        }
        Some(Host::Tcp(host)) => {
            let password = if config.get_password().is_some() {
                ":****"
            } else {
                ""
            };
            let ssl = match mode {
                SslMode::Require => "?sslmode=require",
                SslMode::VerifyCa => "?sslmode=verify-ca",
                SslMode::VerifyFull => "?sslmode=verify-full",
                SslMode::Disable => "?sslmode=disable",
                SslMode::Allow | SslMode::Prefer => "",
            };
            format!("postgres://{user}{password}@{host}:{port}/{db}{ssl}")
        }
        None => match config.get_hostaddrs().first() {
            Some(ip) => format!("postgres://{user}@{ip}:{port}/{db}"),
            None => format!("dbname={db}"),
        },
    }
}

/// Whether a URL's user name and password end where every reader agrees they do: at its
/// first `@`, with no `/`, `?` or `#` before it (RFC 3986 ends the authority there, and
/// libpq stops looking for `@` at a `/`) and no second `@` in the host part after it.
/// tokio-postgres reads `postgres://app:p@ss@host` as host `ss@host`, which would put
/// part of the password into every message naming the target.
fn clear_userinfo(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let Some((userinfo, after)) = rest.split_once('@') else {
        return true;
    };
    let host = after.split(['/', '?']).next().unwrap_or("");
    !userinfo.contains(['/', '?', '#']) && !host.contains('@')
}

/// A URL with everything before its last `@` masked: `postgres://****@host:5432/db`.
fn mask_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    match rest.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://****@{host}"),
        None => format!("{scheme}://****"),
    }
}

/// Masks what looks like a password in text that failed to parse. In a URL without an
/// `@` (a password cut short, say by an unquoted `#` in a `.env` line), a `:` followed by
/// anything but a port number may be `user:password`, so that is masked too.
fn mask_input(input: &str) -> String {
    let url_password = regex::Regex::new(r"(://[^:/@]*:)[^@]*@").expect("valid regex");
    let kv_password =
        regex::Regex::new(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)").expect("valid regex");
    let cut_password = regex::Regex::new(r"^([a-z]+://[^:/?@]*:)([^@]*)$").expect("valid regex");
    let masked = url_password.replace_all(input, "${1}****@");
    let masked = match cut_password.captures(&masked) {
        Some(c)
            if !c[2]
                .split(['/', '?', ','])
                .next()
                .unwrap_or("")
                .bytes()
                .all(|b| b.is_ascii_digit()) =>
        {
            format!("{}****", &c[1])
        }
        _ => masked.into_owned(),
    };
    kv_password.replace_all(&masked, "${1}****").into_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn another_database_keeps_the_rest_of_the_connection_string() {
        assert_eq!(
            url_with_dbname(
                "postgres://app:s3cret@db:5433/app?sslmode=require",
                "dbkit_test_1"
            ),
            "postgres://app:s3cret@db:5433/dbkit_test_1?sslmode=require"
        );
        assert_eq!(
            url_with_dbname("postgresql://localhost", "a b"),
            "postgresql://localhost/a%20b"
        );
        assert_eq!(
            url_with_dbname("host=/run/postgresql port=5432 dbname=app", "t_1"),
            "host=/run/postgresql port=5432 dbname='t_1'"
        );
        assert_eq!(
            url_with_dbname("host=/tmp", "it's"),
            "host=/tmp dbname='it\\'s'"
        );
    }

    use super::*;

    #[test]
    fn a_hostaddr_decides_where_the_connection_goes() {
        let remote =
            ConnectionSettings::parse("hostaddr=192.0.2.2 port=6543 dbname=v user=u", None)
                .expect("parses");
        assert!(!remote.is_local(), "{}", remote.masked());
        assert_eq!(remote.masked(), "postgres://u@192.0.2.2:6543/v");
        let env: std::collections::HashMap<_, _> = remote.libpq_env().into_iter().collect();
        assert_eq!(env["PGHOSTADDR"], "192.0.2.2");
        assert!(!env.contains_key("PGHOST"));
        let named = ConnectionSettings::parse("postgres://x@localhost/db?hostaddr=10.1.2.3", None)
            .expect("parses");
        assert!(!named.is_local());
        let loopback = ConnectionSettings::parse("host=db.example.com hostaddr=127.0.0.1", None)
            .expect("parses");
        assert!(loopback.is_local());
    }

    #[test]
    fn child_programs_get_the_target_in_their_environment() {
        let s = ConnectionSettings::parse(
            "postgres://app:s3cret@db.example.com:6543/main?sslmode=verify-full&sslrootcert=/ca.pem&options=-c%20search_path%3Dapp",
            None,
        )
        .expect("parses");
        let env: std::collections::HashMap<_, _> = s.libpq_env().into_iter().collect();
        assert_eq!(env["PGHOST"], "db.example.com");
        assert_eq!(env["PGPORT"], "6543");
        assert_eq!(env["PGUSER"], "app");
        assert_eq!(env["PGDATABASE"], "main");
        assert_eq!(env["PGPASSWORD"], "s3cret");
        assert_eq!(env["PGSSLMODE"], "verify-full");
        assert_eq!(env["PGSSLROOTCERT"], "/ca.pem");
        assert_eq!(env["PGOPTIONS"], "-c search_path=app");
        let socket = ConnectionSettings::parse("host=/tmp/s port=5433 dbname=x", Some("me"))
            .expect("parses");
        let env: std::collections::HashMap<_, _> = socket.libpq_env().into_iter().collect();
        assert_eq!(env["PGHOST"], "/tmp/s");
        assert_eq!(env["PGUSER"], "me");
        assert!(!env.contains_key("PGPASSWORD"));
    }

    #[test]
    fn masks_passwords_and_keeps_the_rest() {
        let s = ConnectionSettings::parse(
            "postgres://app:s3cret@db.example.com:6543/main?sslmode=require",
            None,
        )
        .expect("parses");
        assert_eq!(
            s.masked(),
            "postgres://app:****@db.example.com:6543/main?sslmode=require"
        );
        assert_eq!(s.tls.mode, SslMode::Require);
        assert_eq!(s.config.get_password(), Some(&b"s3cret"[..]));
        assert!(!s.is_local());
    }

    #[test]
    fn reads_conninfo_with_sockets_quotes_and_options() {
        let s = ConnectionSettings::parse("host=/tmp/sock port=5433 dbname=app password='a b\\'c' options='-c search_path=storage,public'", Some("me")).expect("parses");
        assert_eq!(s.masked(), "host=/tmp/sock port=5433 user=me dbname=app");
        assert_eq!(s.config.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(
            s.config.get_options(),
            Some("-c search_path=storage,public")
        );
        assert!(s.is_local());
    }

    #[test]
    fn understands_every_libpq_sslmode() {
        let s = ConnectionSettings::parse("postgresql://u@localhost/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Froot.pem&application_name=x", None).expect("parses");
        assert_eq!(s.tls.mode, SslMode::VerifyFull);
        assert_eq!(s.tls.root_cert, Some(PathBuf::from("/tmp/root.pem")));
        assert_eq!(s.config.get_application_name(), Some("x"));
        assert!(s.is_local());
        let err = ConnectionSettings::parse("postgres://u:topsecret@h/db?sslmode=bogus", None)
            .expect_err("bad mode");
        let text = err.to_string();
        assert!(
            text.contains("sslmode `bogus`") && !text.contains("topsecret"),
            "{text}"
        );
    }

    #[test]
    fn refuses_a_url_whose_password_holds_a_delimiter_without_showing_it() {
        for input in [
            "postgres://app:top@secret@db.example.com:5432/app",
            "postgres://app:top/secret@db.example.com/app",
            "postgres://app:top?secret@db.example.com/app?sslmode=require",
            "postgresql://app:top#secret@db.example.com/app",
            "postgres://app@corp:topsecret@db.example.com/app",
        ] {
            let error = ConnectionSettings::parse(input, None).expect_err(input);
            assert!(matches!(error, Error::UrlNeedsEncoding { .. }), "{error:?}");
            let text = format!("{error} {}", error.hint().unwrap_or_default());
            assert!(!text.contains("top") && !text.contains("secret"), "{text}");
            assert!(
                text.contains("****@db.example.com") && text.contains("%40"),
                "{text}"
            );
        }
        let fine = ConnectionSettings::parse(
            "postgres://app:p%40ss%2F@db.example.com/app?application_name=a@b",
            None,
        )
        .expect("encoded");
        assert_eq!(fine.config.get_password(), Some(&b"p@ss/"[..]));
    }

    #[test]
    fn never_shows_a_password_from_unparsable_input() {
        for input in [
            "postgres://u:topsecret@h:notaport/db",
            "host=h password=topsecret bogus=1",
            "postgres://u:topsecret",
            "postgres://u:topsecret/db",
        ] {
            let text = ConnectionSettings::parse(input, None)
                .expect_err("fails")
                .to_string();
            assert!(!text.contains("topsecret"), "{text}");
        }
    }
}
