//! Running the restore clients: `psql` for SQL text (gzip decompressed on the way),
//! `pg_restore` for archives, each in one transaction that stops at the first error.
//!
//! The backup reaches the client on its standard input through a reader that counts
//! the bytes for the meter; a directory archive, which pg_restore must read itself, is
//! measured by what the process has read (`/proc/PID/io`, where there is one). psql
//! commits whatever it read when its input ends, so it gets a last line only when the
//! whole backup was read, and a closing check file rolls the transaction back without
//! it: a read error half-way never commits half a backup. Children are waited for
//! through `pg::interrupt`, which passes them an interrupt.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::meter::Meter;
use crate::ops::backup::Kind;
use crate::pg::dump::{client_command, client_for_server, ServerVersion};
use crate::project::settings::ConnectionSettings;

use super::Context;

/// The line psql gets after the whole backup, and what it is checked with.
const READ_TO_THE_END: &str = "\n\\set dbkit_backup_read 1\n";
const CHECK: &str = "\\if :{?dbkit_backup_read}\n\\else\nDO $$ BEGIN RAISE EXCEPTION 'the backup was not read to its end; nothing was restored'; END $$;\n\\endif\n";

/// Loads the whole backup at `path` into `target`.
pub(super) fn run(
    context: &Context<'_>,
    server: &ServerVersion,
    target: &ConnectionSettings,
    path: &Path,
    kind: Kind,
) -> Result<()> {
    // psql commits whatever it has read when its input ends, so a plain backup cut short
    // (or a gzip that does not decompress to its end) is refused before psql starts.
    if matches!(kind, Kind::Plain | Kind::PlainGzip)
        && !crate::ops::backup::plain_is_complete(path, kind == Kind::PlainGzip)?
    {
        return Err(Error::Refused(format!(
            "`{}` is not a complete pg_dump backup: it does not end with pg_dump's completion line (cut short?); nothing was restored",
            path.display()
        )));
    }
    let feed = Feed::of(path, kind);
    let (stage, _check) = match kind {
        Kind::Plain | Kind::PlainGzip => {
            let (command, check) = psql(context, server, target, None)?;
            let stage = Stage {
                command,
                name: format!("psql {}", path.display()),
                stdin_shown_as: Some(path.display().to_string()),
            };
            (stage, Some(check))
        }
        Kind::Custom | Kind::Directory => {
            let (pg_restore, _) = client_for_server(context.finder, "pg_restore", server)?;
            let mut command = client_command(&pg_restore, target);
            command
                .args(["--exit-on-error", "--single-transaction"])
                .arg(dbname_arg(target));
            if kind == Kind::Directory {
                command.arg(path);
            }
            let stage = Stage {
                command,
                name: format!("pg_restore {}", path.display()),
                stdin_shown_as: None,
            };
            (stage, None)
        }
    };
    measured(context.meter, path, kind, || {
        execute(stage, &feed, None, context.meter)
    })
}

/// `--dbname=dbname='NAME'`: the database name as a conninfo fragment, so no name can be
/// read as one; host, user and password come from the environment.
pub(super) fn dbname_arg(target: &ConnectionSettings) -> String {
    format!(
        "--dbname=dbname='{}'",
        target.dbname().replace('\\', "\\\\").replace('\'', "\\'")
    )
}

/// psql aimed at `target`, in one transaction that stops at the first error: runs
/// `prelude`, then its standard input, then the check that the input was whole (the
/// returned file, to keep until psql ends).
pub(super) fn psql(
    context: &Context<'_>,
    server: &ServerVersion,
    target: &ConnectionSettings,
    prelude: Option<&str>,
) -> Result<(Command, tempfile::TempPath)> {
    let (psql, _) = client_for_server(context.finder, "psql", server)?;
    let dir = std::env::temp_dir();
    let io = |source| Error::Io {
        path: dir.clone(),
        source,
    };
    let mut check = tempfile::Builder::new()
        .prefix("dbkit-restore-check-")
        .suffix(".sql")
        .tempfile()
        .map_err(io)?;
    check.write_all(CHECK.as_bytes()).map_err(io)?;
    let check = check.into_temp_path();
    let mut command = client_command(&psql, target);
    command.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"]);
    if let Some(sql) = prelude {
        command.arg("-c").arg(sql);
    }
    command.args(["-f", "-", "-f"]).arg(&check);
    Ok((command, check))
}

