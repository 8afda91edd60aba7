//! Poll timing: the current poll each worker publishes (a sequence lock
//! the worker alone writes), the last stall's duration, and the timed poll's
//! hot and cold paths ([`paths`]), which the worker's recorder drives.

use std::panic::Location;
use std::ptr;

use crate::clock::tier::TIERS;
use crate::counter::Counter;
use crate::events::TaskInfo;
use crate::sync::{self, fence, AtomicPtr, AtomicU64, Ordering};

mod paths;
pub(crate) mod schedule;
pub(crate) mod states;

pub(crate) use paths::{publish_start, Kind, Timing};

/// The task id under which a current-thread runtime publishes the polls of
/// its `block_on` future, a pseudo-task: slow-poll and stall events name it
/// with [`task_name`](crate::PollEvent::task_name) `"block_on"` and, as its
/// [`spawned_at`](crate::TaskInfo::spawned_at), the `block_on` call.
///
/// Tokio numbers its tasks from 1 upwards and `0` means "between polls", so
/// `u64::MAX` could only be a real task's id after 2^64 - 1 spawns in one
/// process.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{TaskInfo, BLOCK_ON_TASK_ID};
///
/// let body = TaskInfo { id: BLOCK_ON_TASK_ID, spawned_at: None };
/// assert!(body.is_block_on());
/// ```
pub const BLOCK_ON_TASK_ID: u64 = u64::MAX;
/// The poll-timing counters of one worker, and the state each poll
/// publishes for the watchdog and for `current_poll_seconds`.
///
/// The published state is a sequence lock written by the worker alone. Its
/// version is the pair (mark, task id): the mark, a clock reading, moves at
/// the end of every poll, and the task id is zero between polls.
/// 1. at poll end: task id zero (relaxed), then the mark, the clock reading
///    that ends this poll and starts the next (`Release`);
/// 2. at poll start: a `Release` fence, the spawn location (relaxed), then
///    the task id (`Release`);
/// 3. a reader loads the mark (`Acquire`), the task id (`Acquire`), the
///    location, an `Acquire` fence, then the task id and the mark again; it
///    retries unless both are unchanged and the id is not zero. A reader that
///    sees a newer location sees, through the fences, the newer mark on its
///    second load. Marks only grow (the recorder nudges a clock too coarse
///    to have moved), so a mark is never reused. On x86_64 the fences and
///    `Release` stores compile to plain stores.
#[derive(Debug)]
pub(crate) struct TimingProbes {
    /// Polls by bit length of their duration in whole microseconds, so
    /// `slots[k]` for `k < TIERS - 1` is tier `k`; the snapshot folds the
    /// rest into the last tier. Sixty-four slots make the index a bare bit
    /// length, with no clamp on the hot path. A poll is counted when the
    /// worker's next poll ends, or when its batch ends (before the worker
    /// steals, parks or runs maintenance), so the tiers trail by at most one
    /// poll per worker. The last slot, [`SINK`], takes the increment of an
    /// end with no poll pending, and is never read.
    slots: [Counter; SLOTS],
    /// Sum of poll durations, in clock ticks. Polls run back to back from
    /// the start of a batch (each one's start is the last one's end), so the
    /// sum over a batch is its last poll's end minus its start: it is added
    /// once per batch, not per poll, when the batch ends and when a poll
    /// takes the cold path (a slow poll or a stall is in the sum as soon as
    /// it ends). It is also the worker's busy time: from the start of each
    /// batch to the end of its last poll.
    poll_ticks: Counter,
    slow_polls: Counter,
    slow_events_dropped: Counter,
    /// Panics of the listener on a slow-poll event from this worker.
    slow_listener_panics: Counter,
    /// Written by the watchdog thread, their only writer: stalls, stalls
    /// whose events the rate limit dropped, and panics of the listener on
    /// this worker's stall events.
    stalls: Counter,
    stall_events_dropped: Counter,
    stall_listener_panics: Counter,
    /// The start of the current poll, which is the end of the last one (or
    /// the start of the batch).
    mark: AtomicU64,
    /// The task being polled, zero between polls.
    task_id: AtomicU64,
    location: AtomicPtr<Location<'static>>,
    /// The last poll that ran at least the stall threshold, so that the
    /// watchdog can report a stall's exact final duration.
    last_stall: LastStall,
    /// Schedule latency by source ([`schedule`]).
    pub(crate) schedule: schedule::ScheduleLatencyProbes,
    /// Time per worker state ([`states`]).
    pub(crate) states: states::StateProbes,
}

