//! Progress of long work, for people: bytes written or read with their rate (backup,
//! restore), rows of the file being loaded (seed data), the elapsed time of a file or
//! statement that runs longer than a second (applying migrations). The library reports
//! through [`Meter`]; a program shows it with [`Bar`], which draws on a terminal (stderr)
//! and nothing at all in a pipe, so scripted output stays exactly as it was.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use crate::meter::{Meter, Shown, Silent};

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

/// How long a piece of work runs before its bar appears: quick work never flickers one.
pub const DELAY: Duration = Duration::from_secs(1);

/// The bar on the terminal now, if any.
static DRAWN: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `print` (a note or warning for stderr) with the bar on the terminal, if any,
/// taken off it first and drawn again after, so the message gets a line of its own
/// instead of running into the bar's.
pub fn suspended<R>(print: impl FnOnce() -> R) -> R {
    let drawn = DRAWN.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match drawn {
        Some(bar) => bar.suspend(print),
        None => print(),
    }
}

fn drawn(bar: Option<&ProgressBar>) {
    *DRAWN.lock().unwrap_or_else(|e| e.into_inner()) = bar.cloned();
}

/// A progress line on stderr, drawn only when stderr is a terminal, and only for work
/// that has run [`DELAY`] (a second).
pub struct Bar {
    bar: ProgressBar,
    unit: Unit,
    /// The timer that shows the bar once the work is due; `None` when never drawn.
    timer: Option<Timer>,
}

impl Bar {
    /// A hidden bar unless `visible` (the program passes "stderr is a terminal").
    pub fn new(unit: Unit, visible: bool) -> Bar {
        let target = visible.then_some(|| ProgressDrawTarget::stderr_with_hz(8));
        Bar::drawing(unit, DELAY, target)
    }

    /// A bar drawn into what `target` makes (when given) once a piece of work has run
    /// `delay`.
    fn drawing(
        unit: Unit,
        delay: Duration,
        target: Option<impl Fn() -> ProgressDrawTarget + Send + 'static>,
    ) -> Bar {
        let bar = ProgressBar::hidden();
        let timer = target.map(|target| Timer::start(bar.clone(), delay, target));
        Bar { bar, unit, timer }
    }

    fn style(&self, total: Option<u64>) -> ProgressStyle {
        let template = match (self.unit, total) {
            (Unit::Bytes, Some(_)) => {
                "  {spinner} {msg} {bytes}/{total_bytes} ({binary_bytes_per_sec}, {elapsed})"
            }
            (Unit::Bytes, None) => "  {spinner} {msg} {bytes} ({binary_bytes_per_sec}, {elapsed})",
            (Unit::Rows, Some(_)) => {
                "  {spinner} {msg} {human_pos}/{human_len} rows ({rows_per_sec}, {elapsed})"
            }
            (Unit::Rows, None) => "  {spinner} {msg} {human_pos} rows ({rows_per_sec}, {elapsed})",
            (Unit::Time, _) => "  {spinner} {msg} ({elapsed})",
        };
        ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_spinner())
            // indicatif's `{per_sec}` shows four decimals: `2,214.6888/s`.
            .with_key(
                "rows_per_sec",
                |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    let _ = write!(w, "{}/s", indicatif::HumanCount(state.per_sec() as u64));
                },
            )
    }
}

impl Meter for Bar {
    fn start(&self, what: &str, total: Option<u64>) {
        let _due = self
            .timer
            .as_ref()
            .map(|t| t.schedule(Some(Instant::now())));
        // Style and message first: each of these calls may draw the bar.
        self.bar.set_style(self.style(total));
        self.bar.set_message(what.to_string());
        self.bar.set_length(total.unwrap_or(0));
        self.bar.reset();
    }

    fn advance(&self, n: u64) {
        self.bar.inc(n);
    }

    fn finish(&self) {
        // Under the timer's lock, so the bar is never shown after it was cleared.
        let due = self.timer.as_ref().map(|t| t.schedule(None));
        if due.is_some() {
            drawn(None);
        }
        self.bar.disable_steady_tick();
        self.bar.finish_and_clear();
        self.bar.set_draw_target(ProgressDrawTarget::hidden());
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        self.finish();
        if let Some(timer) = self.timer.take() {
            timer.stop();
        }
    }
}

