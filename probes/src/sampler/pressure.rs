//! Pressure, in the manner of Linux's PSI, for tasks: how much of the time
//! runnable tasks waited, and how much of it they waited with no worker
//! free to take them.
//!
//! Every watchdog pass sees two things at one instant: whether any task is
//! waiting in a queue the sampler can read (the inject queue's depth, each
//! readable local queue's depth; the LIFO slot cannot be read), and which
//! workers are inside a poll (their published current poll, poll timing
//! on). The time since the previous pass is charged by what this pass saw:
//!
//! - `some`: a task was waiting;
//! - `full`: a task was waiting and every worker was inside a poll.
//!
//! So these are sampled estimates, exact on average over many periods, as
//! the spawn-site profile is. `full` high means the runtime has more
//! runnable work than workers: more workers (or shorter polls) help. `some`
//! high with `full` low means tasks wait while a worker is not polling:
//! more workers will not help; look at imbalance (a worker stuck outside
//! polls, in `block_in_place`, or tasks bunched on one local queue) or at
//! time spent between polls.

use std::time::{Duration, Instant};

/// The pressure counters, written only by the sampler.
#[derive(Debug, Default)]
pub(crate) struct Pressure {
    last: Option<Instant>,
    some: Duration,
    full: Duration,
}

impl Pressure {
    /// One pass at `at`: whether a task was `waiting`, and whether every
    /// worker was busy polling.
    pub(crate) fn observe(&mut self, at: Instant, waiting: bool, all_busy: bool) {
        let Some(last) = self.last.replace(at) else {
            return;
        };
        let span = at.saturating_duration_since(last);
        if waiting {
            self.some += span;
            if all_busy {
                self.full += span;
            }
        }
    }

    pub(crate) fn some(&self) -> Duration {
        self.some
    }

    pub(crate) fn full(&self) -> Duration {
        self.full
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_span_is_charged_by_the_pass_that_ends_it() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut pressure = Pressure::default();
        pressure.observe(at(0), true, true); // the first pass only starts
        pressure.observe(at(10), true, true); // full
        pressure.observe(at(15), true, false); // some, a worker idle
        pressure.observe(at(25), false, true); // busy, nobody waits
        pressure.observe(at(30), true, true); // full
        assert_eq!(pressure.some(), Duration::from_millis(20));
        assert_eq!(pressure.full(), Duration::from_millis(15));
    }
}
