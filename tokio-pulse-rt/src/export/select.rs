//! Which runtimes an export covers: the live ones, the oldest first, up to
//! a cap and past a minimum age.

use std::time::Duration;

use tokio_pulse_probes::FULL_STEAL_MATRIX_MAX_WORKERS;

use crate::{runtimes, RuntimeSnapshot};

/// Snapshots of every live runtime, in order of creation, until it has shut
/// down and its workers have stopped: a runtime whose `Runtime::drop` waits
/// on a worker stuck in a poll is still listed. Each runtime's `Arc` is
/// held while it is read, so a runtime that shuts down meanwhile still
/// yields a whole snapshot.
///
/// # Examples
///
/// ```
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// let id = tokio_pulse_rt::probes(rt.handle()).id();
/// assert!(tokio_pulse_rt::export::live_snapshots().iter().any(|s| s.id == id));
/// drop(rt);
/// assert!(tokio_pulse_rt::export::live_snapshots().iter().all(|s| s.id != id));
/// ```
pub fn live_snapshots() -> Vec<RuntimeSnapshot> {
    select(Limits {
        max_runtimes: usize::MAX,
        min_age: Duration::ZERO,
    })
    .snapshots
}

/// The default cap on runtimes one exporter exports at once; see the
/// [module docs](super#which-runtimes-and-what-happens-to-a-runtime-that-is-gone).
pub const DEFAULT_MAX_RUNTIMES: usize = 16;

/// The default age a runtime must reach before [`publisher()`](super::publisher()) publishes
/// it; see the
/// [module docs](super#which-runtimes-and-what-happens-to-a-runtime-that-is-gone).
pub const DEFAULT_MIN_RUNTIME_AGE: Duration = Duration::from_secs(1);

/// Which runtimes an exporter exports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// At most this many, the oldest first.
    pub(crate) max_runtimes: usize,
    /// Only runtimes at least this old.
    pub(crate) min_age: Duration,
}

/// What one export covers: the runtimes exported, whether each gets the
/// full steal matrix, and how many live runtimes were left out.
#[derive(Debug, Default)]
pub(crate) struct Selection {
    pub(crate) snapshots: Vec<RuntimeSnapshot>,
    pub(crate) full_matrix: Vec<bool>,
    pub(crate) omitted: usize,
}

/// Snapshots the live runtimes that `limits` admits, oldest first. A
/// runtime left out is not read at all.
pub(crate) fn select(limits: Limits) -> Selection {
    let mut selection = Selection::default();
    for rt in runtimes() {
        // A runtime whose shutdown hangs on a stuck worker stays in until
        // its workers have actually stopped.
        if rt.is_shut_down() && rt.workers_stopped() {
            continue;
        }
        if selection.snapshots.len() >= limits.max_runtimes
            || rt.created().is_some_and(|at| at.elapsed() < limits.min_age)
        {
            selection.omitted += 1;
            continue;
        }
        let snapshot = rt.snapshot();
        if snapshot.shut_down && snapshot.workers_stopped {
            continue;
        }
        let workers = snapshot.workers.len();
        selection
            .full_matrix
            .push(rt.settings().full_steal_matrix(workers));
        selection.snapshots.push(snapshot);
    }
    selection
}

/// Whether the runtime of `snapshot` exports the full steal matrix: as its
/// settings say while it is alive, by the default rule (up to
/// [`FULL_STEAL_MATRIX_MAX_WORKERS`] workers) once it is gone.
pub(crate) fn full_matrix_of(snapshots: &[RuntimeSnapshot]) -> Vec<bool> {
    let live = runtimes();
    snapshots
        .iter()
        .map(|snap| {
            let workers = snap.workers.len();
            live.iter()
                .find(|rt| rt.id() == snap.id)
                .map(|rt| rt.settings().full_steal_matrix(workers))
                .unwrap_or(workers <= FULL_STEAL_MATRIX_MAX_WORKERS)
        })
        .collect()
}