/// A thread that shows the bar once the work started has run its delay. One per bar,
/// whatever the number of pieces of work: each start only moves its deadline.
struct Timer {
    shared: Arc<(Mutex<Due>, Condvar)>,
    thread: JoinHandle<()>,
}

/// When the current piece of work started (`None`: nothing to show), or stop.
struct Due {
    since: Option<Instant>,
    stop: bool,
}

impl Timer {
    fn start(
        bar: ProgressBar,
        delay: Duration,
        target: impl Fn() -> ProgressDrawTarget + Send + 'static,
    ) -> Timer {
        let shared = Arc::new((
            Mutex::new(Due {
                since: None,
                stop: false,
            }),
            Condvar::new(),
        ));
        let theirs = Arc::clone(&shared);
        let thread = std::thread::spawn(move || {
            let (lock, wake) = &*theirs;
            let mut due = lock.lock().unwrap_or_else(|e| e.into_inner());
            while !due.stop {
                let wait = match due.since {
                    None => None,
                    Some(since) => delay.checked_sub(since.elapsed()),
                };
                due = match (due.since, wait) {
                    (None, _) => wake.wait(due).unwrap_or_else(|e| e.into_inner()),
                    (Some(_), Some(wait)) if !wait.is_zero() => {
                        wake.wait_timeout(due, wait)
                            .unwrap_or_else(|e| e.into_inner())
                            .0
                    }
                    (Some(_), _) => {
                        due.since = None;
                        bar.set_draw_target(target());
                        bar.enable_steady_tick(Duration::from_millis(125));
                        drawn(Some(&bar));
                        due
                    }
                };
            }
        });
        Timer { shared, thread }
    }

    /// Sets when the current work started (`None`: none), and returns the lock, held
    /// while the caller changes the bar.
    fn schedule(&self, since: Option<Instant>) -> MutexGuard<'_, Due> {
        let (lock, wake) = &*self.shared;
        let mut due = lock.lock().unwrap_or_else(|e| e.into_inner());
        due.since = since;
        wake.notify_one();
        due
    }

    fn stop(self) {
        self.schedule(None).stop = true;
        let _ = self.thread.join();
    }
}

#[cfg(test)]
mod tests {
    use std::io;

    use super::*;

    /// A terminal that keeps what is written to it.
    #[derive(Debug, Clone, Default)]
    struct Screen(Arc<Mutex<String>>);

    impl Screen {
        fn text(&self) -> String {
            self.0.lock().expect("not poisoned").clone()
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            100
        }
        fn move_cursor_up(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> io::Result<()> {
            self.0.lock().expect("not poisoned").push_str(s);
            Ok(())
        }
        fn clear_line(&self) -> io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> io::Result<()> {
            Ok(())
        }
    }

    fn bar(screen: &Screen, delay: Duration) -> Bar {
        let screen = screen.clone();
        Bar::drawing(
            Unit::Rows,
            delay,
            Some(move || ProgressDrawTarget::term_like(Box::new(screen.clone()))),
        )
    }

    #[test]
    fn work_shorter_than_the_delay_draws_nothing() {
        let screen = Screen::default();
        let bar = bar(&screen, Duration::from_millis(300));
        for _ in 0..3 {
            bar.start("01_quick.sql", None);
            bar.advance(10);
            bar.finish();
        }
        std::thread::sleep(Duration::from_millis(700));
        drop(bar);
        assert_eq!(screen.text(), "");
    }

    #[test]
    fn work_longer_than_the_delay_is_drawn_with_its_name_and_count() {
        let screen = Screen::default();
        let bar = bar(&screen, Duration::from_millis(200));
        bar.start("02_big_fixture.sql", None);
        bar.advance(34_000);
        assert_eq!(screen.text(), "", "drawn before the delay");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !screen.text().contains("34,000 rows") && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let shown = screen.text();
        assert!(
            shown.contains("02_big_fixture.sql 34,000 rows"),
            "{shown:?}"
        );
        bar.finish();
        let after = screen.text().len();
        bar.start("03_quick.sql", None);
        bar.finish();
        std::thread::sleep(Duration::from_millis(400));
        assert!(!screen.text()[after..].contains("03_quick"), "{shown:?}");
    }

    #[test]
    fn a_hidden_bar_has_no_timer() {
        let bar = Bar::new(Unit::Time, false);
        assert!(bar.timer.is_none());
        let _shown = Shown::start(&bar, "x", None);
    }
}
