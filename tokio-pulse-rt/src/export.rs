//! Publishing the probes to the [`metrics`] facade.
//!
//! Every live runtime whose workers have not all stopped (see
//! [`live_snapshots`]) is read into a [`RuntimeSnapshot`] and each of its
//! counters is set on the current recorder:
//!
//! - counters with [`Counter::absolute`](metrics::Counter::absolute), so an
//!   exported counter only ever moves up to the probe's value and stays
//!   monotonic even when two publishers race;
//! - gauges with [`Gauge::set`](metrics::Gauge::set).
//!
//! There is no facade call on the scheduler's hot path: the probes count on
//! their own, and the facade is only touched when a snapshot is published.
//!
//! # When values are published
//!
//! 1. For Prometheus, [`prometheus()`](crate::prometheus()) reads at scrape
//!    time: each `/metrics` request snapshots every runtime and writes the
//!    same families, through the same mapping, straight to text (see
//!    [`crate::prometheus`](mod@crate::prometheus) for why not through a recorder), so a scrape is
//!    never staler than the probes themselves.
//! 2. For any other recorder, [`publisher()`] starts a thread that publishes
//!    to the global recorder on an interval (default 1 s).
//! 3. [`publish()`] publishes once, to whichever recorder is current (the
//!    global one, or one set with [`metrics::with_local_recorder`]).
//!
//! # Labels
//!
//! Every series carries `runtime` (the runtime's name) and `runtime_id` (its
//! process-unique id). Two runtimes may share a name (`Builder::name`), so
//! the name alone would merge their series; the id keeps them apart, and it
//! never changes during a runtime's life, so no series jumps between
//! runtimes. Per-worker series add `worker` (the worker index, `0..N`);
//! what happened outside every worker (remote spawns, remote wakes, remote
//! self-wakes) has `worker="external"`. Nothing is labelled per task.
//!
//! # Steals: the matrix and the totals
//!
//! Steals are published two ways, in separate families so that no family
//! mixes label sets:
//!
//! - the thief × victim matrix, `tokio_pulse_steal_operations_total` and
//!   `tokio_pulse_stolen_tasks_total` with `worker` (the thief) and
//!   `victim`: N×(N−1) series each, 2·N·(N−1) together (32,512 at 128
//!   workers). Published only where
//!   [`PulseSettings::full_steal_matrix`](crate::PulseSettings::full_steal_matrix)
//!   says so: by default up to 16 workers
//!   ([`FULL_STEAL_MATRIX_MAX_WORKERS`]),
//!   otherwise when `PulseConfig::full_steal_matrix(true)` or
//!   `TOKIO_PULSE_STEAL_MATRIX=1` asks for it.
//! - the totals, always: `tokio_pulse_thief_*_total{worker}` (what `worker`
//!   stole, from every victim) and `tokio_pulse_victim_*_total{worker}`
//!   (what was stolen from `worker`, by every thief), for operations and
//!   tasks: 4·N series.
//!
//! Why separate families rather than the matrix families without `victim`
//! above 16 workers: a family whose series have `victim` for one runtime
//! and not for another makes `sum by (worker) (...)` silently add matrix
//! cells and totals of different runtimes, and a dashboard cannot tell
//! which it got. With the totals always in their own families, a PromQL
//! sum over any of them is right for every runtime size, and
//! `sum by (runtime, worker) (tokio_pulse_stolen_tasks_total)` equals
//! `tokio_pulse_thief_stolen_tasks_total` wherever the matrix exists.
//! Snapshots ([`RuntimeSnapshot`]) always keep the full matrix.
//!
//! # Which runtimes, and what happens to a runtime that is gone
//!
//! Every runtime gets a new `runtime_id`, so an application that builds a
//! runtime per request (a sync wrapper, `reqwest::blocking`) would add a
//! new set of series per request. The exporters bound this:
//!
//! - At most `max_runtimes` runtimes are exported at once (default
//!   [`DEFAULT_MAX_RUNTIMES`]): the oldest live ones, in order of creation,
//!   so the exported set never flaps while it is over the cap. The others
//!   are counted in the `tokio_pulse_runtimes_omitted` gauge.
//! - [`publisher()`] leaves out runtimes younger than its
//!   `min_runtime_age` (default [`DEFAULT_MIN_RUNTIME_AGE`]), so a
//!   runtime that lives for one request never reaches the recorder.
//! - When a runtime the publisher published is gone, its gauges are set to
//!   0 once (so sums over runtimes stay right) and the publisher forgets
//!   it. Its counters keep their final values: the `metrics` facade has no
//!   way to remove a series, and moving a counter down would read as a
//!   reset.
//!
//! What the recorder then does with a gone runtime's series is up to it:
//!
//! - `metrics-exporter-prometheus` keeps them unless built with
//!   `PrometheusBuilder::idle_timeout(MetricKindMask::ALL, Some(t))`; with
//!   it, they leave the scrape `t` after the last publication (choose `t`
//!   a few publish intervals long). The recorder that
//!   [`prometheus()`](crate::prometheus()) installs never holds
//!   `tokio_pulse_*` series at all: the scrape writes them from live
//!   runtimes only.
//! - `metrics-util`'s `DebuggingRecorder`, and recorders that register an
//!   instrument per series and never drop it (most StatsD and OpenTelemetry
//!   bridges), keep them for the life of the process, at their final
//!   values with gauges at 0. The bound is then the runtimes that lived at
//!   least `min_runtime_age`.
//!
//! Per runtime with N workers: 5 runtime-wide series, 13·N per-worker
//! counters, N + 2 gauges, 4·N steal totals, plus 2·N·(N−1) with the full
//! matrix and 2·N (slow polls, stalls) with poll timing.
//!
//! # Mapping from the snapshot
//!
//! | family | labels | from |
//! |---|---|---|
//! | `tokio_pulse_workers` (gauge) | | `workers.len()` |
//! | `tokio_pulse_spawns_total` | `origin="local"`, `worker` | `WorkerSnapshot::spawns_local` |
//! | `tokio_pulse_spawns_total` | `origin="remote"`, `worker="external"` | `RuntimeSnapshot::spawns_remote` |
//! | `tokio_pulse_wakes_total` | `path="lifo"`, `worker` | `wakes_lifo` |
//! | `tokio_pulse_wakes_total` | `path="local_queue"`, `worker` | `wakes_local_queue` |
//! | `tokio_pulse_wakes_total` | `path="remote"`, `worker="external"` | `RuntimeSnapshot::wakes_remote` |
//! | `tokio_pulse_polls_total` | `worker` | `polls` (LIFO-chained polls included) |
//! | `tokio_pulse_lifo_polls_total` | `worker` | `polls_lifo` |
//! | `tokio_pulse_yields_total` | `reason="yield_now"`, `worker` | `yields_yield_now` |
//! | `tokio_pulse_yields_total` | `reason="budget"`, `worker` | `yields_budget` |
//! | `tokio_pulse_yields_total` | `reason="self_wake"`, `worker` | `self_wakes_local` |
//! | `tokio_pulse_yields_total` | `reason="self_wake"`, `worker="external"` | `RuntimeSnapshot::self_wakes_remote` |
//! | `tokio_pulse_steal_operations_total` | `worker` (thief), `victim` | `steals_from[victim].operations`, full matrix only |
//! | `tokio_pulse_stolen_tasks_total` | `worker` (thief), `victim` | `steals_from[victim].tasks`, full matrix only |
//! | `tokio_pulse_thief_steal_operations_total` | `worker` (thief) | Σ over victims of `steals_from[victim].operations` |
//! | `tokio_pulse_thief_stolen_tasks_total` | `worker` (thief) | Σ over victims of `steals_from[victim].tasks` |
//! | `tokio_pulse_victim_steal_operations_total` | `worker` (victim) | Σ over thieves of `steals_from[worker].operations` |
//! | `tokio_pulse_victim_stolen_tasks_total` | `worker` (victim) | Σ over thieves of `steals_from[worker].tasks` |
//! | `tokio_pulse_steal_attempts_total` | `worker` | `steal_attempts` |
//! | `tokio_pulse_parks_total` | `worker` | `parks` |
//! | `tokio_pulse_unparks_total` | `worker` | `unparks` |
//! | `tokio_pulse_overflows_total` | `worker` | `overflows_batch` |
//! | `tokio_pulse_overflow_pushes_total` | | `RuntimeSnapshot::overflows_single` |
//! | `tokio_pulse_lifo_capped_total` | `worker` | `lifo_capped` |
//! | `tokio_pulse_slow_polls_total` | `worker` | `poll_time.slow_polls`, with poll timing on |
//! | `tokio_pulse_stalls_total` | `worker` | `poll_time.stalls`, with poll timing on |
//! | `tokio_pulse_slow_poll_events_dropped_total` | `worker` | `poll_time.slow_poll_events_dropped`, with poll timing on |
//! | `tokio_pulse_stall_events_dropped_total` | `worker` | `poll_time.stall_events_dropped`, with poll timing on |
//! | `tokio_pulse_listener_panics_total` | `worker` | `poll_time.listener_panics`, with poll timing on |
//! | `tokio_pulse_local_queue_depth` (gauge) | `worker` | `local_queue_depth`, when readable |
//! | `tokio_pulse_global_queue_depth` (gauge) | | `global_queue_depth`, when readable |
//! | `tokio_pulse_alive_tasks` (gauge) | | `alive_tasks`, when readable |
//!
//! [`FAMILIES`] lists every family with its type, unit and help text. The
//! poll-duration histogram (`tokio_pulse_poll_duration_seconds`) and
//! `tokio_pulse_busy_seconds_total` (a float) are not facade families: the
//! Prometheus renderer writes them from the probes' buckets (see
//! [`crate::prometheus`](mod@crate::prometheus)).
//!
//! # Examples
//!
//! Publishing into a recorder of one's own:
//!
//! ```
//! use metrics_util::debugging::DebuggingRecorder;
//!
//! let rt = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .name("doc")
//!     .build()
//!     .unwrap();
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! metrics::with_local_recorder(&recorder, tokio_pulse_rt::export::publish);
//! let names: Vec<String> = snapshotter
//!     .snapshot()
//!     .into_vec()
//!     .into_iter()
//!     .map(|(key, ..)| key.key().name().to_string())
//!     .collect();
//! assert!(names.iter().any(|name| name == "tokio_pulse_polls_total"));
//! # drop(rt);
//! ```

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use metrics::{Key, Label, Level, Metadata, SharedString, Unit};
use tokio_pulse_probes::FULL_STEAL_MATRIX_MAX_WORKERS;

