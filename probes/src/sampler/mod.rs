//! What the watchdog thread samples besides stalls: CPU by spawn site
//! ([`spawn_sites`]).
//!
//! Every watchdog period, after its stall pass, the watchdog calls
//! [`Sampler::sample`], which reads what any thread may read (each
//! worker's published current poll) and keeps its results here, behind a
//! mutex that only the watchdog and snapshot readers take. Nothing is
//! written on a worker: the samples cost no instruction per poll or spawn
//! beyond what poll timing already does (it publishes the current poll for
//! the watchdog anyway).
//!
//! The watchdog runs only with the stall watchdog on, which needs poll
//! timing. Without it, nothing samples the spawn sites: their table stays
//! empty.

use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::config::PulseSettings;
use crate::delta::delta_by_field;
use crate::runtime::RuntimeProbes;

mod spawn_sites;

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
}

delta_by_field!(SamplerSnapshot {
    samples: since,
    spawn_sites: since,
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
}

impl Sampler {
    pub(crate) fn new(settings: &PulseSettings) -> Sampler {
        Sampler {
            state: Mutex::new(State {
                samples: 0,
                spawn_sites: SpawnSites::new(settings.spawn_sites_top_k),
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
        state.samples += 1;
        for worker in probes.workers() {
            if let Some(poll) = worker.current_poll() {
                state.spawn_sites.record(poll.task.spawned_at);
            }
        }
        state.spawn_sites.rerank();
    }

    /// What the sampler has found so far.
    pub(crate) fn read(&self) -> SamplerSnapshot {
        let state = self.lock();
        SamplerSnapshot {
            samples: state.samples,
            spawn_sites: state.spawn_sites.table(),
        }
    }
}
