//! The catalog: every metric family, with the data to write it.
//!
//! Each [`Family`] in [`FAMILIES`] carries its name, Prometheus type, unit,
//! labels, help text, the README's description, and the function that
//! reads its samples from a [`RuntimeSnapshot`]. The facade publisher
//! ([`publish`](super::publish)), the Prometheus text writer
//! ([`render_families`](crate::prometheus::render_families)) and the
//! README's family table ([`markdown_table`]) all iterate this one list,
//! and [`Series::labels`] is the one place that builds a series' labels.
//! A new family is one entry here plus the snapshot field it reads.

use metrics::Unit;

use super::families::{FAMILIES, POLL_BUCKETS, RUNTIMES_OMITTED, RUNTIMES_OMITTED_DOC};
use crate::{RuntimeSnapshot, WorkerSnapshot};

/// The Prometheus type of a family.
///
/// # Examples
///
/// ```
/// use tokio_pulse_rt::export::{FamilyKind, FAMILIES, POLLS};
///
/// let polls = FAMILIES.iter().find(|f| f.name == POLLS).unwrap();
/// assert_eq!(polls.kind, FamilyKind::Counter);
/// assert_eq!(FamilyKind::Histogram.as_str(), "histogram");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FamilyKind {
    /// A monotonic counter.
    Counter,
    /// A value that goes up and down.
    Gauge,
    /// Cumulative buckets with a sum and a count.
    Histogram,
}

impl FamilyKind {
    /// The name of the type in the text exposition format (`# TYPE`).
    ///
    /// # Examples
    ///
    /// See [`FamilyKind`].
    pub const fn as_str(self) -> &'static str {
        match self {
            FamilyKind::Counter => "counter",
            FamilyKind::Gauge => "gauge",
            FamilyKind::Histogram => "histogram",
        }
    }
}

/// One metric family of the catalog.
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
    /// Counter, gauge or histogram.
    pub kind: FamilyKind,
    /// The unit given to `describe_*!`.
    pub unit: Unit,
    /// Labels besides `runtime` and `runtime_id`.
    pub labels: &'static [&'static str],
    /// The help text (`# HELP`, `describe_*!`).
    pub help: &'static str,
    /// What the family means, in Markdown: the README's table row.
    pub doc: &'static str,
    /// Whether the family exists only for runtimes that time their polls.
    pub poll_timing: bool,
    /// Whether the family is the thief × victim matrix, published only for
    /// runtimes whose settings ask for the full matrix (see the
    /// [module docs](super#steals-the-matrix-and-the-totals)).
    pub steal_matrix: bool,
    /// Whether only the Prometheus text writer writes the family, never
    /// the `metrics` facade: facade counters are integers, and facade
    /// histograms take one sample per event, not bucket counts.
    pub text_only: bool,
    /// How the family is read from a snapshot.
    pub(crate) read: Read,
}

/// How a family's samples are read from one runtime's snapshot.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Read {
    /// One sample for the runtime, without further labels; `None` for none.
    Runtime(fn(&RuntimeSnapshot) -> Option<Value>),
    /// One sample per worker, labelled `worker`; `None` skips the worker.
    Worker(fn(&WorkerSnapshot) -> Option<Value>),
    /// Any samples, each with its own labels.
    Samples(fn(&RuntimeSnapshot, &mut dyn FnMut(Sample))),
}

/// The value of one sample.
#[derive(Clone, Debug)]
pub(crate) enum Value {
    /// An integer: counts and depths.
    Int(u64),
    /// A float: seconds.
    Float(f64),
    /// Histogram buckets, boxed to keep every other sample small.
    Histogram(Box<Buckets>),
}

/// The histogram buckets of one series.
#[derive(Clone, Debug)]
pub(crate) struct Buckets {
    /// Upper bounds of the finite buckets, ascending.
    pub(crate) bounds: &'static [f64],
    /// Events per bucket, not cumulative, one more than `bounds` for the
    /// events above the last bound.
    pub(crate) counts: [u64; POLL_BUCKETS],
    /// The sum of the observed values.
    pub(crate) sum: f64,
}

/// The `worker` label of a series.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Worker {
    /// A worker index.
    Index(usize),
    /// Activity outside every worker: `worker="external"`.
    External,
}

/// One sample as a [`Read`] gives it: labels besides the runtime's, and
/// the value.
#[derive(Clone, Debug)]
pub(crate) struct Sample {
    /// `origin`, `path` or `reason`, with its value.
    pub(crate) kind: Option<(&'static str, &'static str)>,
    pub(crate) worker: Option<Worker>,
    /// The worker stolen from.
    pub(crate) victim: Option<usize>,
    pub(crate) value: Value,
}

/// One series of one family of one runtime.
#[derive(Clone, Debug)]
pub(crate) struct Series {
    pub(crate) family: &'static Family,
    /// Index of the runtime in the snapshots given to [`for_each_series`].
    pub(crate) runtime: usize,
    pub(crate) sample: Sample,
}