use crate::{runtimes, RuntimeSnapshot};

/// `tokio_pulse_workers`: worker threads of the runtime (gauge).
pub const WORKERS: &str = "tokio_pulse_workers";
/// `tokio_pulse_spawns_total{origin}`: tasks spawned.
pub const SPAWNS: &str = "tokio_pulse_spawns_total";
/// `tokio_pulse_wakes_total{path}`: tasks woken, by the queue they went to.
pub const WAKES: &str = "tokio_pulse_wakes_total";
/// `tokio_pulse_polls_total`: task polls.
pub const POLLS: &str = "tokio_pulse_polls_total";
/// `tokio_pulse_lifo_polls_total`: polls of a task chained through the LIFO slot.
pub const LIFO_POLLS: &str = "tokio_pulse_lifo_polls_total";
/// `tokio_pulse_yields_total{reason}`: polls that ended in a yield.
pub const YIELDS: &str = "tokio_pulse_yields_total";
/// `tokio_pulse_steal_operations_total{victim}`: successful steal operations.
pub const STEAL_OPERATIONS: &str = "tokio_pulse_steal_operations_total";
/// `tokio_pulse_stolen_tasks_total{victim}`: tasks moved by steals.
pub const STOLEN_TASKS: &str = "tokio_pulse_stolen_tasks_total";
/// `tokio_pulse_thief_steal_operations_total`: successful steal operations
/// by the worker, from every victim.
pub const THIEF_STEAL_OPERATIONS: &str = "tokio_pulse_thief_steal_operations_total";
/// `tokio_pulse_thief_stolen_tasks_total`: tasks the worker stole, from
/// every victim.
pub const THIEF_STOLEN_TASKS: &str = "tokio_pulse_thief_stolen_tasks_total";
/// `tokio_pulse_victim_steal_operations_total`: successful steal operations
/// from the worker, by every thief.
pub const VICTIM_STEAL_OPERATIONS: &str = "tokio_pulse_victim_steal_operations_total";
/// `tokio_pulse_victim_stolen_tasks_total`: tasks stolen from the worker,
/// by every thief.
pub const VICTIM_STOLEN_TASKS: &str = "tokio_pulse_victim_stolen_tasks_total";
/// `tokio_pulse_runtimes_omitted`: live runtimes an exporter left out, by
/// its `max_runtimes` cap or `min_runtime_age` (gauge, no labels). Not in
/// [`FAMILIES`]: it describes the exporter, not a runtime.
pub const RUNTIMES_OMITTED: &str = "tokio_pulse_runtimes_omitted";
/// The help text of [`RUNTIMES_OMITTED`].
pub const RUNTIMES_OMITTED_HELP: &str =
    "Live runtimes left out of this export by the exporter's max_runtimes cap or min_runtime_age.";
