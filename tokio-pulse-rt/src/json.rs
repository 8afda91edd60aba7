//! `/pulse.json`: every live runtime's snapshot, its settings and its recent
//! slow-poll and stall events, as one versioned JSON document.
//!
//! The Prometheus server answers `GET /pulse.json` with [`render`] (same
//! bind, deadline and connection cap as `/metrics`); `tokio-pulse top` reads
//! it. The schema, version [`VERSION`], is documented in `docs/pulse-json.md`
//! at the repository root: counters are cumulative since the runtime
//! started (a viewer takes rates from two documents), durations are
//! seconds as floats, gauges that a runtime cannot read are `null`.
//!
//! # Examples
//!
//! ```
//! let rt = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .build()
//!     .unwrap();
//! let doc = tokio_pulse_rt::json::value();
//! assert_eq!(doc["version"], 1);
//! let id = tokio_pulse_rt::probes(rt.handle()).id();
//! let mine = doc["runtimes"]
//!     .as_array()
//!     .unwrap()
//!     .iter()
//!     .find(|r| r["id"] == id)
//!     .unwrap();
//! assert_eq!(mine["workers"].as_array().unwrap().len(), 2);
//! ```

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio_pulse_probes::{recent_capacity, recent_events, RecentEvent};

use crate::{CpuUsage, FrameOrigin, PollEvent, Stall, StallDetails};

use crate::export::{self, Limits, Selection};
use crate::{
    tier, PollTimeSnapshot, PulseSettings, RuntimeSnapshot, SamplerSnapshot, ScheduleSource,
    WorkerSnapshot, WorkerState,
};

/// The schema version of the document; it changes only when a field is
/// removed or changes meaning (new fields may appear within a version).
pub const VERSION: u32 = 1;

/// The path the Prometheus server serves the document at.
pub const PATH: &str = "/pulse.json";

/// The `Content-Type` of the document.
pub const CONTENT_TYPE: &str = "application/json";

/// The document for every live runtime, as a JSON value (what `/pulse.json`
/// serves, with no cap on runtimes).
///
/// # Examples
///
/// See the [module docs](self).
pub fn value() -> serde_json::Value {
    let selection = export::select(Limits {
        max_runtimes: usize::MAX,
        min_age: Duration::ZERO,
    });
    serde_json::to_value(document(&selection)).unwrap_or(serde_json::Value::Null)
}

/// The document for the runtimes `limits` admits, as JSON text.
pub(crate) fn render(limits: Limits) -> String {
    let selection = export::select(limits);
    // Serializing plain structs of numbers and strings into a String
    // cannot fail; should it, the answer is still valid JSON.
    serde_json::to_string(&document(&selection))
        .unwrap_or_else(|err| format!("{{\"version\":{VERSION},\"error\":{:?}}}", err.to_string()))
}

/// Whether `SystemTime::now()` works here: on wasm32-unknown-unknown it
/// panics.
const HAS_WALL_CLOCK: bool = cfg!(not(all(target_family = "wasm", target_os = "unknown")));

#[derive(Serialize)]
struct Document {
    version: u32,
    generated_at_unix_ms: Option<u64>,
    pid: u32,
    recent_capacity: usize,
    /// Upper bounds of the poll-time tiers in microseconds; `null` for the
    /// last, unbounded one.
    poll_time_tier_upper_bounds_us: Vec<Option<u64>>,
    runtimes: Vec<Runtime>,
    runtimes_omitted: usize,
}

#[derive(Serialize)]
struct Runtime {
    id: u64,
    name: String,
    uptime_seconds: f64,
    shut_down: bool,
    workers_stopped: bool,
    spawns_remote: u64,
    wakes_remote: u64,
    self_wakes_remote: u64,
    overflows_single: u64,
    global_queue_depth: Option<u64>,
    alive_tasks: Option<u64>,
    settings: Option<Settings>,
    sampled: Sampled,
    /// How long since a worker last turned the I/O and time drivers (poll
    /// timing on); 0 while a worker is parked.
    driver_last_turn_age_seconds: Option<f64>,
    workers: Vec<Worker>,
}

/// What the watchdog's sampler found (`SamplerSnapshot`).
#[derive(Serialize)]
struct Sampled {
    samples: u64,
    /// Every spawn site with samples, most first; `location` is
    /// `file:line:col`, `null` for a task without one.
    spawn_sites: Vec<SpawnSite>,
    /// Samples of sites outside the exported top K.
    spawn_sites_other: u64,
    inject_oldest_seconds: Option<f64>,
    local_oldest_seconds: Vec<Option<f64>>,
    pressure_some_seconds: f64,
    pressure_full_seconds: f64,
}

