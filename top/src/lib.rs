//! `tokio-pulse top`: a live terminal view of the Tokio-Pulse probes of one
//! or more running processes, read from the `/pulse.json` their exporter
//! serves (see `docs/pulse-json.md`).
//!
//! The binary is `tokio-pulse` (`tokio-pulse top [URL...]`); this library is
//! the same view for other hosts: the demo draws its own runtime with it,
//! in-process, from [`Source::from_fn`].
//!
//! No Tokio here: the documents are fetched by one plain thread per process
//! over a blocking socket, and the terminal is drawn with `ratatui` on
//! `crossterm`.
//!
//! # Examples
//!
//! ```
//! use std::time::Duration;
//! use tokio_pulse_top::{model::Document, once, Source};
//!
//! let doc = r#"{"version":1,"pid":42,"runtimes":[{"id":1,"name":"app","workers":[{"index":0,"polls":10}]}]}"#;
//! let source = Source::from_fn("fixed", move || Document::parse(doc));
//! let frame = once(vec![source], Duration::from_millis(10), 120);
//! assert!(frame.contains("pid 42"));
//! assert!(frame.contains("runtime \"app\""));
//! ```

use std::io;
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub mod fetch;
pub mod model;
pub mod state;
mod terminal;
pub mod view;

use model::Document;

/// How long one fetch of a document may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(2);

type FetchFn = Box<dyn FnMut() -> Result<Document, String> + Send>;

/// Where one process's documents come from.
pub struct Source {
    label: String,
    fetch: FetchFn,
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Source")
            .field("label", &self.label)
            .finish()
    }
}

impl Source {
    /// A process's exporter at `url` (see [`fetch::Target::parse`]).
    ///
    /// # Errors
    ///
    /// A message naming the URL, if it does not parse.
    ///
    /// # Examples
    ///
    /// ```
    /// assert!(tokio_pulse_top::Source::http("http://127.0.0.1:9464").is_ok());
    /// assert!(tokio_pulse_top::Source::http("ftp://x").is_err());
    /// ```
    pub fn http(url: &str) -> Result<Source, String> {
        let target = fetch::Target::parse(url)?;
        Ok(Source {
            label: url.to_string(),
            fetch: Box::new(move || target.get(FETCH_TIMEOUT)),
        })
    }

    /// Documents from a function: for a host that has them in-process
    /// (`tokio_pulse_rt::json::value()` and [`Document::from_value`]).
    ///
    /// # Examples
    ///
    /// See the [crate docs](crate).
    pub fn from_fn(
        label: impl Into<String>,
        fetch: impl FnMut() -> Result<Document, String> + Send + 'static,
    ) -> Source {
        Source {
            label: label.into(),
            fetch: Box::new(fetch),
        }
    }
}

/// How the live view runs.
#[derive(Clone, Debug)]
pub struct Options {
    /// Time between documents (default 1 s).
    pub interval: Duration,
    /// A line shown under the keys (the demo says where `/metrics` is).
    pub note: Option<String>,
    /// Quit on its own at this time.
    pub until: Option<Instant>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            interval: Duration::from_secs(1),
            note: None,
            until: None,
        }
    }
}

/// A document, or why there is none, from process `index`, at a time.
type Update = (usize, Instant, Result<Document, String>);

/// Starts one thread per source that sends a document every `interval`;
/// the threads end when the returned sender is dropped.
fn start_fetchers(
    sources: Vec<Source>,
    interval: Duration,
) -> io::Result<(mpsc::Receiver<Update>, Vec<mpsc::Sender<()>>)> {
    let (tx, rx) = mpsc::channel();
    let mut stops = Vec::new();
    for (index, mut source) in sources.into_iter().enumerate() {
        let tx = tx.clone();
        let (stop, stopped) = mpsc::channel::<()>();
        stops.push(stop);
        std::thread::Builder::new()
            .name(format!("tokio-pulse-top-fetch-{index}"))
            .spawn(move || loop {
                let started = Instant::now();
                let result = (source.fetch)();
                if tx.send((index, Instant::now(), result)).is_err() {
                    return;
                }
                let wait = interval.saturating_sub(started.elapsed());
                match stopped.recv_timeout(wait) {
                    Err(mpsc::RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
            })?;
    }
    Ok((rx, stops))
}

/// Runs the live view on this terminal until `q`, Ctrl-C or
/// [`Options::until`]. The terminal is restored on return, on error and on
/// panic.
///
/// # Errors
///
/// The terminal cannot be set up or written to, or a thread cannot start.
pub fn run(sources: Vec<Source>, options: &Options) -> io::Result<()> {
    let mut app = view::App::new(sources.iter().map(|s| s.label.clone()));
    app.note = options.note.clone();
    let (updates, _stops) = start_fetchers(sources, options.interval)?;
    let mut term = terminal::Terminal::enter()?;
    let mut held: Vec<Update> = Vec::new();
    let mut dirty = true;
    let mut last_draw = Instant::now();
    loop {
        // Redraw on news, and once a second for the clocks in the view.
        if dirty || last_draw.elapsed() >= Duration::from_secs(1) {
            term.draw(&app)?;
            dirty = false;
            last_draw = Instant::now();
        }
        if options.until.is_some_and(|t| Instant::now() >= t) {
            return Ok(());
        }
        match terminal::next_key(Duration::from_millis(100))? {
            Some(terminal::Input::Quit) => return Ok(()),
            Some(terminal::Input::Key(key)) => {
                dirty = true;
                match key {
                    '\t' => app.next(),
                    's' => app.next_sort(),
                    'p' => {
                        app.paused = !app.paused;
                        if !app.paused {
                            for (i, at, result) in held.drain(..) {
                                app.processes[i].update(at, result);
                            }
                        }
                    }
                    '?' => app.help = !app.help,
                    _ => app.help = false,
                }
            }
            Some(terminal::Input::Resize) => {
                term.autoresize()?;
                dirty = true;
            }
            None => {}
        }
        while let Ok(update) = updates.try_recv() {
            if app.paused {
                held.push(update);
            } else {
                let (i, at, result) = update;
                app.processes[i].update(at, result);
                dirty = true;
            }
        }
    }
}

/// Fetches each source twice, `interval` apart, and returns one plain-text
/// frame `width` columns wide: what `--once` prints.
///
/// # Examples
///
/// See the [crate docs](crate).
pub fn once(sources: Vec<Source>, interval: Duration, width: u16) -> String {
    let mut app = view::App::new(sources.iter().map(|s| s.label.clone()));
    let handles: Vec<_> = sources
        .into_iter()
        .map(|mut source| {
            std::thread::spawn(move || {
                let first = ((source.fetch)(), Instant::now());
                std::thread::sleep(interval);
                let second = ((source.fetch)(), Instant::now());
                [first, second]
            })
        })
        .collect();
    for (i, handle) in handles.into_iter().enumerate() {
        match handle.join() {
            Ok(results) => {
                for (result, at) in results {
                    app.processes[i].update(at, result);
                }
            }
            Err(_) => app.processes[i].update(Instant::now(), Err("the fetch panicked".into())),
        }
    }
    view::text_frame(&app, width)
}

/// Whether every process of a `--once` frame answered: the frame says
/// "disconnected" otherwise.
///
/// # Examples
///
/// ```
/// assert!(!tokio_pulse_top::frame_ok("... disconnected, retrying ..."));
/// ```
pub fn frame_ok(frame: &str) -> bool {
    !frame.contains("disconnected, retrying")
}
