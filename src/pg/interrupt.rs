//! Interrupts (Ctrl-C, SIGTERM) as part of the spec: the first one cancels the work the
//! server is doing, the second ends the process at once.
//!
//! On the first signal every connection this process opened gets a cancel request (an
//! idle one ignores it; the server aborts the statement of a busy one, which rolls back
//! its transaction), every child program dbkit started (`pg_dump`, `psql`, ...) gets
//! `SIGINT`, and [`requested`] turns true so the work stops at its next step instead of
//! starting another file. Whatever was running then returns an error through its usual
//! path, which the caller turns into [`Error::Interrupted`] with what stays applied, and
//! the program exits 130 after releasing its lock. A second signal exits 130 at once: the
//! server rolls back the open transaction when the connection closes, and releases the
//! session's locks with it.
//!
//! Nothing happens until a program calls [`install`]; the library alone never touches
//! signal dispositions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use postgres::{CancelToken, NoTls};
use postgres_native_tls::MakeTlsConnector;

use crate::error::Error;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALLED: OnceLock<()> = OnceLock::new();
static CONNECTIONS: Mutex<Vec<(CancelToken, Option<MakeTlsConnector>)>> = Mutex::new(Vec::new());
static CHILDREN: Mutex<Vec<u32>> = Mutex::new(Vec::new());
static NOTICE: OnceLock<fn(&str)> = OnceLock::new();
static PROMPTING: AtomicBool = AtomicBool::new(false);
/// Set (and announced) once the first interrupt's cancel requests have all been sent.
static SENT: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

/// The exit status of an interrupted program (128 + SIGINT), as shells report it.
pub const EXIT_CODE: u8 = 130;

/// Starts listening for SIGINT and SIGTERM. `notice` is called (on the listening thread)
/// when the first one arrives, so the program can say what it is doing about it.
pub fn install(notice: fn(&str)) {
    let _ = NOTICE.set(notice);
    INSTALLED.get_or_init(|| {
        let Ok(mut signals) = signal_hook::iterator::Signals::new([
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
        ]) else {
            return;
        };
        std::thread::spawn(move || {
            for signal in signals.forever() {
                let name = if signal == signal_hook::consts::SIGTERM {
                    "SIGTERM"
                } else {
                    "Ctrl-C"
                };
                // At a question nothing has started yet: stop at once.
                if REQUESTED.swap(true, Ordering::SeqCst) || PROMPTING.load(Ordering::SeqCst) {
                    std::process::exit(i32::from(EXIT_CODE));
                }
                notice(&format!(
                    "{name} received: cancelling the running statement and stopping (press Ctrl-C again to quit at once)"
                ));
                // Off this thread: a cancel request to an unresponsive server must not
                // keep the second Ctrl-C from being heard.
                std::thread::spawn(cancel_all);
            }
        });
    });
}

/// Passes a message about waiting or stopping to the program's notice sink (given to
/// [`install`]); without one, the message is dropped.
pub fn notice(message: &str) {
    if let Some(sink) = NOTICE.get() {
        sink(message);
    }
}

/// Marks the time spent waiting for an answer at a prompt, when an interrupt ends the
/// program at once (nothing has started that could be cancelled).
pub fn prompting(on: bool) {
    PROMPTING.store(on, Ordering::SeqCst);
}

/// True once an interrupt has been received.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
}

/// Makes [`requested`] true and cancels everything, as a signal would (for tests and for
/// callers that stop on other grounds, such as a lost terminal).
pub fn request() {
    if !REQUESTED.swap(true, Ordering::SeqCst) {
        std::thread::spawn(cancel_all);
    }
}