#[derive(Serialize)]
struct SpawnSite {
    location: Option<String>,
    samples: u64,
}

#[derive(Serialize)]
struct Settings {
    poll_timing: bool,
    /// Schedule stamps and the schedule-latency histogram (with poll timing).
    schedule_latency: bool,
    /// `null`: slow polls are never reported.
    slow_poll_seconds: Option<f64>,
    /// `null`: no stall watchdog.
    stall_seconds: Option<f64>,
    watchdog_period_seconds: f64,
    steal_matrix: Option<bool>,
    full_steal_matrix: bool,
    /// How many spawn sites the exports name (the rest are `other`).
    spawn_sites_top_k: usize,
    /// Whether a stall report captures the stuck thread's stack.
    stack_capture: bool,
}

#[derive(Serialize)]
struct Worker {
    index: usize,
    polls: u64,
    polls_lifo: u64,
    spawns_local: u64,
    wakes_lifo: u64,
    wakes_local_queue: u64,
    yields_yield_now: u64,
    yields_budget: u64,
    self_wakes_local: u64,
    lifo_capped: u64,
    overflows_batch: u64,
    steal_attempts: u64,
    steal_operations: u64,
    stolen_tasks: u64,
    /// Indexed by victim.
    steals_from: Vec<Steal>,
    parks: u64,
    unparks: u64,
    local_queue_depth: Option<u64>,
    poll_time: Option<PollTime>,
    /// By source (`lifo`, `local`, `stolen`, `inject`); `null` without
    /// poll timing.
    schedule_latency: Option<BTreeMap<&'static str, SourceLatency>>,
    /// Seconds per state; `null` without poll timing.
    states: Option<States>,
    /// The watchdog's last stall report on this worker.
    last_stall: Option<Event>,
    recent_events: Vec<Event>,
}

#[derive(Serialize)]
struct SourceLatency {
    /// Waits per poll-time tier.
    tiers: Vec<u64>,
    total_seconds: f64,
}

#[derive(Serialize)]
struct States {
    seconds: BTreeMap<&'static str, f64>,
    wall_seconds: f64,
    /// The state at the reading, `null` before the worker started or after
    /// it stopped.
    current: Option<&'static str>,
}

#[derive(Serialize)]
struct Steal {
    operations: u64,
    tasks: u64,
}

#[derive(Serialize)]
struct PollTime {
    tiers: Vec<u64>,
    poll_time_seconds: f64,
    busy_seconds: f64,
    slow_polls: u64,
    slow_poll_events_dropped: u64,
    stalls: u64,
    stall_events_dropped: u64,
    listener_panics: u64,
    current_poll_seconds: Option<f64>,
}

#[derive(Serialize)]
struct Event {
    seq: u64,
    at_unix_ms: Option<u64>,
    /// `"slow_poll"` or `"stall"`.
    kind: &'static str,
    /// For a stall: whether the poll had ended when this was raised.
    #[serde(skip_serializing_if = "Option::is_none")]
    ended: Option<bool>,
    task_id: u64,
    block_on: bool,
    task_name: Option<String>,
    spawned_at: Option<String>,
    duration_seconds: f64,
    dropped_before: u64,
    /// Stalls only: why it is stuck, where captured.
    #[serde(flatten)]
    details: Option<Details>,
}

/// A stall report's details (`StallDetails`); each field is present when
/// captured.
#[derive(Serialize)]
struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    thread_id: Option<u64>,
    /// Innermost first, each `function at file:line`, with ` [runtime]` or
    /// ` [system]` after the frames that are not the application's.
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<Vec<String>>,
    /// The innermost frame of the application's own code.
    #[serde(skip_serializing_if = "Option::is_none")]
    top_frame: Option<String>,
    /// Why there is no stack, when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    stack_unavailable: Option<String>,
    /// CPU time over wall time during the stall.
    #[serde(skip_serializing_if = "Option::is_none")]
    cpu_share: Option<f64>,
    /// CPU time plus run-queue wait over wall time: near 1 for a busy loop
    /// on a loaded machine too.
    #[serde(skip_serializing_if = "Option::is_none")]
    busy_share: Option<f64>,
    /// The kernel's state letter (`R`, `S`, `D`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syscall: Option<String>,
    /// For a starved-driver report: which driver.
    #[serde(skip_serializing_if = "Option::is_none")]
    starved_driver: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver_not_turned_seconds: Option<f64>,
}

