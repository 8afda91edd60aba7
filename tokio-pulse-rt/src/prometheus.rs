//! Serving the probes to Prometheus at `/metrics`.
//!
//! One line serves every runtime in the process:
//!
//! ```no_run
//! # fn main() -> Result<(), tokio_pulse_rt::ExportError> {
//! let server = tokio_pulse_rt::prometheus().listen("127.0.0.1:9464").install()?;
//! println!("scrape http://{}/metrics", server.local_addr());
//! # Ok(())
//! # }
//! ```
//!
//! # How a scrape is answered
//!
//! 1. A small HTTP/1.1 server on its own thread (not a Tokio task, so it
//!    never shows up in the probes it reports) accepts `GET /metrics`.
//! 2. [`Renderer::render`] snapshots every live runtime
//!    ([`export::live_snapshots`]), so the values are read at scrape time
//!    and a runtime that shut down is simply not in the scrape.
//! 3. The response is, in order: the application's own metrics (the
//!    [`PrometheusHandle::render`] of the `metrics-exporter-prometheus`
//!    recorder that [`Builder::install`] sets as the global `metrics`
//!    recorder, unless turned off), then the `tokio_pulse_*` families
//!    written exactly from the snapshots by [`render_families`].
//!
//! # Why the Tokio-Pulse families bypass the recorder
//!
//! They go through the same mapping as the facade publisher
//! ([`export`]'s table; one function feeds both), but are written as text
//! straight from the snapshots. Publishing ~700 series of a 16-worker
//! runtime into a `metrics-exporter-prometheus` recorder and rendering it
//! cost milliseconds per scrape (a key lookup, a recency check and label
//! formatting per series, per scrape), over the 1 ms budget; writing them
//! directly is O(series) appends to one `String`. It also needs no idle
//! timeout to drop runtimes that shut down, and keeps float counters and
//! histograms exact:
//!
//! - `metrics-exporter-prometheus` 0.18 builds histograms from samples only:
//!   its facade histograms take one value per event, and `record_many`
//!   loops. The probes already count poll times into fixed tiers, so
//!   `tokio_pulse_poll_duration_seconds` is written as `_bucket{le}` /
//!   `_sum` / `_count` from the tier counts, in O(buckets) per worker, by
//!   [`write_histogram`]. Without poll timing the family is absent, not
//!   zero.
//! - `tokio_pulse_busy_seconds_total` is a float number of seconds, which a
//!   facade counter (`u64`) cannot carry.
//!
//! The default bind is `127.0.0.1:9464`, loopback only; exposing the
//! metrics wider (`0.0.0.0:9464`) is an explicit choice.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::export::{self, ExportError, FamilyKind, Worker};
use crate::RuntimeSnapshot;

/// The default listen address: loopback, Prometheus' port for Tokio-Pulse.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How long the server waits on a slow client before giving up on it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The largest request head the server reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How often the global recorder's histograms are drained when nobody
/// scrapes, so that they cannot grow without bound.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// Starts building a Prometheus exporter; finish with
/// [`install`](Builder::install) (serve `/metrics`) or
/// [`build`](Builder::build) (just a [`Renderer`], to serve from an HTTP
/// server of your own).
///
/// # Examples
///
/// ```
/// let server = tokio_pulse_rt::prometheus()
///     .listen("127.0.0.1:0")
///     .with_global_recorder(false)
///     .install()
///     .unwrap();
/// assert!(server.local_addr().ip().is_loopback());
/// server.stop();
/// ```
pub fn prometheus() -> Builder {
    Builder {
        listen: DEFAULT_ADDR.to_string(),
        global_recorder: true,
    }
}

/// Settings of a Prometheus exporter; see [`prometheus()`].
///
/// # Examples
///
/// See [`prometheus()`].
#[derive(Clone, Debug)]
#[must_use]
pub struct Builder {
    listen: String,
    global_recorder: bool,
}

