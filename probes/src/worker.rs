//! One worker's counters, and the recorder that writes them.
//!
//! # Who writes what
//!
//! 1. [`fork::new`](crate::fork::new) allocates one
//!    [`WorkerProbes`] per worker, each in its own `CachePadded` allocation,
//!    and hands back exactly one [`WorkerRecorder`](crate::fork::WorkerRecorder) per worker.
//! 2. The patched Tokio stores each recorder inside the worker's `Core`. A
//!    thread can touch a core only while it holds it, so the thread that holds
//!    the core is the recorder's only user: every counter has one writer.
//! 3. When the core moves (a `block_in_place`, a worker thread handing over),
//!    the recorder moves with it. A thread that runs without the core never
//!    reaches the recorder; Tokio counts what it does as remote.
//! 4. Readers go through [`RuntimeProbes::workers`](crate::RuntimeProbes::workers)
//!    or a [`snapshot`](crate::RuntimeProbes::snapshot), from any thread, live.

use crate::counter::Counter;
use crate::kinds::{ScheduleKind, YieldReason};
use crate::timing::{CurrentPoll, TimingProbes};

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
    pub(crate) index: usize,
    /// Polls, `[0]` for tasks taken from a queue, `[1]` for tasks taken from
    /// the LIFO slot right after another poll (the polls Tokio's own
    /// `worker_poll_count` misses, tokio-rs/tokio#7106).
    pub(crate) polls: [Counter; 2],
    /// Local schedules by `[kind][into_lifo_slot]`.
    pub(crate) scheduled: [[Counter; 2]; ScheduleKind::COUNT],
    /// Deferred yields by reason.
    pub(crate) yields: [Counter; YieldReason::COUNT],
    /// Times the LIFO slot was disabled for the rest of a poll loop because
    /// it had been chained `MAX_LIFO_POLLS_PER_TICK` times.
    pub(crate) lifo_capped: Counter,
    /// Times the local queue was full and half of it moved to the inject
    /// queue.
    pub(crate) overflows: Counter,
    /// Attempts to steal from another worker's queue, successful or not.
    pub(crate) steal_attempts: Counter,
    /// Steals by this worker, per victim worker.
    pub(crate) steals_from: Box<[StealCell]>,
    /// Times the worker parked, and woke from a park.
    pub(crate) parks: Counter,
    pub(crate) unparks: Counter,
    /// Poll timing: all zero unless the runtime has poll timing on.
    pub(crate) timing: TimingProbes,
    /// The worker's thread and its last stall report.
    pub(crate) thread: crate::stall_report::WorkerThread,
    /// When this worker last turned the drivers.
    pub(crate) driver: crate::driver::DriverTurn,
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
            thread: Default::default(),
            driver: Default::default(),
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
    /// recorders[0].poll_started(|| tokio_pulse_probes::TaskInfo { id: 1, spawned_at: None });
    /// recorders[0].lifo_poll_started(|| tokio_pulse_probes::TaskInfo { id: 1, spawned_at: None });
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

    /// The OS thread id (`gettid`) of the thread running this worker, once
    /// it has started (Linux x86_64 and AArch64; `None` elsewhere). A worker
    /// whose core moved to another thread (`block_in_place`) records the new
    /// one.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.worker(0).unwrap().thread_id(), None);
    /// ```
    pub fn thread_id(&self) -> Option<u64> {
        self.thread.tid()
    }

    /// The last stall the watchdog reported on this worker (the report of
    /// its end once it ended), with its stack, CPU share and thread state,
    /// and the `seq` and time of its entry in the [recent
    /// events](crate::recent_events).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert!(rt.worker(0).unwrap().last_stall().is_none());
    /// ```
    pub fn last_stall(&self) -> Option<std::sync::Arc<crate::Recent<crate::events::Stall>>> {
        self.thread.last_report()
    }
}
