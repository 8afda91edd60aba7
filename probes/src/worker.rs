//! One worker's counters, and the recorder that writes them.
//!
//! # Who writes what
//!
//! 1. [`fork::new`](crate::fork::new) allocates one
//!    [`WorkerProbes`] per worker, each in its own [`CachePadded`] allocation,
//!    and hands back exactly one [`WorkerRecorder`] per worker.
//! 2. The patched Tokio stores each recorder inside the worker's `Core`. A
//!    thread can touch a core only while it holds it, so the thread that holds
//!    the core is the recorder's only user: every counter has one writer.
//! 3. When the core moves (a `block_in_place`, a worker thread handing over),
//!    the recorder moves with it. A thread that runs without the core never
//!    reaches the recorder; Tokio counts what it does as remote.
//! 4. Readers go through [`RuntimeProbes::workers`](crate::RuntimeProbes::workers)
//!    or a [`snapshot`](crate::RuntimeProbes::snapshot), from any thread, live.

use std::panic::Location;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::{self, tier::TIERS};
use crate::events::{self, Delivery, EventLimiter, SlowPoll, TaskInfo};
use crate::runtime::Lifecycle;
use crate::sync::{self, fence, AtomicPtr, AtomicU64, Ordering};
use crate::{Clock, Counter, PulseSettings};

/// The task id under which a current-thread runtime publishes the polls of
/// its `block_on` future, a pseudo-task: slow-poll and stall events name it
/// with [`task_name`](crate::SlowPoll::task_name) `"block_on"` and, as its
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

/// Why a task was made runnable. Tokio passes it to each schedule probe so
/// that one counter array separates spawns from wakes without a branch.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::ScheduleKind;
///
/// assert_ne!(ScheduleKind::Spawn, ScheduleKind::Wake);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ScheduleKind {
    /// The first schedule of a newly spawned task.
    Spawn = 0,
    /// A waker was invoked for a task that was not running.
    Wake = 1,
    /// A task woke itself while it was being polled, so the scheduler puts it
    /// at the back of a queue once the poll returns (Tokio's
    /// `Schedule::yield_now`).
    SelfWake = 2,
}

impl ScheduleKind {
    pub(crate) const COUNT: usize = 3;
}

/// Why a running task gave its worker back through the deferred-wake list.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::YieldReason;
///
/// assert_eq!(YieldReason::YieldNow as usize, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum YieldReason {
    /// The task called `tokio::task::yield_now()`.
    YieldNow = 0,
    /// The task ran out of cooperative budget (`tokio::task::coop`).
    Budget = 1,
}

impl YieldReason {
    pub(crate) const COUNT: usize = 2;
}

/// Steals by one thief from one victim.
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
/// let from_worker_1 = &rt.worker(0).unwrap().steals_from()[1];
/// assert_eq!(from_worker_1.operations.get(), 0);
/// ```
#[derive(Debug, Default)]
pub struct StealCell {
    /// Successful steal operations (batches).
    pub operations: Counter,
    /// Tasks moved by those operations.
    pub tasks: Counter,
}

