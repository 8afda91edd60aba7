//! What a scrape answers: the Tokio-Pulse families, written from the
//! snapshots.

use std::fmt::Write as _;

use metrics_exporter_prometheus::PrometheusHandle;

use super::text::{escape_help, escape_label_value, write_float_family};
use super::{write_histogram, HistogramSeries};
use crate::export::{self, FamilyKind, Limits, Selection, Worker};
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
/// format: the facade families of [`export::FAMILIES`] (same names, labels
/// and values as the facade publisher), then [`render_exact_families`].
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
    let prefixes: Vec<String> = snapshots
        .iter()
        .map(|s| {
            format!(
                "runtime=\"{}\",runtime_id=\"{}\"",
                escape_label_value(&s.name),
                s.id
            )
        })
        .collect();
    let mut current: Option<&'static str> = None;
    export::for_each_series(snapshots, full_matrix, |series| {
        let family = series.family;
        if current != Some(family.name) {
            if current.is_some() {
                out.push('\n');
            }
            current = Some(family.name);
            let kind = match family.kind {
                FamilyKind::Counter => "counter",
                FamilyKind::Gauge => "gauge",
            };
            let _ = writeln!(out, "# HELP {} {}", family.name, escape_help(family.help));
            let _ = writeln!(out, "# TYPE {} {kind}", family.name);
        }
        out.push_str(family.name);
        out.push('{');
        out.push_str(&prefixes[series.runtime]);
        if let Some((key, value)) = series.kind {
            let _ = write!(out, ",{key}=\"{value}\"");
        }
        match series.worker {
            Some(Worker::Index(index)) => {
                let _ = write!(out, ",worker=\"{index}\"");
            }
            Some(Worker::External) => {
                let _ = write!(out, ",worker=\"{}\"", export::EXTERNAL);
            }
            None => {}
        }
        if let Some(victim) = series.victim {
            let _ = write!(out, ",victim=\"{victim}\"");
        }
        let _ = writeln!(out, "}} {}", series.value);
    });
    if current.is_some() {
        out.push('\n');
    }
    render_exact_families(out, snapshots);
}

/// `tokio_pulse_poll_duration_seconds`: the poll-time histogram.
pub const POLL_DURATION: &str = "tokio_pulse_poll_duration_seconds";

/// `tokio_pulse_busy_seconds_total`: time spent processing tasks, from the
/// start of each batch of polls to the end of its last poll (equal to the
/// poll-duration `_sum`, since polls run back to back within a batch).
pub const BUSY_SECONDS: &str = "tokio_pulse_busy_seconds_total";

/// `tokio_pulse_current_poll_seconds`: how long each worker has been inside
/// its current poll (gauge).
pub const CURRENT_POLL_SECONDS: &str = "tokio_pulse_current_poll_seconds";

/// The histogram's finite bucket bounds, as powers of two of a microsecond:
/// every second probe tier bound, `1 µs, 4 µs, 16 µs, ... 1.048576 s`.
/// Eleven buckets plus `+Inf` is a size Prometheus handles well, and each
/// bucket is an exact union of probe tiers, so no count is interpolated.
const POLL_BUCKET_TIERS: [usize; 11] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20];

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
    POLL_BUCKET_TIERS
        .iter()
        .filter_map(|&k| tokio_pulse_probes::tier::upper_bound_us(k))
        .map(|us| us as f64 / 1e6)
        .collect()
}

/// Appends the families that exist only as text, never as facade
/// families, for the workers that time their polls
/// (poll timing on); for runtimes without poll timing they are absent, not
/// zero. Labels are `runtime`, `runtime_id` and `worker`, as elsewhere.
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
    let bounds = poll_duration_bounds();
    // Label values, kept alive for the borrowed series below.
    let mut rows = Vec::new();
    for snap in snapshots {
        let id = snap.id.to_string();
        for worker in &snap.workers {
            if let Some(timing) = &worker.poll_time {
                rows.push((
                    snap.name.clone(),
                    id.clone(),
                    worker.index.to_string(),
                    timing,
                ));
            }
        }
    }
    let labels: Vec<[(&str, &str); 3]> = rows
        .iter()
        .map(|(name, id, worker, _)| {
            [
                ("runtime", &**name),
                ("runtime_id", id.as_str()),
                ("worker", worker.as_str()),
            ]
        })
        .collect();
    let counts: Vec<Vec<u64>> = rows
        .iter()
        .map(|(.., timing)| {
            let mut counts = vec![0u64; POLL_BUCKET_TIERS.len() + 1];
            for (tier, polls) in timing.tiers.iter().enumerate() {
                let bucket = POLL_BUCKET_TIERS
                    .iter()
                    .position(|&last| tier <= last)
                    .unwrap_or(POLL_BUCKET_TIERS.len());
                counts[bucket] = counts[bucket].saturating_add(*polls);
            }
            counts
        })
        .collect();
    write_histogram(
        out,
        POLL_DURATION,
        "Task poll durations, from the probes' poll-time tiers (poll timing on).",
        rows.iter()
            .zip(&labels)
            .zip(&counts)
            .map(|(((.., timing), labels), counts)| HistogramSeries {
                labels,
                bounds: &bounds,
                counts,
                sum: timing.poll_time.as_secs_f64(),
            }),
    );
    write_float_family(
        out,
        BUSY_SECONDS,
        "counter",
        "Time the worker spent processing tasks: each batch of polls from start to end (poll timing on).",
        rows.iter()
            .zip(&labels)
            .map(|((.., timing), labels)| (&labels[..], timing.busy_time.as_secs_f64())),
    );
    write_float_family(
        out,
        CURRENT_POLL_SECONDS,
        "gauge",
        "How long the worker has been inside its current poll, live; 0 between polls (poll timing on).",
        rows.iter().zip(&labels).map(|((.., timing), labels)| {
            let current = timing.current_poll.unwrap_or_default();
            (&labels[..], current.as_secs_f64())
        }),
    );
}
