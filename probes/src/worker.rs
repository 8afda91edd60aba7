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

use std::panic::Location;
use std::ptr;
use std::sync::atomic::{fence, AtomicPtr, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_utils::CachePadded;

use crate::clock::tier::{self, TIERS};
use crate::events::{self, SlowPoll, TaskInfo};
use crate::{Clock, Counter, PulseSettings};

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
/// The published state is a sequence lock written by the worker alone. The
/// sequence number is odd while the worker is inside a poll:
/// 1. at poll start: a `Release` fence, then the task's id and spawn
///    location (relaxed), then the odd sequence number (`Release`);
/// 2. at poll end: the even sequence number (`Release`), a `Release` fence,
///    then the mark, the clock reading that ends this poll and starts the
///    next (relaxed);
/// 3. a reader loads the sequence (`Acquire`), the fields, an `Acquire`
///    fence, then the sequence again, and retries if the two differ. Each
///    writer fence sits between a sequence store and the field stores after
///    it, so a reader that sees a newer field also sees the newer sequence
///    on its second load (the fences synchronize). On x86_64 the fences and
///    `Release` stores compile to plain stores.
#[derive(Debug, Default)]
pub(crate) struct TimingProbes {
    pub(crate) tiers: [Counter; TIERS],
    /// Sum of poll durations, in clock ticks.
    pub(crate) poll_ticks: Counter,
    /// Time spent processing tasks, start to end of each batch, in ticks.
    pub(crate) busy_ticks: Counter,
    pub(crate) slow_polls: Counter,
    pub(crate) slow_events_dropped: Counter,
    /// Written by the watchdog thread, its only writer.
    pub(crate) stalls: Counter,
    /// Poll number times two, plus one while inside the poll.
    pub(crate) seq: AtomicU64,
    /// Clock ticks at the start of the current (or last) poll.
    pub(crate) mark: AtomicU64,
    pub(crate) task_id: AtomicU64,
    pub(crate) location: AtomicPtr<Location<'static>>,
}

/// One consistent read of a worker's published poll state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PublishedPoll {
    pub(crate) seq: u64,
    pub(crate) mark: u64,
    pub(crate) task: TaskInfo,
}

