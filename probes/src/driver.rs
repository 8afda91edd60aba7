//! When the runtime's drivers (I/O and timers) were last turned.
//!
//! Tokio turns its drivers only from a worker that parks (or, every
//! `event_interval` ticks, polls them without parking). If every worker is
//! inside a long poll, nobody turns them: sockets go unread and timers do
//! not fire while the other metrics look idle. Each worker stores the time
//! it last returned from turning the driver stack (one relaxed store per
//! turn, never per poll, with poll timing on); the runtime's age is the
//! youngest of them, or zero while a worker is parked (it is turning the
//! driver, or waiting on one that is). The runtime stamps every worker when
//! it is built, so before the first turn the age is the runtime's own.
//!
//! In Tokio's driver stack the time driver wraps the I/O driver and both
//! turn in the same park, so the two share one age.

use std::time::Duration;

use crate::clock::Clock;
use crate::sync::{AtomicU64, Ordering};
use crate::worker::WorkerProbes;

/// One worker's last driver turn, as a reading of the runtime's poll clock
/// (0: never).
#[derive(Debug, Default)]
pub(crate) struct DriverTurn {
    last: AtomicU64,
}

impl DriverTurn {
    /// Written by the worker's recorder only.
    #[inline]
    pub(crate) fn record(&self, now: u64) {
        self.last.store(now.max(1), Ordering::Relaxed);
    }

    fn last(&self) -> u64 {
        self.last.load(Ordering::Relaxed)
    }
}

/// The drivers Tokio-Pulse reports on, as `driver` label values.
pub const DRIVERS: [&str; 2] = ["io", "time"];

/// How long since any of `workers` last turned the drivers, at `now` on
/// `clock`: zero while one of them is parked, `None` if none was ever
/// stamped (the runtime stamps them all when it is built with poll timing).
pub(crate) fn last_turn_age<'a>(
    workers: impl Iterator<Item = &'a WorkerProbes>,
    clock: Clock,
    now: u64,
) -> Option<Duration> {
    let mut youngest = 0;
    for worker in workers {
        if worker.parks() > worker.unparks() {
            return Some(Duration::ZERO);
        }
        youngest = youngest.max(worker.driver.last());
    }
    (youngest != 0).then(|| Duration::from_nanos(clock.ticks_to_ns(now.saturating_sub(youngest))))
}

/// The watchdog's starved-driver check: one event per episode, when every
/// worker is inside a poll and the drivers have not been turned for the
/// stall threshold.
#[derive(Debug, Default)]
pub(crate) struct StarvationWatch {
    /// An event went out for the current episode.
    reported: bool,
}

impl StarvationWatch {
    /// `longest`: the worker whose current poll began first, with its poll,
    /// when every worker is inside one (else `None`). Returns the report to
    /// deliver, once per episode.
    pub(crate) fn check(
        &mut self,
        probes: &crate::RuntimeProbes,
        threshold: Duration,
        longest: Option<(usize, crate::events::PollEvent)>,
    ) -> Option<crate::events::Stall> {
        let age = probes.driver_last_turn_age();
        let starved = age.filter(|&age| age >= threshold);
        // Work is pending: a task besides the ones in the workers' polls
        // (it may wait for I/O or a timer). Without the gauges (the
        // scheduler is gone), assume so.
        let workers = probes.workers().len();
        let pending = probes
            .gauges()
            .map_or(true, |gauges| gauges.alive_tasks() > workers);
        let (Some(age), Some((_, poll)), true) = (starved, longest, pending) else {
            self.reported = false;
            return None;
        };
        if std::mem::replace(&mut self.reported, true) {
            return None;
        }
        let thread_id = probes.worker(poll.worker).and_then(|w| w.thread_id());
        Some(crate::events::Stall {
            poll,
            ended: false,
            details: crate::stall_report::StallDetails {
                thread_id,
                starved_driver: Some(crate::stall_report::StarvedDriver {
                    driver: "io",
                    not_turned_for: age,
                }),
                ..Default::default()
            },
        })
    }
}
