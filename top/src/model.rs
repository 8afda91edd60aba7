//! The `/pulse.json` document (schema version 1, see `docs/pulse-json.md`),
//! as `top` reads it. Fields a newer exporter adds are ignored; fields an
//! older one lacks take their default.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The schema version this reader understands.
pub const VERSION: u64 = 1;

/// One `/pulse.json` document.
///
/// # Examples
///
/// ```
/// let doc = tokio_pulse_top::model::Document::parse(r#"{"version":1,"runtimes":[]}"#).unwrap();
/// assert!(doc.runtimes.is_empty());
/// assert!(tokio_pulse_top::model::Document::parse(r#"{"version":2}"#).is_err());
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Document {
    /// Schema version.
    pub version: u64,
    /// When the document was built, milliseconds since the Unix epoch.
    pub generated_at_unix_ms: Option<u64>,
    /// The process id of the target.
    pub pid: u32,
    /// Events kept per runtime.
    pub recent_capacity: usize,
    /// Upper bounds of the poll-time tiers in µs (`None`: unbounded).
    pub poll_time_tier_upper_bounds_us: Vec<Option<u64>>,
    /// The runtimes.
    pub runtimes: Vec<Runtime>,
    /// Live runtimes the exporter left out.
    pub runtimes_omitted: usize,
}

impl Document {
    /// Parses a document, refusing another schema version.
    ///
    /// # Errors
    ///
    /// A message naming what is wrong: not JSON, not this schema, or another
    /// version.
    ///
    /// # Examples
    ///
    /// See [`Document`].
    pub fn parse(text: &str) -> Result<Document, String> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|err| format!("not a /pulse.json document: {err}"))?;
        Document::from_value(value)
    }

    /// Reads a document from a JSON value (what `tokio_pulse_rt::json::value`
    /// returns in-process).
    ///
    /// # Errors
    ///
    /// As [`Document::parse`].
    ///
    /// # Examples
    ///
    /// ```
    /// let value = serde_json::json!({"version": 1, "pid": 7});
    /// assert_eq!(tokio_pulse_top::model::Document::from_value(value).unwrap().pid, 7);
    /// ```
    pub fn from_value(value: serde_json::Value) -> Result<Document, String> {
        if !value.is_object() {
            return Err("not a /pulse.json document: not a JSON object".to_string());
        }
        let doc: Document = serde_json::from_value(value)
            .map_err(|err| format!("not a /pulse.json document: {err}"))?;
        doc.checked()
    }

    fn checked(self) -> Result<Document, String> {
        if self.version != VERSION {
            return Err(format!(
                "/pulse.json schema version {} is not the {VERSION} this top reads",
                self.version
            ));
        }
        Ok(self)
    }
}

/// One runtime.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Runtime {
    /// Runtime id.
    pub id: u64,
    /// Runtime name.
    pub name: String,
    /// Seconds since the runtime was built.
    pub uptime_seconds: f64,
    /// Whether it has shut down.
    pub shut_down: bool,
    /// Spawns from outside the workers.
    pub spawns_remote: u64,
    /// Wakes from outside the workers.
    pub wakes_remote: u64,
    /// Tasks in the global queue.
    pub global_queue_depth: Option<u64>,
    /// Tasks alive.
    pub alive_tasks: Option<u64>,
    /// Its settings.
    pub settings: Option<Settings>,
    /// What the watchdog's sampler found (`None` from an older exporter).
    pub sampled: Option<Sampled>,
    /// Its workers.
    pub workers: Vec<Worker>,
}

/// The watchdog sampler's findings for one runtime: a CPU profile by spawn
/// site, the queues' oldest ages and the pressure. Counters are cumulative;
/// a field an older exporter lacks is `None` or empty.
///
/// # Examples
///
/// ```
/// let doc = tokio_pulse_top::model::Document::parse(
///     r#"{"version":1,"runtimes":[{"id":1,"sampled":{"samples":3,
///        "spawn_sites":[{"location":"src/main.rs:7:5","samples":2}],
///        "inject_oldest_seconds":0.001}}]}"#,
/// )
/// .unwrap();
/// let sampled = doc.runtimes[0].sampled.as_ref().unwrap();
/// assert_eq!(sampled.spawn_sites[0].samples, 2);
/// assert_eq!(sampled.pressure_some_seconds, None);
/// ```
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Sampled {
    /// Sampling passes so far.
    pub samples: u64,
    /// Samples of workers inside a poll, by the polled task's spawn site,
    /// most first (the exporter's top K).
    pub spawn_sites: Vec<SpawnSite>,
    /// Samples of sites outside the exported top K.
    pub spawn_sites_other: u64,
    /// Age of the oldest task in the inject queue, seconds.
    pub inject_oldest_seconds: Option<f64>,
    /// The same per worker's local queue, in worker order.
    pub local_oldest_seconds: Vec<Option<f64>>,
    /// Seconds during which runnable tasks waited in a queue.
    pub pressure_some_seconds: Option<f64>,
    /// Seconds during which runnable tasks waited while every worker polled.
    pub pressure_full_seconds: Option<f64>,
}