impl TimingProbes {
    /// The current poll, if the worker is inside one.
    pub(crate) fn current(&self) -> Option<PublishedPoll> {
        for _ in 0..16 {
            let seq = self.seq.load(Ordering::Acquire);
            if seq & 1 == 0 {
                return None;
            }
            let mark = self.mark.load(Ordering::Relaxed);
            let id = self.task_id.load(Ordering::Relaxed);
            let location = self.location.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == seq {
                return Some(PublishedPoll {
                    seq,
                    mark,
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
    /// Poll-timing state; `None` when poll timing is off, which makes every
    /// timing probe one predictable branch. Kept inline, not boxed: the
    /// recorder lives in the worker's core, and one fewer pointer to follow
    /// is a load saved on every timed poll.
    timing: Option<Timing>,
}

/// The recorder's private poll-timing state.
#[derive(Debug)]
struct Timing {
    clock: Clock,
    slow_ticks: u64,
    /// End of the last poll, or start of the current batch: the start of the
    /// next poll. One clock read per poll serves as both.
    mark: u64,
    batch_start: u64,
    seq: u64,
    limiter: SlowPollLimiter,
    runtime: Arc<str>,
    runtime_id: u64,
}

/// At most [`SlowPollLimiter::BURST`] slow-poll events per second per
/// worker; the rest are counted as dropped.
#[derive(Debug)]
struct SlowPollLimiter {
    window_start: u64,
    window_ticks: u64,
    sent: u32,
    dropped_since_sent: u64,
}

impl SlowPollLimiter {
    const BURST: u32 = 10;

    /// Whether an event at `now` may go out; counts it either way.
    fn admit(&mut self, now: u64) -> bool {
        if now.wrapping_sub(self.window_start) >= self.window_ticks {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < Self::BURST {
            self.sent += 1;
            true
        } else {
            self.dropped_since_sent += 1;
            false
        }
    }
}

impl Timing {
    #[inline(always)]
    fn publish_start(&mut self, probes: &TimingProbes, task: TaskInfo) {
        let location = task
            .spawned_at
            .map_or(ptr::null_mut(), |at| ptr::from_ref(at).cast_mut());
        self.seq = (self.seq | 1) + 2;
        fence(Ordering::Release);
        probes.task_id.store(task.id, Ordering::Relaxed);
        probes.location.store(location, Ordering::Relaxed);
        probes.seq.store(self.seq, Ordering::Release);
    }
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
        }
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
            let now = clock.now();
            self.probes.timing.mark.store(now, Ordering::Relaxed);
            self.timing = Some(Timing {
                clock,
                slow_ticks: clock.ns_to_ticks(duration_ns(settings.slow_poll)).max(1),
                mark: now,
                batch_start: now,
                seq: 0,
                limiter: SlowPollLimiter {
                    window_start: now,
                    window_ticks: clock.ns_to_ticks(1_000_000_000).max(1),
                    sent: 0,
                    dropped_since_sent: 0,
                },
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
        self.probes.polls[0].add(1);
        if let Some(timing) = &mut self.timing {
            timing.publish_start(&self.probes.timing, task());
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
        self.probes.polls[1].add(1);
        if let Some(timing) = &mut self.timing {
            timing.publish_start(&self.probes.timing, task());
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
        if let Some(timing) = &self.timing {
            let now = timing.clock.now();
            self.poll_ended_at(now);
        }
    }

    /// [`poll_ended`](Self::poll_ended) at an explicit clock reading, in
    /// ticks of [`Clock::global`]. For harnesses that drive the model with
    /// synthetic time; Tokio calls `poll_ended`.
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
    /// let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    /// assert_eq!(timing.tiers[2], 1); // [2, 4) µs
    /// ```
    #[inline(always)]
    pub fn poll_ended_at(&mut self, now: u64) {
        let Some(timing) = &mut self.timing else {
            return;
        };
        let probes = &self.probes.timing;
        let ticks = now.saturating_sub(timing.mark);
        timing.mark = now;
        timing.seq &= !1;
        probes.seq.store(timing.seq, Ordering::Release);
        fence(Ordering::Release);
        probes.mark.store(now, Ordering::Relaxed);
        probes.tiers[tier::of_us(timing.clock.ticks_to_us(ticks))].add(1);
        probes.poll_ticks.add(ticks);
        if ticks >= timing.slow_ticks {
            self.slow_poll(now, ticks);
        }
    }

    #[cold]
    #[inline(never)]
    fn slow_poll(&mut self, now: u64, ticks: u64) {
        let Some(timing) = &mut self.timing else {
            return;
        };
        let probes = &self.probes.timing;
        probes.slow_polls.add(1);
        if !timing.limiter.admit(now) {
            probes.slow_events_dropped.add(1);
            return;
        }
        let Some(listener) = events::listener() else {
            return;
        };
        let event = SlowPoll {
            runtime: timing.runtime.clone(),
            runtime_id: timing.runtime_id,
            worker: self.probes.index,
            task: TaskInfo {
                id: probes.task_id.load(Ordering::Relaxed),
                spawned_at: location_ref(probes.location.load(Ordering::Relaxed)),
            },
            duration: Duration::from_nanos(timing.clock.ticks_to_ns(ticks)),
            dropped_before: std::mem::take(&mut timing.limiter.dropped_since_sent),
        };
        listener.slow_poll(&event);
    }

    /// The worker starts a batch of polls: after a park, after maintenance,
    /// or when a thread picks up the worker's core. With poll timing on,
    /// this reads the clock, so that the next poll is not charged for the
    /// time before it, and closes a poll left open by a core hand-off.
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
        if let Some(timing) = &self.timing {
            let now = timing.clock.now();
            self.busy_started_at(now);
        }
    }

    /// [`busy_started`](Self::busy_started) at an explicit clock reading.
    ///
    /// # Examples
    ///
    /// See [`poll_ended_at`](Self::poll_ended_at).
    pub fn busy_started_at(&mut self, now: u64) {
        if let Some(timing) = &mut self.timing {
            let probes = &self.probes.timing;
            timing.mark = now;
            timing.batch_start = now;
            timing.seq &= !1;
            probes.seq.store(timing.seq, Ordering::Release);
            fence(Ordering::Release);
            probes.mark.store(now, Ordering::Relaxed);
        }
    }

    /// The worker ran out of tasks to poll (it is about to steal, park or
    /// run maintenance). With poll timing on, adds the batch to busy time.
    ///
    /// # Examples
    ///
    /// See [`busy_started`](Self::busy_started).
    #[inline]
    pub fn busy_ended(&mut self) {
        if let Some(timing) = &self.timing {
            let now = timing.clock.now();
            self.probes
                .timing
                .busy_ticks
                .add(now.saturating_sub(timing.batch_start));
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
