//! Read and report the scheduler probes of Tokio-Pulse, the instrumented
//! fork of Tokio.
//!
//! With the fork swapped in (`[patch.crates-io] tokio = { path = ".../vendor/tokio" }`),
//! every Tokio runtime in the process carries live per-worker counters:
//! spawns (local and remote), schedules by path, polls (LIFO-chained ones
//! included), yields by reason, steals per victim, parks. This crate is the
//! user-facing side:
//!
//! - [`probes`] and [`current`] reach a runtime's [`RuntimeProbes`];
//!   [`runtimes`] lists every live runtime in the process.
//! - [`RuntimeProbes::snapshot`] copies the counters into a plain
//!   [`RuntimeSnapshot`]; [`RuntimeSnapshot::delta`] gives the change
//!   between two.
//! - [`report::WorkerTable`] renders a per-worker table of a change.
//! - [`prometheus()`] serves every runtime's counters at `/metrics` in one
//!   line: `tokio_pulse_rt::prometheus().listen("127.0.0.1:9464").install()?`.
//! - [`json`] is the same data as one versioned JSON document, served at
//!   `/pulse.json` next to `/metrics` (what `tokio-pulse top` reads).
//! - [`export`] publishes them to any `metrics` recorder, once
//!   ([`export::publish`]) or on an interval ([`export::publisher`]); its
//!   catalog, [`export::FAMILIES`], maps every snapshot field to a metric
//!   family.
//!
//! # Examples
//!
//! ```
//! let rt = tokio::runtime::Builder::new_multi_thread()
//!     .worker_threads(2)
//!     .build()
//!     .unwrap();
//! let probes = tokio_pulse_rt::probes(rt.handle());
//! let before = probes.snapshot();
//! rt.block_on(async {
//!     tokio::spawn(async {}).await.unwrap();
//! });
//! let change = probes.snapshot().delta(&before);
//! // `block_on` runs outside the workers, so the spawn is remote.
//! assert_eq!(change.spawns_remote, 1);
//! println!("{}", tokio_pulse_rt::report::WorkerTable::new(&change));
//! ```
//!
//! # Read only
//!
//! What [`probes`], [`current`] and [`runtimes`] hand out can be read and
//! nothing else: every counter has exactly one writer inside the patched
//! Tokio (a worker's recorder in its core, the runtime's writer under the
//! inject lock), and a second writer's late store could move a counter
//! backwards, which Prometheus would read as a reset. None of these
//! compile:
//!
//! ```compile_fail,E0624
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let probes = tokio_pulse_rt::probes(rt.handle());
//! // Remote pushes are counted only under the inject queue's lock; an
//! // unlocked second writer would lose or undo counts.
//! probes.remote().pushed_locked(tokio_pulse_rt::RemoteKind::Spawn);
//! ```
//!
//! ```compile_fail,E0624
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let probes = tokio_pulse_rt::probes(rt.handle());
//! // Marking a live runtime shut down would hide it from exporters.
//! probes.mark_shut_down();
//! ```
//!
//! ```compile_fail,E0624
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let probes = tokio_pulse_rt::probes(rt.handle());
//! // A worker's counters belong to its recorder; a store racing the
//! // worker's could move the count backwards.
//! probes.worker(0).unwrap().steals_from()[0].tasks.add(1);
//! ```

use std::sync::Arc;

pub mod events;
pub mod export;
pub mod json;
pub mod prometheus;
pub mod report;

pub use export::ExportError;
pub use prometheus::prometheus;

/// Names of tasks spawned with a name; see [`tokio_pulse_probes::task_names`].
pub use tokio_pulse_probes::task_names;
pub use tokio_pulse_probes::{
    config_warnings, preload_symbols, recent_capacity, recent_events, runtimes, set_listener,
    set_recent_capacity, tier, Clock, ConfigWarning, Counter, CpuUsage, CurrentPoll, FrameOrigin,
    PollEvent, PollTimeSnapshot, PulseConfig, PulseListener, PulseSettings, Recent, RecentEvent,
    RemoteKind, RemoteProbes, RuntimeProbes, RuntimeSnapshot, ScheduleKind, SlowPoll, StackFrame,
    StackSignal, StackTrace, StackUnavailable, Stall, StallDetails, StarvedDriver, StealSnapshot,
    TaskInfo, ThreadState, WorkerProbes, WorkerSnapshot, YieldReason, BLOCK_ON_TASK_ID,
    DEFAULT_RECENT_EVENTS, MAX_FRAMES,
};
pub use tokio_pulse_probes::{SamplerSnapshot, SpawnSiteSamples, SpawnSiteTable};
pub use tokio_pulse_probes::{
    ScheduleLatencySnapshot, ScheduleSource, SourceLatency, WorkerState, WorkerStatesSnapshot,
};

/// The probes of the runtime behind `handle`.
///
/// # Examples
///
/// ```
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let probes = tokio_pulse_rt::probes(rt.handle());
/// assert_eq!(probes.workers().len(), rt.metrics().num_workers());
/// ```
pub fn probes(handle: &tokio::runtime::Handle) -> Arc<RuntimeProbes> {
    handle.pulse()
}

/// The probes of the runtime this thread is in, if it is in one.
///
/// # Examples
///
/// ```
/// assert!(tokio_pulse_rt::current().is_none());
/// let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
/// rt.block_on(async {
///     assert!(tokio_pulse_rt::current().is_some());
/// });
/// ```
pub fn current() -> Option<Arc<RuntimeProbes>> {
    tokio::runtime::Handle::try_current()
        .ok()
        .map(|handle| handle.pulse())
}

/// The most recent stall report of each worker of every live runtime, by
/// runtime then worker: which task, how long, and why it was stuck (the
/// stuck thread's stack, CPU share, state and syscall, or a starved driver;
/// see [`StallDetails`]). Also there when no `tracing` subscriber let the
/// stall's event through.
///
/// # Examples
///
/// ```
/// for stall in tokio_pulse_rt::stalls() {
///     println!("{} worker {}: {:?} in {}", stall.runtime, stall.worker, stall.duration, stall.task);
///     if let Some(stack) = &stall.details.stack {
///         println!("{stack}");
///     }
/// }
/// ```
pub fn stalls() -> Vec<Arc<Recent<Stall>>> {
    runtimes()
        .iter()
        .flat_map(|runtime| runtime.stalls())
        .collect()
}
