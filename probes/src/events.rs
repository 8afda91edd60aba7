//! Slow-poll and stall events, and the process-wide listener that gets them.
//!
//! This crate depends on nothing that logs. Events go to one listener that
//! the application installs (`tokio-pulse-rt` installs one that emits
//! `tracing` events). Without a listener, the events are still counted.

use std::fmt;
use std::ops::Deref;
use std::panic::Location;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::recent::{Recent, RecentEvent};

/// A task that it is known to be, or was, running on a worker.
///
/// # Examples
///
/// ```
/// let task = tokio_pulse_probes::TaskInfo { id: 7, spawned_at: Some(std::panic::Location::caller()) };
/// assert!(task.to_string().starts_with("task 7 spawned at "));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// Tokio's task id (`tokio::task::Id`), as a number.
    pub id: u64,
    /// Where the task was spawned (`file:line:col` of the `spawn` call); for
    /// the `block_on` pseudo-task, the `block_on` call.
    pub spawned_at: Option<&'static Location<'static>>,
}

impl TaskInfo {
    /// Whether this is the `block_on` pseudo-task
    /// ([`BLOCK_ON_TASK_ID`](crate::timing::BLOCK_ON_TASK_ID)): the future passed to
    /// a current-thread runtime's `block_on`, which
    /// [`spawned_at`](Self::spawned_at) then locates by its `block_on` call.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{TaskInfo, BLOCK_ON_TASK_ID};
    ///
    /// let body = TaskInfo { id: BLOCK_ON_TASK_ID, spawned_at: Some(std::panic::Location::caller()) };
    /// assert!(body.is_block_on());
    /// assert!(body.to_string().starts_with("the block_on future at "));
    /// ```
    pub fn is_block_on(&self) -> bool {
        self.id == crate::timing::BLOCK_ON_TASK_ID
    }
}

impl fmt::Display for TaskInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_block_on() {
            return match self.spawned_at {
                Some(at) => write!(f, "the block_on future at {at}"),
                None => f.write_str("the block_on future"),
            };
        }
        match self.spawned_at {
            Some(at) => write!(f, "task {} spawned at {}", self.id, at),
            None => write!(f, "task {}", self.id),
        }
    }
}

/// What a slow-poll and a stall event share: where, which task, how long,
/// and what the rate limit dropped before it. [`SlowPoll`] and [`Stall`]
/// dereference to it, so `event.worker` reads the same on both.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio_pulse_probes::{PollEvent, Stall, TaskInfo};
///
/// let poll = PollEvent {
///     runtime: "web".into(),
///     runtime_id: 1,
///     worker: 2,
///     task: TaskInfo { id: 7, spawned_at: None },
///     task_name: None,
///     duration: Duration::from_millis(20),
///     dropped_before: 0,
/// };
/// let stall = Stall { poll, ended: false, details: Default::default() };
/// assert_eq!((stall.worker, stall.task.id), (2, 7));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PollEvent {
    /// The runtime's name.
    pub runtime: Arc<str>,
    /// The runtime's id.
    pub runtime_id: u64,
    /// The worker index.
    pub worker: usize,
    /// The task polled.
    pub task: TaskInfo,
    /// The task's name, if it was spawned with one (see
    /// [`task_names`](crate::task_names)).
    pub task_name: Option<Arc<str>>,
    /// How long the poll took: for a slow poll, the poll's duration; for a
    /// stall, see [`Stall`].
    pub duration: Duration,
    /// Events of this kind the rate limit dropped on this worker since the
    /// last one it let through (for stalls, both events of a stall go, or
    /// neither).
    pub dropped_before: u64,
}

/// A poll that took at least the slow-poll threshold. Raised by the worker
/// right after the poll returns.
///
/// # Examples
///
/// See [`PulseListener`].
#[derive(Clone, Debug)]
pub struct SlowPoll {
    /// The poll.
    pub poll: PollEvent,
}

