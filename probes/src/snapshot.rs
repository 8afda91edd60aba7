//! Plain-data copies of the counters, and differences between two copies.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::tier::TIERS;
use crate::{
    Clock, RemoteKind, RuntimeGauges, RuntimeProbes, ScheduleKind, WorkerProbes, YieldReason,
};

/// One worker's poll timing, present only when the runtime times polls.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{PulseConfig, RuntimeProbes};
///
/// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
/// let (rt, _recorders) = RuntimeProbes::with_settings(None, 1, &settings);
/// let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
/// assert_eq!(timing.polls(), 0);
/// assert_eq!(timing.current_poll, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollTimeSnapshot {
    /// Polls per duration tier; see [`tier`](crate::tier) for the bounds.
    /// A poll is counted when the worker's next poll ends, or when its batch
    /// ends (before the worker steals, parks or runs maintenance), so the
    /// tiers trail by at most one poll per worker. Every poll counted in
    /// [`WorkerSnapshot::polls`] is timed: between batches the tiers add up
    /// to it. A current-thread runtime's `block_on` future is not a task and
    /// is in neither (see [`BLOCK_ON_TASK_ID`](crate::BLOCK_ON_TASK_ID)).
    pub tiers: [u64; TIERS],
    /// The sum of all poll durations. Each poll's duration runs from the end
    /// of the one before it in its batch (or the batch's start), so it
    /// includes the scheduler's work of picking it. Added once per batch
    /// (at the latest every 61 scheduler ticks, when the worker runs
    /// maintenance) and at the end of every slow poll or stall, so it can
    /// trail [`tiers`](Self::tiers) by one batch. Task polls only: the
    /// polls of a current-thread runtime's `block_on` future are not in it.
    pub poll_time: Duration,
    /// Time spent processing tasks, from the start of each batch of polls
    /// (after a park or maintenance) to the end of its last poll: what
    /// Tokio's `worker_total_busy_duration` measures, between the same two
    /// points of the worker loop. Polls run back to back from the batch's
    /// start, so this is the same counter as
    /// [`poll_time`](Self::poll_time), read once per snapshot for both: the
    /// two are always equal, in a snapshot and in a delta.
    ///
    /// Kept, under Tokio's name, for dashboards written against Tokio's
    /// metrics (a busy ratio is `rate(busy) / 1 s`), though it adds no
    /// information to `poll_time`; an exporter may send either one.
    pub busy_time: Duration,
    /// Polls that took at least the slow-poll threshold, the polls of a
    /// current-thread runtime's `block_on` future included (their events
    /// name the pseudo-task `block_on`), so this can exceed the slow tiers.
    pub slow_polls: u64,
    /// Slow-poll events the per-worker rate limit did not send (the polls
    /// are still in [`slow_polls`](Self::slow_polls)).
    pub slow_poll_events_dropped: u64,
    /// Stalls the watchdog detected on this worker, whether or not their
    /// events went out, stuck `block_on` bodies of a current-thread runtime
    /// included.
    pub stalls: u64,
    /// Stalls of [`stalls`](Self::stalls) whose events the per-worker rate
    /// limit did not send: neither the start nor the end event of such a
    /// stall goes out.
    pub stall_events_dropped: u64,
    /// Times the installed [`PulseListener`](crate::PulseListener)
    /// panicked on an event from this worker (a slow poll or a stall). The
    /// panic is caught; the worker and the watchdog carry on.
    pub listener_panics: u64,
    /// How long the worker had been inside its current poll when the
    /// snapshot was taken; `None` between polls. A gauge: a delta keeps the
    /// later value.
    pub current_poll: Option<Duration>,
}

