//! Schedule latency: how long a task waited between being scheduled (spawned
//! or woken) and the start of its poll, per worker and by where the worker
//! took it from.
//!
//! # Definitions
//!
//! - **Stamp.** With poll timing on, the scheduler reads the runtime's clock
//!   once per schedule (every spawn and wake, local or remote, LIFO slot or
//!   queue) and keeps the reading in the task (8 bytes). No sampling: every
//!   schedule is stamped; see the README's cost table for the measurement
//!   behind that choice.
//! - **Start.** A poll starts at the worker's poll-time mark: the end of the
//!   poll before it in its batch, or the batch's start. That reading exists
//!   already, so recording costs no clock read. The scheduler's work of
//!   picking the task (popping a queue, stealing) is thus part of the wait.
//!   A task scheduled after the mark it is polled at (a remote push that
//!   lands between the mark and the pop) waited zero.
//! - **Source.** Where this worker took the task from for this poll:
//!   [`Lifo`](ScheduleSource::Lifo) (the LIFO slot, chained or not),
//!   [`Local`](ScheduleSource::Local) (its own queue),
//!   [`Stolen`](ScheduleSource::Stolen) (the task a steal returned), or
//!   [`Inject`](ScheduleSource::Inject) (the inject queue: remote schedules
//!   and local-queue overflow). Tasks a steal or an inject batch moved into
//!   the local queue count as `Local` when popped from it later.
//!
//! Tokio's own `schedule-latency` histogram measures from the same schedule
//! to its own poll-start reading (a second `Instant::now()`, taken after the
//! task is picked), has no source, and is configured with its own buckets.

use crate::clock::tier::TIERS;
use crate::clock::Clock;
use crate::counter::Counter;
use crate::delta::delta_by_field;

use super::SLOTS;

/// Where a worker took the task it polls from; the `source` label of
/// `tokio_pulse_schedule_latency_seconds`.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::ScheduleSource;
///
/// assert_eq!(ScheduleSource::Stolen.label(), "stolen");
/// assert_eq!(ScheduleSource::ALL.len(), ScheduleSource::COUNT);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ScheduleSource {
    /// The worker's LIFO slot.
    Lifo = 0,
    /// The worker's own local queue.
    Local = 1,
    /// Stolen from another worker's local queue.
    Stolen = 2,
    /// The runtime's inject queue (remote schedules, overflow).
    Inject = 3,
}

impl ScheduleSource {
    /// How many sources there are.
    pub const COUNT: usize = 4;
    /// Every source, in index order.
    pub const ALL: [ScheduleSource; ScheduleSource::COUNT] = [
        ScheduleSource::Lifo,
        ScheduleSource::Local,
        ScheduleSource::Stolen,
        ScheduleSource::Inject,
    ];

    /// The label value used by the exporters.
    ///
    /// # Examples
    ///
    /// See [`ScheduleSource`].
    pub fn label(self) -> &'static str {
        match self {
            ScheduleSource::Lifo => "lifo",
            ScheduleSource::Local => "local",
            ScheduleSource::Stolen => "stolen",
            ScheduleSource::Inject => "inject",
        }
    }
}

/// One worker's schedule-latency counters, in one flat array of one row of
/// [`SLOTS`] counters per source: per source, waits by bit length of their
/// duration in whole microseconds (the poll-time tier scheme) in the row's
/// slots, and the sum of the waits in clock ticks in its last slot,
/// [`TICKS`], which no wait reaches. A source's row starts at its
/// [`Row`]; a poll start adds its slot to that, so that the address of
/// both counters costs one addition (no multiply, no bounds check).
#[derive(Debug)]
pub(crate) struct ScheduleLatencyProbes {
    /// [`ScheduleSource::COUNT`] rows, and one more: a row start plus any
    /// slot is below [`ROWS_LEN`], which lets the compiler drop the bounds
    /// check; the spare row is never written.
    counters: [Counter; ROWS_LEN],
}

/// The slot of a source's row that holds its wait sum. Waits reach at most
/// slot 55: the slot is the bit length of twice the whole microseconds, and
/// a wait is below 2^64 ticks of at most a nanosecond (as for the poll-time
/// slots, see `TimingProbes::slots`).
const TICKS: usize = SLOTS - 1;

/// [`ScheduleLatencyProbes::counters`]' length: the rows and a spare one.
const ROWS_LEN: usize = (ScheduleSource::COUNT + 1) * SLOTS;