/// One spawn site's samples.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SpawnSite {
    /// `file:line:col`, `None` for tasks without a spawn location.
    pub location: Option<String>,
    /// Samples that found a worker polling a task spawned here.
    pub samples: u64,
}

/// A runtime's settings.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Poll timing on.
    pub poll_timing: bool,
    /// Slow-poll threshold.
    pub slow_poll_seconds: Option<f64>,
    /// Stall threshold.
    pub stall_seconds: Option<f64>,
}

/// One worker.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Worker {
    /// Worker index.
    pub index: usize,
    /// Polls.
    pub polls: u64,
    /// Polls of LIFO-slot tasks.
    pub polls_lifo: u64,
    /// Spawns from this worker.
    pub spawns_local: u64,
    /// Successful steal operations by this worker.
    pub steal_operations: u64,
    /// Tasks this worker stole.
    pub stolen_tasks: u64,
    /// Steals by this worker, per victim.
    pub steals_from: Vec<Steal>,
    /// Parks.
    pub parks: u64,
    /// Tasks in the local queue.
    pub local_queue_depth: Option<u64>,
    /// Poll timing, when on.
    pub poll_time: Option<PollTime>,
    /// Schedule latency by source (`lifo`, `local`, `stolen`, `inject`),
    /// with poll timing.
    pub schedule_latency: Option<BTreeMap<String, SourceLatency>>,
    /// Time per worker state, with poll timing.
    pub states: Option<States>,
    /// Recent slow polls and stalls.
    pub recent_events: Vec<Event>,
}

/// One cell of the steal matrix.
#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Steal {
    /// Steal operations.
    pub operations: u64,
    /// Tasks moved.
    pub tasks: u64,
}

/// A worker's poll timing.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct PollTime {
    /// Polls per tier.
    pub tiers: Vec<u64>,
    /// Busy time.
    pub busy_seconds: f64,
    /// Slow polls.
    pub slow_polls: u64,
    /// Stalls.
    pub stalls: u64,
    /// The poll running now.
    pub current_poll_seconds: Option<f64>,
}

/// One source's schedule latency: waits per poll-time tier and their sum.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct SourceLatency {
    /// Waits per tier (the poll-time tier bounds).
    pub tiers: Vec<u64>,
    /// The waits' sum, seconds.
    pub total_seconds: f64,
}

/// A worker's time per state.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct States {
    /// Seconds per state: `poll`, `driver`, `search`, `park`,
    /// `maintenance`, `blocking`.
    pub seconds: BTreeMap<String, f64>,
    /// Wall time the states add up to.
    pub wall_seconds: f64,
    /// The state at the reading.
    pub current: Option<String>,
}

/// A slow poll or stall.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(default)]
pub struct Event {
    /// Grows with each event in the target process.
    pub seq: u64,
    /// When, ms since the Unix epoch.
    pub at_unix_ms: Option<u64>,
    /// `slow_poll` or `stall`.
    pub kind: String,
    /// For a stall: whether it had ended.
    pub ended: Option<bool>,
    /// Task id.
    pub task_id: u64,
    /// The `block_on` future rather than a task.
    pub block_on: bool,
    /// Task name.
    pub task_name: Option<String>,
    /// Spawn location.
    pub spawned_at: Option<String>,
    /// Duration.
    pub duration_seconds: f64,
    /// Stack, when captured.
    pub stack: Option<Vec<String>>,
    /// The innermost frame of the application's own code, when captured.
    pub top_frame: Option<String>,
    /// CPU share of the stuck thread, when captured.
    pub cpu_share: Option<f64>,
    /// CPU share plus run-queue wait: near 1 for a busy loop, when captured.
    pub busy_share: Option<f64>,
    /// Thread state, when captured.
    pub state: Option<String>,
    /// Syscall, when captured.
    pub syscall: Option<String>,
}
