//! Progress of long work, for people: bytes written or read with their rate (backup,
//! restore), rows of the file being loaded (seed data), the elapsed time of a statement
//! that runs longer than a second. The library reports through [`Meter`]; a program
//! shows it with [`Bar`], which draws on a terminal (stderr) and nothing at all in a
//! pipe, so scripted output stays exactly as it was.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Receives how far a long piece of work has got. Every method has a default that does
/// nothing, so work without a watcher passes [`Silent`].
pub trait Meter: Sync {
    /// A new piece of work starts: `what` names it, `total` is its size when known.
    fn start(&self, _what: &str, _total: Option<u64>) {}
    /// `n` more units (bytes, rows) are done.
    fn advance(&self, _n: u64) {}
    /// The piece of work ended (done or failed); the display is cleared.
    fn finish(&self) {}
}

/// A meter that shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Silent;

impl Meter for Silent {}

/// What a bar counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Bytes, shown as `12.3 MiB` with a rate.
    Bytes,
    /// Rows, shown as a count with a rate.
    Rows,
    /// Nothing countable: elapsed time only.
    Time,
}

/// A progress line on stderr, drawn only when stderr is a terminal. It appears after a
/// short delay, so quick work never flickers a bar.
pub struct Bar {
    bar: ProgressBar,
    unit: Unit,
    visible: bool,
}

impl Bar {
    /// A hidden bar unless `visible` (the program passes "stderr is a terminal").
    pub fn new(unit: Unit, visible: bool) -> Bar {
        Bar {
            bar: ProgressBar::hidden(),
            unit,
            visible,
        }
    }

    fn style(&self, total: Option<u64>) -> ProgressStyle {
        let template = match (self.unit, total) {
            (Unit::Bytes, Some(_)) => {
                "  {spinner} {msg} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {elapsed})"
            }
            (Unit::Bytes, None) => "  {spinner} {msg} {bytes} ({binary_bytes_per_sec}, {elapsed})",
            (Unit::Rows, Some(_)) => {
                "  {spinner} {msg} {human_pos}/{human_len} rows ({per_sec}, {elapsed})"
            }
            (Unit::Rows, None) => "  {spinner} {msg} {human_pos} rows ({per_sec}, {elapsed})",
            (Unit::Time, _) => "  {spinner} {msg} ({elapsed})",
        };
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_spinner())
    }
}

impl Meter for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        self.bar.reset();
        self.bar.set_style(self.style(total));
        self.bar.set_length(total.unwrap_or(0));
        self.bar.set_message(what.to_string());
        // Drawn only once it is set up: no frame of indicatif's default bar first.
        if self.visible && self.bar.is_hidden() {
            self.bar
                .set_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        }
        self.bar.enable_steady_tick(Duration::from_millis(125));
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&self) {
        self.bar.disable_steady_tick();
        self.bar.finish_and_clear();
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
