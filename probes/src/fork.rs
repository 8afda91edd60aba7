//! The writing side, for the patched Tokio only.
//!
//! Tokio keeps its `MetricsBatch` `pub(crate)`; the probes live in another
//! crate, so their writers are `pub` but gathered here, hidden from the docs,
//! and reachable only from what the constructors return. What
//! `Handle::pulse()` hands out, an `Arc<RuntimeProbes>`, has no writing
//! method: the runtime-wide writes go through the one [`RuntimeWriter`] the
//! scheduler keeps in its shared state, and each worker's through the one
//! [`WorkerRecorder`] in its core.
//!
//! # Examples
//!
//! ```
//! use tokio_pulse_probes::{fork, RemoteKind, ScheduleKind};
//!
//! let (writer, mut recorders) = fork::new(Some("doc-fork"), 2);
//! recorders[0].scheduled_local(ScheduleKind::Spawn, true);
//! writer.pushed_locked(RemoteKind::Wake); // under the inject lock
//! let probes = writer.probes();
//! assert_eq!(probes.snapshot().spawns(), 1);
//! assert_eq!(probes.snapshot().wakes_remote, 1);
//! ```

use std::sync::{Arc, Weak};

use crate::clock::Clock;
use crate::config::PulseSettings;
use crate::kinds::RemoteKind;
use crate::runtime::RuntimeProbes;

pub use crate::recorder::WorkerRecorder;
pub use crate::remote::RuntimeGauges;
pub use crate::sampler::QueueIndices;

/// The runtime-wide writer: the only way to mark a runtime shut down, count
/// pushes to its inject queue and register its gauges. One per runtime, not
/// `Clone`; the scheduler keeps it in its shared state.
///
/// # Examples
///
/// ```
/// let (writer, _recorders) = tokio_pulse_probes::fork::new(None, 1);
/// writer.mark_shut_down();
/// assert!(writer.probes().is_shut_down());
/// ```
#[derive(Debug)]
pub struct RuntimeWriter {
    probes: Arc<RuntimeProbes>,
    /// How schedules are stamped: [`STAMP_OFF`], [`STAMP_TSC`] or
    /// [`STAMP_OTHER`], a plain byte (see [`WorkerRecorder`]'s), so that
    /// with timing (or schedule latency) off the stamp inlined into Tokio's
    /// `schedule_task` is one compare and one branch, and with a TSC the
    /// same compare, a second branch, a read and a store.
    stamp: u8,
    /// The clock of [`STAMP_OTHER`].
    clock: Clock,
}

/// How a [`RuntimeWriter`] or a [`WorkerRecorder`] stamps schedules: not
/// at all (poll timing or schedule latency off). Below [`STAMP_TSC`].
pub(crate) const STAMP_OFF: u8 = 0;
/// Stamps read the TSC, the runtime's clock. Not 1: a test for "below 1"
/// would become a test for 0, and could no longer share its compare with
/// the test for this value.
pub(crate) const STAMP_TSC: u8 = 2;
/// Stamps read another clock, out of line. Above [`STAMP_TSC`].
pub(crate) const STAMP_OTHER: u8 = 3;

impl RuntimeWriter {
    /// The probes this writer writes, for `Handle::pulse()` to hand out.
    ///
    /// # Examples
    ///
    /// See [`RuntimeWriter`].
    #[inline]
    pub fn probes(&self) -> &Arc<RuntimeProbes> {
        &self.probes
    }

    /// Gives up writing; the probes stay readable.
    pub(crate) fn into_probes(self) -> Arc<RuntimeProbes> {
        self.probes
    }

    /// Counts one push of `kind` to the inject queue.
    ///
    /// The caller must hold the inject queue's lock (or whatever serializes
    /// every push for this runtime); without it, concurrent callers lose
    /// counts.
    ///
    /// # Examples
    ///
    /// See the [module docs](self).
    /// A task is being scheduled (spawned or woken), from any thread: with
    /// poll timing and schedule latency on, one clock reading for the
    /// scheduler to keep in the task, which the poll's
    /// [`poll_started_stamped`](WorkerRecorder::poll_started_stamped) turns
    /// into the task's schedule latency. `None`, and no clock read, with
    /// either off.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{fork, PulseConfig};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (writer, _recorders) = fork::with_settings(None, 1, &settings);
    /// assert!(writer.schedule_stamp().is_some_and(|stamp| stamp > 0));
    /// let (untimed, _recorders) = fork::new(None, 1);
    /// assert_eq!(untimed.schedule_stamp(), None);
    /// ```
    #[inline(always)]
    pub fn schedule_stamp(&self) -> Option<u64> {
        // One compare with `STAMP_TSC`: below is off, equal the TSC.
        if self.stamp < STAMP_TSC {
            return None;
        }
        Some(if self.stamp == STAMP_TSC {
            crate::clock::tsc_now()
        } else {
            other_stamp(self.clock)
        })
    }