/// The counters of one worker. All are monotonic from zero at runtime build
/// and are never reset; all are written by the thread holding the worker's
/// core and readable from any thread.
///
/// Counters indexed by an enum are stored as arrays so that the probe picks
/// the slot by index instead of branching; the accessors name each slot.
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(Some("api"), 4);
/// let worker = rt.worker(2).unwrap();
/// assert_eq!(worker.index(), 2);
/// assert_eq!(worker.polls(), 0);
/// ```
#[derive(Debug)]
pub struct WorkerProbes {
    index: usize,
    /// Polls, `[0]` for tasks taken from a queue, `[1]` for tasks taken from
    /// the LIFO slot right after another poll (the polls Tokio's own
    /// `worker_poll_count` misses, tokio-rs/tokio#7106).
    polls: [Counter; 2],
    /// Local schedules by `[kind][into_lifo_slot]`.
    scheduled: [[Counter; 2]; ScheduleKind::COUNT],
    /// Deferred yields by reason.
    yields: [Counter; YieldReason::COUNT],
    /// Times the LIFO slot was disabled for the rest of a poll loop because
    /// it had been chained `MAX_LIFO_POLLS_PER_TICK` times.
    lifo_capped: Counter,
    /// Times the local queue was full and half of it moved to the inject
    /// queue.
    overflows: Counter,
    /// Attempts to steal from another worker's queue, successful or not.
    steal_attempts: Counter,
    /// Steals by this worker, per victim worker.
    steals_from: Box<[StealCell]>,
    /// Times the worker parked, and woke from a park.
    parks: Counter,
    unparks: Counter,
    /// Poll timing: all zero unless the runtime has poll timing on.
    pub(crate) timing: TimingProbes,
}

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
    pub(crate) slots: [Counter; SLOTS],
    /// Sum of poll durations, in clock ticks. Polls run back to back from
    /// the start of a batch (each one's start is the last one's end), so the
    /// sum over a batch is its last poll's end minus its start: it is added
    /// once per batch, not per poll, when the batch ends and when a poll
    /// takes the cold path (a slow poll or a stall is in the sum as soon as
    /// it ends). It is also the worker's busy time: from the start of each
    /// batch to the end of its last poll.
    pub(crate) poll_ticks: Counter,
    pub(crate) slow_polls: Counter,
    pub(crate) slow_events_dropped: Counter,
    /// Panics of the listener on a slow-poll event from this worker.
    pub(crate) slow_listener_panics: Counter,
    /// Written by the watchdog thread, their only writer: stalls, stalls
    /// whose events the rate limit dropped, and panics of the listener on
    /// this worker's stall events.
    pub(crate) stalls: Counter,
    pub(crate) stall_events_dropped: Counter,
    pub(crate) stall_listener_panics: Counter,
    /// The start of the current poll, which is the end of the last one (or
    /// the start of the batch).
    pub(crate) mark: AtomicU64,
    /// The task being polled, zero between polls.
    pub(crate) task_id: AtomicU64,
    pub(crate) location: AtomicPtr<Location<'static>>,
    /// The last poll that ran at least the stall threshold, so that the
    /// watchdog can report a stall's exact final duration.
    pub(crate) last_stall: LastStall,
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
/// poll publishes: see [`WorkerProbes::current_poll`].
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
    /// [`Clock`] (see [`RuntimeProbes::clock`](crate::RuntimeProbes::clock)).
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
    fn own_mark(&self) -> u64 {
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

impl WorkerProbes {
    pub(crate) fn new(index: usize, workers: usize) -> WorkerProbes {
        WorkerProbes {
            index,
            polls: Default::default(),
            scheduled: Default::default(),
            yields: Default::default(),
            lifo_capped: Counter::new(),
            overflows: Counter::new(),
            steal_attempts: Counter::new(),
            steals_from: (0..workers).map(|_| StealCell::default()).collect(),
            parks: Counter::new(),
            unparks: Counter::new(),
            timing: TimingProbes::default(),
        }
    }

    /// This worker's index in its runtime, `0..workers`.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().index(), 0);
    /// ```
    pub fn index(&self) -> usize {
        self.index
    }

    /// Every task poll on this worker, LIFO-chained polls included.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].polled();
    /// recorders[0].lifo_polled();
    /// assert_eq!(rt.worker(0).unwrap().polls(), 2);
    /// assert_eq!(rt.worker(0).unwrap().lifo_polls(), 1);
    /// ```
    pub fn polls(&self) -> u64 {
        self.polls[0].get() + self.polls[1].get()
    }

    /// Polls of a task taken from the LIFO slot right after another poll,
    /// without going back to the run queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().lifo_polls(), 0);
    /// ```
    pub fn lifo_polls(&self) -> u64 {
        self.polls[1].get()
    }

    /// Local schedules of `kind`, split into (into the LIFO slot, onto the
    /// back of the local run queue). "Local" means the scheduling thread held
    /// this worker's core. A push onto the local queue that overflows still
    /// counts as a local-queue schedule; see [`overflows`](Self::overflows).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::ScheduleKind;
    ///
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].scheduled_local(ScheduleKind::Spawn, true);
    /// assert_eq!(rt.worker(0).unwrap().scheduled(ScheduleKind::Spawn), (1, 0));
    /// ```
    pub fn scheduled(&self, kind: ScheduleKind) -> (u64, u64) {
        let [queue, lifo] = &self.scheduled[kind as usize];
        (lifo.get(), queue.get())
    }

    /// Deferred yields for `reason`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::YieldReason;
    ///
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().yields(YieldReason::Budget), 0);
    /// ```
    pub fn yields(&self, reason: YieldReason) -> u64 {
        self.yields[reason as usize].get()
    }

    /// Times chaining through the LIFO slot hit its cap.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().lifo_capped(), 0);
    /// ```
    pub fn lifo_capped(&self) -> u64 {
        self.lifo_capped.get()
    }

    /// Times the local queue overflowed into the inject queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().overflows(), 0);
    /// ```
    pub fn overflows(&self) -> u64 {
        self.overflows.get()
    }

    /// Attempts to steal from another worker, successful or not.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// assert_eq!(rt.worker(1).unwrap().steal_attempts(), 0);
    /// ```
    pub fn steal_attempts(&self) -> u64 {
        self.steal_attempts.get()
    }

    /// This worker's steals, one cell per victim worker (the cell for the
    /// worker itself stays zero).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 3);
    /// assert_eq!(rt.worker(0).unwrap().steals_from().len(), 3);
    /// ```
    pub fn steals_from(&self) -> &[StealCell] {
        &self.steals_from
    }

    /// Times the worker parked.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().parks(), 0);
    /// ```
    pub fn parks(&self) -> u64 {
        self.parks.get()
    }

    /// Times the worker returned from a park.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().unparks(), 0);
    /// ```
    pub fn unparks(&self) -> u64 {
        self.unparks.get()
    }

    /// The poll this worker is inside right now, if poll timing is on and it
    /// is inside one: the task, and the clock reading that started the poll.
    /// A few loads, from any thread, without disturbing the worker; the
    /// stall watchdog and `current_poll_seconds` read the same state.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, TaskInfo};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started_at(100);
    /// recorders[0].poll_started(|| TaskInfo { id: 9, spawned_at: None });
    /// let poll = rt.worker(0).unwrap().current_poll().unwrap();
    /// assert_eq!((poll.started, poll.task.id), (100, 9));
    /// recorders[0].poll_ended_at(200);
    /// assert_eq!(rt.worker(0).unwrap().current_poll(), None);
    /// ```
    pub fn current_poll(&self) -> Option<CurrentPoll> {
        self.timing.current()
    }
}

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
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{RuntimeProbes, ScheduleKind, YieldReason};
///
/// let (rt, mut recorders) = RuntimeProbes::new(Some("example"), 2);
/// let worker0 = &mut recorders[0];
/// worker0.scheduled_local(ScheduleKind::Wake, false);
/// worker0.polled();
/// worker0.yielded(YieldReason::YieldNow);
/// worker0.steal_attempt(1);
/// worker0.stole(4);
///
/// let snap = rt.snapshot();
/// assert_eq!(snap.workers[0].wakes_local_queue, 1);
/// assert_eq!(snap.workers[0].stolen_tasks, 4);
/// assert_eq!(snap.workers[0].steals_from[1].tasks, 4);
/// ```
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
}

