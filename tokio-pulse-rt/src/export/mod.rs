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
//!   ([`FULL_STEAL_MATRIX_MAX_WORKERS`](tokio_pulse_probes::FULL_STEAL_MATRIX_MAX_WORKERS)),
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
//! [`FAMILIES`] is the mapping: each [`Family`] carries its name, type,
//! unit, labels, help text and the function that reads its samples from a
//! [`RuntimeSnapshot`], and the facade publisher, the Prometheus text
//! writer and the README's family table ([`markdown_table`]) all iterate
//! it. The families marked [`Family::text_only`], the poll-duration
//! histogram (`tokio_pulse_poll_duration_seconds`),
//! `tokio_pulse_busy_seconds_total` and `tokio_pulse_current_poll_seconds`
//! (floats), are written only by the Prometheus text writer (see
//! [`crate::prometheus`](mod@crate::prometheus)): a facade counter is an
//! integer, and a facade histogram takes one sample per event, not bucket
//! counts.
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

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics::{Key, Label, Level, Metadata, SharedString};

mod catalog;
mod families;
mod publisher;
mod select;

pub(crate) use catalog::{for_each_series, LabelValue, Series, Value};
pub use catalog::{markdown_table, Family, FamilyKind, EXTERNAL};
pub(crate) use families::poll_bounds;
// Every family name and `FAMILIES`: a glob, so that a new family's name
// needs no second line here.
pub use families::*;
pub(crate) use publisher::StopSignal;
pub use publisher::{publisher, Publisher, PublisherBuilder, DEFAULT_INTERVAL};
pub(crate) use select::{full_matrix_of, select, Limits, Selection};
pub use select::{live_snapshots, DEFAULT_MAX_RUNTIMES, DEFAULT_MIN_RUNTIME_AGE};

use crate::RuntimeSnapshot;

static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Describes every family of [`FAMILIES`] that the facade publishes (not
/// the [`text_only`](Family::text_only) ones) to the current recorder:
/// help text and unit. [`publisher()`] and [`prometheus()`](crate::prometheus()) call
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
    for family in FAMILIES.iter().filter(|family| !family.text_only) {
        match family.kind {
            FamilyKind::Counter => {
                metrics::describe_counter!(family.name, family.unit, family.help)
            }
            FamilyKind::Gauge => metrics::describe_gauge!(family.name, family.unit, family.help),
            FamilyKind::Histogram => {
                metrics::describe_histogram!(family.name, family.unit, family.help)
            }
        }
    }
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

/// Publishes one snapshot to the current recorder, as the catalog
/// ([`FAMILIES`]) says. The snapshot should be a whole one (from
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
pub(crate) enum Publish {
    /// Every series at the snapshot's value.
    Values,
    /// Only the gauges, at 0: the runtime is gone.
    RetireGauges,
}

pub(crate) fn publish_selection(selection: &Selection) {
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

pub(crate) fn publish_snapshots(
    snapshots: &[RuntimeSnapshot],
    full_matrix: &[bool],
    what: Publish,
) {
    metrics::with_recorder(|recorder| {
        let labels: Vec<RuntimeLabels> = snapshots.iter().map(RuntimeLabels::new).collect();
        let facade = |family: &Family| !family.text_only;
        for_each_series(snapshots, full_matrix, facade, |series| {
            let key = labels[series.runtime].key(&series);
            match (series.family.kind, &series.sample.value, what) {
                (FamilyKind::Counter, &Value::Int(value), Publish::Values) => {
                    recorder.register_counter(&key, &METADATA).absolute(value)
                }
                // Queue depths and task counts stay far below 2^53, so the
                // conversion is exact.
                (FamilyKind::Gauge, &Value::Int(value), Publish::Values) => {
                    recorder.register_gauge(&key, &METADATA).set(value as f64)
                }
                (FamilyKind::Gauge, &Value::Float(value), Publish::Values) => {
                    recorder.register_gauge(&key, &METADATA).set(value)
                }
                (FamilyKind::Gauge, _, Publish::RetireGauges) => {
                    recorder.register_gauge(&key, &METADATA).set(0.0)
                }
                // Counters keep their last value once a runtime is gone;
                // float counters and histograms are text-only.
                _ => {}
            }
        });
    });
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
        labels.extend(
            series
                .labels()
                .as_slice()
                .iter()
                .map(|&(key, value)| match value {
                    LabelValue::Runtime => Label::new(key, self.runtime.clone()),
                    LabelValue::RuntimeId => Label::new(key, self.runtime_id.clone()),
                    LabelValue::Static(value) => Label::from_static_parts(key, value),
                    LabelValue::Index(index) => Label::new(key, self.index(index)),
                }),
        );
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
