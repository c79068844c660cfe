//! How far long work has got, as the library reports it: the [`Meter`] trait that
//! backup, restore, seed loading and apply-schema report to, [`Silent`] for no watcher,
//! and [`Shown`], which finishes a piece of work on every way out. It sits below every
//! capability so they can report without depending on the renderers; drawing it is
//! `report::progress`'s job.

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

/// A piece of work shown on a meter: started when made, finished when dropped, so every
/// way out of the work (done, an error, an early return) clears the display.
pub struct Shown<'m>(&'m dyn Meter);

impl<'m> Shown<'m> {
    /// Starts `what` on `meter`.
    pub fn start(meter: &'m dyn Meter, what: &str, total: Option<u64>) -> Shown<'m> {
        meter.start(what, total);
        Shown(meter)
    }
}

impl Drop for Shown<'_> {
    fn drop(&mut self) {
        self.0.finish();
    }
}