/// `tokio_pulse_steal_attempts_total`: steal attempts, successful or not.
pub const STEAL_ATTEMPTS: &str = "tokio_pulse_steal_attempts_total";
/// `tokio_pulse_parks_total`: times a worker parked.
pub const PARKS: &str = "tokio_pulse_parks_total";
/// `tokio_pulse_unparks_total`: times a worker woke from a park.
pub const UNPARKS: &str = "tokio_pulse_unparks_total";
/// `tokio_pulse_overflows_total`: local-queue overflows into the inject queue.
pub const OVERFLOWS: &str = "tokio_pulse_overflows_total";
/// `tokio_pulse_overflow_pushes_total`: single tasks pushed to the inject
/// queue because a local queue was full while being stolen from.
pub const OVERFLOW_PUSHES: &str = "tokio_pulse_overflow_pushes_total";
/// `tokio_pulse_lifo_capped_total`: times LIFO chaining hit its cap.
pub const LIFO_CAPPED: &str = "tokio_pulse_lifo_capped_total";
/// `tokio_pulse_slow_polls_total`: polls at or over the slow-poll threshold.
pub const SLOW_POLLS: &str = "tokio_pulse_slow_polls_total";
/// `tokio_pulse_stalls_total`: stalls the watchdog reported.
pub const STALLS: &str = "tokio_pulse_stalls_total";
/// `tokio_pulse_slow_poll_events_dropped_total`: slow-poll events the rate
/// limit dropped (the polls are still in `slow_polls_total`).
pub const SLOW_POLL_EVENTS_DROPPED: &str = "tokio_pulse_slow_poll_events_dropped_total";
/// `tokio_pulse_stall_events_dropped_total`: stalls whose events the rate
/// limit dropped (the stalls are still in `stalls_total`).
pub const STALL_EVENTS_DROPPED: &str = "tokio_pulse_stall_events_dropped_total";
/// `tokio_pulse_listener_panics_total`: panics of the event listener (or a
/// `tracing` layer behind it), caught and counted.
pub const LISTENER_PANICS: &str = "tokio_pulse_listener_panics_total";
/// `tokio_pulse_local_queue_depth`: tasks in a worker's local queue (gauge).
pub const LOCAL_QUEUE_DEPTH: &str = "tokio_pulse_local_queue_depth";
/// `tokio_pulse_global_queue_depth`: tasks in the inject queue (gauge).
pub const GLOBAL_QUEUE_DEPTH: &str = "tokio_pulse_global_queue_depth";
/// `tokio_pulse_alive_tasks`: tasks spawned and not yet completed (gauge).
pub const ALIVE_TASKS: &str = "tokio_pulse_alive_tasks";

/// The Prometheus type of a family.
///
/// # Examples
///
/// ```
/// use tokio_pulse_rt::export::{FamilyKind, FAMILIES, POLLS};
///
/// let polls = FAMILIES.iter().find(|f| f.name == POLLS).unwrap();
/// assert_eq!(polls.kind, FamilyKind::Counter);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyKind {
    /// A monotonic counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
}

