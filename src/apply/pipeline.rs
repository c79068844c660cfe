//! Sending several transactional migrations in one message. Each still runs in a
//! transaction of its own that commits together with its history row, exactly as when
//! sent alone; what is saved is the round trip and the wake-ups between files, which on a
//! fresh apply of hundreds of small migrations cost more than the server's own work.
//!
//! When a file fails, the server skips the rest of the message: the files before it have
//! committed, it is rolled back, and the files after it never ran. Which file failed is
//! read back from the history (the files that committed have their rows), and the error
//! is located in that file as if it had been sent alone.
//!
//! The run decides how many files go together ([`Sizer`]): as many as ran in about a
//! tenth of a second last time, so a quick run sends a few large messages and a slow
//! migration still goes alone, and progress keeps up with the work.

use std::time::Duration;

use postgres::Client;

use crate::apply::script::{self, Prepared, Script};
use crate::error::{Error, Result};
use crate::meter::{Meter, Shown};
use crate::pg::connect::query_error;

/// One file of a message: the file, made ready, and the SQL that records it (given SQL
/// for its duration in milliseconds).
pub struct Block<'a> {
    pub version: u64,
    pub script: Script<'a>,
    pub prepared: Prepared,
    pub record: String,
}

/// SQL for the milliseconds since the current block began (see [`block_prefix`]).
pub const BLOCK_ELAPSED_MS: &str = "coalesce((extract(epoch FROM pg_catalog.clock_timestamp()) \
     - pg_catalog.current_setting('dbkit.block_started', true)::float8) * 1000, 0)";

/// The start of one block: the same as a file sent alone, plus a note of when it began
/// (the server's statement clock is the same for every block of a message).
fn block_prefix(script: &Script<'_>) -> String {
    format!(
        "{}SELECT pg_catalog.set_config('dbkit.block_started', \
         extract(epoch FROM pg_catalog.clock_timestamp())::text, true);\n",
        script::prefix(script)
    )
}

/// How a message went: how long each file that committed took, in order, and the error
/// of the file that failed (the files after it did not run).
pub struct Sent {
    pub committed: Vec<Duration>,
    pub failure: Option<Error>,
}