/// Where a source's row starts in [`ScheduleLatencyProbes::counters`]: what
/// the recorder keeps between [`took`](crate::fork::WorkerRecorder::took) and the
/// poll start, in one byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Row(u8);

impl Row {
    /// The row of `source`.
    #[inline(always)]
    pub(crate) const fn of(source: ScheduleSource) -> Row {
        Row(source as u8 * SLOTS as u8)
    }
}

impl Default for ScheduleLatencyProbes {
    fn default() -> ScheduleLatencyProbes {
        ScheduleLatencyProbes {
            counters: std::array::from_fn(|_| Counter::new()),
        }
    }
}

impl ScheduleLatencyProbes {
    /// Records the wait of a task stamped at `stamp` whose poll starts at
    /// `start`, taken from the source whose row is `row`. A stamp after the
    /// start (a remote push that lands between the mark and the pop, or a
    /// TSC read on another CPU) is a zero wait.
    #[inline(always)]
    pub(crate) fn record(&self, clock: &Clock, row: Row, stamp: u64, start: u64) {
        let ticks = start.saturating_sub(stamp);
        let row = usize::from(row.0);
        // Below `ROWS_LEN` by construction (a `u8` row start of at most
        // `3 * SLOTS`, and a slot below `SLOTS`): no bounds check.
        self.counters[row + (clock.slot(ticks) & (SLOTS - 1))].add(1);
        self.counters[row + TICKS].add(ticks);
    }

    fn read(&self, clock: Clock, source: ScheduleSource) -> SourceLatency {
        let row = usize::from(Row::of(source).0);
        let slots = &self.counters[row..row + SLOTS];
        let mut tiers: [u64; TIERS] = std::array::from_fn(|k| slots[k].get());
        tiers[TIERS - 1] = slots[TIERS - 1..TICKS].iter().map(Counter::get).sum();
        SourceLatency {
            tiers,
            total: std::time::Duration::from_nanos(clock.ticks_to_ns(slots[TICKS].get())),
        }
    }
}

/// The waits of the tasks one worker took from one [`ScheduleSource`].
///
/// # Examples
///
/// ```
/// let none = tokio_pulse_probes::SourceLatency::default();
/// assert_eq!(none.tasks(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceLatency {
    /// Waits per duration tier; see [`tier`](crate::tier) for the bounds.
    pub tiers: [u64; TIERS],
    /// The sum of the waits.
    pub total: std::time::Duration,
}

impl SourceLatency {
    /// Waits recorded, all tiers.
    ///
    /// # Examples
    ///
    /// See [`SourceLatency`].
    pub fn tasks(&self) -> u64 {
        self.tiers.iter().sum()
    }
}

delta_by_field!(SourceLatency {
    tiers: since,
    total: since,
});

/// One worker's schedule latency, by source (poll timing on): how long each
/// polled task waited between its schedule and its poll's start. See the
/// module docs of `timing::schedule` for the definitions, and
/// [`ScheduleSource`].
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, ScheduleSource};
///
/// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
/// let (rt, _recorders) = RuntimeProbes::with_settings(None, 1, &settings);
/// let latency = rt.snapshot().workers[0].schedule_latency.clone().unwrap();
/// assert_eq!(latency.source(ScheduleSource::Inject).tasks(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ScheduleLatencySnapshot {
    /// Per source, in [`ScheduleSource::ALL`] order.
    pub sources: [SourceLatency; ScheduleSource::COUNT],
}

impl ScheduleLatencySnapshot {
    pub(crate) fn read(probes: &ScheduleLatencyProbes, clock: Clock) -> ScheduleLatencySnapshot {
        ScheduleLatencySnapshot {
            sources: ScheduleSource::ALL.map(|source| probes.read(clock, source)),
        }
    }

    /// The waits of the tasks taken from `source`.
    ///
    /// # Examples
    ///
    /// See [`ScheduleLatencySnapshot`].
    pub fn source(&self, source: ScheduleSource) -> &SourceLatency {
        &self.sources[source as usize]
    }
}

impl crate::delta::Delta for [SourceLatency; ScheduleSource::COUNT] {
    fn since(&self, earlier: &Self) -> Self {
        std::array::from_fn(|k| self[k].since(&earlier[k]))
    }
}

delta_by_field!(ScheduleLatencySnapshot { sources: since });