fn details(d: &StallDetails) -> Details {
    Details {
        thread_id: d.thread_id,
        stack: d.stack.as_ref().map(|stack| {
            stack
                .frames
                .iter()
                .map(|frame| match frame.origin {
                    FrameOrigin::User => frame.to_string(),
                    FrameOrigin::Runtime => format!("{frame} [runtime]"),
                    FrameOrigin::System => format!("{frame} [system]"),
                })
                .collect()
        }),
        top_frame: d
            .stack
            .as_ref()
            .and_then(|stack| stack.top_user_frame())
            .map(ToString::to_string),
        stack_unavailable: d.stack_unavailable.as_ref().map(ToString::to_string),
        cpu_share: d.cpu.as_ref().map(CpuUsage::share),
        busy_share: d.cpu.as_ref().map(CpuUsage::busy_share),
        state: d.thread.as_ref().map(|t| t.state.to_string()),
        syscall: d.thread.as_ref().and_then(|t| t.syscall.clone()),
        starved_driver: d.starved_driver.as_ref().map(|s| s.driver),
        driver_not_turned_seconds: d
            .starved_driver
            .as_ref()
            .map(|s| s.not_turned_for.as_secs_f64()),
    }
}

/// One stall event, as the recent events and `last_stall` show it.
fn stall_event(seq: u64, at: Option<SystemTime>, event: &Stall) -> Event {
    let mut json = poll_event("stall", seq, at, &event.poll);
    json.ended = Some(event.ended);
    json.details = Some(details(&event.details));
    json
}

fn poll_event(kind: &'static str, seq: u64, at: Option<SystemTime>, poll: &PollEvent) -> Event {
    Event {
        seq,
        at_unix_ms: at.and_then(unix_ms),
        kind,
        ended: None,
        task_id: poll.task.id,
        block_on: poll.task.is_block_on(),
        task_name: poll.task_name.as_deref().map(str::to_owned),
        spawned_at: poll.task.spawned_at.map(ToString::to_string),
        duration_seconds: poll.duration.as_secs_f64(),
        dropped_before: poll.dropped_before,
        details: None,
    }
}

fn unix_ms(at: SystemTime) -> Option<u64> {
    at.duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|since| u64::try_from(since.as_millis()).ok())
}

fn document(selection: &Selection) -> Document {
    let live = crate::runtimes();
    let runtimes = selection
        .snapshots
        .iter()
        .zip(&selection.full_matrix)
        .map(|(snapshot, &full)| {
            let settings = live
                .iter()
                .find(|rt| rt.id() == snapshot.id)
                .map(|rt| settings(rt.settings(), full));
            runtime(snapshot, settings)
        })
        .collect();
    Document {
        version: VERSION,
        generated_at_unix_ms: HAS_WALL_CLOCK.then(SystemTime::now).and_then(unix_ms),
        pid: std::process::id(),
        recent_capacity: recent_capacity(),
        poll_time_tier_upper_bounds_us: (0..tier::TIERS).map(tier::upper_bound_us).collect(),
        runtimes,
        runtimes_omitted: selection.omitted,
    }
}

fn settings(settings: &PulseSettings, full_steal_matrix: bool) -> Settings {
    Settings {
        poll_timing: settings.poll_timing,
        schedule_latency: settings.schedule_latency,
        slow_poll_seconds: (settings.slow_poll != Duration::MAX)
            .then_some(settings.slow_poll.as_secs_f64()),
        stall_seconds: settings.stall.map(|stall| stall.as_secs_f64()),
        watchdog_period_seconds: settings.watchdog_period.as_secs_f64(),
        steal_matrix: settings.steal_matrix,
        full_steal_matrix,
        spawn_sites_top_k: settings.spawn_sites_top_k,
        stack_capture: settings.stack_capture,
    }
}