    #[inline(always)]
    pub fn pushed_locked(&self, kind: RemoteKind) {
        self.probes.remote().pushed_locked(kind);
    }

    /// Records that the runtime has begun shutting down.
    ///
    /// # Examples
    ///
    /// See [`RuntimeWriter`].
    #[inline]
    pub fn mark_shut_down(&self) {
        self.probes.mark_shut_down();
    }

    /// Registers the runtime's gauges; only the first call has an effect.
    ///
    /// # Examples
    ///
    /// See [`RuntimeGauges`].
    pub fn set_gauges(&self, gauges: Weak<dyn RuntimeGauges>) {
        self.probes.set_gauges(gauges);
    }
}

/// Creates the probes for a runtime with `workers` workers (1 for a
/// current-thread runtime), registers them, and returns the runtime's writer
/// and the one recorder for each worker, in worker order.
///
/// `name` is the runtime's name (Tokio's `Builder::name`). Without one, the
/// runtime is named `runtime-<id>`.
///
/// # Examples
///
/// ```
/// let (writer, recorders) = tokio_pulse_probes::fork::new(None, 3);
/// assert_eq!(recorders.len(), 3);
/// let rt = writer.probes();
/// assert_eq!(rt.name(), format!("runtime-{}", rt.id()));
/// ```
pub fn new(name: Option<&str>, workers: usize) -> (RuntimeWriter, Vec<WorkerRecorder>) {
    with_settings(name, workers, &PulseSettings::default())
}

/// Like [`new`], with the optional probes set up per `settings`: poll timing
/// on the recorders, and the stall watchdog thread, started here.
///
/// If the watchdog thread cannot be started (the OS refused a thread), the
/// runtime still works and `RuntimeProbes::watchdog_running` says so.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{fork, PulseConfig};
///
/// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
/// let (writer, recorders) = fork::with_settings(Some("timed"), 2, &settings);
/// assert!(writer.probes().settings().poll_timing);
/// assert!(recorders.iter().all(|r| r.times_polls()));
/// ```
pub fn with_settings(
    name: Option<&str>,
    workers: usize,
    settings: &PulseSettings,
) -> (RuntimeWriter, Vec<WorkerRecorder>) {
    // Calibrating the TSC takes a few milliseconds, once per process; only
    // runtimes that time polls pay for it.
    let clock = if settings.poll_timing {
        Clock::global()
    } else {
        Clock::instant()
    };
    with_clock(name, workers, settings, clock)
}

/// Like [`with_settings`], timing polls on `clock` instead of
/// [`Clock::global`]: for harnesses that drive the recorders with synthetic
/// time ([`Clock::instant`] makes one tick one nanosecond exactly).
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{fork, Clock, PulseConfig, TaskInfo};
///
/// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
/// let (writer, mut recorders) = fork::with_clock(None, 1, &settings, Clock::instant());
/// recorders[0].busy_started_at(0);
/// recorders[0].poll_started(|| TaskInfo { id: 9, spawned_at: None });
/// recorders[0].poll_ended_at(1_000); // exactly 1 µs: tier 1
/// let snap = writer.probes().snapshot();
/// assert_eq!(snap.workers[0].poll_time.as_ref().unwrap().tiers[1], 1);
/// ```
pub fn with_clock(
    name: Option<&str>,
    workers: usize,
    settings: &PulseSettings,
    clock: Clock,
) -> (RuntimeWriter, Vec<WorkerRecorder>) {
    let (probes, recorders) = RuntimeProbes::build(name, workers, settings, clock);
    let stamp = match (
        settings.poll_timing && settings.schedule_latency,
        clock.is_tsc(),
    ) {
        (false, _) => STAMP_OFF,
        (true, true) => STAMP_TSC,
        (true, false) => STAMP_OTHER,
    };
    (
        RuntimeWriter {
            probes,
            stamp,
            clock,
        },
        recorders,
    )
}

/// A schedule stamp on a clock that is not the TSC (never 0).
#[inline(never)]
fn other_stamp(clock: Clock) -> u64 {
    clock.now().max(1)
}