impl Builder {
    /// The address to serve `/metrics` on: an `ip:port`, or a `host:port`
    /// that resolves (default [`DEFAULT_ADDR`]). Port 0 picks a free port;
    /// [`Server::local_addr`] tells which. The address is checked by
    /// [`install`](Builder::install).
    ///
    /// # Examples
    ///
    /// ```
    /// let addr: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    /// let server = tokio_pulse_rt::prometheus()
    ///     .listen(addr)
    ///     .with_global_recorder(false)
    ///     .install()
    ///     .unwrap();
    /// assert_ne!(server.local_addr().port(), 0);
    /// server.stop();
    /// ```
    pub fn listen(mut self, addr: impl std::fmt::Display) -> Builder {
        self.listen = addr.to_string();
        self
    }

    /// Whether [`install`](Builder::install) also installs a Prometheus
    /// recorder as the process's global `metrics` recorder, so that the
    /// application's own `metrics` calls show up on the same `/metrics`
    /// (default `true`). Turn it off when the application already has a
    /// global recorder; `/metrics` then serves only the Tokio-Pulse
    /// families.
    ///
    /// # Examples
    ///
    /// See [`prometheus()`].
    pub fn with_global_recorder(mut self, enabled: bool) -> Builder {
        self.global_recorder = enabled;
        self
    }

    /// A [`Renderer`] of the Tokio-Pulse families alone, with no server and
    /// no global recorder.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .build()
    ///     .unwrap();
    /// let text = tokio_pulse_rt::prometheus().build().render();
    /// assert!(text.contains("tokio_pulse_polls_total{"));
    /// # drop(rt);
    /// ```
    pub fn build(self) -> Renderer {
        Renderer::new(None)
    }

    /// Binds the listen address, installs the global recorder (unless
    /// [turned off](Builder::with_global_recorder)), and serves `/metrics`
    /// on a background thread named `tokio-pulse-metrics`.
    ///
    /// # Errors
    ///
    /// - [`ExportError::Address`] if the address does not parse or resolve;
    /// - [`ExportError::Bind`] if it cannot be bound (port in use, address
    ///   not local, no permission);
    /// - [`ExportError::RecorderInstalled`] if a global recorder is
    ///   already installed;
    /// - [`ExportError::Thread`] if a thread cannot be started.
    ///
    /// # Examples
    ///
    /// See [`prometheus()`].
    pub fn install(self) -> Result<Server, ExportError> {
        let (listener, addr) = bind(&self.listen)?;
        let app = if self.global_recorder {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).map_err(|_| ExportError::RecorderInstalled)?;
            Some(handle)
        } else {
            None
        };
        let renderer = Arc::new(Renderer::new(app.clone()));
        let stop = Arc::new(AtomicBool::new(false));
        let (upkeep_stop, upkeep_stopped) = mpsc::channel::<()>();
        let upkeep = match app {
            Some(handle) => Some(
                std::thread::Builder::new()
                    .name("tokio-pulse-upkeep".into())
                    .spawn(move || {
                        while let Err(mpsc::RecvTimeoutError::Timeout) =
                            upkeep_stopped.recv_timeout(UPKEEP_INTERVAL)
                        {
                            handle.run_upkeep();
                        }
                    })
                    .map_err(ExportError::Thread)?,
            ),
            None => None,
        };
        let serving = {
            let renderer = renderer.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tokio-pulse-metrics".into())
                .spawn(move || serve(listener, &renderer, &stop))
                .map_err(ExportError::Thread)?
        };
        Ok(Server {
            addr,
            renderer,
            stop,
            upkeep_stop,
            threads: vec![Some(serving), upkeep],
        })
    }
}

/// Parses or resolves `input`, binds a listener to the first address, and
/// returns it with its local address (the real port when port 0 was asked).
fn bind(input: &str) -> Result<(TcpListener, SocketAddr), ExportError> {
    let bad = |reason: String| ExportError::Address {
        input: input.to_string(),
        reason,
    };
    let addr = match input.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => input
            .to_socket_addrs()
            .map_err(|err| bad(err.to_string()))?
            .next()
            .ok_or_else(|| bad("resolves to no address".to_string()))?,
    };
    let listener = TcpListener::bind(addr).map_err(|source| ExportError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ExportError::Bind { addr, source })?;
    Ok((listener, local))
}