/// Shows progress while `work` runs: the backup's size, and the bytes read of it.
pub(super) fn measured(
    meter: &dyn Meter,
    path: &Path,
    kind: Kind,
    work: impl FnOnce() -> Result<()>,
) -> Result<()> {
    let name = path
        .file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy();
    meter.start(&format!("restoring {name}"), size(path, kind));
    let outcome = work();
    meter.finish();
    outcome
}

/// The bytes of a backup: the file, or a directory archive's files.
fn size(path: &Path, kind: Kind) -> Option<u64> {
    if kind != Kind::Directory {
        return std::fs::metadata(path).ok().map(|m| m.len());
    }
    let entries = std::fs::read_dir(path).ok()?;
    Some(
        entries
            .filter_map(|e| e.ok()?.metadata().ok())
            .filter(std::fs::Metadata::is_file)
            .map(|m| m.len())
            .sum(),
    )
}

/// What goes to the first client's standard input.
pub(super) enum Feed<'a> {
    /// Nothing: the client reads the backup itself (a directory archive).
    Nothing,
    File(&'a Path),
    /// Decompressed on the way; the bytes counted are the compressed ones.
    Gzip(&'a Path),
}

impl<'a> Feed<'a> {
    pub(super) fn of(path: &'a Path, kind: Kind) -> Feed<'a> {
        match kind {
            Kind::Plain | Kind::Custom => Feed::File(path),
            Kind::PlainGzip => Feed::Gzip(path),
            Kind::Directory => Feed::Nothing,
        }
    }

    fn path(&self) -> Option<&'a Path> {
        match self {
            Feed::Nothing => None,
            Feed::File(path) | Feed::Gzip(path) => Some(path),
        }
    }
}

/// A client program to run.
pub(super) struct Stage {
    pub command: Command,
    /// For errors: `psql backups/x.sql`.
    pub name: String,
    /// What psql's `<stdin>` is, in its messages (the backup it is fed).
    pub stdin_shown_as: Option<String>,
}

/// Runs `first` fed with `feed`, and, when given, `then` (psql) on `first`'s output.
/// The psql stage gets [`READ_TO_THE_END`] only when everything before it succeeded.
pub(super) fn execute(
    mut first: Stage,
    feed: &Feed<'_>,
    then: Option<Stage>,
    meter: &dyn Meter,
) -> Result<()> {
    let fed = !matches!(feed, Feed::Nothing);
    let (mut child, mut next) = spawn_chain(&mut first, then, fed)?;
    // A psql alone is fed the backup itself, and told by the feeder that it is whole.
    let alone_psql = next.is_none() && first.stdin_shown_as.is_some();
    let pid = child.id();
    let done = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let feeder = child
            .stdin
            .take()
            .map(|stdin| scope.spawn(move || copy_into(feed, stdin, meter, alone_psql)));
        let relay = next.as_mut().map(|(_, downstream)| {
            let from = child.stdout.take().expect("piped");
            let to = downstream.stdin.take().expect("piped");
            scope.spawn(move || relay(from, to))
        });
        if !fed {
            // Ends with the scope, once `done` is set.
            scope.spawn(|| watch_reads(pid, meter, &done));
        }
        let first_waiter = scope.spawn(move || crate::pg::interrupt::wait(child));
        let next_waiter = next.map(|(stage, downstream)| {
            let waiter = scope.spawn(move || crate::pg::interrupt::wait(downstream));
            (stage, waiter)
        });
        let fed = feeder.map(|t| t.join().unwrap_or_else(|_| Err(panicked())));
        let relayed = relay.map(|t| t.join().unwrap_or_else(|_| Err(panicked())));
        let first_out = joined(first_waiter, &first.name);
        done.store(true, Ordering::Relaxed);
        let relay_error = match relayed {
            // Everything before psql worked: tell it so; closing its input ends it.
            Some(Ok(mut stdin)) if first_out.as_ref().is_ok_and(|o| o.status.success()) => {
                let _ = stdin.write_all(READ_TO_THE_END.as_bytes());
                None
            }
            // Something before psql failed: closing its input without the last line
            // makes psql roll back and end (holding it open, psql would wait forever).
            Some(Ok(stdin)) => {
                drop(stdin);
                None
            }
            Some(Err(e)) => Some(e),
            None => None,
        };
        let next_out = next_waiter.map(|(stage, waiter)| (joined(waiter, &stage.name), stage));
        if let Some(Err(e)) = fed {
            // A client that stopped reading (it failed) is the news, not the broken pipe.
            if e.kind() != std::io::ErrorKind::BrokenPipe {
                let path = feed.path().unwrap_or(Path::new("-")).to_path_buf();
                return Err(Error::Io { path, source: e });
            }
        }
        let first_out = first_out?;
        let next_out = match next_out {
            Some((out, stage)) => Some((out?, stage)),
            None => None,
        };
        // psql stopped reading (it failed): its error is the cause of the broken pipe.
        let psql_first = relay_error.is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
        match next_out {
            Some((out, stage)) if psql_first && !out.status.success() => failed(&stage, &out),
            _ if !first_out.status.success() => failed(&first, &first_out),
            Some((out, stage)) if !out.status.success() => failed(&stage, &out),
            _ => Ok(()),
        }
    })
}

