//! Talking to PostgreSQL: connecting (TLS per libpq's `sslmode`, a connect timeout, an
//! optional wait for a server that is still starting) and turning a server error into a
//! [`StatementFailure`] that points at a file, line and column. The history table, the
//! lock and the applying itself live in `history`, `lock` and `apply`.

use std::path::Path;
use std::time::{Duration, Instant};

use postgres::error::{DbError, SqlState};
use postgres::{Client, NoTls};

use crate::error::{Error, Result, StatementFailure};
use crate::project::settings::{ConnectionSettings, SslMode};

/// How to connect.
#[derive(Debug, Clone, Copy)]
pub struct ConnectOptions {
    /// Give up on one attempt after this long.
    pub timeout: Duration,
    /// Keep retrying a refused or starting server for this long (zero: one attempt).
    pub wait: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            timeout: Duration::from_secs(10),
            wait: Duration::ZERO,
        }
    }
}

/// Opens a connection, retrying while the server is refusing or starting up, for at most
/// `options.wait`. An interrupt cancels what it is running (see `pg::interrupt`).
pub fn connect(settings: &ConnectionSettings, options: ConnectOptions) -> Result<Client> {
    open(settings, options, true)
}

/// Opens a connection as [`connect`] does, but one an interrupt's cancel requests never
/// reach: for steps that must not stop half-way once started (dropping a database and
/// putting its replacement in its place).
pub fn connect_uncancellable(
    settings: &ConnectionSettings,
    options: ConnectOptions,
) -> Result<Client> {
    open(settings, options, false)
}

fn open(settings: &ConnectionSettings, options: ConnectOptions, watch: bool) -> Result<Client> {
    let mut config = settings.config.clone();
    config.connect_timeout(options.timeout);
    let all_sockets = config
        .get_hosts()
        .iter()
        .all(|h| matches!(h, postgres::config::Host::Unix(_)));
    let tls = if all_sockets || settings.tls.mode == SslMode::Disable {
        None
    } else {
        Some(tls_connector(settings).map_err(|reason| Error::Tls {
            database: settings.masked().to_string(),
            reason,
        })?)
    };
    let deadline = Instant::now() + options.wait;
    loop {
        let attempt = match &tls {
            Some(tls) => config.connect(tls.clone()),
            None => config.connect(NoTls),
        };
        match attempt {
            Ok(client) => {
                if watch {
                    crate::pg::interrupt::watch(&client, tls.clone());
                }
                return Ok(client);
            }
            Err(source) if Instant::now() < deadline && is_transient(&source) => {
                crate::pg::interrupt::check(|| {
                    format!(
                        "stopped waiting for {} to accept connections",
                        settings.masked()
                    )
                })?;
                std::thread::sleep(Duration::from_millis(250));
            }
            Err(source) => {
                return Err(Error::Connect {
                    database: settings.masked().to_string(),
                    source,
                })
            }
        }
    }
}

/// The server is not up yet: connection refused, socket missing, or "starting up".
fn is_transient(error: &postgres::Error) -> bool {
    if let Some(db) = error.as_db_error() {
        return *db.code() == SqlState::CANNOT_CONNECT_NOW;
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::NotFound
            );
        }
        source = e.source();
    }
    false
}

/// A native-tls connector that verifies what the `sslmode` asks for, as libpq does:
/// `require` encrypts without checking the certificate (unless a root certificate is
/// given), `verify-ca` checks the chain, `verify-full` the chain and the host name.
fn tls_connector(
    settings: &ConnectionSettings,
) -> std::result::Result<postgres_native_tls::MakeTlsConnector, String> {
    let tls = &settings.tls;
    let mut builder = native_tls::TlsConnector::builder();
    let verify_chain =
        matches!(tls.mode, SslMode::VerifyCa | SslMode::VerifyFull) || tls.root_cert.is_some();
    builder.danger_accept_invalid_certs(!verify_chain);
    builder.danger_accept_invalid_hostnames(tls.mode != SslMode::VerifyFull);
    if let Some(path) = &tls.root_cert {
        let pem = read(path)?;
        for cert in pem_blocks(&pem) {
            let cert = native_tls::Certificate::from_pem(cert.as_bytes())
                .map_err(|e| format!("`{}`: {e}", path.display()))?;
            builder.add_root_certificate(cert);
        }
    }
    if let Some((cert, key)) = &tls.client_cert {
        let identity =
            native_tls::Identity::from_pkcs8(read(cert)?.as_bytes(), read(key)?.as_bytes())
                .map_err(|e| format!("`{}`/`{}`: {e}", cert.display(), key.display()))?;
        builder.identity(identity);
    }
    let connector = builder.build().map_err(|e| e.to_string())?;
    Ok(postgres_native_tls::MakeTlsConnector::new(connector))
}

fn read(path: &Path) -> std::result::Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))
}

fn pem_blocks(pem: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in pem.lines() {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            current = Some(String::new());
        }
        if let Some(block) = current.as_mut() {
            block.push_str(line);
            block.push('\n');
        }
        if line.starts_with("-----END CERTIFICATE") {
            blocks.extend(current.take());
        }
    }
    blocks
}

/// Runs a query of dbkit's own, naming what it was for when it fails.
pub fn query_error(what: &str, database: &str) -> impl FnOnce(postgres::Error) -> Error {
    let (what, database) = (what.to_string(), database.to_string());
    move |source| Error::Query {
        what,
        database,
        source,
    }
}

/// Where a server error points in a file. The query sent was `prefix_chars` characters
/// of dbkit's own text followed by `text[base..]`; without a usable position from the
/// server, the error is placed at byte `base` (the start of what was sent).
pub fn failure(
    error: &DbError,
    path: &Path,
    text: &str,
    base: usize,
    prefix_chars: usize,
) -> StatementFailure {
    let byte = match error.position() {
        Some(postgres::error::ErrorPosition::Original(pos)) => (*pos as usize)
            .checked_sub(1)
            .and_then(|p| p.checked_sub(prefix_chars))
            .and_then(|index| text[base..].char_indices().nth(index))
            .map_or(base, |(offset, _)| base + offset),
        _ => base,
    };
    let (line, column) = crate::sql::line_col(text, byte);
    StatementFailure {
        file: path.to_path_buf(),
        line,
        column,
        code: error.code().code().to_string(),
        message: error.message().to_string(),
        detail: error.detail().map(str::to_string),
        hint: error.hint().map(str::to_string),
        context: error.where_().map(str::to_string),
    }
}