/// The worker is gone once its recorder is: Tokio drops a worker's core, and
/// the recorder in it, only after the worker has run its last poll (the
/// multi-thread scheduler drops all cores together once every worker has
/// handed its core in at shutdown; the current-thread scheduler drops its
/// core with the scheduler).
impl Drop for WorkerRecorder {
    fn drop(&mut self) {
        if let Some(lifecycle) = self.lifecycle.take() {
            lifecycle.recorder_dropped();
        }
    }
}

/// The recorder's private poll-timing state.
#[derive(Debug)]
struct Timing {
    clock: Clock,
    /// Polls at least this long (or that the clock could not time) leave the
    /// hot path for [`Timing::long_poll`]: the smaller of the two
    /// thresholds below, and never more than [`MAX_HOT_TICKS`].
    cold_ticks: u64,
    slow_ticks: u64,
    /// The watchdog's threshold, `u64::MAX` without a watchdog.
    stall_ticks: u64,
    /// The mark up to which polls are in the poll-time sum.
    summed_to: u64,
    /// The slot of the last poll, counted when the next poll ends (or the
    /// batch does); [`SINK`] when none is pending.
    pending: usize,
    limiter: EventLimiter,
    runtime: Arc<str>,
    runtime_id: u64,
}

/// Durations from here up can only come from a clock that stepped back (a
/// TSC read on another CPU), never from a poll.
const MAX_HOT_TICKS: u64 = 1 << 62;

/// Publishes the task a poll is starting (see [`TimingProbes`] for the
/// protocol). Tokio's task ids are never zero, the value that means "between
/// polls".
#[inline(always)]
fn publish_start(probes: &TimingProbes, task: TaskInfo) {
    let location = task
        .spawned_at
        .map_or(ptr::null_mut(), |at| ptr::from_ref(at).cast_mut());
    fence(Ordering::Release);
    probes.location.store(location, Ordering::Relaxed);
    probes.task_id.store(task.id, Ordering::Release);
}

