//! Poll timing: the current poll each worker publishes (a sequence lock
//! the worker alone writes), the last stall's duration, and the timed poll's
//! hot and cold paths, which the worker's recorder drives.

use std::panic::Location;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{tier::TIERS, Clock};
use crate::config::PulseSettings;
use crate::counter::Counter;
use crate::events::{self, Delivery, EventLimiter, SlowPoll, TaskInfo};
use crate::sync::{self, fence, AtomicPtr, AtomicU64, Ordering};

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

/// The recorder's private poll-timing state.
#[derive(Debug)]
pub(crate) struct Timing {
    /// The worker's index, for its events.
    worker: usize,
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
pub(crate) fn publish_start(probes: &TimingProbes, task: TaskInfo) {
    let location = task
        .spawned_at
        .map_or(ptr::null_mut(), |at| ptr::from_ref(at).cast_mut());
    fence(Ordering::Release);
    probes.location.store(location, Ordering::Relaxed);
    probes.task_id.store(task.id, Ordering::Release);
}

impl Timing {
    /// The timing state of worker `worker`'s recorder, if `settings` turn
    /// poll timing on.
    pub(crate) fn new(
        worker: usize,
        settings: &PulseSettings,
        clock: Clock,
        runtime: Arc<str>,
        runtime_id: u64,
    ) -> Option<Timing> {
        if !settings.poll_timing {
            return None;
        }
        let ticks = |duration| clock.ns_to_ticks(duration_ns(duration)).max(1);
        let slow_ticks = ticks(settings.slow_poll);
        let stall_ticks = settings.stall.map_or(u64::MAX, ticks);
        Some(Timing {
            worker,
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
        })
    }

    /// A reading of the clock polls are timed on.
    #[inline]
    pub(crate) fn now(&self) -> u64 {
        self.clock.now()
    }

    /// Starts a poll of the current-thread `block_on` future, spawned at
    /// `caller`: the task polls so far are counted and summed now, and the
    /// sum then skips this poll.
    #[inline]
    pub(crate) fn start_block_on(
        &mut self,
        timing: &TimingProbes,
        caller: &'static Location<'static>,
    ) {
        self.flush(timing);
        publish_start(
            timing,
            TaskInfo {
                id: BLOCK_ON_TASK_ID,
                spawned_at: Some(caller),
            },
        );
    }

    /// `block_on` returns: a poll of its future still open (it unwound) is
    /// ended now, and the pending task polls are counted.
    #[inline]
    pub(crate) fn exit_block_on(&mut self, timing: &TimingProbes) {
        if timing.task_id.load(Ordering::Relaxed) == BLOCK_ON_TASK_ID {
            let now = self.clock.now();
            self.end_open(timing, now);
        }
        self.flush(timing);
    }

    /// Restarts the clock at `now`, at the start of a batch or after the
    /// scheduler's own work: the next poll starts here.
    pub(crate) fn restart_at(&mut self, timing: &TimingProbes, now: u64) {
        // A poll still open was handed over with the core (a
        // `block_in_place`): it is timed, and counted, up to now.
        let open_since = self.end_open(timing, now);
        self.flush(timing);
        // The next poll starts here, so this must be later than every start
        // published so far, an open poll's included. The time since the
        // last mark (a park) is in no sum.
        let now = now
            .max(timing.own_mark())
            .max(open_since.map_or(0, |start| start + 1));
        self.summed_to = now;
        timing.mark.store(now, Ordering::Release);
    }

    /// Ends the current poll at `now`: its duration, its tier, and the mark
    /// that starts the next poll. `now` is a raw TSC read when `tsc_read`,
    /// else the caller's clock reading.
    #[inline(always)]
    pub(crate) fn end_poll(&mut self, timing: &TimingProbes, now: u64, tsc_read: bool) {
        let ticks = now.wrapping_sub(timing.own_mark());
        if ticks >= self.cold_ticks {
            self.long_poll(timing, now, tsc_read);
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
    pub(crate) fn flush(&mut self, timing: &TimingProbes) {
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
    fn long_poll(&mut self, timing: &TimingProbes, now: u64, tsc_read: bool) {
        self.end_cold(timing, now, tsc_read, tsc_read, Kind::Task);
    }

    /// Ends the published poll at `now` (see [`long_poll`](Self::long_poll)
    /// for `tsc_read`; `nudge` moves the mark past the start even if the
    /// clock did not). A task poll is counted in its tier and in the
    /// poll-time sum; a poll of the `block_on` future is in neither (it is
    /// not a task poll, and `polls` does not count it), but it is published,
    /// timed, and counted and reported like any poll when slow or stalled.
    #[cold]
    #[inline(never)]
    pub(crate) fn end_cold(
        &mut self,
        timing: &TimingProbes,
        now: u64,
        tsc_read: bool,
        nudge: bool,
        kind: Kind,
    ) {
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
                worker: self.worker,
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
    fn end_open(&mut self, timing: &TimingProbes, now: u64) -> Option<u64> {
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
        self.end_cold(timing, now, false, true, kind);
        Some(start)
    }
}

/// What a published poll is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A task's poll: counted in `polls`, its tier and the poll-time sum.
    Task,
    /// A poll of the future passed to a current-thread `block_on`
    /// ([`BLOCK_ON_TASK_ID`]): timed and published, but no task poll.
    BlockOn,
}

fn duration_ns(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