/// Runs `blocks` in one message, each in its own transaction. `Err` only when the
/// server could not say what committed (the connection was lost).
pub fn send(client: &mut Client, blocks: &[Block<'_>], meter: &dyn Meter) -> Result<Sent> {
    let (first, last) = match (blocks.first(), blocks.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => {
            return Ok(Sent {
                committed: Vec::new(),
                failure: None,
            })
        }
    };
    let database = first.script.database;
    let mut message = String::new();
    // For each block, the characters of the message before its file's text.
    let mut offsets = Vec::with_capacity(blocks.len());
    // Where each block starts, in characters.
    let mut starts = Vec::with_capacity(blocks.len());
    let mut chars = 0;
    for block in blocks {
        starts.push(chars);
        let prefix = block_prefix(&block.script);
        chars += prefix.chars().count();
        offsets.push(chars);
        message += &prefix;
        message += &block.prepared.sendable;
        let tail = format!("\n;\n{}COMMIT;\n", block.record);
        chars += block.prepared.sendable.chars().count() + tail.chars().count();
        message += &tail;
    }
    let what = format!(
        "{} migrations: {} .. {}",
        blocks.len(),
        first.script.name(),
        last.script.name()
    );
    crate::pg::interrupt::check(|| {
        format!(
            "stopped before `{}` was sent; nothing of it ran",
            first.script.name()
        )
    })?;
    let outcome = {
        let _shown = Shown::start(meter, &what, None);
        client.batch_execute(&message)
    };
    let error = outcome.err();
    if error.is_some() {
        let _ = client.batch_execute("ROLLBACK");
    }
    let versions: Vec<i64> = blocks.iter().map(|b| b.version as i64).collect();
    let rows = match client.query(
        "SELECT version, duration_ms FROM dbkit.schema_history \
         WHERE version = ANY($1) AND status = 'applied'",
        &[&versions],
    ) {
        Ok(rows) => rows,
        // The message's own error says more than the question that followed it.
        Err(_) if error.is_some() => {
            return Err(Error::Query {
                what: format!(
                    "running {what} (sent together; `apply-schema --status` shows which committed)"
                ),
                database: database.to_string(),
                source: error.expect("checked"),
            })
        }
        Err(e) => {
            return Err(query_error(
                "reading back the migrations just applied",
                database,
            )(e))
        }
    };
    let durations: std::collections::HashMap<i64, f64> =
        rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    let committed: Vec<Duration> = versions
        .iter()
        .map_while(|v| durations.get(v))
        .map(|ms| Duration::from_secs_f64(ms.max(0.0) / 1000.0))
        .collect();
    // A syntax error rejects the whole message before any of it runs: the server names
    // a later file than the first not committed. The files before it are sent again,
    // and it alone, so its error is its own.
    if let (true, Some(sent)) = (committed.is_empty(), &error) {
        let at = sent.as_db_error().and_then(|db| match db.position() {
            Some(postgres::error::ErrorPosition::Original(p)) => Some(*p as usize),
            _ => None,
        });
        let block = at.map_or(0, |p| starts.partition_point(|&s| s < p).saturating_sub(1));
        if block > 0 {
            let before = send(client, &blocks[..block], meter)?;
            if before.failure.is_some() {
                return Ok(before);
            }
            let alone = send(client, &blocks[block..=block], meter)?;
            let mut committed = before.committed;
            committed.extend(alone.committed);
            return Ok(Sent {
                committed,
                failure: alone.failure,
            });
        }
    }
    let failure = match error {
        None if committed.len() == blocks.len() => None,
        // Everything ran yet a row is missing: a file deleted its own record.
        None => Some(Error::Refused(format!(
            "`{}` committed, but its row in dbkit.schema_history is gone (does the file \
             delete from dbkit's tables?); `apply-schema --status` shows what is recorded",
            blocks[committed.len()].script.name()
        ))),
        Some(error) => {
            let failed = blocks.get(committed.len()).unwrap_or(last);
            Some(script::located_error(
                client,
                &failed.script,
                &failed.prepared,
                error,
                offsets[committed.len().min(blocks.len() - 1)],
            ))
        }
    };
    Ok(Sent { committed, failure })
}

/// How many files go in the next message.
#[derive(Debug, Clone)]
pub struct Sizer {
    next: usize,
}

/// Time one message should take, so progress keeps up and an interrupt has little left
/// in flight.
const MESSAGE_TIME: Duration = Duration::from_millis(100);
/// At most this many files, and this much SQL, per message.
const MAX_FILES: usize = 64;
pub const MAX_BYTES: usize = 1 << 20;

impl Default for Sizer {
    fn default() -> Self {
        Sizer { next: 4 }
    }
}

impl Sizer {
    /// Files for the next message.
    pub fn next(&self) -> usize {
        self.next
    }

    /// Learns from a message of `files` files that took `took`.
    pub fn learn(&mut self, files: usize, took: Duration) {
        let per_file = took.as_secs_f64() / files.max(1) as f64;
        let fit = if per_file > 0.0 {
            (MESSAGE_TIME.as_secs_f64() / per_file) as usize
        } else {
            MAX_FILES
        };
        // Grows at most fourfold at a time: one quick file is no proof the next are.
        self.next = fit.clamp(1, (files * 4).min(MAX_FILES));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_messages_by_how_long_files_took() {
        let mut sizer = Sizer::default();
        assert_eq!(sizer.next(), 4);
        sizer.learn(4, Duration::from_millis(4));
        assert_eq!(sizer.next(), 16, "grows fourfold at most");
        sizer.learn(16, Duration::from_millis(16));
        assert_eq!(sizer.next(), 64);
        sizer.learn(64, Duration::from_millis(10));
        assert_eq!(sizer.next(), 64, "never past the cap");
        sizer.learn(64, Duration::from_millis(3200));
        assert_eq!(sizer.next(), 2, "50 ms a file: two fit in 100 ms");
        sizer.learn(2, Duration::from_secs(5));
        assert_eq!(sizer.next(), 1, "a slow file goes alone");
    }
}
