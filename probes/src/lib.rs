//! The data model of Tokio-Pulse: per-worker scheduler counters that the
//! patched Tokio writes and anyone may read, live.
//!
//! This crate has no Tokio dependency; the patched Tokio depends on it. Each
//! probe site in Tokio is one call to an `#[inline]` method here.
//!
//! # Index
//!
//! - [`Counter`]: a single-writer monotonic `u64` (`Relaxed` load + store, no
//!   locked instruction).
//! - [`WorkerProbes`]: one worker's counters, each worker on its own cache
//!   lines.
//! - [`RuntimeProbes`]: a runtime's name, id, workers and
//!   [`RemoteProbes`] (spawns and wakes from outside, counted under the
//!   inject lock).
//! - [`runtimes`]: every live runtime in the process.
//! - [`RuntimeSnapshot`] / [`WorkerSnapshot`]: plain data with `delta`.
//! - `fork` (hidden): the writing side, which only the patched Tokio uses:
//!   the constructors, the runtime's one `RuntimeWriter` and each worker's one
//!   `WorkerRecorder`. Everything else here only reads.
//! - Optional, per runtime ([`PulseConfig`], set through the patched
//!   `Builder::pulse` or `TOKIO_PULSE_*` variables): poll timing on a
//!   calibrated [`Clock`] into log-scale [`tier`]s ([`PollTimeSnapshot`]),
//!   slow-poll events, and a stall watchdog thread; events reach the
//!   [`PulseListener`] installed with [`set_listener`].
//! - [`recent_events`]: each runtime's last slow-poll and stall events, in a
//!   bounded ring ([`DEFAULT_RECENT_EVENTS`] by default), listener or not.
//! - [`task_names`]: names of tasks spawned with a name (Tokio has them only
//!   under `tokio_unstable` with its `tracing` feature), for those events.
//!
//! # Examples
//!
//! With the patched Tokio, `tokio::runtime::Handle::pulse()` returns a
//! runtime's [`RuntimeProbes`]; the `tokio-pulse-rt` crate builds on that.
//!
//! The model itself needs no Tokio; this is how the patched Tokio drives it:
//!
//! ```
//! use tokio_pulse_probes::{fork, runtimes, ScheduleKind};
//!
//! let (writer, mut recorders) = fork::new(Some("doc"), 2);
//! recorders[0].scheduled_local(ScheduleKind::Spawn, true);
//! assert!(runtimes().iter().any(|r| r.name() == "doc"));
//! assert_eq!(writer.probes().snapshot().spawns(), 1);
//! ```

mod clock;
mod config;
mod counter;
mod delta;
mod driver;
mod events;
#[doc(hidden)]
pub mod fork;
mod kinds;
mod lifecycle;
mod recent;
mod recorder;
mod registry;
mod remote;
mod runtime;
mod sampler;
mod snapshot;
mod stack;
mod stall_report;
mod sync;
pub mod task_names;
mod timing;
mod watchdog;
mod worker;

pub use clock::{tier, Clock, CALIBRATION};
pub use config::{
    config_warnings, parse_duration, ConfigWarning, PulseConfig, PulseSettings, StackSignal,
    DEFAULT_SLOW_POLL, DEFAULT_SPAWN_SITES_TOP_K, DEFAULT_STALL, DEFAULT_WATCHDOG_PERIOD,
    ENV_POLL_TIMING, ENV_SCHEDULE_LATENCY, ENV_SLOW_POLL, ENV_SPAWN_SITES_TOP_K, ENV_STACKS,
    ENV_STACK_SIGNAL, ENV_STALL, ENV_STEAL_MATRIX, ENV_WATCHDOG_PERIOD,
    FULL_STEAL_MATRIX_MAX_WORKERS,
};
pub use counter::Counter;
pub use driver::DRIVERS;
pub use events::{
    set_listener, PollEvent, PulseListener, SlowPoll, Stall, TaskInfo, EVENTS_PER_SECOND,
};
pub use kinds::{RemoteKind, ScheduleKind, YieldReason};
pub use recent::{
    recent_capacity, recent_events, set_recent_capacity, Recent, RecentEvent, DEFAULT_RECENT_EVENTS,
};
pub use registry::runtimes;
pub use remote::RemoteProbes;
pub use runtime::RuntimeProbes;
pub use sampler::{QueueIndices, SamplerSnapshot, SpawnSiteSamples, SpawnSiteTable};
pub use snapshot::{PollTimeSnapshot, RuntimeSnapshot, StealSnapshot, WorkerSnapshot};
pub use stack::{
    preload_symbols, FrameOrigin, StackFrame, StackTrace, StackUnavailable, MAX_FRAMES,
};
pub use stall_report::{CpuUsage, StallDetails, StarvedDriver, ThreadState};
pub use timing::schedule::{ScheduleLatencySnapshot, ScheduleSource, SourceLatency};
pub use timing::states::{WorkerState, WorkerStatesSnapshot};
pub use timing::{CurrentPoll, BLOCK_ON_TASK_ID};
pub use worker::{StealCell, WorkerProbes};
