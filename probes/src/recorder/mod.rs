//! [`WorkerRecorder`], the one writer of a worker's counters.
//!
//! This file holds the type, its construction and its teardown; its probes
//! are in further `impl` blocks, one submodule per what they record:
//!
//! - `polls`: task and `block_on` polls, their starts and ends.
//! - `schedule`: where a task is scheduled and taken from, and its schedule-latency wait.
//! - `states`: batches and the worker's states (busy, search, driver, maintenance, blocking, park).
//! - `counts`: plain counters (yields, LIFO caps, overflows, steals).

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::clock::Clock;
use crate::config::PulseSettings;
use crate::fork::{STAMP_OFF, STAMP_OTHER, STAMP_TSC};
use crate::lifecycle::Lifecycle;
use crate::timing::schedule::{Row, ScheduleSource};
use crate::timing::states::StateClock;
use crate::timing::Timing;
use crate::worker::WorkerProbes;

mod counts;
mod polls;
mod schedule;
mod states;

/// The writing end of one worker's counters.
///
/// There is exactly one per worker, handed out once, by
/// [`fork::new`](crate::fork::new).
/// Every method takes `&mut self`, so whoever owns the recorder is, by
/// construction, the only writer. Tokio keeps it in the worker's core. It is
/// `Send` (the core moves between threads) but deliberately not `Clone`.
///
/// Every method is `#[inline]` and costs one `Relaxed` load and one `Relaxed`
/// store to this worker's own cache lines.
#[derive(Debug)]
pub struct WorkerRecorder {
    probes: Arc<CachePadded<WorkerProbes>>,
    /// The worker named by the last [`steal_attempt`](Self::steal_attempt),
    /// so that [`stole`](Self::stole), which Tokio calls from inside the
    /// queue code where the victim is not known, can credit it.
    victim: usize,
    /// Poll-timing state; `None` when poll timing is off, which makes every
    /// timing probe one predictable branch. Kept inline, not boxed: the
    /// recorder lives in the worker's core, and one fewer pointer to follow
    /// is a load saved on every timed poll.
    timing: Option<Timing>,
    /// Counts this recorder among its runtime's live workers until it is
    /// dropped (`None` for a detached recorder).
    lifecycle: Option<Arc<Lifecycle>>,
    /// Batches started ([`busy_started`](Self::busy_started)). With the poll
    /// counts it makes [`poll_key`](Self::poll_key), which two polls of a
    /// current-thread `block_on` future (not a task, so not in the poll
    /// counts) with no task poll between them also tell apart: the scheduler
    /// starts a batch between them.
    batches: u64,
    /// The [`poll_key`](Self::poll_key) of the last poll counted as a budget
    /// yield, so that a poll refused budget by several operations (a
    /// `futures::select!` over several channels) counts once. Nothing per poll: it
    /// is read and written only when an operation is refused budget.
    budget_yield_key: u64,
    /// Where the worker took its next task from, as the scheduler said
    /// ([`took`](Self::took)), for the schedule-latency histogram: that
    /// source's row of counters, so that the poll start adds the slot to it
    /// and nothing else. Back to `Local`'s at each timed
    /// [`poll_started_stamped`](Self::poll_started_stamped).
    source: Row,
    /// The worker's current state and its start (poll timing on).
    states: StateClock,
    /// How [`schedule_stamp`](Self::schedule_stamp) reads the clock (as
    /// [`RuntimeWriter`](crate::fork::RuntimeWriter) does), in one byte of
    /// its own: `STAMP_OFF` (poll timing or schedule latency off),
    /// `STAMP_TSC` or `STAMP_OTHER`. A plain byte, not an enum, so that
    /// the compiler knows none of its values and keeps the one compare with
    /// `STAMP_TSC` whose flags both tests use: with either off, the check
    /// inlined into Tokio's `schedule_local` is that compare and one branch;
    /// with a TSC, a second branch, a read and a store. The poll start
    /// tests it too, to record the wait or not.
    stamp: u8,
}

