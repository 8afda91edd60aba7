//! The recent slow-poll and stall events of each runtime, in a bounded ring.
//!
//! Every event that the rate limit lets through (see
//! [`EVENTS_PER_SECOND`](crate::EVENTS_PER_SECOND)) is kept here, whether or
//! not a [`PulseListener`](crate::PulseListener) is installed, so that a
//! viewer (`/pulse.json`, `tokio-pulse top`) can show what happened lately
//! without a listener of its own. Each runtime keeps its last
//! [`recent_capacity`] events ([`DEFAULT_RECENT_EVENTS`] unless
//! [`set_recent_capacity`] changed it); older ones are dropped.
//!
//! Recording takes one lock, on a path that already runs at most
//! [`EVENTS_PER_SECOND`](crate::EVENTS_PER_SECOND) times a second per
//! worker and only after a poll that was slow or stuck.

use std::collections::{HashMap, VecDeque};
use std::ops::Deref;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use crate::events::{SlowPoll, Stall};

/// How many events each runtime keeps by default.
pub const DEFAULT_RECENT_EVENTS: usize = 64;

static CAPACITY: AtomicUsize = AtomicUsize::new(DEFAULT_RECENT_EVENTS);

static RINGS: Mutex<Rings> = Mutex::new(Rings {
    next_seq: 1,
    by_runtime: None,
});

struct Rings {
    next_seq: u64,
    by_runtime: Option<HashMap<u64, VecDeque<Recent>>>,
}

/// One event of [`recent_events`]: what happened.
///
/// # Examples
///
/// See [`recent_events`].
#[derive(Clone, Debug)]
pub enum RecentEvent {
    /// A slow poll ended.
    SlowPoll(SlowPoll),
    /// A stall was detected (`ended == false`) or ended (`ended == true`).
    Stall(Stall),
}

impl RecentEvent {
    /// The event's runtime id.
    fn runtime_id(&self) -> u64 {
        match self {
            RecentEvent::SlowPoll(event) => event.runtime_id,
            RecentEvent::Stall(event) => event.runtime_id,
        }
    }
}

/// One event of [`recent_events`], with when it was recorded. Also a stall
/// report as the watchdog keeps it (`Recent<Stall>`, see
/// [`WorkerProbes::last_stall`](crate::WorkerProbes::last_stall)), with the
/// same `seq` and `at` as its entry in the ring. It dereferences to the
/// event.
///
/// # Examples
///
/// See [`recent_events`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recent<E = RecentEvent> {
    /// A number that grows with each event recorded in the process (over all
    /// runtimes), so that a reader can tell the events it has already seen.
    pub seq: u64,
    /// The wall-clock time it was recorded; `None` on a target without a
    /// clock (wasm32-unknown-unknown).
    pub at: Option<SystemTime>,
    /// The event.
    pub event: E,
}

impl<E> Deref for Recent<E> {
    type Target = E;
    fn deref(&self) -> &E {
        &self.event
    }
}

/// How many events each runtime keeps; see [`set_recent_capacity`].
///
/// # Examples
///
/// ```
/// assert!(tokio_pulse_probes::recent_capacity() > 0);
/// ```
pub fn recent_capacity() -> usize {
    CAPACITY.load(Ordering::Relaxed)
}

/// Sets how many events each runtime keeps (default
/// [`DEFAULT_RECENT_EVENTS`]); 0 keeps none. Rings already fuller than that
/// shrink at their next event.
///
/// # Examples
///
/// ```
/// tokio_pulse_probes::set_recent_capacity(128);
/// assert_eq!(tokio_pulse_probes::recent_capacity(), 128);
/// # tokio_pulse_probes::set_recent_capacity(tokio_pulse_probes::DEFAULT_RECENT_EVENTS);
/// ```
pub fn set_recent_capacity(events: usize) {
    CAPACITY.store(events, Ordering::Relaxed);
}

/// The recent events of the runtime with id `runtime_id`, oldest first; at
/// most [`recent_capacity`] of them. Empty for a runtime that had none, or
/// that is gone.
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(Some("quiet"), 1);
/// assert!(tokio_pulse_probes::recent_events(rt.id()).is_empty());
/// ```
pub fn recent_events(runtime_id: u64) -> Vec<Recent> {
    let rings = RINGS.lock().unwrap_or_else(PoisonError::into_inner);
    rings
        .by_runtime
        .as_ref()
        .and_then(|map| map.get(&runtime_id))
        .map(|ring| ring.iter().cloned().collect())
        .unwrap_or_default()
}

/// Keeps `event` in its runtime's ring, and returns its `seq` and time.
/// Every event gets them, kept or not (a capacity of 0 keeps none).
pub(crate) fn record(event: RecentEvent) -> (u64, Option<SystemTime>) {
    let capacity = recent_capacity();
    // Miri isolates the process from the wall clock; its runs check the
    // ring, not the time stamps.
    let at = (crate::sync::HAS_CLOCK && !cfg!(miri)).then(SystemTime::now);
    let runtime_id = event.runtime_id();
    let mut rings = RINGS.lock().unwrap_or_else(PoisonError::into_inner);
    let seq = rings.next_seq;
    rings.next_seq += 1;
    if capacity == 0 {
        return (seq, at);
    }
    let map = rings.by_runtime.get_or_insert_with(HashMap::new);
    if !map.contains_key(&runtime_id) {
        // A runtime's first event: forget the runtimes that are gone, so
        // that the rings never outnumber the live runtimes plus one.
        let live: Vec<u64> = crate::registry::runtimes().iter().map(|r| r.id()).collect();
        map.retain(|id, _| live.contains(id));
    }
    let ring = map.entry(runtime_id).or_default();
    while ring.len() >= capacity {
        ring.pop_front();
    }
    ring.push_back(Recent { seq, at, event });
    (seq, at)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::events::{PollEvent, TaskInfo};

    fn slow(runtime_id: u64, task: u64) -> RecentEvent {
        RecentEvent::SlowPoll(SlowPoll {
            poll: PollEvent {
                runtime: Arc::from("ring"),
                runtime_id,
                worker: 0,
                task: TaskInfo {
                    id: task,
                    spawned_at: None,
                },
                task_name: None,
                duration: Duration::from_millis(30),
                dropped_before: 0,
            },
        })
    }

    #[test]
    fn a_ring_keeps_the_last_events_of_its_live_runtime() {
        let (rt, _recorders) = crate::RuntimeProbes::new(Some("ring"), 1);
        for task in 0..(DEFAULT_RECENT_EVENTS as u64 + 10) {
            record(slow(rt.id(), task));
        }
        let events = recent_events(rt.id());
        assert_eq!(events.len(), DEFAULT_RECENT_EVENTS);
        let tasks: Vec<u64> = events
            .iter()
            .map(|recent| match &recent.event {
                RecentEvent::SlowPoll(event) => event.task.id,
                RecentEvent::Stall(event) => event.task.id,
            })
            .collect();
        assert_eq!(tasks.first(), Some(&10));
        assert_eq!(tasks.last(), Some(&(DEFAULT_RECENT_EVENTS as u64 + 9)));
        assert!(events.windows(2).all(|w| w[0].seq < w[1].seq));

        // A gone runtime's ring is dropped at the next new runtime's event.
        let gone = rt.id();
        drop(rt);
        let (other, _recorders) = crate::RuntimeProbes::new(Some("other"), 1);
        record(slow(other.id(), 1));
        assert!(recent_events(gone).is_empty());
        assert_eq!(recent_events(other.id()).len(), 1);
    }
}
