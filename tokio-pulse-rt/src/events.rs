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
//!
//! A stall event also carries why the worker is stuck (Linux x86_64 and
//! AArch64, see `PulseConfig::stack_capture`): `thread_id`, `top_frame` (the
//! innermost frame of the application's own code), `cpu_share` and
//! `busy_share` (see `CpuUsage`), `thread_state` and `syscall` (from
//! `/proc`), a one-line summary of those in the message, and last the
//! `stack` field, rendered on lines of its own (so that the event's first
//! line keeps every other field). A starved driver adds `starved_driver`
//! and `driver_idle_ms`.
//!
//! When no subscriber takes `tokio_pulse::stall` at WARN (for example the
//! default `fmt` subscriber with `RUST_LOG` unset filters at ERROR), the
//! first stall says so once on stderr: let the events through with
//! `RUST_LOG=tokio_pulse=warn`.
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

use std::sync::atomic::{AtomicBool, Ordering};

use tokio_pulse_probes::{
    ConfigWarning, PollEvent, PulseListener, SlowPoll, StackTrace, StackUnavailable, Stall,
    StallDetails,
};

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
        hint_if_unheard();
        let state = if event.ended {
            "was stuck for"
        } else {
            "is stuck: so far"
        };
        let details = &event.details;
        let stack = details.stack.as_deref();
        let thread = details.thread.as_ref();
        warn_poll!(
            "tokio_pulse::stall",
            event,
            stalled_for_ms = event.duration.as_secs_f64() * 1e3,
            ended = event.ended,
            thread_id = details.thread_id,
            top_frame = stack
                .and_then(StackTrace::top_user_frame)
                .map(ToString::to_string),
            cpu_share = details.cpu.map(|cpu| cpu.share()),
            busy_share = details.cpu.map(|cpu| cpu.busy_share()),
            thread_state = thread.map(|thread| thread.state.to_string()),
            syscall = thread.and_then(|thread| thread.syscall.as_deref()),
            starved_driver = details.starved_driver.map(|starved| starved.driver),
            driver_idle_ms = details
                .starved_driver
                .map(|starved| starved.not_turned_for.as_secs_f64() * 1e3),
            stack = stack.map(|stack| tracing::field::display(StackField(stack))),
            "{}worker {} {state} {:?} in one poll of {}{}{}",
            details
                .starved_driver
                .map_or_else(String::new, |starved| format!("{starved}; ")),
            event.worker,
            event.duration,
            event.task,
            display_name(event.task_name.as_deref()),
            Why(details)
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

/// The stack for the `stack` field: on lines of its own, after the other
/// fields, so that the event's first line keeps the message and every
/// other field (for tools that read logs line by line).
struct StackField<'a>(&'a StackTrace);

impl std::fmt::Display for StackField<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "(innermost first, > your code)\n{}", self.0)
    }
}

/// The rest of a stall's message, on the same line: where in the user's
/// code it is stuck, the thread's state, its CPU share, or why there is no
/// stack.
struct Why<'a>(&'a StallDetails);

impl std::fmt::Display for Why<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let details = self.0;
        match (&details.stack, details.stack_unavailable) {
            (Some(stack), _) => {
                if let Some(top) = stack.top_user_frame() {
                    write!(f, "; stuck in {top}")?;
                }
            }
            (None, Some(why)) if why != StackUnavailable::Off => write!(f, "; no stack: {why}")?,
            _ => {}
        }
        if let Some(thread) = &details.thread {
            write!(f, "; thread {thread}")?;
        }
        if let Some(cpu) = &details.cpu {
            write!(f, "; {cpu}")?;
        }
        Ok(())
    }
}

/// Once per process, on stderr: stall events go nowhere, because no
/// `tracing` subscriber takes `tokio_pulse::stall` at WARN (an application
/// whose `fmt` subscriber filters at ERROR by default, for one).
fn hint_if_unheard() {
    static HINTED: AtomicBool = AtomicBool::new(false);
    if HINTED.load(Ordering::Relaxed)
        || tracing::enabled!(target: "tokio_pulse::stall", tracing::Level::WARN)
    {
        return;
    }
    if !HINTED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "tokio-pulse: a worker stalled, but no tracing subscriber accepts target \
             tokio_pulse::stall at WARN, so the report is dropped (it is still counted, and \
             kept in tokio_pulse_rt::stalls()); let it through with \
             RUST_LOG=tokio_pulse=warn (or a filter that enables tokio_pulse=warn)"
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