/// The worker is gone once its recorder is: Tokio drops a worker's core, and
/// the recorder in it, only after the worker has run its last poll (the
/// multi-thread scheduler drops all cores together once every worker has
/// handed its core in at shutdown; the current-thread scheduler drops its
/// core with the scheduler).
impl Drop for WorkerRecorder {
    fn drop(&mut self) {
        if let Some(timing) = &self.timing {
            let now = timing.now();
            self.states.stop(&self.probes.timing.states, now);
        }
        if let Some(lifecycle) = self.lifecycle.take() {
            lifecycle.recorder_dropped();
        }
    }
}
impl WorkerRecorder {
    pub(crate) fn new(probes: Arc<CachePadded<WorkerProbes>>) -> WorkerRecorder {
        WorkerRecorder {
            probes,
            victim: 0,
            timing: None,
            lifecycle: None,
            batches: 0,
            // No poll has this key: the first refusal always counts.
            budget_yield_key: u64::MAX,
            source: Row::of(ScheduleSource::Local),
            states: StateClock::default(),
            stamp: STAMP_OFF,
        }
    }

    /// Counts this recorder among the live workers of `lifecycle`'s runtime
    /// until it is dropped.
    pub(crate) fn with_lifecycle(mut self, lifecycle: Arc<Lifecycle>) -> WorkerRecorder {
        self.lifecycle = Some(lifecycle);
        self
    }

    /// Turns poll timing on for this recorder, per `settings`.
    pub(crate) fn with_timing(
        mut self,
        settings: &PulseSettings,
        clock: Clock,
        runtime: Arc<str>,
        runtime_id: u64,
    ) -> WorkerRecorder {
        self.timing = Timing::new(self.probes.index(), settings, clock, runtime, runtime_id);
        self.stamp = match &self.timing {
            None => STAMP_OFF,
            Some(_) if !settings.schedule_latency => STAMP_OFF,
            Some(timing) if timing.clock().is_tsc() => STAMP_TSC,
            Some(_) => STAMP_OTHER,
        };
        self
    }

    /// Whether this recorder times polls.
    pub fn times_polls(&self) -> bool {
        self.timing.is_some()
    }

    /// A recorder that belongs to no runtime and is listed nowhere, for
    /// scratch scheduler state whose counts must not reach any runtime's
    /// probes (Tokio's task-dump stealing, Tokio's own unit tests).
    pub fn detached() -> WorkerRecorder {
        WorkerRecorder::new(Arc::new(CachePadded::new(WorkerProbes::new(0, 1))))
    }

    /// A thread starts running this worker (Tokio's worker `run`, also
    /// after `block_in_place` handed the core on): records its OS thread id
    /// and CPU clock, for the watchdog's stall reports. Once per thread
    /// start, never per poll; does nothing off Linux x86_64 and AArch64 (and
    /// under Miri).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].thread_started();
    /// # #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
    /// assert!(rt.worker(0).unwrap().thread_id().is_some());
    /// ```
    #[inline]
    pub fn thread_started(&mut self) {
        self.probes.thread.record_current();
    }

    /// A thread takes the core of a current-thread runtime to run
    /// `block_on`: records it as the worker's thread, for the watchdog's
    /// stall reports, unless it is the thread recorded already (then it
    /// costs a thread-local read). Once per `block_on`, never per poll; does
    /// nothing where [`thread_started`](Self::thread_started) does nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].thread_entered();
    /// let here = rt.worker(0).unwrap().thread_id();
    /// std::thread::scope(|s| {
    ///     s.spawn(|| recorders[0].thread_entered());
    /// });
    /// # #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"), not(miri)))]
    /// assert_ne!(rt.worker(0).unwrap().thread_id(), here);
    /// ```
    #[inline]
    pub fn thread_entered(&mut self) {
        self.probes.thread.record_current_if_moved();
    }

    /// The counters this recorder writes.
    pub fn probes(&self) -> &WorkerProbes {
        &self.probes
    }
}
