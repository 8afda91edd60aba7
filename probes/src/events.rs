//! Slow-poll and stall events, and the process-wide listener that gets them.
//!
//! This crate depends on nothing that logs. Events go to one listener that
//! the application installs (`tokio-pulse-rt` installs one that emits
//! `tracing` events). Without a listener, the events are still counted.

use std::fmt;
use std::panic::Location;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

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
    /// ([`BLOCK_ON_TASK_ID`](crate::BLOCK_ON_TASK_ID)): the future passed to
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
        self.id == crate::BLOCK_ON_TASK_ID
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

/// A poll that took at least the slow-poll threshold. Raised by the worker
/// right after the poll returns.
///
/// # Examples
///
/// See [`PulseListener`].
#[derive(Clone, Debug)]
pub struct SlowPoll {
    /// The runtime's name.
    pub runtime: Arc<str>,
    /// The runtime's id.
    pub runtime_id: u64,
    /// The worker index.
    pub worker: usize,
    /// The task.
    pub task: TaskInfo,
    /// The task's name, if it was spawned with one (see
    /// [`task_names`](crate::task_names)).
    pub task_name: Option<Arc<str>>,
    /// How long the poll took.
    pub duration: Duration,
    /// Slow-poll events the rate limit dropped on this worker since the last
    /// event it let through.
    pub dropped_before: u64,
}

/// A worker that has been inside one poll for longer than the stall
/// threshold. Raised by the watchdog while the poll is still running, then
/// once more when it ends.
///
/// # Examples
///
/// See [`PulseListener`].
#[derive(Clone, Debug)]
pub struct Stall {
    /// The runtime's name.
    pub runtime: Arc<str>,
    /// The runtime's id.
    pub runtime_id: u64,
    /// The worker index.
    pub worker: usize,
    /// The task being polled.
    pub task: TaskInfo,
    /// The task's name, if it was spawned with one (see
    /// [`task_names`](crate::task_names)).
    pub task_name: Option<Arc<str>>,
    /// How long the worker had been in the poll when this was raised: when
    /// `ended` is false, the time so far; when true, the poll's duration
    /// (exact if the watchdog saw the poll end, else within one period).
    pub duration: Duration,
    /// Whether the poll has ended.
    pub ended: bool,
}

/// Receives slow-poll and stall events. Called on the worker thread (slow
/// polls, at most a few per second per worker, see the rate limit) or on the
/// watchdog thread (stalls); keep it short and never block.
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
    LISTENER.set(listener)
}

pub(crate) fn listener() -> Option<&'static dyn PulseListener> {
    LISTENER.get().map(|boxed| &**boxed)
}
