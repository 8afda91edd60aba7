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
//! 1. A small HTTP/1.1 server (not a Tokio task, so it never shows up in
//!    the probes it reports; see [`server`](Server)) accepts connections on
//!    its own thread and answers each on a thread of its own, at most
//!    [`max_connections`](Builder::max_connections) at once, each within a
//!    total [`request_timeout`](Builder::request_timeout). A slow client
//!    holds one slot for at most that long and never delays another
//!    scrape; a connection over the cap gets `503` at once.
//! 2. [`Renderer::render`] snapshots the live runtimes (the oldest
//!    [`max_runtimes`](Builder::max_runtimes) of them), so the values are
//!    read at scrape time. A runtime leaves the scrape once it has shut
//!    down and its workers have stopped.
//! 3. The response is, in order: the application's own metrics (the
//!    `PrometheusHandle::render` of the `metrics-exporter-prometheus`
//!    recorder that [`Builder::install`] sets as the global `metrics`
//!    recorder, unless turned off), then the `tokio_pulse_*` families
//!    written exactly from the snapshots by [`render_families`], then
//!    `tokio_pulse_runtimes_omitted`.
//!
//! The global recorder that [`Builder::install`] sets drops every
//! `tokio_pulse_*` series it is given, so that an interval
//! [`publisher`](crate::export::publisher()) running next to it cannot put
//! a second copy of the families into the scrape: each family appears
//! exactly once. The `tokio_pulse_` prefix is reserved for this crate.
//!
//! # Why the Tokio-Pulse families bypass the recorder
//!
//! They come from the same catalog as the facade publisher
//! ([`export::FAMILIES`]; both iterate it), but are written as text
//! straight from the snapshots. Publishing ~800 series of a 16-worker
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

use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::time::Duration;

use crate::export::{self, ExportError, Limits};

mod recorder;
mod render;
mod server;
mod text;

pub use crate::export::{BUSY_SECONDS, CURRENT_POLL_SECONDS, POLL_DURATION};
pub use render::{poll_duration_bounds, render_exact_families, render_families, Renderer};
pub use server::Server;
pub use text::{write_histogram, HistogramSeries};

/// The default listen address: loopback, Prometheus' port for Tokio-Pulse.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9464";

/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The default total time a connection may take, from accept to the last
/// byte of the answer; see [`Builder::request_timeout`].
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// The default cap on connections served at once; see
/// [`Builder::max_connections`].
pub const DEFAULT_MAX_CONNECTIONS: usize = 16;

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
        listen: None,
        global_recorder: true,
        limits: Limits {
            max_runtimes: export::DEFAULT_MAX_RUNTIMES,
            min_age: Duration::ZERO,
        },
        request_timeout: None,
        max_connections: None,
    }
}