/// One metric family that [`publish`] sets.
///
/// # Examples
///
/// ```
/// for family in tokio_pulse_rt::export::FAMILIES {
///     assert!(family.name.starts_with("tokio_pulse_"));
/// }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Family {
    /// The metric name.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: FamilyKind,
    /// The unit given to `describe_*!`.
    pub unit: Unit,
    /// Labels besides `runtime` and `runtime_id`.
    pub labels: &'static [&'static str],
    /// The help text.
    pub help: &'static str,
    /// Whether the family exists only for runtimes that time their polls.
    pub poll_timing: bool,
    /// Whether the family is the thief × victim matrix, published only for
    /// runtimes whose settings ask for the full matrix (see the
    /// [module docs](self#steals-the-matrix-and-the-totals)).
    pub steal_matrix: bool,
}

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
) -> Family {
    Family {
        name,
        kind: FamilyKind::Counter,
        unit: Unit::Count,
        labels,
        help,
        poll_timing: false,
        steal_matrix: false,
    }
}

const fn matrix(family: Family) -> Family {
    Family {
        steal_matrix: true,
        ..family
    }
}

const fn timed(family: Family) -> Family {
    Family {
        poll_timing: true,
        ..family
    }
}

const fn gauge(name: &'static str, labels: &'static [&'static str], help: &'static str) -> Family {
    Family {
        name,
        kind: FamilyKind::Gauge,
        unit: Unit::Count,
        labels,
        help,
        poll_timing: false,
        steal_matrix: false,
    }
}

/// Every family [`publish`] sets, in the order of the mapping table in the
/// [module docs](self).
///
/// # Examples
///
/// ```
/// let names: Vec<_> = tokio_pulse_rt::export::FAMILIES.iter().map(|f| f.name).collect();
/// assert!(names.contains(&"tokio_pulse_stolen_tasks_total"));
/// ```
pub const FAMILIES: &[Family] = &[
    gauge(WORKERS, &[], "Worker threads of the runtime."),
    counter(
        SPAWNS,
        &["origin", "worker"],
        "Tasks spawned: origin=\"local\" from a thread holding a worker's core, origin=\"remote\" (worker=\"external\") from any other thread.",
    ),
    counter(
        WAKES,
        &["path", "worker"],
        "Tasks woken while not running, by where they were queued: the LIFO slot, the back of the local queue, or the inject queue (path=\"remote\", worker=\"external\").",
    ),
    counter(
        POLLS,
        &["worker"],
        "Task polls, LIFO-chained polls included.",
    ),
    counter(
        LIFO_POLLS,
        &["worker"],
        "Polls of a task taken from the LIFO slot right after another poll.",
    ),
    counter(
        YIELDS,
        &["reason", "worker"],
        "Polls that gave the worker back: yield_now() calls, coop-budget exhaustion, and tasks that woke themselves during a poll.",
    ),
    matrix(counter(
        STEAL_OPERATIONS,
        &["worker", "victim"],
        "Successful steal operations by worker (the thief) from victim (the full matrix: up to 16 workers, or when asked for).",
    )),
    matrix(counter(
        STOLEN_TASKS,
        &["worker", "victim"],
        "Tasks moved by steals by worker (the thief) from victim (the full matrix: up to 16 workers, or when asked for).",
    )),
    counter(
        THIEF_STEAL_OPERATIONS,
        &["worker"],
        "Successful steal operations by worker (the thief), from every victim.",
    ),
    counter(
        THIEF_STOLEN_TASKS,
        &["worker"],
        "Tasks worker (the thief) stole, from every victim.",
    ),
    counter(
        VICTIM_STEAL_OPERATIONS,
        &["worker"],
        "Successful steal operations from worker (the victim), by every thief.",
    ),
    counter(
        VICTIM_STOLEN_TASKS,
        &["worker"],
        "Tasks stolen from worker (the victim), by every thief.",
    ),
    counter(
        STEAL_ATTEMPTS,
        &["worker"],
        "Steal attempts, successful or not.",
    ),
    counter(PARKS, &["worker"], "Times the worker parked."),
    counter(UNPARKS, &["worker"], "Times the worker woke from a park."),
    counter(
        OVERFLOWS,
        &["worker"],
        "Times the local queue was full and half of it moved to the inject queue.",
    ),
    counter(
        OVERFLOW_PUSHES,
        &[],
        "Single tasks pushed to the inject queue because a local queue was full while being stolen from.",
    ),
    counter(
        LIFO_CAPPED,
        &["worker"],
        "Times LIFO-slot chaining hit its per-tick cap.",
    ),
    timed(counter(
        SLOW_POLLS,
        &["worker"],
        "Polls that took at least the slow-poll threshold (poll timing on).",
    )),
    timed(counter(
        STALLS,
        &["worker"],
        "Stalls the watchdog reported: a worker stuck in one poll past the stall threshold (poll timing on).",
    )),
    timed(counter(
        SLOW_POLL_EVENTS_DROPPED,
        &["worker"],
        "Slow-poll events the rate limit (10 per second per worker) dropped; the polls are still counted in slow_polls_total (poll timing on).",
    )),
    timed(counter(
        STALL_EVENTS_DROPPED,
        &["worker"],
        "Stalls whose start and end events the rate limit (10 per second per worker) dropped; the stalls are still counted in stalls_total (poll timing on).",
    )),
    timed(counter(
        LISTENER_PANICS,
        &["worker"],
        "Panics of the event listener or a tracing layer behind it on this worker's events, caught and counted (poll timing on).",
    )),
    gauge(
        LOCAL_QUEUE_DEPTH,
        &["worker"],
        "Tasks waiting in the worker's local queue.",
    ),
    gauge(
        GLOBAL_QUEUE_DEPTH,
        &[],
        "Tasks waiting in the runtime's inject (global) queue.",
    ),
    gauge(
        ALIVE_TASKS,
        &[],
        "Tasks spawned and not yet completed.",
    ),
];

/// The label value for activity outside every worker.
pub const EXTERNAL: &str = "external";

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Describes every family in [`FAMILIES`] (help text and unit) to the current
/// recorder. [`publisher()`] and [`prometheus()`](crate::prometheus()) call
/// this for you.
///
/// # Examples
///
/// ```
/// use metrics_util::debugging::DebuggingRecorder;
///
/// let recorder = DebuggingRecorder::new();
/// metrics::with_local_recorder(&recorder, tokio_pulse_rt::export::describe);
/// ```
pub fn describe() {
    for family in FAMILIES {
        match family.kind {
            FamilyKind::Counter => {
                metrics::describe_counter!(family.name, family.unit, family.help)
            }
            FamilyKind::Gauge => metrics::describe_gauge!(family.name, family.unit, family.help),
        }
    }
}

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
/// [module docs](self#which-runtimes-and-what-happens-to-a-runtime-that-is-gone).
pub const DEFAULT_MAX_RUNTIMES: usize = 16;

/// The default age a runtime must reach before [`publisher()`] publishes
/// it; see the
/// [module docs](self#which-runtimes-and-what-happens-to-a-runtime-that-is-gone).
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

/// Publishes the live runtimes to the current recorder: the oldest
/// [`DEFAULT_MAX_RUNTIMES`] of them (see [`live_snapshots`]), and
/// `tokio_pulse_runtimes_omitted` for the rest.
///
/// # Examples
///
/// See the [module docs](self).
pub fn publish() {
    publish_selection(&select(Limits {
        max_runtimes: DEFAULT_MAX_RUNTIMES,
        min_age: Duration::ZERO,
    }));
}

/// Publishes one snapshot to the current recorder, as the mapping table in
/// the [module docs](self) says. The snapshot should be a whole one (from
/// [`RuntimeProbes::snapshot`](crate::RuntimeProbes::snapshot)), not a
/// delta: counters are set with `absolute`. The steal matrix follows the
/// runtime's settings while it is alive, the default rule after.
///
/// # Examples
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use tokio_pulse_rt::{RuntimeProbes, ScheduleKind};
///
/// let (rt, mut recorders) = RuntimeProbes::new(Some("doc"), 1);
/// recorders[0].scheduled_local(ScheduleKind::Spawn, true);
/// let recorder = DebuggingRecorder::new();
/// let snapshotter = recorder.snapshotter();
/// metrics::with_local_recorder(&recorder, || {
///     tokio_pulse_rt::export::publish_snapshot(&rt.snapshot())
/// });
/// let spawns = snapshotter
///     .snapshot()
///     .into_vec()
///     .into_iter()
///     .find(|(key, ..)| {
///         key.key().name() == "tokio_pulse_spawns_total"
///             && key.key().labels().any(|l| l.value() == "local")
///     })
///     .map(|(.., value)| value);
/// assert_eq!(spawns, Some(DebugValue::Counter(1)));
/// ```
pub fn publish_snapshot(snapshot: &RuntimeSnapshot) {
    let snapshots = std::slice::from_ref(snapshot);
    publish_snapshots(snapshots, &full_matrix_of(snapshots), Publish::Values);
}

/// What [`publish_snapshots`] sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Publish {
    /// Every series at the snapshot's value.
    Values,
    /// Only the gauges, at 0: the runtime is gone.
    RetireGauges,
}

