//! One worker's counters, and the recorder that writes them.
//!
//! # Who writes what
//!
//! 1. [`RuntimeProbes::new`](crate::RuntimeProbes::new) allocates one
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

use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::Counter;

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
}

/// The writing end of one worker's counters.
///
/// There is exactly one per worker, handed out once, by
/// [`RuntimeProbes::new`](crate::RuntimeProbes::new).
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
}

impl WorkerRecorder {
    pub(crate) fn new(probes: Arc<CachePadded<WorkerProbes>>) -> WorkerRecorder {
        WorkerRecorder { probes, victim: 0 }
    }

    /// A recorder that belongs to no runtime and is listed nowhere, for
    /// scratch scheduler state whose counts must not reach any runtime's
    /// probes (Tokio's task-dump stealing, Tokio's own unit tests).
    ///
    /// # Examples
    ///
    /// ```
    /// let mut scratch = tokio_pulse_probes::WorkerRecorder::detached();
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
    /// assert_eq!(rt.snapshot().workers[0].yields_self_wake, 1);
    /// ```
    #[inline(always)]
    pub fn scheduled_local(&mut self, kind: ScheduleKind, lifo: bool) {
        self.probes.scheduled[kind as usize][lifo as usize].add(1);
    }

    /// A running task deferred its wake-up for `reason`.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::YieldReason;
    ///
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].yielded(YieldReason::Budget);
    /// assert_eq!(rt.worker(0).unwrap().yields(YieldReason::Budget), 1);
    /// ```
    #[inline(always)]
    pub fn yielded(&mut self, reason: YieldReason) {
        self.probes.yields[reason as usize].add(1);
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