fn runtime(snapshot: &RuntimeSnapshot, settings: Option<Settings>) -> Runtime {
    let mut events: Vec<Vec<Event>> = snapshot.workers.iter().map(|_| Vec::new()).collect();
    for recent in recent_events(snapshot.id) {
        let (worker, event) = match &recent.event {
            RecentEvent::SlowPoll(event) => (
                event.worker,
                poll_event("slow_poll", recent.seq, recent.at, &event.poll),
            ),
            RecentEvent::Stall(event) => (event.worker, stall_event(recent.seq, recent.at, event)),
        };
        if let Some(list) = events.get_mut(worker) {
            list.push(event);
        }
    }
    Runtime {
        id: snapshot.id,
        name: snapshot.name.to_string(),
        uptime_seconds: snapshot.uptime.as_secs_f64(),
        shut_down: snapshot.shut_down,
        workers_stopped: snapshot.workers_stopped,
        spawns_remote: snapshot.spawns_remote,
        wakes_remote: snapshot.wakes_remote,
        self_wakes_remote: snapshot.self_wakes_remote,
        overflows_single: snapshot.overflows_single,
        global_queue_depth: snapshot.global_queue_depth,
        alive_tasks: snapshot.alive_tasks,
        settings,
        sampled: sampled(&snapshot.sampled),
        driver_last_turn_age_seconds: snapshot.driver_last_turn_age.map(|age| age.as_secs_f64()),
        workers: snapshot
            .workers
            .iter()
            .zip(events)
            .map(|(w, recent_events)| worker(w, recent_events))
            .collect(),
    }
}

fn sampled(s: &SamplerSnapshot) -> Sampled {
    let mut spawn_sites: Vec<SpawnSite> = s
        .spawn_sites
        .sites
        .iter()
        .filter(|site| site.samples > 0)
        .map(|site| SpawnSite {
            location: site.location.map(|at| at.to_string()),
            samples: site.samples,
        })
        .collect();
    spawn_sites.sort_by_key(|site| std::cmp::Reverse(site.samples));
    Sampled {
        samples: s.samples,
        spawn_sites,
        spawn_sites_other: s.spawn_sites.other,
        inject_oldest_seconds: s.inject_oldest.map(|d| d.as_secs_f64()),
        local_oldest_seconds: s
            .local_oldest
            .iter()
            .map(|age| age.map(|d| d.as_secs_f64()))
            .collect(),
        pressure_some_seconds: s.pressure_some.as_secs_f64(),
        pressure_full_seconds: s.pressure_full.as_secs_f64(),
    }
}

fn worker(w: &WorkerSnapshot, recent_events: Vec<Event>) -> Worker {
    Worker {
        index: w.index,
        polls: w.polls,
        polls_lifo: w.polls_lifo,
        spawns_local: w.spawns_local,
        wakes_lifo: w.wakes_lifo,
        wakes_local_queue: w.wakes_local_queue,
        yields_yield_now: w.yields_yield_now,
        yields_budget: w.yields_budget,
        self_wakes_local: w.self_wakes_local,
        lifo_capped: w.lifo_capped,
        overflows_batch: w.overflows_batch,
        steal_attempts: w.steal_attempts,
        steal_operations: w.steal_operations,
        stolen_tasks: w.stolen_tasks,
        steals_from: w
            .steals_from
            .iter()
            .map(|cell| Steal {
                operations: cell.operations,
                tasks: cell.tasks,
            })
            .collect(),
        parks: w.parks,
        unparks: w.unparks,
        local_queue_depth: w.local_queue_depth,
        poll_time: w.poll_time.as_ref().map(poll_time),
        schedule_latency: w.schedule_latency.as_ref().map(|latency| {
            ScheduleSource::ALL
                .iter()
                .map(|&source| {
                    let l = latency.source(source);
                    (
                        source.label(),
                        SourceLatency {
                            tiers: l.tiers.to_vec(),
                            total_seconds: l.total.as_secs_f64(),
                        },
                    )
                })
                .collect()
        }),
        states: w.states.as_ref().map(|states| States {
            seconds: WorkerState::ALL
                .iter()
                .map(|&state| (state.label(), states.state(state).as_secs_f64()))
                .collect(),
            wall_seconds: states.wall.as_secs_f64(),
            current: states.current.map(WorkerState::label),
        }),
        last_stall: w
            .last_stall
            .as_ref()
            .map(|stall| stall_event(stall.seq, stall.at, stall)),
        recent_events,
    }
}

fn poll_time(t: &PollTimeSnapshot) -> PollTime {
    PollTime {
        tiers: t.tiers.to_vec(),
        poll_time_seconds: t.poll_time.as_secs_f64(),
        busy_seconds: t.busy_time.as_secs_f64(),
        slow_polls: t.slow_polls,
        slow_poll_events_dropped: t.slow_poll_events_dropped,
        stalls: t.stalls,
        stall_events_dropped: t.stall_events_dropped,
        listener_panics: t.listener_panics,
        current_poll_seconds: t.current_poll.map(|d| d.as_secs_f64()),
    }
}