fn publish_selection(selection: &Selection) {
    publish_snapshots(
        &selection.snapshots,
        &selection.full_matrix,
        Publish::Values,
    );
    metrics::with_recorder(|recorder| {
        recorder
            .register_gauge(&Key::from_static_name(RUNTIMES_OMITTED), &METADATA)
            .set(selection.omitted as f64);
    });
}

fn publish_snapshots(snapshots: &[RuntimeSnapshot], full_matrix: &[bool], what: Publish) {
    metrics::with_recorder(|recorder| {
        let labels: Vec<RuntimeLabels> = snapshots.iter().map(RuntimeLabels::new).collect();
        for_each_series(snapshots, full_matrix, |series| {
            let key = labels[series.runtime].key(&series);
            match (series.family.kind, what) {
                (FamilyKind::Counter, Publish::Values) => recorder
                    .register_counter(&key, &METADATA)
                    .absolute(series.value),
                (FamilyKind::Counter, Publish::RetireGauges) => {}
                // Queue depths and task counts stay far below 2^53, so the
                // conversion is exact.
                (FamilyKind::Gauge, Publish::Values) => recorder
                    .register_gauge(&key, &METADATA)
                    .set(series.value as f64),
                (FamilyKind::Gauge, Publish::RetireGauges) => {
                    recorder.register_gauge(&key, &METADATA).set(0.0)
                }
            }
        });
    });
}

/// The `worker` label of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Worker {
    /// A worker index.
    Index(usize),
    /// Activity outside every worker: `worker="external"`.
    External,
}

/// One series of one family, as the mapping in the [module docs](self)
/// gives it. Labels come in the order `runtime`, `runtime_id`, `kind`,
/// `worker`, `victim`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Series {
    pub(crate) family: &'static Family,
    /// Index of the runtime in the snapshots given to [`for_each_series`].
    pub(crate) runtime: usize,
    /// `origin`, `path` or `reason`, with its value.
    pub(crate) kind: Option<(&'static str, &'static str)>,
    pub(crate) worker: Option<Worker>,
    /// The worker stolen from.
    pub(crate) victim: Option<usize>,
    pub(crate) value: u64,
}

