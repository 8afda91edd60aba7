//! What the probes count by: why a task was scheduled, why it yielded, and
//! how it reached the inject queue. Tokio passes these to the probes, which
//! index counter arrays by them instead of branching.

/// Why a task was made runnable. Tokio passes it to each schedule probe so
/// that one counter array separates spawns from wakes without a branch.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::ScheduleKind;
///
/// assert_ne!(ScheduleKind::Spawn, ScheduleKind::Wake);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ScheduleKind {
    /// The first schedule of a newly spawned task.
    Spawn = 0,
    /// A waker was invoked for a task that was not running.
    Wake = 1,
    /// A task woke itself while it was being polled, so the scheduler puts it
    /// at the back of a queue once the poll returns (Tokio's
    /// `Schedule::yield_now`).
    SelfWake = 2,
}

impl ScheduleKind {
    pub(crate) const COUNT: usize = 3;
}

/// Why a running task gave its worker back through the deferred-wake list.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::YieldReason;
///
/// assert_eq!(YieldReason::YieldNow as usize, 0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum YieldReason {
    /// The task called `tokio::task::yield_now()`.
    YieldNow = 0,
    /// The task ran out of cooperative budget (`tokio::task::coop`).
    Budget = 1,
}

impl YieldReason {
    pub(crate) const COUNT: usize = 2;
}

/// What reached a runtime's inject queue from a thread that did not hold a
/// core of that runtime (or, for [`Overflow`](RemoteKind::Overflow), from a
/// worker that found its local queue full while it was being stolen from).
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{RemoteKind, ScheduleKind};
///
/// assert_eq!(RemoteKind::from(ScheduleKind::Spawn), RemoteKind::Spawn);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum RemoteKind {
    /// A task spawned from outside the runtime's workers.
    Spawn = 0,
    /// A task woken from outside the runtime's workers.
    Wake = 1,
    /// A task that woke itself while being polled on a thread that had given
    /// up its core (inside `block_in_place`).
    SelfWake = 2,
    /// A single task pushed to the inject queue because the worker's local
    /// queue was full while another worker was stealing from it. It was
    /// already counted once as a local schedule.
    Overflow = 3,
}

impl RemoteKind {
    pub(crate) const COUNT: usize = 4;
}

impl From<ScheduleKind> for RemoteKind {
    #[inline(always)]
    fn from(kind: ScheduleKind) -> RemoteKind {
        match kind {
            ScheduleKind::Spawn => RemoteKind::Spawn,
            ScheduleKind::Wake => RemoteKind::Wake,
            ScheduleKind::SelfWake => RemoteKind::SelfWake,
        }
    }
}