/// A worker that has been inside one poll for longer than the stall
/// threshold. Raised by the watchdog while the poll is still running, then
/// once more when it ends.
///
/// Its [`duration`](PollEvent::duration) is how long the worker had been in
/// the poll when this was raised: when `ended` is false, the time so far;
/// when true, the poll's duration, as the worker timed it. Either is kept
/// within what the watchdog's own samples bound it to (give or take one
/// period), so that a clock read on different CPUs cannot inflate it.
///
/// # Examples
///
/// See [`PulseListener`] and [`PollEvent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stall {
    /// The poll.
    pub poll: PollEvent,
    /// Whether the poll has ended.
    pub ended: bool,
    /// Why it is stuck: the thread's stack, CPU share, state and syscall,
    /// and, for a starved driver, which one and for how long.
    pub details: crate::stall_report::StallDetails,
}

impl Deref for SlowPoll {
    type Target = PollEvent;
    fn deref(&self) -> &PollEvent {
        &self.poll
    }
}

impl Deref for Stall {
    type Target = PollEvent;
    fn deref(&self) -> &PollEvent {
        &self.poll
    }
}

/// Receives slow-poll and stall events. Called on the worker thread (slow
/// polls) or on the watchdog thread (stalls), at most
/// [`EVENTS_PER_SECOND`] of each kind per second per worker (the rest are
/// counted as dropped); keep it short and never block.
///
/// A listener that panics does not take the worker or the watchdog with it:
/// each call runs under `catch_unwind`, a panic is counted (see
/// [`PollTimeSnapshot::listener_panics`](crate::PollTimeSnapshot::listener_panics))
/// and the next event is delivered as usual. (Built with `panic = "abort"`, a panic still aborts.)
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{PulseListener, SlowPoll, Stall};
///
/// struct Print;
/// impl PulseListener for Print {
///     fn slow_poll(&self, event: &SlowPoll) {
///         eprintln!("{} worker {}: slow poll of {:?}: {}", event.runtime, event.worker, event.duration, event.task);
///     }
///     fn stall(&self, event: &Stall) {
///         eprintln!("{} worker {}: stalled {:?}: {}", event.runtime, event.worker, event.duration, event.task);
///     }
/// }
/// // An application would call `tokio_pulse_probes::set_listener(Box::new(Print))` once.
/// ```
pub trait PulseListener: Send + Sync + 'static {
    /// A slow poll ended.
    fn slow_poll(&self, event: &SlowPoll);
    /// A stall was detected (`ended == false`) or ended (`ended == true`).
    fn stall(&self, event: &Stall);
    /// A runtime was built without a `TOKIO_PULSE_*` variable or a
    /// [`PulseConfig`](crate::PulseConfig) setting it could not use (see
    /// [`PulseConfig::resolve_or_report`](crate::PulseConfig::resolve_or_report)).
    /// Called once per warning, on the thread building the runtime, or at
    /// [`set_listener`] for the warnings reported before it. The default
    /// does nothing: the warning is already on stderr.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{ConfigWarning, PulseListener, SlowPoll, Stall};
    ///
    /// struct Log;
    /// impl PulseListener for Log {
    ///     fn slow_poll(&self, _: &SlowPoll) {}
    ///     fn stall(&self, _: &Stall) {}
    ///     fn config_warning(&self, warning: &ConfigWarning) {
    ///         eprintln!("{warning}");
    ///     }
    /// }
    /// ```
    fn config_warning(&self, warning: &crate::config::ConfigWarning) {
        let _ = warning;
    }
}

static LISTENER: OnceLock<Box<dyn PulseListener>> = OnceLock::new();

/// Installs the process-wide listener. Only the first call succeeds; later
/// calls get their listener back.
///
/// # Errors
///
/// The listener passed in, when one is already installed.
///
/// # Examples
///
/// ```
/// # use tokio_pulse_probes::{PulseListener, SlowPoll, Stall};
/// struct Quiet;
/// impl PulseListener for Quiet {
///     fn slow_poll(&self, _: &SlowPoll) {}
///     fn stall(&self, _: &Stall) {}
/// }
/// let first = tokio_pulse_probes::set_listener(Box::new(Quiet));
/// let second = tokio_pulse_probes::set_listener(Box::new(Quiet));
/// assert!(first.is_ok() && second.is_err());
/// ```
pub fn set_listener(listener: Box<dyn PulseListener>) -> Result<(), Box<dyn PulseListener>> {
    LISTENER.set(listener)?;
    // Configuration warnings of runtimes built before the listener.
    crate::config::deliver_config_warnings();
    Ok(())
}