/// Calls `f` with every series of `snapshots`, family by family in the
/// order of [`FAMILIES`], so that a text renderer can write each family's
/// samples together under one header. This is the one place where snapshot
/// fields map to families; the facade publisher and the Prometheus renderer
/// both go through it. `full_matrix[i]` says whether `snapshots[i]` gets
/// the thief × victim matrix (missing entries: no).
pub(crate) fn for_each_series(
    snapshots: &[RuntimeSnapshot],
    full_matrix: &[bool],
    mut f: impl FnMut(Series),
) {
    for family in FAMILIES {
        for (runtime, snap) in snapshots.iter().enumerate() {
            if family.steal_matrix && !full_matrix.get(runtime).copied().unwrap_or(false) {
                continue;
            }
            let mut emit = |kind, worker, victim, value| {
                f(Series {
                    family,
                    runtime,
                    kind,
                    worker,
                    victim,
                    value,
                })
            };
            // One sample per worker, labelled only with `worker`.
            let mut per_worker = |field: fn(&crate::WorkerSnapshot) -> u64| {
                for w in &snap.workers {
                    emit(None, Some(Worker::Index(w.index)), None, field(w));
                }
            };
            match family.name {
                WORKERS => emit(None, None, None, snap.workers.len() as u64),
                SPAWNS => {
                    for w in &snap.workers {
                        let worker = Some(Worker::Index(w.index));
                        emit(Some(("origin", "local")), worker, None, w.spawns_local);
                    }
                    let remote = Some(("origin", "remote"));
                    emit(remote, Some(Worker::External), None, snap.spawns_remote);
                }
                WAKES => {
                    for w in &snap.workers {
                        let worker = Some(Worker::Index(w.index));
                        emit(Some(("path", "lifo")), worker, None, w.wakes_lifo);
                        let queue = Some(("path", "local_queue"));
                        emit(queue, worker, None, w.wakes_local_queue);
                    }
                    let remote = Some(("path", "remote"));
                    emit(remote, Some(Worker::External), None, snap.wakes_remote);
                }
                POLLS => per_worker(|w| w.polls),
                LIFO_POLLS => per_worker(|w| w.polls_lifo),
                YIELDS => {
                    for w in &snap.workers {
                        let worker = Some(Worker::Index(w.index));
                        let reasons = [
                            ("yield_now", w.yields_yield_now),
                            ("budget", w.yields_budget),
                            ("self_wake", w.self_wakes_local),
                        ];
                        for (reason, value) in reasons {
                            emit(Some(("reason", reason)), worker, None, value);
                        }
                    }
                    let self_wake = Some(("reason", "self_wake"));
                    let value = snap.self_wakes_remote;
                    emit(self_wake, Some(Worker::External), None, value);
                }
                STEAL_OPERATIONS | STOLEN_TASKS => {
                    let operations = family.name == STEAL_OPERATIONS;
                    for (thief, victim, cell) in steal_cells(snap) {
                        let value = if operations {
                            cell.operations
                        } else {
                            cell.tasks
                        };
                        emit(None, Some(Worker::Index(thief)), Some(victim), value);
                    }
                }
                THIEF_STEAL_OPERATIONS
                | THIEF_STOLEN_TASKS
                | VICTIM_STEAL_OPERATIONS
                | VICTIM_STOLEN_TASKS => {
                    let operations = matches!(
                        family.name,
                        THIEF_STEAL_OPERATIONS | VICTIM_STEAL_OPERATIONS
                    );
                    let by_thief =
                        matches!(family.name, THIEF_STEAL_OPERATIONS | THIEF_STOLEN_TASKS);
                    // Summed over exactly the cells of the matrix, so that
                    // a PromQL sum of the matrix equals the totals.
                    let mut totals = vec![0u64; snap.workers.len()];
                    for (thief, victim, cell) in steal_cells(snap) {
                        let value = if operations {
                            cell.operations
                        } else {
                            cell.tasks
                        };
                        let index = if by_thief { thief } else { victim };
                        totals[index] = totals[index].saturating_add(value);
                    }
                    for (index, total) in totals.into_iter().enumerate() {
                        emit(None, Some(Worker::Index(index)), None, total);
                    }
                }
                STEAL_ATTEMPTS => per_worker(|w| w.steal_attempts),
                PARKS => per_worker(|w| w.parks),
                UNPARKS => per_worker(|w| w.unparks),
                OVERFLOWS => per_worker(|w| w.overflows_batch),
                OVERFLOW_PUSHES => emit(None, None, None, snap.overflows_single),
                LIFO_CAPPED => per_worker(|w| w.lifo_capped),
                SLOW_POLLS
                | STALLS
                | SLOW_POLL_EVENTS_DROPPED
                | STALL_EVENTS_DROPPED
                | LISTENER_PANICS => {
                    for w in &snap.workers {
                        if let Some(timing) = &w.poll_time {
                            let value = match family.name {
                                SLOW_POLLS => timing.slow_polls,
                                STALLS => timing.stalls,
                                SLOW_POLL_EVENTS_DROPPED => timing.slow_poll_events_dropped,
                                STALL_EVENTS_DROPPED => timing.stall_events_dropped,
                                _ => timing.listener_panics,
                            };
                            emit(None, Some(Worker::Index(w.index)), None, value);
                        }
                    }
                }
                LOCAL_QUEUE_DEPTH => {
                    for w in &snap.workers {
                        if let Some(depth) = w.local_queue_depth {
                            emit(None, Some(Worker::Index(w.index)), None, depth);
                        }
                    }
                }
                GLOBAL_QUEUE_DEPTH => {
                    if let Some(depth) = snap.global_queue_depth {
                        emit(None, None, None, depth);
                    }
                }
                ALIVE_TASKS => {
                    if let Some(alive) = snap.alive_tasks {
                        emit(None, None, None, alive);
                    }
                }
                _ => unreachable!("every family in FAMILIES has a mapping"),
            }
        }
    }
}