/// Starts `first`, and `then` to read its output; nothing is left running on an error.
fn spawn_chain(
    first: &mut Stage,
    then: Option<Stage>,
    fed: bool,
) -> Result<(Child, Option<(Stage, Child)>)> {
    first
        .command
        .stdin(if fed { Stdio::piped() } else { Stdio::null() })
        .stdout(if then.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stderr(Stdio::piped());
    let mut child = spawn(first)?;
    let Some(mut stage) = then else {
        return Ok((child, None));
    };
    stage
        .command
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    match spawn(&mut stage) {
        Ok(next) => Ok((child, Some((stage, next)))),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

fn spawn(stage: &mut Stage) -> Result<Child> {
    stage.command.spawn().map_err(|source| Error::Spawn {
        command: stage.name.split(' ').next().unwrap_or("").to_string(),
        source,
    })
}

fn panicked() -> std::io::Error {
    std::io::Error::other("panicked")
}

fn joined(
    waiter: std::thread::ScopedJoinHandle<'_, std::io::Result<Output>>,
    name: &str,
) -> Result<Output> {
    waiter
        .join()
        .unwrap_or_else(|_| Err(panicked()))
        .map_err(|source| Error::Spawn {
            command: name.split(' ').next().unwrap_or("").to_string(),
            source,
        })
}

/// A failed client: its exit status and stderr (psql's `<stdin>` named as the backup).
fn failed(stage: &Stage, out: &Output) -> Result<()> {
    let mut stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if let Some(shown) = &stage.stdin_shown_as {
        stderr = stderr.replace("psql:<stdin>:", &format!("psql:{shown}:"));
    }
    Err(Error::Command {
        command: stage.name.clone(),
        status: out.status.to_string(),
        stderr,
    })
}

/// Copies the backup into a client's input, counting the bytes read from the file; when
/// `psql` and the whole of it was copied, adds [`READ_TO_THE_END`].
fn copy_into(
    feed: &Feed<'_>,
    mut stdin: ChildStdin,
    meter: &dyn Meter,
    psql: bool,
) -> std::io::Result<()> {
    let Some(path) = feed.path() else {
        return Ok(());
    };
    let file = Counted {
        inner: std::fs::File::open(path)?,
        meter,
    };
    let mut reader: Box<dyn Read + '_> = match feed {
        Feed::Gzip(_) => Box::new(flate2::read::MultiGzDecoder::new(
            std::io::BufReader::with_capacity(1 << 17, file),
        )),
        _ => Box::new(file),
    };
    let mut buffer = vec![0u8; 1 << 17];
    loop {
        let n = match reader.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stdin.write_all(&buffer[..n])?;
    }
    if psql {
        stdin.write_all(READ_TO_THE_END.as_bytes())?;
    }
    stdin.flush()
}

/// Passes one client's output to the next; returns the next one's input, still open,
/// so that whether it gets [`READ_TO_THE_END`] is decided once the first has ended.
fn relay(mut from: ChildStdout, mut to: ChildStdin) -> std::io::Result<ChildStdin> {
    std::io::copy(&mut from, &mut to)?;
    Ok(to)
}

/// A reader that tells the meter how many bytes it read.
struct Counted<'a, R> {
    inner: R,
    meter: &'a dyn Meter,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.meter.advance(n as u64);
        Ok(n)
    }
}

/// Tells the meter what process `pid` has read so far (its `rchar`), until `done`; where
/// there is no `/proc`, the meter shows the elapsed time only.
fn watch_reads(pid: u32, meter: &dyn Meter, done: &AtomicBool) {
    let path = format!("/proc/{pid}/io");
    let mut seen = 0u64;
    while !done.load(Ordering::Relaxed) {
        let read = std::fs::read_to_string(&path).ok().and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("rchar:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        });
        if let Some(read) = read.filter(|r| *r > seen) {
            meter.advance(read - seen);
            seen = read;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}