pub(crate) fn listener() -> Option<&'static dyn PulseListener> {
    LISTENER.get().map(|boxed| &**boxed)
}

/// Whether a call into the listener went through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// No listener is installed.
    NoListener,
    /// The listener returned.
    Delivered,
    /// The listener panicked; the panic was caught.
    Panicked,
}

/// Keeps a slow poll in its runtime's ring of [recent
/// events](crate::recent_events), then hands it to the listener, if one is
/// installed (see [`call_listener`]).
pub(crate) fn deliver_slow_poll(event: &SlowPoll) -> Delivery {
    crate::recent::record(RecentEvent::SlowPoll(event.clone()));
    call_listener(|listener| listener.slow_poll(event))
}

/// Keeps a stall report in its runtime's ring, and returns it as recorded:
/// with the `seq` and time of its entry there. The caller keeps it as the
/// last report, then hands it to the listener with [`call_listener`].
pub(crate) fn record_stall(event: &Stall) -> Arc<Recent<Stall>> {
    let (seq, at) = crate::recent::record(RecentEvent::Stall(event.clone()));
    Arc::new(Recent {
        seq,
        at,
        event: event.clone(),
    })
}

/// Calls `call` with the listener, if one is installed, catching a panic so
/// that a faulty listener never unwinds into a worker or the watchdog.
pub(crate) fn call_listener(call: impl FnOnce(&dyn PulseListener)) -> Delivery {
    let Some(listener) = listener() else {
        return Delivery::NoListener;
    };
    // The listener sees only the event, which the caller drops afterwards,
    // and whatever state the listener keeps itself: nothing of ours is left
    // half-updated by an unwind.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| call(listener))) {
        Ok(()) => Delivery::Delivered,
        Err(_) => Delivery::Panicked,
    }
}

/// Slow-poll events, and stalls, that one worker may send per second; the
/// rest are counted as dropped.
pub const EVENTS_PER_SECOND: u32 = 10;

/// A per-worker rate limit of [`EVENTS_PER_SECOND`] events per one-second
/// window, on a caller's clock (its ticks per second given at creation).
/// Used by the worker for slow polls and by the watchdog for stalls; each
/// limiter has one owner, so it needs no synchronization.
#[derive(Debug)]
pub(crate) struct EventLimiter {
    window_start: u64,
    window_ticks: u64,
    sent: u32,
    /// Events refused since the last one admitted.
    pub(crate) dropped_since_sent: u64,
}

impl EventLimiter {
    /// A limiter whose window is `ticks_per_second` ticks long.
    pub(crate) fn new(ticks_per_second: u64) -> EventLimiter {
        EventLimiter {
            window_start: 0,
            window_ticks: ticks_per_second.max(1),
            sent: 0,
            dropped_since_sent: 0,
        }
    }

    /// Whether an event at `now` may go out; counts it either way.
    pub(crate) fn admit(&mut self, now: u64) -> bool {
        if now.wrapping_sub(self.window_start) >= self.window_ticks {
            self.window_start = now;
            self.sent = 0;
        }
        if self.sent < EVENTS_PER_SECOND {
            self.sent += 1;
            true
        } else {
            self.dropped_since_sent += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{EventLimiter, EVENTS_PER_SECOND};

    #[test]
    fn the_limiter_admits_a_burst_per_window() {
        let mut limiter = EventLimiter::new(1_000);
        let admitted = (0..25).filter(|&t| limiter.admit(t)).count();
        assert_eq!(admitted, EVENTS_PER_SECOND as usize);
        assert_eq!(
            limiter.dropped_since_sent,
            25 - u64::from(EVENTS_PER_SECOND)
        );
        // A new window admits again.
        assert!(limiter.admit(1_000));
    }
}
