//! What a scrape answers: the Tokio-Pulse families, written from the
//! snapshots.

use std::fmt::Write as _;

use metrics_exporter_prometheus::PrometheusHandle;

use super::text::{escape_help, escape_label_value, format_float, write_histogram_series};
use crate::export::{self, Family, LabelValue, Limits, Selection, Series, Value};
use crate::RuntimeSnapshot;

/// Answers `/metrics` with the application's metrics (if any), then the
/// Tokio-Pulse families of the runtimes its limits admit, then
/// `tokio_pulse_runtimes_omitted`; see the [module docs](super).
///
/// # Examples
///
/// Serving from an HTTP server of one's own:
///
/// ```
/// let renderer = tokio_pulse_rt::prometheus()
///     .with_global_recorder(false)
///     .build()
///     .unwrap();
/// let body: String = renderer.render();
/// let _response = (tokio_pulse_rt::prometheus::CONTENT_TYPE, body);
/// ```
#[derive(Debug)]
pub struct Renderer {
    /// The global recorder's handle, when the builder set one up.
    app: Option<PrometheusHandle>,
    limits: Limits,
}

impl Renderer {
    pub(crate) fn new(app: Option<PrometheusHandle>, limits: Limits) -> Renderer {
        Renderer { app, limits }
    }

    /// The handle of the global recorder the builder installed, if it did.
    pub(crate) fn app(&self) -> Option<&PrometheusHandle> {
        self.app.as_ref()
    }

    /// Which runtimes it exports.
    pub(crate) fn limits(&self) -> Limits {
        self.limits
    }

    /// Snapshots the live runtimes (the oldest `max_runtimes` of those at
    /// least `min_runtime_age` old) and renders the text exposition format.
    /// With a global recorder, this also drains its histograms.
    ///
    /// # Examples
    ///
    /// See [`Renderer`].
    pub fn render(&self) -> String {
        let selection = export::select(self.limits);
        let mut out = match &self.app {
            Some(app) => app.render(),
            None => String::new(),
        };
        render_selection(&mut out, &selection);
        out
    }
}

/// Appends the families of `selection`, then the omitted-runtimes gauge.
fn render_selection(out: &mut String, selection: &Selection) {
    write_families(out, &selection.snapshots, &selection.full_matrix);
    let _ = writeln!(
        out,
        "# HELP {} {}",
        export::RUNTIMES_OMITTED,
        escape_help(export::RUNTIMES_OMITTED_HELP)
    );
    let _ = writeln!(out, "# TYPE {} gauge", export::RUNTIMES_OMITTED);
    let _ = writeln!(out, "{} {}", export::RUNTIMES_OMITTED, selection.omitted);
}

/// Appends every Tokio-Pulse family of `snapshots` in the text exposition
/// format: every family of the catalog, [`export::FAMILIES`], in its
/// order: the facade families (same names, labels and values as the facade
/// publisher), then the text-only ones of [`render_exact_families`].
/// Each family has one `# HELP` and `# TYPE` header and all its samples
/// together; a family without samples is left out. The steal matrix
/// follows each runtime's settings while it is alive, the default rule
/// (up to 16 workers) after; see [`export`'s docs](crate::export#steals-the-matrix-and-the-totals).
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_rt::RuntimeProbes::new(Some("doc"), 2);
/// let mut out = String::new();
/// tokio_pulse_rt::prometheus::render_families(&mut out, &[rt.snapshot()]);
/// let id = rt.id();
/// assert!(out.contains(&format!(
///     "tokio_pulse_polls_total{{runtime=\"doc\",runtime_id=\"{id}\",worker=\"1\"}} 0\n"
/// )));
/// ```
pub fn render_families(out: &mut String, snapshots: &[RuntimeSnapshot]) {
    write_families(out, snapshots, &export::full_matrix_of(snapshots));
}

fn write_families(out: &mut String, snapshots: &[RuntimeSnapshot], full_matrix: &[bool]) {
    write_catalog(out, snapshots, full_matrix, |_| true);
}

/// Writes the families of the catalog that `wanted` admits, in catalog
/// order: for each family with samples, one `# HELP` and `# TYPE` header,
/// its samples, and a blank line.
fn write_catalog(
    out: &mut String,
    snapshots: &[RuntimeSnapshot],
    full_matrix: &[bool],
    wanted: impl Fn(&Family) -> bool,
) {
    // Each runtime's label values, escaped and formatted once.
    let runtimes: Vec<RuntimeText> = snapshots.iter().map(RuntimeText::new).collect();
    let mut labels = String::new();
    let mut current: Option<&'static str> = None;
    export::for_each_series(snapshots, full_matrix, wanted, |series| {
        let family = series.family;
        if current != Some(family.name) {
            if current.is_some() {
                out.push('\n');
            }
            current = Some(family.name);
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
            let _ = writeln!(out, "# TYPE {} {}", family.name, family.kind.as_str());
        }
        let runtime = &runtimes[series.runtime];
        match &series.sample.value {
            Value::Int(value) => {
                write_sample_labels(out, &series, runtime);
                let _ = writeln!(out, " {value}");
            }
            Value::Float(value) => {
                write_sample_labels(out, &series, runtime);
                out.push(' ');
                out.push_str(&format_float(*value));
                out.push('\n');
            }
            Value::Histogram(buckets) => {
                labels.clear();
                write_labels(&mut labels, &series, runtime);
                write_histogram_series(
                    out,
                    family.name,
                    &labels,
                    buckets.bounds,
                    &buckets.counts,
                    buckets.sum,
                );
            }
        }
    });
    if current.is_some() {
        out.push('\n');
    }
}

