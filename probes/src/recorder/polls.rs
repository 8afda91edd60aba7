//! Task and `block_on` polls: their starts and ends.

use std::panic::Location;

use crate::clock;
use crate::events::TaskInfo;
use crate::timing::{self, Kind};

use super::WorkerRecorder;

impl WorkerRecorder {
    /// A task is about to be polled (taken from a queue): counts the poll
    /// and, with poll timing on, publishes the task for the watchdog.
    /// `task` is called only when poll timing is on, so that reading the
    /// task's id and spawn location costs nothing otherwise.
    #[inline(always)]
    pub fn poll_started(&mut self, task: impl FnOnce() -> TaskInfo) {
        let probes = &*self.probes;
        probes.polls[0].add(1);
        if self.timing.is_some() {
            timing::publish_start(&probes.timing, task());
        }
    }

    /// Like [`poll_started`](Self::poll_started), for a task taken from the
    /// LIFO slot right after another poll.
    #[inline(always)]
    pub fn lifo_poll_started(&mut self, task: impl FnOnce() -> TaskInfo) {
        let probes = &*self.probes;
        probes.polls[1].add(1);
        if self.timing.is_some() {
            timing::publish_start(&probes.timing, task());
        }
    }

    /// The poll started last has returned. With poll timing on, this is the
    /// one clock read of the poll: it ends this poll and starts the next.
    ///
    /// # Examples
    ///
    /// See [`poll_started`](Self::poll_started).
    #[inline(always)]
    pub fn poll_ended(&mut self) {
        let probes = &*self.probes;
        if let Some(timing) = &mut self.timing {
            timing.end_poll(&probes.timing, clock::tsc_now(), true);
        }
    }

    /// [`poll_ended`](Self::poll_ended) at an explicit clock reading, in
    /// ticks of the runtime's [`Clock`](crate::clock::Clock). For harnesses that drive the model
    /// with synthetic time; Tokio calls `poll_ended`.
    pub fn poll_ended_at(&mut self, now: u64) {
        let probes = &*self.probes;
        if let Some(timing) = &mut self.timing {
            timing.end_poll(&probes.timing, now, false);
        }
    }

    /// A current-thread runtime is about to poll the future passed to
    /// `block_on`, called at `caller`. With poll timing on, the poll is
    /// published as the pseudo-task [`BLOCK_ON_TASK_ID`](crate::BLOCK_ON_TASK_ID) (for the watchdog
    /// and `current_poll_seconds`), so that its time is charged to neither
    /// the next task nor nobody. It is not a task poll: it is not counted in
    /// [`polls`](crate::worker::WorkerProbes::polls), nor in the poll-duration tiers or the
    /// poll-time sum (so these stay the task polls' own), but a slow poll or
    /// stall of it is counted and reported like any other, naming
    /// `block_on` and `caller`.
    #[inline]
    pub fn block_on_poll_started(&mut self, caller: &'static Location<'static>) {
        if let Some(timing) = &mut self.timing {
            timing.start_block_on(&self.probes.timing, caller);
        }
    }

    /// The poll of the `block_on` future started last has returned; see
    /// [`block_on_poll_started`](Self::block_on_poll_started). With poll
    /// timing on, reads the clock once: this ends the `block_on` poll and
    /// starts the next poll.
    ///
    /// # Examples
    ///
    /// See [`block_on_poll_started`](Self::block_on_poll_started).
    #[inline]
    pub fn block_on_poll_ended(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.end_cold(
                &self.probes.timing,
                clock::tsc_now(),
                true,
                true,
                Kind::BlockOn,
            );
        }
    }

    /// [`block_on_poll_ended`](Self::block_on_poll_ended) at an explicit
    /// clock reading, for harnesses; see [`poll_ended_at`](Self::poll_ended_at).
    ///
    /// # Examples
    ///
    /// See [`block_on_poll_started`](Self::block_on_poll_started).
    pub fn block_on_poll_ended_at(&mut self, now: u64) {
        if let Some(timing) = &mut self.timing {
            timing.end_cold(&self.probes.timing, now, false, false, Kind::BlockOn);
        }
    }

    /// A current-thread runtime's `block_on` gives the core back, returning
    /// or unwinding. With poll timing on, counts the last task poll's tier
    /// (so that the tiers add up to [`polls`](crate::worker::WorkerProbes::polls) between
    /// `block_on` calls) and ends a poll of the `block_on` future that a
    /// panic left open, so that it does not look stuck.
    #[inline]
    pub fn block_on_exited(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.exit_block_on(&self.probes.timing);
        }
    }
}
