//! Slow-poll and stall events as `tracing` events.
//!
//! With poll timing on, the probes raise an event for every poll slower than
//! the slow-poll threshold and, with the watchdog on, for every stall while
//! it happens and when it ends; each kind is rate-limited to
//! [`EVENTS_PER_SECOND`](tokio_pulse_probes::EVENTS_PER_SECOND) per second
//! per worker, and the stalls the limit drops lose both events. A panic in a
//! `tracing` layer (or any listener) is caught and counted in
//! `PollTimeSnapshot::listener_panics`; the worker and the watchdog carry on.
//! [`install`] routes them to `tracing`:
//!
//! | event | target | level | fields |
//! |---|---|---|---|
//! | slow poll | `tokio_pulse::slow_poll` | WARN | `runtime`, `worker`, `task.id`, `task.name`, `spawned_at`, `duration_us`, `dropped_before` |
//! | stall, ongoing | `tokio_pulse::stall` | WARN | `runtime`, `worker`, `task.id`, `task.name`, `spawned_at`, `stalled_for_ms`, `dropped_before` |
//! | stall, ended | `tokio_pulse::stall` | WARN | same, plus `ended = true` and the final `stalled_for_ms` |
//! | unusable `TOKIO_PULSE_*` value or setting | `tokio_pulse::config` | WARN | `setting`, `value`, `problem`, `used_instead` |
//!
//! A configuration warning is emitted once per process per setting and
//! value, also for runtimes built before [`install`] (`#[tokio::main]`
//! builds its runtime before `main`'s body runs).
//!
//! `spawned_at` is the `file:line:col` of the `tokio::spawn` call.
//! `task.name` is there only for a task spawned with a name, which Tokio
//! allows only under `--cfg tokio_unstable` with its `tracing` feature
//! (`tokio::task::Builder::new().name(..)`).

use tokio_pulse_probes::{ConfigWarning, PollEvent, PulseListener, SlowPoll, Stall};

/// The listener that turns probe events into `tracing` events.
///
/// # Examples
///
/// ```
/// tokio_pulse_rt::events::install();
/// ```
#[derive(Debug, Default)]
pub struct TracingListener;

/// One `tracing::warn!` for a poll event: the fields every poll event has
/// (from its [`PollEvent`] header), then the event's own fields and message.
/// (A macro, not a function: `tracing` needs the target and the field names
/// at compile time.)
macro_rules! warn_poll {
    ($target:literal, $poll:expr, $($own:tt)+) => {{
        let poll: &PollEvent = $poll;
        tracing::warn!(
            target: $target,
            runtime = %poll.runtime,
            worker = poll.worker,
            task.id = poll.task.id,
            task.name = poll.task_name.as_deref(),
            spawned_at = %display_location(poll.task.spawned_at),
            dropped_before = poll.dropped_before,
            $($own)+
        )
    }};
}

impl PulseListener for TracingListener {
    fn slow_poll(&self, event: &SlowPoll) {
        warn_poll!(
            "tokio_pulse::slow_poll",
            event,
            duration_us = event.duration.as_micros() as u64,
            "slow poll: {:?} in {}{}",
            event.duration,
            event.task,
            display_name(event.task_name.as_deref())
        );
    }

    fn stall(&self, event: &Stall) {
        let state = if event.ended {
            "was stuck for"
        } else {
            "is stuck: so far"
        };
        warn_poll!(
            "tokio_pulse::stall",
            event,
            stalled_for_ms = event.duration.as_secs_f64() * 1e3,
            ended = event.ended,
            "worker {} {state} {:?} in one poll of {}{}",
            event.worker,
            event.duration,
            event.task,
            display_name(event.task_name.as_deref())
        );
    }

    fn config_warning(&self, warning: &ConfigWarning) {
        tracing::warn!(
            target: "tokio_pulse::config",
            setting = warning.setting,
            value = %warning.value,
            problem = warning.problem,
            used_instead = warning.used_instead,
            "{warning}"
        );
    }
}

/// ` named "..."`, or nothing for an unnamed task.
fn display_name(name: Option<&str>) -> String {
    name.map_or_else(String::new, |name| format!(" named {name:?}"))
}

fn display_location(at: Option<&'static std::panic::Location<'static>>) -> String {
    at.map_or_else(|| "unknown".to_owned(), ToString::to_string)
}

/// Routes slow-poll and stall events to `tracing`, once per process. Returns
/// `false` if another listener was installed first (the events keep going
/// there).
///
/// # Examples
///
/// ```
/// tokio_pulse_rt::events::install();
/// // Only the first listener of the process is kept.
/// assert!(!tokio_pulse_rt::events::install());
/// ```
pub fn install() -> bool {
    tokio_pulse_probes::set_listener(Box::new(TracingListener)).is_ok()
}