/// One runtime's label values as text, escaped and formatted once per
/// scrape.
struct RuntimeText {
    /// The runtime's name, escaped.
    name: String,
    id: String,
    /// The text of each worker index.
    indices: Vec<String>,
}

impl RuntimeText {
    fn new(snapshot: &RuntimeSnapshot) -> RuntimeText {
        RuntimeText {
            name: escape_label_value(&snapshot.name),
            id: snapshot.id.to_string(),
            indices: (0..snapshot.workers.len()).map(|i| i.to_string()).collect(),
        }
    }
}

/// Writes `name{labels}` of a sample.
fn write_sample_labels(out: &mut String, series: &Series, runtime: &RuntimeText) {
    out.push_str(series.family.name);
    out.push('{');
    write_labels(out, series, runtime);
    out.push('}');
}

/// Writes the labels of `series` as `key="value",...`, from
/// [`Series::labels`]. Only the runtime's name needs escaping, done once in
/// [`RuntimeText`]: the other values are indices and fixed words.
fn write_labels(out: &mut String, series: &Series, runtime: &RuntimeText) {
    for (i, &(key, value)) in series.labels().as_slice().iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(key);
        out.push_str("=\"");
        match value {
            LabelValue::Runtime => out.push_str(&runtime.name),
            LabelValue::RuntimeId => out.push_str(&runtime.id),
            LabelValue::Static(value) => out.push_str(value),
            LabelValue::Index(index) => match runtime.indices.get(index) {
                Some(text) => out.push_str(text),
                None => {
                    let _ = write!(out, "{index}");
                }
            },
        }
        out.push('"');
    }
}

/// The poll-duration buckets' upper bounds in seconds, in order; see
/// [`render_exact_families`].
///
/// # Examples
///
/// ```
/// let bounds = tokio_pulse_rt::prometheus::poll_duration_bounds();
/// assert_eq!(bounds.len(), 11);
/// assert_eq!(bounds[0], 1e-6);
/// assert_eq!(bounds[10], 1.048576);
/// ```
pub fn poll_duration_bounds() -> Vec<f64> {
    export::poll_bounds().to_vec()
}

/// Appends the catalog's [`text_only`](export::Family::text_only)
/// families, which exist only as text, never as facade families, for the
/// workers that time their polls (poll timing on); for runtimes without
/// poll timing they are absent, not zero. Labels are `runtime`,
/// `runtime_id` and `worker`, as elsewhere.
///
/// - `tokio_pulse_poll_duration_seconds` (histogram): the probes' tiers
///   `[2^(k-1), 2^k)` µs, merged two by two into the buckets of
///   [`poll_duration_bounds`]; `_sum` is the probes' total poll time and
///   `_count` the polls timed. A bound is exclusive at microsecond
///   resolution: a poll of exactly 4 µs counts in `le="0.000016"`.
/// - `tokio_pulse_busy_seconds_total` (counter): time spent processing
///   tasks, from the start of each batch to the end of its last poll, as a
///   float, which a facade counter (`u64`) cannot carry.
/// - `tokio_pulse_current_poll_seconds` (gauge): how long the worker has
///   been inside the poll it is running now, read live from the state each
///   poll publishes; 0 between polls. A stuck worker shows here while it is
///   stuck, with or without the watchdog.
///
/// The cost is O(workers × buckets).
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{PulseConfig, RuntimeProbes};
///
/// let (plain, _) = RuntimeProbes::new(Some("plain"), 2);
/// let mut out = String::new();
/// tokio_pulse_rt::prometheus::render_exact_families(&mut out, &[plain.snapshot()]);
/// assert_eq!(out, "", "no poll timing, no histogram");
///
/// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
/// let (timed, _) = RuntimeProbes::with_settings(Some("timed"), 2, &settings);
/// tokio_pulse_rt::prometheus::render_exact_families(&mut out, &[timed.snapshot()]);
/// assert!(out.contains("# TYPE tokio_pulse_poll_duration_seconds histogram"));
/// ```
pub fn render_exact_families(out: &mut String, snapshots: &[RuntimeSnapshot]) {
    write_catalog(out, snapshots, &[], |family| family.text_only);
}
