//! What the watchdog thread samples besides stalls: CPU by spawn site
//! ([`spawn_sites`]), the age of the oldest task in each queue
//! ([`queue_age`]) and pressure ([`pressure`]).
//!
//! Every watchdog period, after its stall pass, the watchdog calls
//! [`Sampler::sample`], which reads what any thread may read (each
//! worker's published current poll) and keeps its results here, behind a
//! mutex that only the watchdog and snapshot readers take. Nothing is
//! written on a worker: the samples cost no instruction per poll or spawn
//! beyond what poll timing already does (it publishes the current poll for
//! the watchdog anyway).
//!
//! Who samples:
//!
//! - The spawn sites and pressure, only the watchdog. It runs only with the stall
//!   watchdog on, which needs poll timing (the current poll is published
//!   only then). Without it, the table stays empty.
//! - The queues, the watchdog every period and every snapshot (an
//!   exporter's scrape, a publisher's interval) before it reads: a queue
//!   sample is a few loads, so a reader never sees an age older than its
//!   own read. Queue ages therefore need neither poll timing nor the
//!   watchdog. Without a watchdog the snapshots are the only samples: the
//!   age is then at most the time between two snapshots (rather than one
//!   period) short of the truth, still never more than it, and still
//!   growing while a queue is starved, since each scrape samples. We do not
//!   start a thread for it: a runtime without the watchdog has asked for no
//!   thread, and a sample between scrapes would only sharpen the bound of
//!   a value nobody reads until the next scrape.

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::config::PulseSettings;
use crate::delta::delta_by_field;
use crate::kinds::RemoteKind::{Overflow, SelfWake, Spawn, Wake};
use crate::runtime::RuntimeProbes;

mod pressure;
mod queue_age;
mod spawn_sites;

use pressure::Pressure;
pub use queue_age::QueueIndices;
use queue_age::QueueWatch;

use spawn_sites::SpawnSites;
pub use spawn_sites::{SpawnSiteSamples, SpawnSiteTable};

/// What the sampler has found, as plain data in every
/// [`RuntimeSnapshot`](crate::RuntimeSnapshot).
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
/// let sampled = rt.snapshot().sampled;
/// assert_eq!(sampled.samples, 0);
/// assert_eq!(sampled.spawn_sites.samples(), 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SamplerSnapshot {
    /// Sampling passes so far (watchdog periods).
    pub samples: u64,
    /// Samples of workers inside a poll, by the spawn site of the task
    /// polled: a CPU profile of the tasks by spawn site (poll timing and
    /// the watchdog on).
    pub spawn_sites: SpawnSiteTable,
    /// How long the oldest task in the inject queue has waited, at the last
    /// queue sample (0 when it is empty); `None` before the first sample or
    /// once the scheduler is gone. A lower bound, at most one sampling
    /// period short (see the module docs). A gauge: a delta keeps the later
    /// value.
    pub inject_oldest: Option<Duration>,
    /// The same for each worker's local queue, in worker order; `None`
    /// where the scheduler cannot read the queue (the current-thread
    /// scheduler).
    pub local_oldest: Vec<Option<Duration>>,
    /// Time during which runnable tasks waited in a queue (see the
    /// `pressure` module: sampled by the watchdog, which needs poll timing).
    pub pressure_some: Duration,
    /// Time during which runnable tasks waited while every worker was busy
    /// polling: the part of `pressure_some` that more workers would help.
    pub pressure_full: Duration,
}

impl SamplerSnapshot {
    /// The change from `earlier` to `self`: samples, spawn-site counts and
    /// pressure are differences; the queue ages keep the later value.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// let before = rt.snapshot().sampled;
    /// let change = rt.snapshot().sampled.delta(&before);
    /// assert_eq!(change.pressure_some, std::time::Duration::ZERO);
    /// ```
    pub fn delta(&self, earlier: &SamplerSnapshot) -> SamplerSnapshot {
        crate::delta::Delta::since(self, earlier)
    }
}

delta_by_field!(SamplerSnapshot {
    samples: since,
    spawn_sites: since,
    inject_oldest: later,
    local_oldest: later,
    pressure_some: since,
    pressure_full: since,
});

/// The sampler's state, shared by the watchdog (which samples) and
/// snapshot readers.
#[derive(Debug)]
pub(crate) struct Sampler {
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    samples: u64,
    spawn_sites: SpawnSites,
    /// Whether the last queue sample could read the gauges.
    queues_read: bool,
    inject: QueueWatch,
    locals: Vec<QueueWatch>,
    pressure: Pressure,
}

impl Sampler {
    pub(crate) fn new(settings: &PulseSettings, workers: usize) -> Sampler {
        Sampler {
            state: Mutex::new(State {
                samples: 0,
                spawn_sites: SpawnSites::new(settings.spawn_sites_top_k),
                queues_read: false,
                inject: QueueWatch::default(),
                locals: (0..workers).map(|_| QueueWatch::default()).collect(),
                pressure: Pressure::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing in the sampler panics while holding the lock; if something
        // did, the counts are still counts.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// One sampling pass, by the watchdog thread.
    pub(crate) fn sample(&self, probes: &RuntimeProbes) {
        let mut state = self.lock();
        let at = Instant::now();
        let waiting = state.sample_queues(probes, at);
        state.samples += 1;
        let mut busy = 0;
        for worker in probes.workers() {
            if let Some(poll) = worker.current_poll() {
                state.spawn_sites.record(poll.task.spawned_at);
                busy += 1;
            }
        }
        state.spawn_sites.rerank();
        let all_busy = busy == probes.workers().len();
        state.pressure.observe(at, waiting, all_busy);
    }

    /// What the sampler has found so far, after a queue sample of its own.
    pub(crate) fn read(&self, probes: &RuntimeProbes) -> SamplerSnapshot {
        let mut state = self.lock();
        // Fresh ages for every reader, with or without a watchdog: a queue
        // sample costs a reader what it costs the watchdog (a few loads).
        if let Some(now) = crate::sync::now_if_clock() {
            state.sample_queues(probes, now);
        }
        let read = state.queues_read;
        SamplerSnapshot {
            samples: state.samples,
            spawn_sites: state.spawn_sites.table(),
            inject_oldest: state.inject.oldest().filter(|_| read),
            local_oldest: state
                .locals
                .iter()
                .map(|queue| queue.oldest().filter(|_| read))
                .collect(),
            pressure_some: state.pressure.some(),
            pressure_full: state.pressure.full(),
        }
    }
}

impl State {
    /// Reads each queue's push count and depth, and updates the ages.
    /// Returns whether any task was waiting.
    fn sample_queues(&mut self, probes: &RuntimeProbes, at: Instant) -> bool {
        let Some(gauges) = probes.gauges() else {
            self.queues_read = false;
            return false;
        };
        self.queues_read = true;
        // Depth first, then pushes: a push in between makes the oldest look
        // younger, never older, so the age stays a lower bound.
        let depth = gauges.global_queue_depth() as u64;
        let remote = probes.remote();
        let overflowed: u64 = probes.workers().map(|w| w.overflows()).sum();
        let pushed = [Spawn, Wake, SelfWake, Overflow]
            .into_iter()
            .map(|kind| remote.pushed(kind))
            .sum::<u64>()
            + overflowed * gauges.overflow_batch_len();
        self.inject.observe(at, pushed, depth);
        let mut waiting = depth > 0;
        for (index, local) in self.locals.iter_mut().enumerate() {
            if let Some(indices) = gauges.local_queue_indices(index) {
                local.observe_indices(at, indices);
                waiting |= indices.depth() > 0;
            }
        }
        waiting
    }
}
