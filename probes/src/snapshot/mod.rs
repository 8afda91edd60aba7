//! Plain-data copies of the counters, and differences between two copies.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::delta::{delta_by_field, Delta};
use crate::kinds::{RemoteKind, ScheduleKind, YieldReason};
use crate::remote::RuntimeGauges;
use crate::runtime::RuntimeProbes;
use crate::sampler::SamplerSnapshot;
use crate::worker::WorkerProbes;

mod poll_time;

pub use poll_time::PollTimeSnapshot;

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

delta_by_field!(StealSnapshot {
    operations: since,
    tasks: since,
});

/// One worker's counters at one moment, or the change between two moments
/// (see [`RuntimeSnapshot::delta`]).
///
/// # Examples
///
/// ```
/// let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
/// recorders[0].poll_started(|| tokio_pulse_probes::TaskInfo { id: 1, spawned_at: None });
/// let worker = &rt.snapshot().workers[0];
/// assert_eq!(worker.polls, 1);
/// assert_eq!(worker.polls_lifo, 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerSnapshot {
    /// The worker's index in its runtime.
    pub index: usize,
    /// Every task poll, LIFO-chained polls included.
    pub polls: u64,
    /// Polls of a task taken from the LIFO slot right after another poll.
    /// Tokio's `worker_poll_count` is `polls - polls_lifo`.
    pub polls_lifo: u64,
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
    /// Tasks that woke themselves during a poll and were re-queued locally
    /// (the remote ones are [`RuntimeSnapshot::self_wakes_remote`]).
    pub self_wakes_local: u64,
    /// Times LIFO chaining hit its cap.
    pub lifo_capped: u64,
    /// Times the local queue overflowed into the inject queue, moving half
    /// of it in one batch (single tasks pushed there are
    /// [`RuntimeSnapshot::overflows_single`]).
    pub overflows_batch: u64,
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
    /// Schedule latency by source, when the runtime times polls with
    /// [`schedule_latency`](crate::PulseSettings::schedule_latency) on.
    pub schedule_latency: Option<crate::ScheduleLatencySnapshot>,
    /// Time per worker state, when the runtime times polls.
    pub states: Option<crate::WorkerStatesSnapshot>,
    /// The watchdog's last stall report on this worker (see
    /// [`WorkerProbes::last_stall`]).
    pub last_stall: Option<std::sync::Arc<crate::Recent<crate::events::Stall>>>,
}

impl WorkerSnapshot {
    fn read(
        worker: &WorkerProbes,
        gauges: Option<&dyn RuntimeGauges>,
        timing: Option<Clock>,
        schedule_latency: bool,
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
            polls_lifo: worker.lifo_polls(),
            spawns_local: spawn_lifo + spawn_queue,
            wakes_lifo,
            wakes_local_queue,
            yields_yield_now: worker.yields(YieldReason::YieldNow),
            yields_budget: worker.yields(YieldReason::Budget),
            self_wakes_local: self_lifo + self_queue,
            lifo_capped: worker.lifo_capped(),
            overflows_batch: worker.overflows(),
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
            schedule_latency: timing
                .filter(|_| schedule_latency)
                .map(|clock| crate::ScheduleLatencySnapshot::read(&worker.timing.schedule, clock)),
            states: timing
                .map(|clock| crate::WorkerStatesSnapshot::read(&worker.timing.states, clock)),
            last_stall: worker.last_stall(),
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
        self.spawns_local + self.wakes_lifo + self.wakes_local_queue + self.self_wakes_local
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
        self.since(earlier)
    }
}

delta_by_field!(WorkerSnapshot {
    index: later,
    polls: since,
    polls_lifo: since,
    spawns_local: since,
    wakes_lifo: since,
    wakes_local_queue: since,
    yields_yield_now: since,
    yields_budget: since,
    self_wakes_local: since,
    lifo_capped: since,
    overflows_batch: since,
    steal_attempts: since,
    steal_operations: since,
    stolen_tasks: since,
    steals_from: since,
    parks: since,
    unparks: since,
    local_queue_depth: later,
    poll_time: since,
    schedule_latency: since,
    states: since,
    last_stall: later,
});

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
/// recorders[0].poll_started(|| tokio_pulse_probes::TaskInfo { id: 1, spawned_at: None });
/// recorders[1].poll_started(|| tokio_pulse_probes::TaskInfo { id: 1, spawned_at: None });
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
    /// while being stolen from (already counted as local schedules; the
    /// batch overflows are [`WorkerSnapshot::overflows_batch`]).
    pub overflows_single: u64,
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
    /// What the sampler found: CPU by spawn site, queue ages.
    pub sampled: SamplerSnapshot,
    /// How long since a worker last turned the drivers (see
    /// [`RuntimeProbes::driver_last_turn_age`]). A gauge.
    pub driver_last_turn_age: Option<Duration>,
}

impl RuntimeSnapshot {
    pub(crate) fn read(probes: &RuntimeProbes) -> RuntimeSnapshot {
        let remote = probes.remote();
        let gauges = probes.gauges();
        let gauges = gauges.as_deref();
        let timing = probes.settings().poll_timing.then(|| probes.clock());
        let schedule_latency = probes.settings().schedule_latency;
        RuntimeSnapshot {
            id: probes.id(),
            name: probes.name().into(),
            uptime: probes.created().map_or(Duration::ZERO, |at| at.elapsed()),
            workers: probes
                .workers()
                .map(|worker| WorkerSnapshot::read(worker, gauges, timing, schedule_latency))
                .collect(),
            spawns_remote: remote.pushed(RemoteKind::Spawn),
            wakes_remote: remote.pushed(RemoteKind::Wake),
            self_wakes_remote: remote.pushed(RemoteKind::SelfWake),
            overflows_single: remote.pushed(RemoteKind::Overflow),
            global_queue_depth: gauges.map(|g| g.global_queue_depth() as u64),
            alive_tasks: gauges.map(|g| g.alive_tasks() as u64),
            shut_down: probes.is_shut_down(),
            workers_stopped: probes.workers_stopped(),
            sampled: probes.sampler().read(probes),
            driver_last_turn_age: probes.driver_last_turn_age(),
        }
    }

    /// The change from `earlier` to `self`; see [`WorkerSnapshot::delta`].
    ///
    /// # Examples
    ///
    /// See [`RuntimeSnapshot`].
    pub fn delta(&self, earlier: &RuntimeSnapshot) -> RuntimeSnapshot {
        self.since(earlier)
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
        self.spawns_remote + self.wakes_remote + self.self_wakes_remote + self.overflows_single
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

delta_by_field!(RuntimeSnapshot {
    id: later,
    name: later,
    uptime: since,
    workers: since,
    spawns_remote: since,
    wakes_remote: since,
    self_wakes_remote: since,
    overflows_single: since,
    global_queue_depth: later,
    alive_tasks: later,
    shut_down: later,
    workers_stopped: later,
    sampled: since,
    driver_last_turn_age: later,
});