impl Timing {
    /// Ends the current poll at `now`: its duration, its tier, and the mark
    /// that starts the next poll. `now` is a raw TSC read when `tsc_read`,
    /// else the caller's clock reading.
    #[inline(always)]
    fn end_poll(&mut self, probes: &WorkerProbes, now: u64, tsc_read: bool) {
        let timing = &probes.timing;
        let ticks = now.wrapping_sub(timing.own_mark());
        if ticks >= self.cold_ticks {
            self.long_poll(probes, now, tsc_read);
            return;
        }
        timing.task_id.store(0, Ordering::Relaxed);
        timing.mark.store(now, Ordering::Release);
        // Count the previous poll's tier, and leave this one's for the next
        // end: the increment's address then does not wait on this clock
        // read. (An AMD CPU holds the next `rdtsc` until every older store
        // has its address, so a store addressed by this reading would chain
        // each poll's clock read to the last one's tier computation.)
        timing.pending_slot(self.pending).add(1);
        self.pending = self.clock.slot(ticks);
    }

    /// Counts the tier left pending by the last poll's end, and adds the
    /// polls since the last flush to the poll-time sum.
    #[inline]
    fn flush(&mut self, timing: &TimingProbes) {
        timing.pending_slot(self.pending).add(1);
        self.pending = SINK;
        let mark = timing.own_mark();
        timing.poll_ticks.add(mark.saturating_sub(self.summed_to));
        self.summed_to = mark;
    }

    /// The end of a poll the hot path does not finish: a poll of at least
    /// the cold threshold (a slow poll, or the end of a stall), any poll on a
    /// clock that is not a TSC (its threshold is zero, so that the hot path
    /// needs no second branch; the TSC read is discarded), or a clock that
    /// stepped back (a TSC read on another CPU), counted as a zero-length
    /// poll.
    #[cold]
    #[inline(never)]
    fn long_poll(&mut self, probes: &WorkerProbes, now: u64, tsc_read: bool) {
        self.end_cold(probes, now, tsc_read, tsc_read, Kind::Task);
    }

    /// Ends the published poll at `now` (see [`long_poll`](Self::long_poll)
    /// for `tsc_read`; `nudge` moves the mark past the start even if the
    /// clock did not). A task poll is counted in its tier and in the
    /// poll-time sum; a poll of the `block_on` future is in neither (it is
    /// not a task poll, and `polls` does not count it), but it is published,
    /// timed, and counted and reported like any poll when slow or stalled.
    #[cold]
    #[inline(never)]
    fn end_cold(
        &mut self,
        probes: &WorkerProbes,
        now: u64,
        tsc_read: bool,
        nudge: bool,
        kind: Kind,
    ) {
        let timing = &probes.timing;
        let start = timing.own_mark();
        let reading = if tsc_read && !self.clock.is_tsc() {
            self.clock.now()
        } else {
            now
        };
        // A clock that stepped back times the poll as zero. Marks only grow:
        // a real clock too coarse to have moved, or one that stepped back,
        // ends the poll one tick after its start (a harness's time is taken
        // as given).
        let ticks = reading.saturating_sub(start);
        let end = reading.max(start + u64::from(nudge));
        let task = TaskInfo {
            id: timing.task_id.load(Ordering::Relaxed),
            spawned_at: location_ref(timing.location.load(Ordering::Relaxed)),
        };
        if ticks >= self.stall_ticks {
            timing.last_stall.record(start, ticks);
        }
        if kind == Kind::BlockOn {
            // Sum the task polls before this one, up to its start.
            self.flush(timing);
        }
        timing.task_id.store(0, Ordering::Relaxed);
        // Also tells the watchdog, once it sees this mark, that the record
        // above is there.
        timing.mark.store(end, Ordering::Release);
        match kind {
            Kind::Task => {
                self.flush(timing);
                timing.slots[self.clock.slot(ticks)].add(1);
            }
            // Outside the poll-time sum, like a park.
            Kind::BlockOn => self.summed_to = end,
        }
        if ticks < self.slow_ticks {
            return;
        }
        timing.slow_polls.add(1);
        if !self.limiter.admit(end) {
            timing.slow_events_dropped.add(1);
            return;
        }
        let dropped_before = std::mem::take(&mut self.limiter.dropped_since_sent);
        let delivery = events::deliver(|listener| {
            listener.slow_poll(&SlowPoll {
                runtime: self.runtime.clone(),
                runtime_id: self.runtime_id,
                worker: probes.index,
                task,
                task_name: crate::task_names::name_of(task.id),
                duration: Duration::from_nanos(self.clock.ticks_to_ns(ticks)),
                dropped_before,
            });
        });
        if delivery == Delivery::Panicked {
            timing.slow_listener_panics.add(1);
        }
    }