impl PollTimeSnapshot {
    fn read(worker: &WorkerProbes, clock: Clock) -> PollTimeSnapshot {
        let timing = &worker.timing;
        let current_poll = timing.current().map(|poll| {
            Duration::from_nanos(clock.ticks_to_ns(clock.now().saturating_sub(poll.started)))
        });
        // One counter, read once: poll time and busy time are equal.
        let poll_time = Duration::from_nanos(clock.ticks_to_ns(timing.poll_ticks.get()));
        PollTimeSnapshot {
            tiers: timing.tiers(),
            poll_time,
            busy_time: poll_time,
            slow_polls: timing.slow_polls.get(),
            slow_poll_events_dropped: timing.slow_events_dropped.get(),
            stalls: timing.stalls.get(),
            stall_events_dropped: timing.stall_events_dropped.get(),
            listener_panics: timing.slow_listener_panics.get() + timing.stall_listener_panics.get(),
            current_poll,
        }
    }

    /// Polls timed, all tiers.
    ///
    /// # Examples
    ///
    /// See [`PollTimeSnapshot`].
    pub fn polls(&self) -> u64 {
        self.tiers.iter().sum()
    }

    fn delta(&self, earlier: &PollTimeSnapshot) -> PollTimeSnapshot {
        PollTimeSnapshot {
            tiers: std::array::from_fn(|k| self.tiers[k].saturating_sub(earlier.tiers[k])),
            poll_time: self.poll_time.saturating_sub(earlier.poll_time),
            busy_time: self.busy_time.saturating_sub(earlier.busy_time),
            slow_polls: self.slow_polls.saturating_sub(earlier.slow_polls),
            slow_poll_events_dropped: self
                .slow_poll_events_dropped
                .saturating_sub(earlier.slow_poll_events_dropped),
            stalls: self.stalls.saturating_sub(earlier.stalls),
            stall_events_dropped: self
                .stall_events_dropped
                .saturating_sub(earlier.stall_events_dropped),
            listener_panics: self.listener_panics.saturating_sub(earlier.listener_panics),
            current_poll: self.current_poll,
        }
    }
}

/// Steals by one thief from one victim, as plain data.
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
/// let cell = rt.snapshot().workers[0].steals_from[1];
/// assert_eq!((cell.operations, cell.tasks), (0, 0));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StealSnapshot {
    /// Successful steal operations.
    pub operations: u64,
    /// Tasks those operations moved.
    pub tasks: u64,
}

/// One worker's counters at one moment, or the change between two moments
/// (see [`RuntimeSnapshot::delta`]).
///
/// # Examples
///
/// ```
/// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
/// recorders[0].polled();
/// let worker = &rt.snapshot().workers[0];
/// assert_eq!(worker.polls, 1);
/// assert_eq!(worker.lifo_polls, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// The worker's index in its runtime.
    pub index: usize,
    /// Every task poll, LIFO-chained polls included.
    pub polls: u64,
    /// Polls of a task taken from the LIFO slot right after another poll.
    /// Tokio's `worker_poll_count` is `polls - lifo_polls`.
    pub lifo_polls: u64,
    /// Tasks spawned by the thread holding this worker's core.
    pub spawns_local: u64,
    /// Local wakes that went into the LIFO slot.
    pub wakes_lifo: u64,
    /// Local wakes that went onto the back of the local queue (possibly
    /// overflowing into the inject queue).
    pub wakes_local_queue: u64,
    /// `tokio::task::yield_now()` calls.
    pub yields_yield_now: u64,
    /// Polls that ended because the task ran out of coop budget.
    pub yields_budget: u64,
    /// Tasks that woke themselves during a poll and were re-queued locally.
    pub yields_self_wake: u64,
    /// Times LIFO chaining hit its cap.
    pub lifo_capped: u64,
    /// Times the local queue overflowed into the inject queue.
    pub overflows: u64,
    /// Steal attempts, successful or not.
    pub steal_attempts: u64,
    /// Successful steal operations, all victims.
    pub steal_operations: u64,
    /// Tasks stolen, all victims.
    pub stolen_tasks: u64,
    /// Steals by victim worker index.
    pub steals_from: Vec<StealSnapshot>,
    /// Parks.
    pub parks: u64,
    /// Returns from a park.
    pub unparks: u64,
    /// Tasks in the local queue when the snapshot was taken; `None` where
    /// the scheduler cannot read it from another thread. A gauge: a delta
    /// keeps the later value.
    pub local_queue_depth: Option<u64>,
    /// Poll timing, when the runtime times polls.
    pub poll_time: Option<PollTimeSnapshot>,
}