/// Waits until the cancel requests of an interrupt have all been sent (at most `limit`;
/// at once when there was no interrupt). They go to the connections open when it came,
/// once: a connection opened after this returns is never cancelled, so cleaning up on
/// the way out (dropping a throwaway database) runs on a new connection opened then.
pub fn settled(limit: Duration) {
    if !requested() {
        return;
    }
    let deadline = Instant::now() + limit;
    let (sent, announce) = &SENT;
    let mut done = sent.lock().unwrap_or_else(|e| e.into_inner());
    while !*done {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        done = announce
            .wait_timeout(done, left)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
}

/// Remembers a new connection so an interrupt can cancel what it runs.
pub fn watch(client: &postgres::Client, tls: Option<MakeTlsConnector>) {
    let mut connections = CONNECTIONS.lock().unwrap_or_else(|e| e.into_inner());
    connections.push((client.cancel_token(), tls));
}

/// Runs a child program to completion, signalling it on an interrupt, and returns what
/// `Command::output` would. The caller sets its standard streams (pipe those to read).
pub fn output(command: &mut std::process::Command) -> std::io::Result<std::process::Output> {
    wait(command.spawn()?)
}

/// Waits for a child started elsewhere, signalling it on an interrupt.
pub fn wait(child: std::process::Child) -> std::io::Result<std::process::Output> {
    let pid = child.id();
    CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).push(pid);
    if requested() {
        signal_child(pid);
    }
    let out = child.wait_with_output();
    CHILDREN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|p| *p != pid);
    out
}

/// The error to return instead of `error` when it was caused by an interrupt: `what`
/// says what was stopped and what state it leaves.
pub fn explain(error: Error, what: impl FnOnce() -> String) -> Error {
    if !requested() || matches!(error, Error::Interrupted { .. }) {
        return error;
    }
    // A seed file's failure says which file was rolled back and what stays loaded.
    if let Error::SeedFailed { failure, .. } = &error {
        return Error::Interrupted {
            what: format!("`{}` was rolled back", failure.file.display()),
            failed_version: None,
            source: Some(Box::new(error)),
        };
    }
    // The cancel's own error says nothing the user needs; any other is kept.
    let source = (!is_cancel(&error)).then(|| Box::new(error));
    Error::Interrupted {
        what: what(),
        failed_version: None,
        source,
    }
}

/// The error a cancel request or a signalled child program produces.
fn is_cancel(error: &Error) -> bool {
    use postgres::error::SqlState;
    match error {
        Error::Statement { failure, .. } | Error::SeedFailed { failure, .. } => {
            failure.code == SqlState::QUERY_CANCELED.code()
        }
        Error::Query { source, .. } | Error::Connect { source, .. } => {
            source.code() == Some(&SqlState::QUERY_CANCELED)
        }
        // A child the signal ended, or one that reports the server's cancel; any other
        // failure (a damaged backup) is the child's own and is kept.
        Error::Command { status, stderr, .. } => {
            status.contains("signal") || stderr.contains("canceling statement due to user request")
        }
        _ => false,
    }
}

/// Returns [`Error::Interrupted`] when an interrupt arrived, so a loop stops before its
/// next step; `what` says what stopped and what state it leaves.
pub fn check(what: impl FnOnce() -> String) -> crate::Result<()> {
    if requested() {
        return Err(Error::Interrupted {
            what: what(),
            failed_version: None,
            source: None,
        });
    }
    Ok(())
}

fn cancel_all() {
    let pids: Vec<u32> = CHILDREN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    pids.into_iter().for_each(signal_child);
    let connections: Vec<_> = CONNECTIONS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    // A closed connection's key matches no backend, so the server ignores its request.
    // One thread each, so one unresponsive server does not hold up the others.
    let sending: Vec<_> = connections
        .into_iter()
        .map(|(token, tls)| {
            std::thread::spawn(move || {
                let _ = match tls {
                    Some(tls) => token.cancel_query(tls),
                    None => token.cancel_query(NoTls),
                };
            })
        })
        .collect();
    for thread in sending {
        let _ = thread.join();
    }
    let (sent, announce) = &SENT;
    *sent.lock().unwrap_or_else(|e| e.into_inner()) = true;
    announce.notify_all();
}

fn signal_child(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill has no memory effects; a pid that already exited is an ESRCH.
        unsafe {
            libc::kill(pid, libc::SIGINT);
        }
    }
}
