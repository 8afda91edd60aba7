//! [`WorkerRecorder`], the one writer of a worker's counters.

use std::panic::Location;
use std::sync::Arc;

use crossbeam_utils::CachePadded;

use crate::clock::{self, Clock};
use crate::config::PulseSettings;
use crate::events::TaskInfo;
use crate::fork::{STAMP_OFF, STAMP_OTHER, STAMP_TSC};
use crate::kinds::{ScheduleKind, YieldReason};
use crate::lifecycle::Lifecycle;
use crate::timing::schedule::{Row, ScheduleSource};
use crate::timing::states::{StateClock, WorkerState};
use crate::timing::{self, Kind, Timing};
use crate::worker::WorkerProbes;

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

    /// The counters this recorder writes.
    pub fn probes(&self) -> &WorkerProbes {
        &self.probes
    }

    /// A task is about to be polled (taken from a queue): counts the poll
    /// and, with poll timing on, publishes the task for the watchdog.
    /// `task` is called only when poll timing is on, so that reading the
    /// task's id and spawn location costs nothing otherwise.
    #[inline(always)]
    pub fn poll_started(&mut self, task: impl FnOnce() -> TaskInfo) {
        let probes = &*self.probes;
        probes.polls[0].add(1);
        if self.timing.is_some() {
            timing::publish_start(&probes.timing, task());
        }
    }

    /// The scheduler has taken a task from `source`: the LIFO slot, a
    /// steal, or the inject queue. It names where the next
    /// [`poll_started_stamped`](Self::poll_started_stamped)'s task came
    /// from; a poll with no call before it counts its task as taken from the
    /// local queue, so that the commonest dequeue costs nothing. Call it
    /// only once a task is in hand (a source named for a search that found
    /// nothing would be charged to the next poll). One store.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, ScheduleSource, TaskInfo};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// let worker = &mut recorders[0];
    /// worker.busy_started_at(10);
    /// worker.took(ScheduleSource::Inject);
    /// // Scheduled at tick 4, polled from the batch start at tick 10.
    /// worker.poll_started_stamped(|| TaskInfo { id: 1, spawned_at: None }, || 4);
    /// worker.poll_ended_at(20);
    /// let latency = rt.snapshot().workers[0].schedule_latency.clone().unwrap();
    /// assert_eq!(latency.source(ScheduleSource::Inject).tasks(), 1);
    /// ```
    #[inline(always)]
    pub fn took(&mut self, source: ScheduleSource) {
        self.source = Row::of(source);
    }

    /// A task is being scheduled by the thread holding this worker's core:
    /// like [`RuntimeWriter::schedule_stamp`](crate::fork::RuntimeWriter::schedule_stamp),
    /// from the recorder the core already has at hand (`None`, and no clock
    /// read, with poll timing or schedule latency off).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{fork, PulseConfig};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (_writer, mut recorders) = fork::with_settings(None, 1, &settings);
    /// assert!(recorders[0].schedule_stamp().is_some_and(|stamp| stamp > 0));
    /// ```
    #[inline(always)]
    pub fn schedule_stamp(&self) -> Option<u64> {
        // One compare with `STAMP_TSC`: below is off, equal the TSC.
        if self.stamp < STAMP_TSC {
            return None;
        }
        // Every schedule is stamped and every stamped poll recorded, so a
        // stamp needs no mark of its own (such as a set low bit) to tell it
        // from none.
        Some(if self.stamp == STAMP_TSC {
            clock::tsc_now()
        } else {
            self.other_stamp()
        })
    }

    /// [`schedule_stamp`](Self::schedule_stamp) on a clock that is not the
    /// TSC, out of line.
    #[cold]
    #[inline(never)]
    fn other_stamp(&self) -> u64 {
        self.timing.as_ref().map_or(1, Timing::stamp)
    }

    /// [`poll_started`](Self::poll_started) for a task whose schedule
    /// stamp `scheduled_at` returns (the reading of
    /// [`RuntimeWriter::schedule_stamp`](crate::fork::RuntimeWriter::schedule_stamp)
    /// or [`schedule_stamp`](Self::schedule_stamp) kept in the task). With
    /// poll timing and schedule latency on, the wait from the stamp to this
    /// poll's start (the mark: no clock read) goes into the
    /// schedule-latency histogram of the source named by
    /// [`took`](Self::took) since the last poll ([`ScheduleSource::Local`]
    /// if none). `task` runs only with timing on, `scheduled_at` only with
    /// schedule latency on too (every schedule is then stamped).
    ///
    /// # Examples
    ///
    /// See [`took`](Self::took).
    #[inline(always)]
    pub fn poll_started_stamped(
        &mut self,
        task: impl FnOnce() -> TaskInfo,
        scheduled_at: impl FnOnce() -> u64,
    ) {
        let probes = &*self.probes;
        probes.polls[0].add(1);
        if let Some(timing) = &self.timing {
            timing::publish_start(&probes.timing, task());
            // A poll whose task nobody named came from the local queue: the
            // scheduler names only the other sources, so that the commonest
            // dequeue stores nothing.
            let row = std::mem::replace(&mut self.source, Row::of(ScheduleSource::Local));
            if self.stamp >= STAMP_TSC {
                record_wait(probes, timing, row, scheduled_at());
            }
        }
    }

    /// [`lifo_poll_started`](Self::lifo_poll_started) with the task's
    /// schedule stamp; see [`poll_started_stamped`](Self::poll_started_stamped).
    /// The source is [`ScheduleSource::Lifo`].
    ///
    /// # Examples
    ///
    /// See [`took`](Self::took).
    #[inline(always)]
    pub fn lifo_poll_started_stamped(
        &mut self,
        task: impl FnOnce() -> TaskInfo,
        scheduled_at: impl FnOnce() -> u64,
    ) {
        let probes = &*self.probes;
        probes.polls[1].add(1);
        if let Some(timing) = &self.timing {
            timing::publish_start(&probes.timing, task());
            if self.stamp >= STAMP_TSC {
                let row = Row::of(ScheduleSource::Lifo);
                record_wait(probes, timing, row, scheduled_at());
            }
        }
    }

    /// Like [`poll_started`](Self::poll_started), for a task taken from the
    /// LIFO slot right after another poll.
    #[inline(always)]
    pub fn lifo_poll_started(&mut self, task: impl FnOnce() -> TaskInfo) {
        let probes = &*self.probes;
        probes.polls[1].add(1);
        if self.timing.is_some() {
            timing::publish_start(&probes.timing, task());
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
            timing.end_poll(&probes.timing, clock::tsc_now(), true);
        }
    }

    /// [`poll_ended`](Self::poll_ended) at an explicit clock reading, in
    /// ticks of the runtime's [`Clock`]. For harnesses that drive the model
    /// with synthetic time; Tokio calls `poll_ended`.
    pub fn poll_ended_at(&mut self, now: u64) {
        let probes = &*self.probes;
        if let Some(timing) = &mut self.timing {
            timing.end_poll(&probes.timing, now, false);
        }
    }

    /// A current-thread runtime is about to poll the future passed to
    /// `block_on`, called at `caller`. With poll timing on, the poll is
    /// published as the pseudo-task [`BLOCK_ON_TASK_ID`](crate::BLOCK_ON_TASK_ID) (for the watchdog
    /// and `current_poll_seconds`), so that its time is charged to neither
    /// the next task nor nobody. It is not a task poll: it is not counted in
    /// [`polls`](WorkerProbes::polls), nor in the poll-duration tiers or the
    /// poll-time sum (so these stay the task polls' own), but a slow poll or
    /// stall of it is counted and reported like any other, naming
    /// `block_on` and `caller`.
    #[inline]
    pub fn block_on_poll_started(&mut self, caller: &'static Location<'static>) {
        if let Some(timing) = &mut self.timing {
            timing.start_block_on(&self.probes.timing, caller);
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
            timing.end_cold(
                &self.probes.timing,
                clock::tsc_now(),
                true,
                true,
                Kind::BlockOn,
            );
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
            timing.end_cold(&self.probes.timing, now, false, false, Kind::BlockOn);
        }
    }

    /// A current-thread runtime's `block_on` gives the core back, returning
    /// or unwinding. With poll timing on, counts the last task poll's tier
    /// (so that the tiers add up to [`polls`](WorkerProbes::polls) between
    /// `block_on` calls) and ends a poll of the `block_on` future that a
    /// panic left open, so that it does not look stuck.
    #[inline]
    pub fn block_on_exited(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.exit_block_on(&self.probes.timing);
        }
    }

    /// The worker starts a batch of polls: after a park, after maintenance,
    /// or when a thread picks up the worker's core. With poll timing on,
    /// this reads the clock, so that the next poll is not charged for the
    /// time before it, and ends a poll left open by a core hand-off (a
    /// `block_in_place`, whose thread gives the core away mid-poll and never
    /// ends the poll): that poll held the worker until this reading, and is
    /// timed and counted up to it, so that every poll counted is timed.
    #[inline]
    pub fn busy_started(&mut self) {
        self.batches = self.batches.wrapping_add(1);
        if let Some(timing) = &self.timing {
            let now = timing.now();
            self.restart_clock_at(now);
            self.switch_state(now, WorkerState::Poll);
        }
    }

    /// The worker did scheduler work after the last poll ended or its batch
    /// started, and is about to poll: it woke a sibling worker (a futex or
    /// `eventfd` syscall), or waited for the other workers to take a task
    /// dump. With poll timing on, this reads the clock, like
    /// [`busy_started`](Self::busy_started), so that the next poll is not
    /// charged for that work; the work is in no poll and in no busy time.
    /// Tokio calls it only on those paths, never once per poll.
    #[inline]
    pub fn scheduler_work_done(&mut self) {
        if let Some(timing) = &self.timing {
            let now = timing.now();
            // Polls up to the last mark, scheduler work since.
            let mark = self.probes.timing.own_mark();
            self.switch_state(mark, WorkerState::Maintenance);
            self.restart_clock_at(now);
            self.switch_state(now, WorkerState::Poll);
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
        self.switch_state(now, WorkerState::Poll);
    }

    /// Makes `now` the next poll's start, with poll timing on: counts what
    /// is pending and closes a poll left open, as a batch start does.
    fn restart_clock_at(&mut self, now: u64) {
        if let Some(timing) = &mut self.timing {
            timing.restart_at(&self.probes.timing, now);
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
            // The batch ended with its last poll: what follows, until the
            // worker polls, parks or turns the driver, is looking for work.
            let mark = self.probes.timing.own_mark();
            self.switch_state(mark, WorkerState::Search);
        }
    }

    /// With poll timing on, charges the time since the worker's last state
    /// change, up to `now`, to that state, and enters `next`.
    #[inline]
    fn switch_state(&mut self, now: u64, next: WorkerState) {
        if self.timing.is_some() {
            self.states.switch(&self.probes.timing.states, now, next);
        }
    }

    /// With poll timing on, reads the clock and enters `next`.
    #[inline]
    fn switch_state_now(&mut self, next: WorkerState) {
        if let Some(timing) = &self.timing {
            let now = timing.now();
            self.states.switch(&self.probes.timing.states, now, next);
        }
    }

    /// The worker turns its driver without sleeping (`park_timeout(0)`:
    /// maintenance, or deferred wakers before a park). With poll timing on,
    /// one clock read: the worker enters the `driver` state.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, WorkerState};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started();
    /// recorders[0].busy_ended();
    /// recorders[0].driver_turn_started();
    /// recorders[0].maintenance_started();
    /// let states = rt.snapshot().workers[0].states.clone().unwrap();
    /// assert_eq!(states.current, Some(WorkerState::Maintenance));
    /// // Equal but for rounding each state to whole nanoseconds.
    /// assert!(states.total().abs_diff(states.wall).as_nanos() < 10);
    /// ```
    #[inline]
    pub fn driver_turn_started(&mut self) {
        self.switch_state_now(WorkerState::Driver);
    }

    /// The worker starts its regular maintenance after a driver turn. With
    /// poll timing on, one clock read: the worker enters `maintenance`.
    ///
    /// # Examples
    ///
    /// See [`driver_turn_started`](Self::driver_turn_started).
    #[inline]
    pub fn maintenance_started(&mut self) {
        self.switch_state_now(WorkerState::Maintenance);
    }

    /// `block_in_place` is handing this worker's core to another thread.
    /// With poll timing on, one clock read: the worker enters `blocking`
    /// until a thread runs the core again ([`busy_started`](Self::busy_started)
    /// or [`core_taken_back`](Self::core_taken_back)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, WorkerState};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started();
    /// recorders[0].core_handed_off();
    /// let states = rt.snapshot().workers[0].states.clone().unwrap();
    /// assert_eq!(states.current, Some(WorkerState::Blocking));
    /// recorders[0].core_taken_back();
    /// ```
    #[inline]
    pub fn core_handed_off(&mut self) {
        self.switch_state_now(WorkerState::Blocking);
    }

    /// The thread that handed the core away in `block_in_place` took it
    /// back, inside the poll that called it: with poll timing on, one clock
    /// read, and the worker is polling again.
    ///
    /// # Examples
    ///
    /// See [`core_handed_off`](Self::core_handed_off).
    #[inline]
    pub fn core_taken_back(&mut self) {
        self.switch_state_now(WorkerState::Poll);
    }

    /// A task was scheduled by the thread holding this worker's core, into
    /// the LIFO slot (`lifo == true`) or onto the back of the local queue.
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
    #[inline(always)]
    pub fn lifo_capped(&mut self) {
        self.probes.lifo_capped.add(1);
    }

    /// The local queue overflowed: half of it moved to the inject queue.
    #[inline(always)]
    pub fn overflowed(&mut self) {
        self.probes.overflows.add(1);
    }

    /// This worker is about to try to steal from worker `victim`. Call it
    /// before the attempt: a successful attempt then reports what it took
    /// with [`stole`](Self::stole).
    #[inline]
    pub fn steal_attempt(&mut self, victim: usize) {
        self.victim = victim;
        self.probes.steal_attempts.add(1);
    }

    /// The current steal attempt moved `tasks` tasks from the victim named
    /// by the last [`steal_attempt`](Self::steal_attempt).
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
    #[inline(always)]
    pub fn parked(&mut self) {
        self.probes.parks.add(1);
        self.switch_state_now(WorkerState::Park);
    }

    /// The worker returned from a park. `had_driver`: the park turned the
    /// drivers (I/O, timers); with poll timing on, that is recorded with a
    /// clock reading, for the watchdog's starved-driver check and
    /// `tokio_pulse_driver_last_turn_age_seconds`. Once per park, never per
    /// poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{fork, PulseConfig};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (writer, mut recorders) = fork::with_settings(None, 1, &settings);
    /// std::thread::sleep(std::time::Duration::from_millis(20));
    /// // Not turned yet: the age is the runtime's.
    /// let built = writer.probes().snapshot().driver_last_turn_age.unwrap();
    /// recorders[0].driver_turned(true);
    /// let turned = writer.probes().snapshot().driver_last_turn_age.unwrap();
    /// assert!(turned < built, "{turned:?} {built:?}");
    /// ```
    #[inline]
    pub fn driver_turned(&mut self, had_driver: bool) {
        if let (true, Some(timing)) = (had_driver, &self.timing) {
            self.probes.driver.record(timing.now());
        }
    }

    /// The worker returned from a park.
    #[inline(always)]
    pub fn unparked(&mut self) {
        self.probes.unparks.add(1);
        self.switch_state_now(WorkerState::Maintenance);
    }
}

/// Records the wait of the task whose poll starts now (at the mark), stamped
/// at `stamp`, in the source's `row`.
#[inline(always)]
fn record_wait(probes: &WorkerProbes, timing: &Timing, row: Row, stamp: u64) {
    let start = probes.timing.own_mark();
    probes
        .timing
        .schedule
        .record(timing.clock(), row, stamp, start);
}