/// A running `/metrics` server; see [`Builder::install`].
///
/// Dropping it leaves the server running for the life of the process;
/// [`stop`](Server::stop) shuts it down and frees the port.
///
/// # Examples
///
/// See [`prometheus()`].
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    renderer: Arc<Renderer>,
    stop: Arc<AtomicBool>,
    upkeep_stop: mpsc::Sender<()>,
    threads: Vec<Option<JoinHandle<()>>>,
}

impl Server {
    /// The address the server listens on, with the real port when port 0
    /// was asked for.
    ///
    /// # Examples
    ///
    /// See [`prometheus()`].
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server answers `/metrics` with.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = tokio_pulse_rt::prometheus()
    ///     .listen("127.0.0.1:0")
    ///     .with_global_recorder(false)
    ///     .install()
    ///     .unwrap();
    /// let _text = server.renderer().render();
    /// server.stop();
    /// ```
    pub fn renderer(&self) -> &Renderer {
        &self.renderer
    }

    /// Stops serving, waits for the server's threads, and frees the port.
    /// A global recorder that [`Builder::install`] set stays installed (the
    /// `metrics` facade cannot uninstall one).
    ///
    /// # Examples
    ///
    /// See [`prometheus()`].
    pub fn stop(mut self) {
        self.stop.store(true, SeqCst);
        let _ = self.upkeep_stop.send(());
        // Wake the accept loop, which then sees the flag.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let _ = TcpStream::connect_timeout(&wake, CLIENT_TIMEOUT);
        for thread in self.threads.iter_mut().filter_map(Option::take) {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.threads.iter().any(Option::is_some) {
            // Keep the upkeep thread alive after the handle is gone.
            std::mem::forget(self.upkeep_stop.clone());
        }
    }
}

/// Answers `/metrics` with the application's metrics (if any), then the
/// Tokio-Pulse families; see the [module docs](self).
///
/// # Examples
///
/// Serving from an HTTP server of one's own:
///
/// ```
/// let renderer = tokio_pulse_rt::prometheus().build();
/// let body: String = renderer.render();
/// let _response = (tokio_pulse_rt::prometheus::CONTENT_TYPE, body);
/// ```
#[derive(Debug)]
pub struct Renderer {
    /// The global recorder's handle, when `install` set one up.
    app: Option<PrometheusHandle>,
}

impl Renderer {
    fn new(app: Option<PrometheusHandle>) -> Renderer {
        Renderer { app }
    }