/// A label value, resolved by the writer: the runtime's name and id and
/// the indices are formatted once per runtime by each writer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LabelValue {
    /// The runtime's name.
    Runtime,
    /// The runtime's id.
    RuntimeId,
    /// A fixed value.
    Static(&'static str),
    /// A worker index.
    Index(usize),
}

impl Series {
    /// The series' labels, in their one order: `runtime`, `runtime_id`,
    /// `origin`/`path`/`reason`, `worker`, `victim`. Both the facade and
    /// the text writer label series from this.
    pub(crate) fn labels(&self) -> Labels {
        let sample = &self.sample;
        let mut labels = Labels {
            items: [("runtime", LabelValue::Runtime); 5],
            len: 1,
        };
        labels.push("runtime_id", LabelValue::RuntimeId);
        if let Some((key, value)) = sample.kind {
            labels.push(key, LabelValue::Static(value));
        }
        match sample.worker {
            Some(Worker::Index(index)) => labels.push("worker", LabelValue::Index(index)),
            Some(Worker::External) => labels.push("worker", LabelValue::Static(EXTERNAL)),
            None => {}
        }
        if let Some(victim) = sample.victim {
            labels.push("victim", LabelValue::Index(victim));
        }
        labels
    }
}

/// The labels of one series, as [`Series::labels`] builds them: at most
/// five, kept inline.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Labels {
    items: [(&'static str, LabelValue); 5],
    len: usize,
}

impl Labels {
    fn push(&mut self, key: &'static str, value: LabelValue) {
        self.items[self.len] = (key, value);
        self.len += 1;
    }

    /// The labels in order, `(name, value)`.
    pub(crate) fn as_slice(&self) -> &[(&'static str, LabelValue)] {
        &self.items[..self.len]
    }
}

/// The label value for activity outside every worker.
pub const EXTERNAL: &str = "external";

/// Calls `f` with every series of `snapshots` for each family of
/// [`FAMILIES`] that `wanted` admits, family by family in catalog order,
/// so that a text writer can write each family's samples together under
/// one header. `full_matrix[i]` says whether `snapshots[i]` gets the
/// thief × victim matrix (missing entries: no).
pub(crate) fn for_each_series(
    snapshots: &[RuntimeSnapshot],
    full_matrix: &[bool],
    wanted: impl Fn(&Family) -> bool,
    mut f: impl FnMut(Series),
) {
    for family in FAMILIES.iter().filter(|family| wanted(family)) {
        for (runtime, snap) in snapshots.iter().enumerate() {
            if family.steal_matrix && !full_matrix.get(runtime).copied().unwrap_or(false) {
                continue;
            }
            let mut emit = |sample| {
                f(Series {
                    family,
                    runtime,
                    sample,
                })
            };
            match family.read {
                Read::Runtime(read) => {
                    if let Some(value) = read(snap) {
                        emit(Sample::plain(None, value));
                    }
                }
                Read::Worker(read) => {
                    for w in &snap.workers {
                        if let Some(value) = read(w) {
                            emit(Sample::plain(Some(Worker::Index(w.index)), value));
                        }
                    }
                }
                Read::Samples(read) => read(snap, &mut emit),
            }
        }
    }
}

impl Sample {
    pub(crate) fn plain(worker: Option<Worker>, value: Value) -> Sample {
        Sample {
            kind: None,
            worker,
            victim: None,
            value,
        }
    }

    pub(crate) fn of(kind: (&'static str, &'static str), worker: Worker, value: u64) -> Sample {
        Sample {
            kind: Some(kind),
            worker: Some(worker),
            victim: None,
            value: Value::Int(value),
        }
    }
}

/// The README's table of metric families, generated from [`FAMILIES`]:
/// one row per family (without the `tokio_pulse_` prefix), then
/// `runtimes_omitted`. A test keeps the README's copy equal to this.
///
/// # Examples
///
/// ```
/// let table = tokio_pulse_rt::export::markdown_table();
/// assert!(table.starts_with("| family | type | labels | meaning |\n"));
/// assert!(table.contains("| `polls_total` | counter | `worker` |"));
/// ```
pub fn markdown_table() -> String {
    let mut out = String::from("| family | type | labels | meaning |\n|---|---|---|---|\n");
    let short = |name: &'static str| name.strip_prefix("tokio_pulse_").unwrap_or(name);
    for family in FAMILIES {
        let labels: Vec<String> = family.labels.iter().map(|l| format!("`{l}`")).collect();
        let labels = match labels.is_empty() {
            true => " ".to_string(),
            false => format!(" {} ", labels.join(", ")),
        };
        out.push_str(&format!(
            "| `{}` | {} |{labels}| {} |\n",
            short(family.name),
            family.kind.as_str(),
            family.doc
        ));
    }
    out.push_str(&format!(
        "| `{}` | gauge | none at all | {} |\n",
        short(RUNTIMES_OMITTED),
        RUNTIMES_OMITTED_DOC
    ));
    out
}