impl WorkerSnapshot {
    fn read(
        worker: &WorkerProbes,
        gauges: Option<&dyn RuntimeGauges>,
        timing: Option<Clock>,
    ) -> WorkerSnapshot {
        let (spawn_lifo, spawn_queue) = worker.scheduled(ScheduleKind::Spawn);
        let (wakes_lifo, wakes_local_queue) = worker.scheduled(ScheduleKind::Wake);
        let (self_lifo, self_queue) = worker.scheduled(ScheduleKind::SelfWake);
        let steals_from: Vec<StealSnapshot> = worker
            .steals_from()
            .iter()
            .map(|cell| StealSnapshot {
                operations: cell.operations.get(),
                tasks: cell.tasks.get(),
            })
            .collect();
        WorkerSnapshot {
            index: worker.index(),
            polls: worker.polls(),
            lifo_polls: worker.lifo_polls(),
            spawns_local: spawn_lifo + spawn_queue,
            wakes_lifo,
            wakes_local_queue,
            yields_yield_now: worker.yields(YieldReason::YieldNow),
            yields_budget: worker.yields(YieldReason::Budget),
            yields_self_wake: self_lifo + self_queue,
            lifo_capped: worker.lifo_capped(),
            overflows: worker.overflows(),
            steal_attempts: worker.steal_attempts(),
            steal_operations: steals_from.iter().map(|s| s.operations).sum(),
            stolen_tasks: steals_from.iter().map(|s| s.tasks).sum(),
            steals_from,
            parks: worker.parks(),
            unparks: worker.unparks(),
            local_queue_depth: gauges
                .and_then(|g| g.local_queue_depth(worker.index()))
                .map(|depth| depth as u64),
            poll_time: timing.map(|clock| PollTimeSnapshot::read(worker, clock)),
        }
    }

    /// Every task this worker scheduled locally: spawns, wakes and
    /// self-wakes. This is what Tokio's `worker_local_schedule_count` counts.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::ScheduleKind;
    ///
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// recorders[0].scheduled_local(ScheduleKind::Spawn, true);
    /// recorders[0].scheduled_local(ScheduleKind::Wake, false);
    /// assert_eq!(rt.snapshot().workers[0].local_schedules(), 2);
    /// ```
    pub fn local_schedules(&self) -> u64 {
        self.spawns_local + self.wakes_lifo + self.wakes_local_queue + self.yields_self_wake
    }

    /// Failed steal attempts: the victim had nothing to steal, another thief
    /// got there first, or this worker's queue had no room.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// recorders[0].steal_attempt(1);
    /// assert_eq!(rt.snapshot().workers[0].failed_steals(), 1);
    /// ```
    pub fn failed_steals(&self) -> u64 {
        // Attempts are counted before operations, so a snapshot can at most
        // see an attempt whose success is not yet visible, never the reverse
        // by more than a skew of one; saturate rather than wrap.
        self.steal_attempts.saturating_sub(self.steal_operations)
    }