impl Default for TimingProbes {
    fn default() -> TimingProbes {
        TimingProbes {
            slots: std::array::from_fn(|_| Counter::new()),
            poll_ticks: Counter::new(),
            slow_polls: Counter::new(),
            slow_events_dropped: Counter::new(),
            slow_listener_panics: Counter::new(),
            stalls: Counter::new(),
            stall_events_dropped: Counter::new(),
            stall_listener_panics: Counter::new(),
            mark: AtomicU64::new(0),
            task_id: AtomicU64::new(0),
            location: AtomicPtr::new(ptr::null_mut()),
            last_stall: LastStall::default(),
            schedule: Default::default(),
            states: Default::default(),
        }
    }
}

/// Slots of [`TimingProbes::slots`]: one per bit length of a `u64`.
pub(crate) const SLOTS: usize = 64;

/// The last slot, which no poll reaches (durations stay under 2^63 ticks of
/// at most a nanosecond, so their bit length in microseconds is at most 54)
/// and nothing reads.
const SINK: usize = SLOTS - 1;

/// The start mark and the duration of the last poll that reached the stall
/// threshold, under their own sequence lock (written by the worker, on the
/// cold path of such a poll's end; read by the watchdog).
#[derive(Debug, Default)]
pub(crate) struct LastStall {
    seq: AtomicU64,
    mark: AtomicU64,
    ticks: AtomicU64,
}

impl LastStall {
    fn record(&self, mark: u64, ticks: u64) {
        let seq = self.seq.load(Ordering::Relaxed);
        self.seq.store(seq + 1, Ordering::Relaxed);
        fence(Ordering::Release);
        self.mark.store(mark, Ordering::Relaxed);
        self.ticks.store(ticks, Ordering::Relaxed);
        self.seq.store(seq + 2, Ordering::Release);
    }

    /// The duration of the poll that started at `mark`, if it is the last
    /// one recorded.
    pub(crate) fn ticks_of(&self, mark: u64) -> Option<u64> {
        let seq = self.seq.load(Ordering::Acquire);
        let recorded = self.mark.load(Ordering::Relaxed);
        let ticks = self.ticks.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let unchanged = seq & 1 == 0 && self.seq.load(Ordering::Relaxed) == seq;
        (unchanged && recorded == mark).then_some(ticks)
    }
}

/// The poll a worker is inside right now, read whole from the state each
/// poll publishes: see [`WorkerProbes::current_poll`](crate::WorkerProbes::current_poll).
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{CurrentPoll, TaskInfo};
///
/// let poll = CurrentPoll { started: 7, task: TaskInfo { id: 1, spawned_at: None } };
/// assert_eq!(poll.task.id, 1);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CurrentPoll {
    /// The clock reading that started the poll, in ticks of the runtime's
    /// [`Clock`](crate::Clock) (see [`RuntimeProbes::clock`](crate::RuntimeProbes::clock)).
    pub started: u64,
    /// The task being polled.
    pub task: TaskInfo,
}