/// The cells of the steal matrix of `snap` as `(thief, victim, cell)`:
/// every ordered pair of distinct workers. A worker never steals from
/// itself, and a cell past the worker count would be a malformed snapshot:
/// both are skipped. Thieves are indexed by position, which is their index.
fn steal_cells(
    snap: &RuntimeSnapshot,
) -> impl Iterator<Item = (usize, usize, &crate::StealSnapshot)> + '_ {
    let workers = snap.workers.len();
    snap.workers.iter().enumerate().flat_map(move |(thief, w)| {
        w.steals_from
            .iter()
            .enumerate()
            .filter(move |(victim, _)| *victim != thief && *victim < workers)
            .map(move |(victim, cell)| (thief, victim, cell))
    })
}

/// A label value that clones by reference count, not by copying.
fn shared(value: String) -> SharedString {
    SharedString::from(Arc::<str>::from(value))
}

/// One runtime's label values for the facade, built once per publication.
struct RuntimeLabels {
    runtime: SharedString,
    runtime_id: SharedString,
    /// The `worker` label value of each worker index.
    workers: Vec<SharedString>,
}

impl RuntimeLabels {
    fn new(snapshot: &RuntimeSnapshot) -> RuntimeLabels {
        RuntimeLabels {
            runtime: SharedString::from(snapshot.name.clone()),
            runtime_id: shared(snapshot.id.to_string()),
            workers: (0..snapshot.workers.len())
                .map(|index| shared(index.to_string()))
                .collect(),
        }
    }

    fn index(&self, index: usize) -> SharedString {
        match self.workers.get(index) {
            Some(value) => value.clone(),
            None => shared(index.to_string()),
        }
    }

    fn key(&self, series: &Series) -> Key {
        let mut labels = Vec::with_capacity(5);
        labels.push(Label::new("runtime", self.runtime.clone()));
        labels.push(Label::new("runtime_id", self.runtime_id.clone()));
        if let Some((key, value)) = series.kind {
            labels.push(Label::from_static_parts(key, value));
        }
        match series.worker {
            Some(Worker::Index(index)) => labels.push(Label::new("worker", self.index(index))),
            Some(Worker::External) => labels.push(Label::from_static_parts("worker", EXTERNAL)),
            None => {}
        }
        if let Some(victim) = series.victim {
            labels.push(Label::new("victim", self.index(victim)));
        }
        Key::from_parts(series.family.name, labels)
    }
}

/// Errors from setting up an exporter. Each names the input at fault.
///
/// # Examples
///
/// ```
/// let err = tokio_pulse_rt::prometheus().listen("not an address").install();
/// assert!(err.unwrap_err().to_string().contains("not an address"));
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// The listen address does not parse or resolve.
    Address {
        /// The address as given.
        input: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Binding the listen address failed, for example because the port is
    /// in use.
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The operating system's error.
        source: std::io::Error,
    },
    /// A global `metrics` recorder is already installed.
    RecorderInstalled,
    /// A publish interval that is zero.
    Interval(Duration),
    /// An exporter setting that cannot work, such as a cap of zero.
    Setting {
        /// The builder method, like `max_runtimes`.
        setting: &'static str,
        /// The value given.
        value: String,
        /// Why it was rejected.
        reason: &'static str,
    },
    /// A background thread could not be started.
    Thread(std::io::Error),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Address { input, reason } => {
                write!(f, "invalid listen address {input:?}: {reason}")
            }
            ExportError::Bind { addr, source } => write!(
                f,
                "cannot listen on {addr}: {source} (is another exporter using the port? \
                 choose another address)"
            ),
            ExportError::RecorderInstalled => f.write_str(
                "a global metrics recorder is already installed; \
                 use .with_global_recorder(false) to serve only the tokio_pulse_ families",
            ),
            ExportError::Interval(interval) => {
                write!(f, "publish interval must be positive, got {interval:?}")
            }
            ExportError::Setting {
                setting,
                value,
                reason,
            } => write!(f, "invalid exporter setting {setting}({value}): {reason}"),
            ExportError::Thread(err) => write!(f, "cannot start the exporter thread: {err}"),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Bind { source, .. } | ExportError::Thread(source) => Some(source),
            _ => None,
        }
    }
}

/// The default interval of [`publisher()`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Starts building an interval publisher, for recorders that do not pull
/// (StatsD, OpenTelemetry, a `DebuggingRecorder`...). For Prometheus use
/// [`prometheus()`](crate::prometheus()) instead, which reads at scrape time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let publisher = tokio_pulse_rt::export::publisher()
///     .interval(Duration::from_millis(500))
///     .spawn()
///     .unwrap();
/// publisher.stop();
/// ```
pub fn publisher() -> PublisherBuilder {
    PublisherBuilder {
        interval: DEFAULT_INTERVAL,
        limits: Limits {
            max_runtimes: DEFAULT_MAX_RUNTIMES,
            min_age: DEFAULT_MIN_RUNTIME_AGE,
        },
    }
}

/// Settings of an interval publisher; see [`publisher()`].
///
/// # Examples
///
/// See [`publisher()`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PublisherBuilder {
    interval: Duration,
    limits: Limits,
}