    /// The change from `earlier` to `self`. Counters are monotonic, so for
    /// two snapshots of the same worker every field is the number of events
    /// in between; fields are saturating, so mismatched inputs give zeros
    /// rather than a panic.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// let before = rt.snapshot().workers[0].clone();
    /// recorders[0].parked();
    /// let after = rt.snapshot().workers[0].clone();
    /// assert_eq!(after.delta(&before).parks, 1);
    /// ```
    pub fn delta(&self, earlier: &WorkerSnapshot) -> WorkerSnapshot {
        WorkerSnapshot {
            index: self.index,
            polls: self.polls.saturating_sub(earlier.polls),
            lifo_polls: self.lifo_polls.saturating_sub(earlier.lifo_polls),
            spawns_local: self.spawns_local.saturating_sub(earlier.spawns_local),
            wakes_lifo: self.wakes_lifo.saturating_sub(earlier.wakes_lifo),
            wakes_local_queue: self
                .wakes_local_queue
                .saturating_sub(earlier.wakes_local_queue),
            yields_yield_now: self
                .yields_yield_now
                .saturating_sub(earlier.yields_yield_now),
            yields_budget: self.yields_budget.saturating_sub(earlier.yields_budget),
            yields_self_wake: self
                .yields_self_wake
                .saturating_sub(earlier.yields_self_wake),
            lifo_capped: self.lifo_capped.saturating_sub(earlier.lifo_capped),
            overflows: self.overflows.saturating_sub(earlier.overflows),
            steal_attempts: self.steal_attempts.saturating_sub(earlier.steal_attempts),
            steal_operations: self
                .steal_operations
                .saturating_sub(earlier.steal_operations),
            stolen_tasks: self.stolen_tasks.saturating_sub(earlier.stolen_tasks),
            steals_from: self
                .steals_from
                .iter()
                .enumerate()
                .map(|(victim, now)| {
                    let then = earlier.steals_from.get(victim).copied().unwrap_or_default();
                    StealSnapshot {
                        operations: now.operations.saturating_sub(then.operations),
                        tasks: now.tasks.saturating_sub(then.tasks),
                    }
                })
                .collect(),
            parks: self.parks.saturating_sub(earlier.parks),
            unparks: self.unparks.saturating_sub(earlier.unparks),
            local_queue_depth: self.local_queue_depth,
            poll_time: match (&self.poll_time, &earlier.poll_time) {
                (Some(now), Some(then)) => Some(now.delta(then)),
                (now, _) => now.clone(),
            },
        }
    }
}

/// A runtime's counters at one moment, or the change between two moments.
///
/// `uptime` is the span the counters cover: from runtime build to the
/// snapshot, or between the two snapshots of a [`delta`](Self::delta). Rates
/// divide by it.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::RuntimeProbes;
///
/// let (rt, mut recorders) = RuntimeProbes::new(Some("web"), 2);
/// let before = rt.snapshot();
/// recorders[0].polled();
/// recorders[1].polled();
/// let change = rt.snapshot().delta(&before);
/// assert_eq!(change.polls(), 2);
/// assert_eq!(change.name.as_ref(), "web");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuntimeSnapshot {
    /// The runtime's process-unique id.
    pub id: u64,
    /// The runtime's name.
    pub name: Arc<str>,
    /// The span of time the counters cover.
    pub uptime: Duration,
    /// Per-worker counters, in worker order.
    pub workers: Vec<WorkerSnapshot>,
    /// Tasks spawned from a thread holding no core of this runtime.
    pub spawns_remote: u64,
    /// Tasks woken from a thread holding no core of this runtime.
    pub wakes_remote: u64,
    /// Self-wakes during a poll on a thread that had given up its core
    /// (`block_in_place`), which therefore went to the inject queue.
    pub self_wakes_remote: u64,
    /// Single tasks sent to the inject queue because a local queue was full
    /// while being stolen from (already counted as local schedules).
    pub overflow_pushes: u64,
    /// Tasks in the inject queue when the snapshot was taken; `None` once
    /// the scheduler is gone. A gauge: a delta keeps the later value.
    pub global_queue_depth: Option<u64>,
    /// Tasks spawned and not yet completed; `None` once the scheduler is
    /// gone. A gauge: a delta keeps the later value.
    pub alive_tasks: Option<u64>,
    /// Whether the runtime had begun shutting down.
    pub shut_down: bool,
    /// Whether every worker had stopped for good (see
    /// [`RuntimeProbes::workers_stopped`]). A runtime that has begun
    /// shutting down is still running its workers until then; exporters
    /// keep it until both are true.
    pub workers_stopped: bool,
}