impl TimingProbes {
    /// The current poll, if the worker is inside one.
    pub(crate) fn current(&self) -> Option<CurrentPoll> {
        for _ in 0..16 {
            let mark = self.mark.load(Ordering::Acquire);
            let id = self.task_id.load(Ordering::Acquire);
            if id == 0 {
                return None;
            }
            let location = self.location.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.task_id.load(Ordering::Relaxed) == id
                && self.mark.load(Ordering::Relaxed) == mark
            {
                return Some(CurrentPoll {
                    started: mark,
                    task: TaskInfo {
                        id,
                        spawned_at: location_ref(location),
                    },
                });
            }
        }
        // The worker is polling faster than we can read: it is not stuck.
        None
    }

    /// The mark, read by the recorder that writes it. A plain load, which
    /// the compiler can fold into the subtraction that times the poll.
    #[inline(always)]
    #[allow(unsafe_code)]
    pub(crate) fn own_mark(&self) -> u64 {
        // SAFETY: only the worker's recorder (`&mut`, one per worker) stores
        // to `mark`, and this is that recorder reading it, so no store can
        // race with this load; other threads only load it, atomically, and
        // loads do not race with loads. The location is a valid, aligned
        // `u64` for the life of `self`.
        unsafe { sync::unsync_load(&self.mark) }
    }

    /// The slot a recorder left pending, without a bounds check.
    #[inline(always)]
    #[allow(unsafe_code)]
    fn pending_slot(&self, pending: usize) -> &Counter {
        debug_assert!(pending < SLOTS);
        // SAFETY: `Timing::pending` only ever holds `SINK` or a value of
        // `Clock::slot`, and both are below `SLOTS`, the array's length.
        unsafe { self.slots.get_unchecked(pending) }
    }

    /// The published mark: the start of the current poll, or the end of the
    /// last one.
    pub(crate) fn published_mark(&self) -> u64 {
        self.mark.load(Ordering::Acquire)
    }

    /// The duration of the poll that started at `mark`, if it is the last
    /// one that reached the stall threshold.
    pub(crate) fn stall_ticks_of(&self, mark: u64) -> Option<u64> {
        self.last_stall.ticks_of(mark)
    }

    /// The sum of poll durations, in clock ticks.
    pub(crate) fn poll_ticks(&self) -> u64 {
        self.poll_ticks.get()
    }

    /// Slow polls, and those whose events the rate limit dropped.
    pub(crate) fn slow_polls(&self) -> (u64, u64) {
        (self.slow_polls.get(), self.slow_events_dropped.get())
    }

    /// Stalls, and those whose events the rate limit dropped.
    pub(crate) fn stalls(&self) -> (u64, u64) {
        (self.stalls.get(), self.stall_events_dropped.get())
    }

    /// Panics of the listener on this worker's events, slow polls and
    /// stalls.
    pub(crate) fn listener_panics(&self) -> u64 {
        self.slow_listener_panics.get() + self.stall_listener_panics.get()
    }

    /// Counts a stall the watchdog detected; `sent` says whether its event
    /// went out (else the rate limit dropped it). The watchdog thread is the
    /// only caller, so the stall counters keep one writer.
    pub(crate) fn count_stall(&self, sent: bool) {
        self.stalls.add(1);
        if !sent {
            self.stall_events_dropped.add(1);
        }
    }

    /// Counts a panic of the listener on a stall event (the watchdog thread
    /// is the only caller).
    pub(crate) fn count_stall_listener_panic(&self) {
        self.stall_listener_panics.add(1);
    }

    /// Poll counts per tier, the slots past the last tier folded into it.
    pub(crate) fn tiers(&self) -> [u64; TIERS] {
        let mut tiers: [u64; TIERS] = std::array::from_fn(|k| self.slots[k].get());
        tiers[TIERS - 1] = self.slots[TIERS - 1..SINK].iter().map(Counter::get).sum();
        tiers
    }
}

#[allow(unsafe_code)]
fn location_ref(location: *mut Location<'static>) -> Option<&'static Location<'static>> {
    // SAFETY: the only pointers ever stored in `TimingProbes::location` come
    // from `&'static Location<'static>` references (see `publish_start`), so
    // a non-null one points to an immutable value that lives forever.
    unsafe { location.as_ref() }
}