    /// Snapshots every live runtime and renders the text exposition format.
    ///
    /// # Examples
    ///
    /// See [`Renderer`].
    pub fn render(&self) -> String {
        let snapshots = export::live_snapshots();
        let mut out = match &self.app {
            Some(app) => app.render(),
            None => String::new(),
        };
        render_families(&mut out, &snapshots);
        out
    }
}

/// Appends every Tokio-Pulse family of `snapshots` in the text exposition
/// format: the facade families of [`export::FAMILIES`] (same names, labels
/// and values as the facade publisher), then [`render_exact_families`].
/// Each family has one `# HELP` and `# TYPE` header and all its samples
/// together; a family without samples is left out.
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
    export::for_each_series(snapshots, |series| {
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

/// Writes one counter or gauge family with float values: `# HELP`,
/// `# TYPE`, one sample per series; nothing for no series.
fn write_float_family<'a>(
    out: &mut String,
    name: &str,
    kind: &str,
    help: &str,
    series: impl IntoIterator<Item = (&'a [(&'a str, &'a str)], f64)>,
) {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (labels, value) in series {
        let _ = writeln!(
            out,
            "{name}{{{}}} {}",
            render_labels(labels),
            format_float(value)
        );
    }
    out.push('\n');
}

/// One series of a histogram for [`write_histogram`].
///
/// # Examples
///
/// See [`write_histogram`].
#[derive(Clone, Copy, Debug)]
pub struct HistogramSeries<'a> {
    /// The series' labels, `(name, value)`; values are escaped on output.
    pub labels: &'a [(&'a str, &'a str)],
    /// Upper bounds of the finite buckets, ascending, in the family's unit.
    pub bounds: &'a [f64],
    /// Events per bucket, not cumulative: `counts[i]` for `bounds[i]`, and
    /// one more at the end for everything above the last bound. Missing
    /// entries count as zero; extra entries go to the last bucket.
    pub counts: &'a [u64],
    /// The sum of the observed values, in the family's unit.
    pub sum: f64,
}

/// Writes one histogram family in the text exposition format: `# HELP`,
/// `# TYPE`, then per series the cumulative `name_bucket{...,le}` lines
/// ending with `le="+Inf"`, `name_sum` and `name_count`. Writes nothing at
/// all for no series, so a family without data is absent. O(buckets) per
/// series.
///
/// # Examples
///
/// ```
/// use tokio_pulse_rt::prometheus::{write_histogram, HistogramSeries};
///
/// let mut out = String::new();
/// let series = HistogramSeries {
///     labels: &[("worker", "0")],
///     bounds: &[0.001, 0.01],
///     counts: &[3, 1, 1],
///     sum: 0.05,
/// };
/// write_histogram(&mut out, "demo_seconds", "Demo.", [series]);
/// assert!(out.contains("demo_seconds_bucket{worker=\"0\",le=\"0.01\"} 4\n"));
/// assert!(out.contains("demo_seconds_bucket{worker=\"0\",le=\"+Inf\"} 5\n"));
/// assert!(out.contains("demo_seconds_count{worker=\"0\"} 5\n"));
/// ```
pub fn write_histogram<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = HistogramSeries<'a>>,
) {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} histogram");
    for one in series {
        let labels = render_labels(one.labels);
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0u64;
        for (i, bound) in one.bounds.iter().enumerate() {
            cumulative = cumulative.saturating_add(one.counts.get(i).copied().unwrap_or(0));
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
                format_float(*bound)
            );
        }
        let above: u64 = one
            .counts
            .iter()
            .skip(one.bounds.len())
            .fold(0, |a, b| a.saturating_add(*b));
        let total = cumulative.saturating_add(above);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", format_float(one.sum));
        let _ = writeln!(out, "{name}_count{{{labels}}} {total}");
    }
    out.push('\n');
}

fn render_labels(labels: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for (i, (key, value)) in labels.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        let _ = write!(text, "{key}=\"{}\"", escape_label_value(value));
    }
    text
}

fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

fn format_float(value: f64) -> String {
    if value.is_nan() {
        "NaN".to_string()
    } else if value.is_infinite() {
        if value > 0.0 { "+Inf" } else { "-Inf" }.to_string()
    } else {
        format!("{value}")
    }
}

/// The accept loop: one connection at a time, each bounded by
/// [`CLIENT_TIMEOUT`], until `stop` is set.
fn serve(listener: TcpListener, renderer: &Renderer, stop: &AtomicBool) {
    for conn in listener.incoming() {
        if stop.load(SeqCst) {
            return;
        }
        match conn {
            Ok(stream) => {
                let _ = answer(stream, renderer);
            }
            // Out of file descriptors and the like: back off briefly
            // rather than spin.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Reads one request head and answers it; the connection is closed after.
fn answer(mut stream: TcpStream, renderer: &Renderer) -> std::io::Result<()> {
    stream.set_read_timeout(Some(CLIENT_TIMEOUT))?;
    stream.set_write_timeout(Some(CLIENT_TIMEOUT))?;
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let request_line = String::from_utf8_lossy(request_line);
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", CONTENT_TYPE, renderer.render()),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: the metrics are at /metrics\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD are served\n".to_string(),
        ),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(header.as_bytes())?;
    if method != "HEAD" {
        stream.write_all(body.as_bytes())?;
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}