impl RuntimeSnapshot {
    pub(crate) fn read(probes: &RuntimeProbes) -> RuntimeSnapshot {
        let remote = probes.remote();
        let gauges = probes.gauges();
        let gauges = gauges.as_deref();
        let timing = probes.settings().poll_timing.then(|| probes.clock());
        RuntimeSnapshot {
            id: probes.id(),
            name: probes.name().into(),
            uptime: probes.created().map_or(Duration::ZERO, |at| at.elapsed()),
            workers: probes
                .workers()
                .map(|worker| WorkerSnapshot::read(worker, gauges, timing))
                .collect(),
            spawns_remote: remote.pushed(RemoteKind::Spawn),
            wakes_remote: remote.pushed(RemoteKind::Wake),
            self_wakes_remote: remote.pushed(RemoteKind::SelfWake),
            overflow_pushes: remote.pushed(RemoteKind::Overflow),
            global_queue_depth: gauges.map(|g| g.global_queue_depth() as u64),
            alive_tasks: gauges.map(|g| g.alive_tasks() as u64),
            shut_down: probes.is_shut_down(),
            workers_stopped: probes.workers_stopped(),
        }
    }

    /// The change from `earlier` to `self`; see [`WorkerSnapshot::delta`].
    ///
    /// # Examples
    ///
    /// See [`RuntimeSnapshot`].
    pub fn delta(&self, earlier: &RuntimeSnapshot) -> RuntimeSnapshot {
        RuntimeSnapshot {
            id: self.id,
            name: self.name.clone(),
            uptime: self.uptime.saturating_sub(earlier.uptime),
            workers: self
                .workers
                .iter()
                .map(|now| match earlier.workers.get(now.index) {
                    Some(then) => now.delta(then),
                    None => now.clone(),
                })
                .collect(),
            spawns_remote: self.spawns_remote.saturating_sub(earlier.spawns_remote),
            wakes_remote: self.wakes_remote.saturating_sub(earlier.wakes_remote),
            self_wakes_remote: self
                .self_wakes_remote
                .saturating_sub(earlier.self_wakes_remote),
            overflow_pushes: self.overflow_pushes.saturating_sub(earlier.overflow_pushes),
            global_queue_depth: self.global_queue_depth,
            alive_tasks: self.alive_tasks,
            shut_down: self.shut_down,
            workers_stopped: self.workers_stopped,
        }
    }

    fn sum(&self, field: impl Fn(&WorkerSnapshot) -> u64) -> u64 {
        self.workers.iter().map(field).sum()
    }

    /// Polls on all workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 4);
    /// assert_eq!(rt.snapshot().polls(), 0);
    /// ```
    pub fn polls(&self) -> u64 {
        self.sum(|w| w.polls)
    }

    /// Spawns from workers plus spawns from outside.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 4);
    /// assert_eq!(rt.snapshot().spawns(), 0);
    /// ```
    pub fn spawns(&self) -> u64 {
        self.sum(|w| w.spawns_local) + self.spawns_remote
    }

    /// Tasks stolen by all workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 4);
    /// assert_eq!(rt.snapshot().stolen_tasks(), 0);
    /// ```
    pub fn stolen_tasks(&self) -> u64 {
        self.sum(|w| w.stolen_tasks)
    }

    /// Everything that went through the inject queue's push path: what
    /// Tokio's `remote_schedule_count` counts.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.snapshot().remote_schedules(), 0);
    /// ```
    pub fn remote_schedules(&self) -> u64 {
        self.spawns_remote + self.wakes_remote + self.self_wakes_remote + self.overflow_pushes
    }

    /// `count` events per second over [`uptime`](Self::uptime); zero for an
    /// empty span.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// let snap = rt.snapshot();
    /// assert_eq!(snap.rate(0), 0.0);
    /// ```
    pub fn rate(&self, count: u64) -> f64 {
        let secs = self.uptime.as_secs_f64();
        if secs > 0.0 {
            count as f64 / secs
        } else {
            0.0
        }
    }
}