    /// Ends a poll that is still published when the worker's core is taken
    /// up again at `now` (a clock reading): a task poll whose core a
    /// `block_in_place` handed to another thread, which the task's thread
    /// can no longer end, or a poll of the `block_on` future that unwound.
    /// It held the worker until now, so it is timed up to now. Returns the
    /// poll's start mark, if one was open.
    fn end_open(&mut self, probes: &WorkerProbes, now: u64) -> Option<u64> {
        let timing = &probes.timing;
        let id = timing.task_id.load(Ordering::Relaxed);
        if id == 0 {
            return None;
        }
        let start = timing.own_mark();
        let kind = if id == BLOCK_ON_TASK_ID {
            Kind::BlockOn
        } else {
            Kind::Task
        };
        self.end_cold(probes, now, false, true, kind);
        Some(start)
    }
}

/// What a published poll is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A task's poll: counted in `polls`, its tier and the poll-time sum.
    Task,
    /// A poll of the future passed to a current-thread `block_on`
    /// ([`BLOCK_ON_TASK_ID`]): timed and published, but no task poll.
    BlockOn,
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
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
        if settings.poll_timing {
            let ticks = |duration| clock.ns_to_ticks(duration_ns(duration)).max(1);
            let slow_ticks = ticks(settings.slow_poll);
            let stall_ticks = settings.stall.map_or(u64::MAX, ticks);
            self.timing = Some(Timing {
                clock,
                cold_ticks: if clock.is_tsc() {
                    slow_ticks.min(stall_ticks).min(MAX_HOT_TICKS)
                } else {
                    0
                },
                slow_ticks,
                stall_ticks,
                summed_to: 0,
                pending: SINK,
                limiter: EventLimiter::new(clock.ns_to_ticks(1_000_000_000)),
                runtime,
                runtime_id,
            });
        }
        self
    }

    /// Whether this recorder times polls.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_rt, recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert!(!recorders[0].times_polls());
    /// ```
    pub fn times_polls(&self) -> bool {
        self.timing.is_some()
    }

    /// A recorder that belongs to no runtime and is listed nowhere, for
    /// scratch scheduler state whose counts must not reach any runtime's
    /// probes (Tokio's task-dump stealing, Tokio's own unit tests).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut scratch = tokio_pulse_probes::fork::WorkerRecorder::detached();
    /// scratch.polled();
    /// assert_eq!(scratch.probes().polls(), 1);
    /// ```
    pub fn detached() -> WorkerRecorder {
        WorkerRecorder::new(Arc::new(CachePadded::new(WorkerProbes::new(0, 1))))
    }

    /// The counters this recorder writes.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_rt, recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(recorders[0].probes().index(), 0);
    /// ```
    pub fn probes(&self) -> &WorkerProbes {
        &self.probes
    }

    /// A task is about to be polled (taken from a queue, not the LIFO chain).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].polled();
    /// assert_eq!(rt.worker(0).unwrap().polls(), 1);
    /// ```
    #[inline(always)]
    pub fn polled(&mut self) {
        self.probes.polls[0].add(1);
    }

    /// A task is about to be polled (taken from a queue): counts the poll
    /// and, with poll timing on, publishes the task for the watchdog.
    /// `task` is called only when poll timing is on, so that reading the
    /// task's id and spawn location costs nothing otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::TaskInfo;
    ///
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].poll_started(|| TaskInfo { id: 1, spawned_at: None });
    /// recorders[0].poll_ended();
    /// assert_eq!(rt.worker(0).unwrap().polls(), 1);
    /// ```
    #[inline(always)]
    pub fn poll_started(&mut self, task: impl FnOnce() -> TaskInfo) {
        let probes = &*self.probes;
        probes.polls[0].add(1);
        if self.timing.is_some() {
            publish_start(&probes.timing, task());
        }
    }

    /// Like [`poll_started`](Self::poll_started), for a task taken from the
    /// LIFO slot right after another poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::TaskInfo;
    ///
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].lifo_poll_started(|| TaskInfo { id: 1, spawned_at: None });
    /// assert_eq!(rt.worker(0).unwrap().lifo_polls(), 1);
    /// ```
    #[inline(always)]
    pub fn lifo_poll_started(&mut self, task: impl FnOnce() -> TaskInfo) {
        let probes = &*self.probes;
        probes.polls[1].add(1);
        if self.timing.is_some() {
            publish_start(&probes.timing, task());
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
            timing.end_poll(probes, clock::tsc_now(), true);
        }
    }

    /// [`poll_ended`](Self::poll_ended) at an explicit clock reading, in
    /// ticks of the runtime's [`Clock`]. For harnesses that drive the model
    /// with synthetic time; Tokio calls `poll_ended`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, TaskInfo};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// let clock = rt.clock();
    /// recorders[0].busy_started_at(0);
    /// recorders[0].poll_started(|| TaskInfo { id: 1, spawned_at: None });
    /// recorders[0].poll_ended_at(clock.ns_to_ticks(3_000)); // 3 µs
    /// // The tier is counted when the next poll or the batch ends.
    /// recorders[0].busy_ended();
    /// let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    /// assert_eq!(timing.tiers[2], 1); // [2, 4) µs
    /// ```
    pub fn poll_ended_at(&mut self, now: u64) {
        let probes = &*self.probes;
        if let Some(timing) = &mut self.timing {
            timing.end_poll(probes, now, false);
        }
    }

    /// A current-thread runtime is about to poll the future passed to
    /// `block_on`, called at `caller`. With poll timing on, the poll is
    /// published as the pseudo-task [`BLOCK_ON_TASK_ID`] (for the watchdog
    /// and `current_poll_seconds`), so that its time is charged to neither
    /// the next task nor nobody. It is not a task poll: it is not counted in
    /// [`polls`](WorkerProbes::polls), nor in the poll-duration tiers or the
    /// poll-time sum (so these stay the task polls' own), but a slow poll or
    /// stall of it is counted and reported like any other, naming
    /// `block_on` and `caller`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::panic::Location;
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, BLOCK_ON_TASK_ID};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started_at(100);
    /// recorders[0].block_on_poll_started(Location::caller());
    /// let poll = rt.worker(0).unwrap().current_poll().unwrap();
    /// assert_eq!((poll.started, poll.task.id), (100, BLOCK_ON_TASK_ID));
    /// recorders[0].block_on_poll_ended_at(200);
    /// assert_eq!(rt.worker(0).unwrap().current_poll(), None);
    /// assert_eq!(rt.snapshot().workers[0].polls, 0);
    /// ```
    #[inline]
    pub fn block_on_poll_started(&mut self, caller: &'static Location<'static>) {
        if let Some(timing) = &mut self.timing {
            let probes = &self.probes.timing;
            // The task polls so far are counted and summed now; the sum then
            // skips this poll.
            timing.flush(probes);
            publish_start(
                probes,
                TaskInfo {
                    id: BLOCK_ON_TASK_ID,
                    spawned_at: Some(caller),
                },
            );
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
            timing.end_cold(&self.probes, clock::tsc_now(), true, true, Kind::BlockOn);
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
            timing.end_cold(&self.probes, now, false, false, Kind::BlockOn);
        }
    }

    /// A current-thread runtime's `block_on` gives the core back, returning
    /// or unwinding. With poll timing on, counts the last task poll's tier
    /// (so that the tiers add up to [`polls`](WorkerProbes::polls) between
    /// `block_on` calls) and ends a poll of the `block_on` future that a
    /// panic left open, so that it does not look stuck.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, TaskInfo};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started();
    /// recorders[0].poll_started(|| TaskInfo { id: 1, spawned_at: None });
    /// recorders[0].poll_ended();
    /// recorders[0].block_on_exited();
    /// let snap = rt.snapshot();
    /// assert_eq!(snap.workers[0].poll_time.as_ref().unwrap().polls(), 1);
    /// ```
    #[inline]
    pub fn block_on_exited(&mut self) {
        if let Some(timing) = &mut self.timing {
            if self.probes.timing.task_id.load(Ordering::Relaxed) == BLOCK_ON_TASK_ID {
                let now = timing.clock.now();
                timing.end_open(&self.probes, now);
            }
            timing.flush(&self.probes.timing);
        }
    }

    /// The worker starts a batch of polls: after a park, after maintenance,
    /// or when a thread picks up the worker's core. With poll timing on,
    /// this reads the clock, so that the next poll is not charged for the
    /// time before it, and ends a poll left open by a core hand-off (a
    /// `block_in_place`, whose thread gives the core away mid-poll and never
    /// ends the poll): that poll held the worker until this reading, and is
    /// timed and counted up to it, so that every poll counted is timed.
    ///
    /// # Examples
    ///
    /// ```
    /// let (_rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].busy_started();
    /// recorders[0].busy_ended();
    /// ```
    #[inline]
    pub fn busy_started(&mut self) {
        self.batches = self.batches.wrapping_add(1);
        if let Some(timing) = &self.timing {
            let now = timing.clock.now();
            self.restart_clock_at(now);
        }
    }

    /// The worker did scheduler work after the last poll ended or its batch
    /// started, and is about to poll: it woke a sibling worker (a futex or
    /// `eventfd` syscall), or waited for the other workers to take a task
    /// dump. With poll timing on, this reads the clock, like
    /// [`busy_started`](Self::busy_started), so that the next poll is not
    /// charged for that work; the work is in no poll and in no busy time.
    /// Tokio calls it only on those paths, never once per poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, TaskInfo};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started_at(0);
    /// // ... a wait for the other workers, at clock readings after 0 ...
    /// recorders[0].scheduler_work_done();
    /// recorders[0].poll_started(|| TaskInfo { id: 1, spawned_at: None });
    /// // The poll starts at the clock reading taken after the wait.
    /// let started = rt.worker(0).unwrap().current_poll().unwrap().started;
    /// assert!(started > 0);
    /// ```
    #[inline]
    pub fn scheduler_work_done(&mut self) {
        if let Some(timing) = &self.timing {
            let now = timing.clock.now();
            self.restart_clock_at(now);
        }
    }

    /// [`busy_started`](Self::busy_started) at an explicit clock reading.
    ///
    /// # Examples
    ///
    /// See [`poll_ended_at`](Self::poll_ended_at).
    pub fn busy_started_at(&mut self, now: u64) {
        self.batches = self.batches.wrapping_add(1);
        self.restart_clock_at(now);
    }

    /// Makes `now` the next poll's start, with poll timing on: counts what
    /// is pending and closes a poll left open, as a batch start does.
    fn restart_clock_at(&mut self, now: u64) {
        if let Some(timing) = &mut self.timing {
            // A poll still open was handed over with the core (a
            // `block_in_place`): it is timed, and counted, up to now.
            let open_since = timing.end_open(&self.probes, now);
            let probes = &self.probes.timing;
            timing.flush(probes);
            // The next poll starts here, so this must be later than every
            // start published so far, an open poll's included. The time
            // since the last mark (a park) is in no sum.
            let now = now
                .max(probes.own_mark())
                .max(open_since.map_or(0, |start| start + 1));
            timing.summed_to = now;
            probes.mark.store(now, Ordering::Release);
        }
    }

    /// The worker ran out of tasks to poll (it is about to steal, park or
    /// run maintenance). With poll timing on, counts the last poll's tier
    /// and adds the batch, from its start to the end of its last poll, to the
    /// poll-time sum (which is also busy time). That end is the last mark,
    /// so this reads no clock: a batch of `n` polls costs `n + 1` reads.
    ///
    /// # Examples
    ///
    /// See [`busy_started`](Self::busy_started).
    #[inline]
    pub fn busy_ended(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.flush(&self.probes.timing);
        }
    }

    /// A task from the LIFO slot is about to be polled right after another.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].lifo_polled();
    /// assert_eq!(rt.worker(0).unwrap().lifo_polls(), 1);
    /// ```
    #[inline(always)]
    pub fn lifo_polled(&mut self) {
        self.probes.polls[1].add(1);
    }

    /// A task was scheduled by the thread holding this worker's core, into
    /// the LIFO slot (`lifo == true`) or onto the back of the local queue.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::ScheduleKind;
    ///
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].scheduled_local(ScheduleKind::SelfWake, false);
    /// assert_eq!(rt.snapshot().workers[0].self_wakes_local, 1);
    /// ```
    #[inline(always)]
    pub fn scheduled_local(&mut self, kind: ScheduleKind, lifo: bool) {
        self.probes.scheduled[kind as usize][lifo as usize].add(1);
    }

    /// A running task deferred its wake-up for `reason`.
    ///
    /// [`YieldNow`](YieldReason::YieldNow) counts every call.
    /// [`Budget`](YieldReason::Budget) counts once per poll: Tokio calls this
    /// for every operation refused budget, and once the budget is spent a
    /// task waiting on `n` channels with a combinator that has no budget
    /// check of its own (`futures::select!`, `tokio::join!`, a hand-written
    /// `poll_fn`) is refused `n` times in the one poll that yields. A poll
    /// is told from the next by the poll counts and the batches started (see
    /// [`busy_started`](Self::busy_started)), so this adds nothing to a poll
    /// that is not refused budget. Polls that Tokio's workers do not see
    /// (the tasks of a `LocalSet`, the futures of a `FuturesUnordered`) are
    /// inside one worker poll and count as one.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{TaskInfo, YieldReason};
    ///
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// let task = || TaskInfo { id: 1, spawned_at: None };
    /// recorders[0].poll_started(task);
    /// recorders[0].yielded(YieldReason::Budget);
    /// recorders[0].yielded(YieldReason::Budget); // the same poll
    /// recorders[0].poll_ended();
    /// recorders[0].poll_started(task);
    /// recorders[0].yielded(YieldReason::Budget);
    /// recorders[0].poll_ended();
    /// assert_eq!(rt.worker(0).unwrap().yields(YieldReason::Budget), 2);
    /// ```
    #[inline(always)]
    pub fn yielded(&mut self, reason: YieldReason) {
        if reason == YieldReason::Budget {
            let key = self.poll_key();
            if key == self.budget_yield_key {
                return;
            }
            self.budget_yield_key = key;
        }
        self.probes.yields[reason as usize].add(1);
    }

    /// A number that differs from one poll to the next on this worker: the
    /// polls counted so far plus the batches started. Both only grow, and the
    /// scheduler counts a poll or starts a batch between any two polls, task
    /// or `block_on` future.
    #[inline]
    fn poll_key(&self) -> u64 {
        let polls = &self.probes.polls;
        polls[0]
            .get()
            .wrapping_add(polls[1].get())
            .wrapping_add(self.batches)
    }

    /// LIFO chaining hit its cap and the slot was disabled for this tick.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].lifo_capped();
    /// assert_eq!(rt.worker(0).unwrap().lifo_capped(), 1);
    /// ```
    #[inline(always)]
    pub fn lifo_capped(&mut self) {
        self.probes.lifo_capped.add(1);
    }

    /// The local queue overflowed: half of it moved to the inject queue.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].overflowed();
    /// assert_eq!(rt.worker(0).unwrap().overflows(), 1);
    /// ```
    #[inline(always)]
    pub fn overflowed(&mut self) {
        self.probes.overflows.add(1);
    }

    /// This worker is about to try to steal from worker `victim`. Call it
    /// before the attempt: a successful attempt then reports what it took
    /// with [`stole`](Self::stole).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// recorders[1].steal_attempt(0);
    /// assert_eq!(rt.worker(1).unwrap().steal_attempts(), 1);
    /// ```
    #[inline]
    pub fn steal_attempt(&mut self, victim: usize) {
        self.victim = victim;
        self.probes.steal_attempts.add(1);
    }

    /// The current steal attempt moved `tasks` tasks from the victim named
    /// by the last [`steal_attempt`](Self::steal_attempt).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// recorders[1].steal_attempt(0);
    /// recorders[1].stole(3);
    /// assert_eq!(rt.worker(1).unwrap().steals_from()[0].tasks.get(), 3);
    /// ```
    #[inline]
    pub fn stole(&mut self, tasks: u64) {
        // An out-of-range victim can only come from a caller bug; drop the
        // sample rather than panic inside the scheduler.
        if let Some(cell) = self.probes.steals_from.get(self.victim) {
            cell.operations.add(1);
            cell.tasks.add(tasks);
        }
    }

    /// The worker is about to park.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].parked();
    /// assert_eq!(rt.worker(0).unwrap().parks(), 1);
    /// ```
    #[inline(always)]
    pub fn parked(&mut self) {
        self.probes.parks.add(1);
    }

    /// The worker returned from a park.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].unparked();
    /// assert_eq!(rt.worker(0).unwrap().unparks(), 1);
    /// ```
    #[inline(always)]
    pub fn unparked(&mut self) {
        self.probes.unparks.add(1);
    }
}