impl PublisherBuilder {
    /// Sets the time between two publications (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let zero = tokio_pulse_rt::export::publisher().interval(std::time::Duration::ZERO);
    /// assert!(zero.spawn().is_err());
    /// ```
    pub fn interval(mut self, interval: Duration) -> PublisherBuilder {
        self.interval = interval;
        self
    }

    /// Publishes at most this many runtimes at once, the oldest live ones
    /// (default [`DEFAULT_MAX_RUNTIMES`]); the others are counted in
    /// `tokio_pulse_runtimes_omitted`. Zero is rejected by
    /// [`spawn`](PublisherBuilder::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// let none = tokio_pulse_rt::export::publisher().max_runtimes(0);
    /// assert!(none.spawn().unwrap_err().to_string().contains("max_runtimes(0)"));
    /// ```
    pub fn max_runtimes(mut self, max: usize) -> PublisherBuilder {
        self.limits.max_runtimes = max;
        self
    }

    /// Publishes only runtimes at least this old (default
    /// [`DEFAULT_MIN_RUNTIME_AGE`]), so that runtimes built for one
    /// request never add series to the recorder, which could not forget
    /// them. `Duration::ZERO` publishes every runtime it sees.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let publisher = tokio_pulse_rt::export::publisher()
    ///     .min_runtime_age(Duration::from_secs(10))
    ///     .spawn()
    ///     .unwrap();
    /// publisher.stop();
    /// ```
    pub fn min_runtime_age(mut self, age: Duration) -> PublisherBuilder {
        self.limits.min_age = age;
        self
    }

    /// Describes the families to the global recorder and starts a thread
    /// named `tokio-pulse-publish` that publishes at once and then every
    /// interval, until [`Publisher::stop`]. Dropping the [`Publisher`]
    /// detaches the thread: it keeps publishing for the life of the
    /// process.
    ///
    /// Each publication sets every series of the runtimes the limits admit
    /// (see [`max_runtimes`](PublisherBuilder::max_runtimes) and
    /// [`min_runtime_age`](PublisherBuilder::min_runtime_age)), and sets
    /// the gauges of every runtime it published before and no longer
    /// exports to 0, once; see the
    /// [module docs](self#which-runtimes-and-what-happens-to-a-runtime-that-is-gone).
    ///
    /// # Errors
    ///
    /// [`ExportError::Interval`] for a zero interval,
    /// [`ExportError::Setting`] for `max_runtimes(0)`,
    /// [`ExportError::Thread`] if the thread cannot be started.
    ///
    /// # Examples
    ///
    /// See [`publisher()`].
    pub fn spawn(self) -> Result<Publisher, ExportError> {
        if self.interval.is_zero() {
            return Err(ExportError::Interval(self.interval));
        }
        if self.limits.max_runtimes == 0 {
            return Err(ExportError::Setting {
                setting: "max_runtimes",
                value: "0".to_string(),
                reason: "a publisher that may publish no runtime publishes nothing",
            });
        }
        let interval = self.interval;
        let limits = self.limits;
        let stop = Arc::new(StopSignal::default());
        describe();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tokio-pulse-publish".into())
                .spawn(move || {
                    let mut published = Published::default();
                    loop {
                        published.publish(limits);
                        if stop.wait(interval) {
                            return;
                        }
                    }
                })
                .map_err(ExportError::Thread)?
        };
        Ok(Publisher {
            stop,
            thread: Some(thread),
        })
    }
}

/// What a publisher published last, by runtime id: enough to find the
/// gauges of a runtime once it is gone.
#[derive(Debug, Default)]
struct Published {
    runtimes: HashMap<u64, (RuntimeSnapshot, bool)>,
}

impl Published {
    fn publish(&mut self, limits: Limits) {
        let selection = select(limits);
        publish_selection(&selection);
        let gone_ids: Vec<u64> = self
            .runtimes
            .keys()
            .filter(|id| !selection.snapshots.iter().any(|s| s.id == **id))
            .copied()
            .collect();
        let gone: Vec<(RuntimeSnapshot, bool)> = gone_ids
            .iter()
            .filter_map(|id| self.runtimes.remove(id))
            .collect();
        if !gone.is_empty() {
            let (snapshots, full): (Vec<_>, Vec<_>) = gone.into_iter().unzip();
            publish_snapshots(&snapshots, &full, Publish::RetireGauges);
        }
        for (snapshot, full) in selection.snapshots.iter().zip(&selection.full_matrix) {
            // Only the gauges' keys are needed later: drop the matrix.
            let mut kept = snapshot.clone();
            for worker in &mut kept.workers {
                worker.steals_from = Vec::new();
            }
            self.runtimes.insert(snapshot.id, (kept, *full));
        }
    }
}

/// Says "stop" to a background thread and wakes it at once, however long
/// it was going to wait. A thread that is never told keeps running: that is
/// what dropping a [`Publisher`] or a
/// [`Server`](crate::prometheus::Server) means.
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    /// Tells every waiter to stop.
    pub(crate) fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` for [`stop`](Self::stop); true if it came.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopped {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            stopped = self
                .changed
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// A running interval publisher; see [`publisher()`].
///
/// Dropping it detaches the publishing thread, which then runs for the
/// life of the process; [`stop`](Publisher::stop) ends it.
///
/// # Examples
///
/// See [`publisher()`].
#[derive(Debug)]
pub struct Publisher {
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    /// Stops publishing and waits for the thread to finish its current
    /// publication. It does not wait for the interval.
    ///
    /// # Examples
    ///
    /// See [`publisher()`].
    pub fn stop(mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
