//! The timed poll's hot and cold paths: the recorder's private timing state,
//! which publishes each poll into its worker's [`TimingProbes`] and ends it.

use std::panic::Location;
use std::ptr;
use std::sync::Arc;
use std::time::Duration;

use super::{location_ref, TimingProbes, BLOCK_ON_TASK_ID, SINK};
use crate::clock::Clock;
use crate::config::PulseSettings;
use crate::events::{self, Delivery, EventLimiter, PollEvent, SlowPoll, TaskInfo};
use crate::sync::{fence, Ordering};

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
    let location = task.spawned_at.map_or(ptr::null_mut(), |at| {
        (at as *const Location<'static>).cast_mut()
    });
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

    /// A schedule stamp: a reading of the clock, never 0 (a TSC reading
    /// with its lowest bit set, one tick at most).
    #[inline(always)]
    pub(crate) fn stamp(&self) -> u64 {
        if self.clock.is_tsc() {
            crate::clock::tsc_now() | 1
        } else {
            other_stamp(&self.clock)
        }
    }

    /// The clock polls are timed on.
    #[inline(always)]
    pub(crate) fn clock(&self) -> &Clock {
        &self.clock
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
        let delivery = events::deliver_slow_poll(&SlowPoll {
            poll: PollEvent {
                runtime: self.runtime.clone(),
                runtime_id: self.runtime_id,
                worker: self.worker,
                task,
                task_name: crate::task_names::name_of(task.id),
                duration: Duration::from_nanos(self.clock.ticks_to_ns(ticks)),
                dropped_before,
            },
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

/// A schedule stamp on a clock that is not the TSC, out of line.
#[inline(never)]
fn other_stamp(clock: &Clock) -> u64 {
    clock.now().max(1)
}