/// Settings of a Prometheus exporter; see [`prometheus()`].
///
/// [`install`](Builder::install) uses every setting.
/// [`build`](Builder::build) uses those of a [`Renderer`] (the global
/// recorder, [`max_runtimes`](Builder::max_runtimes),
/// [`min_runtime_age`](Builder::min_runtime_age)) and rejects the server's
/// ([`listen`](Builder::listen),
/// [`request_timeout`](Builder::request_timeout),
/// [`max_connections`](Builder::max_connections)) rather than ignore them.
///
/// # Examples
///
/// See [`prometheus()`].
#[derive(Clone, Debug)]
#[must_use]
pub struct Builder {
    listen: Option<String>,
    global_recorder: bool,
    limits: Limits,
    request_timeout: Option<Duration>,
    max_connections: Option<usize>,
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
        self.listen = Some(addr.to_string());
        self
    }

    /// Whether [`install`](Builder::install) or [`build`](Builder::build)
    /// also installs a Prometheus recorder as the process's global
    /// `metrics` recorder, so that the application's own `metrics` calls
    /// show up on the same `/metrics` (default `true`). Turn it off when the
    /// application already has a global recorder; `/metrics` then serves
    /// only the Tokio-Pulse families.
    ///
    /// # Examples
    ///
    /// See [`prometheus()`].
    pub fn with_global_recorder(mut self, enabled: bool) -> Builder {
        self.global_recorder = enabled;
        self
    }

    /// Exports at most this many runtimes per scrape, the oldest live ones
    /// (default [`DEFAULT_MAX_RUNTIMES`](export::DEFAULT_MAX_RUNTIMES)),
    /// so that the series per process are bounded; the others are counted
    /// in `tokio_pulse_runtimes_omitted`. Zero is rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// let renderer = tokio_pulse_rt::prometheus()
    ///     .with_global_recorder(false)
    ///     .max_runtimes(4)
    ///     .build()
    ///     .unwrap();
    /// assert!(renderer.render().contains("tokio_pulse_runtimes_omitted "));
    /// ```
    pub fn max_runtimes(mut self, max: usize) -> Builder {
        self.limits.max_runtimes = max;
        self
    }

    /// Exports only runtimes at least this old (default 0: every live
    /// runtime). A runtime that lives for one request and is caught by a
    /// scrape gives Prometheus a set of series with one sample; a
    /// `min_runtime_age` of a scrape interval or two keeps those out.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    /// let renderer = tokio_pulse_rt::prometheus()
    ///     .with_global_recorder(false)
    ///     .min_runtime_age(Duration::from_secs(3600))
    ///     .build()
    ///     .unwrap();
    /// assert!(!renderer.render().contains("tokio_pulse_polls_total"));
    /// # drop(rt);
    /// ```
    pub fn min_runtime_age(mut self, age: Duration) -> Builder {
        self.limits.min_age = age;
        self
    }

    /// The total time one connection may take, from accept to the last
    /// byte of the answer (default [`DEFAULT_REQUEST_TIMEOUT`]). A client
    /// that sends its request or reads the answer more slowly is
    /// disconnected when it runs out. Zero is rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = tokio_pulse_rt::prometheus()
    ///     .listen("127.0.0.1:0")
    ///     .with_global_recorder(false)
    ///     .request_timeout(std::time::Duration::from_secs(2))
    ///     .install()
    ///     .unwrap();
    /// server.stop();
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Builder {
        self.request_timeout = Some(timeout);
        self
    }

    /// How many connections are served at once (default
    /// [`DEFAULT_MAX_CONNECTIONS`]), each on its own thread. A connection
    /// over the cap is answered `503 Service Unavailable` and closed at
    /// once; nothing queues. Zero is rejected.
    ///
    /// # Examples
    ///
    /// ```
    /// let err = tokio_pulse_rt::prometheus()
    ///     .listen("127.0.0.1:0")
    ///     .max_connections(0)
    ///     .install()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("max_connections(0)"));
    /// ```
    pub fn max_connections(mut self, max: usize) -> Builder {
        self.max_connections = Some(max);
        self
    }

    /// A [`Renderer`], with no server: for serving `/metrics` from an HTTP
    /// server of one's own. It installs the global recorder unless
    /// [turned off](Builder::with_global_recorder), and exports the
    /// runtimes the [limits](Builder::max_runtimes) admit. With the global
    /// recorder, each [`Renderer::render`] also drains the recorder's
    /// histograms (which `install()` does every 5 s on its own): render at
    /// least that often.
    ///
    /// # Errors
    ///
    /// - [`ExportError::Setting`] if a server setting
    ///   ([`listen`](Builder::listen),
    ///   [`request_timeout`](Builder::request_timeout),
    ///   [`max_connections`](Builder::max_connections)) was given, which a
    ///   renderer cannot use, or if `max_runtimes` is 0;
    /// - [`ExportError::RecorderInstalled`] if the global recorder is asked
    ///   for and one is already installed.
    ///
    /// # Examples
    ///
    /// ```
    /// let rt = tokio::runtime::Builder::new_multi_thread()
    ///     .worker_threads(2)
    ///     .build()
    ///     .unwrap();
    /// let renderer = tokio_pulse_rt::prometheus()
    ///     .with_global_recorder(false)
    ///     .build()
    ///     .unwrap();
    /// assert!(renderer.render().contains("tokio_pulse_polls_total{"));
    ///
    /// let err = tokio_pulse_rt::prometheus().listen("127.0.0.1:9464").build();
    /// assert!(err.unwrap_err().to_string().contains("listen"));
    /// # drop(rt);
    /// ```
    pub fn build(self) -> Result<Renderer, ExportError> {
        let server_only = "a Renderer serves nothing itself; use install() to serve /metrics";
        if let Some(listen) = self.listen {
            return Err(setting("listen", format!("{listen:?}"), server_only));
        }
        if let Some(timeout) = self.request_timeout {
            return Err(setting(
                "request_timeout",
                format!("{timeout:?}"),
                server_only,
            ));
        }
        if let Some(max) = self.max_connections {
            return Err(setting("max_connections", max.to_string(), server_only));
        }
        check_limits(self.limits)?;
        let app = self.global_recorder.then(recorder::install).transpose()?;
        Ok(Renderer::new(app, self.limits))
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
    /// - [`ExportError::Setting`] for a zero `max_runtimes`,
    ///   `request_timeout` or `max_connections`;
    /// - [`ExportError::RecorderInstalled`] if a global recorder is
    ///   already installed;
    /// - [`ExportError::Thread`] if a thread cannot be started.
    ///
    /// # Examples
    ///
    /// See [`prometheus()`].
    pub fn install(self) -> Result<Server, ExportError> {
        check_limits(self.limits)?;
        let timeout = self.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT);
        if timeout.is_zero() {
            return Err(setting(
                "request_timeout",
                format!("{timeout:?}"),
                "every request would time out at once",
            ));
        }
        let max_connections = self.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            return Err(setting(
                "max_connections",
                "0".to_string(),
                "a server that may hold no connection answers nothing",
            ));
        }
        let listen = self.listen.as_deref().unwrap_or(DEFAULT_ADDR);
        let (listener, addr) = bind(listen)?;
        let app = self.global_recorder.then(recorder::install).transpose()?;
        let renderer = Renderer::new(app, self.limits);
        Server::start(
            listener,
            addr,
            renderer,
            server::Settings {
                timeout,
                max_connections,
            },
        )
    }
}

fn setting(setting: &'static str, value: String, reason: &'static str) -> ExportError {
    ExportError::Setting {
        setting,
        value,
        reason,
    }
}

fn check_limits(limits: Limits) -> Result<(), ExportError> {
    if limits.max_runtimes == 0 {
        return Err(setting(
            "max_runtimes",
            "0".to_string(),
            "a scrape that may hold no runtime exports nothing",
        ));
    }
    Ok(())
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
