//! Plain-text reports of a runtime's counters.

use std::fmt;

use crate::RuntimeSnapshot;

/// A per-worker table of a snapshot or of a [`delta`](RuntimeSnapshot::delta),
/// one row per worker plus an `external` row for what came from outside the
/// workers. Rates divide by the snapshot's `uptime`.
///
/// Columns: local spawns, polls and polls per second, the share of polls
/// chained through the LIFO slot, yields (all reasons), tasks stolen *by*
/// the worker ("steal in") and *from* it ("steal out"), parks, and the
/// tasks waiting in the worker's local queue when the snapshot was taken
/// ("queue"; on the `external` row, the inject queue). A queue depth the
/// scheduler could not read shows as `-`.
///
/// # Examples
///
/// ```
/// use tokio_pulse_rt::{report::WorkerTable, RuntimeProbes, ScheduleKind};
///
/// let (rt, mut recorders) = RuntimeProbes::new(Some("doc"), 2);
/// recorders[0].scheduled_local(ScheduleKind::Spawn, true);
/// recorders[0].poll_started(|| tokio_pulse_probes::TaskInfo { id: 1, spawned_at: None });
/// let text = WorkerTable::new(&rt.snapshot()).to_string();
/// assert!(text.contains("external"));
/// assert!(text.lines().next().unwrap().ends_with("queue"));
/// assert_eq!(text.lines().count(), 1 + 2 + 1);
/// ```
#[derive(Debug)]
pub struct WorkerTable<'a> {
    snapshot: &'a RuntimeSnapshot,
}

impl<'a> WorkerTable<'a> {
    /// A table of `snapshot`.
    ///
    /// # Examples
    ///
    /// See [`WorkerTable`].
    pub fn new(snapshot: &'a RuntimeSnapshot) -> WorkerTable<'a> {
        WorkerTable { snapshot }
    }
}

impl fmt::Display for WorkerTable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let snap = self.snapshot;
        writeln!(
            f,
            "{:>8} {:>10} {:>10} {:>12} {:>10} {:>6} {:>9} {:>9} {:>10} {:>8} {:>6}",
            "worker",
            "spawn_loc",
            "spawn_rem",
            "polls",
            "polls/s",
            "lifo%",
            "yields",
            "steal_in",
            "steal_out",
            "parks",
            "queue"
        )?;
        for worker in &snap.workers {
            let stolen_from_me: u64 = snap
                .workers
                .iter()
                .filter_map(|thief| thief.steals_from.get(worker.index))
                .map(|cell| cell.tasks)
                .sum();
            let lifo_share = if worker.polls == 0 {
                0.0
            } else {
                100.0 * worker.polls_lifo as f64 / worker.polls as f64
            };
            writeln!(
                f,
                "{:>8} {:>10} {:>10} {:>12} {:>10.0} {:>5.1}% {:>9} {:>9} {:>10} {:>8} {:>6}",
                worker.index,
                worker.spawns_local,
                "-",
                worker.polls,
                snap.rate(worker.polls),
                lifo_share,
                worker.yields_yield_now + worker.yields_budget + worker.self_wakes_local,
                worker.stolen_tasks,
                stolen_from_me,
                worker.parks,
                depth(worker.local_queue_depth)
            )?;
        }
        writeln!(
            f,
            "{:>8} {:>10} {:>10} {:>12} {:>10} {:>6} {:>9} {:>9} {:>10} {:>8} {:>6}",
            "external",
            "-",
            snap.spawns_remote,
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
            depth(snap.global_queue_depth)
        )
    }
}

/// A queue depth for the table, `-` when it could not be read.
fn depth(value: Option<u64>) -> String {
    value.map_or_else(|| "-".to_string(), |depth| depth.to_string())
}
