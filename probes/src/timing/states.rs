//! Worker states: where a worker's time goes, poll timing on.
//!
//! A worker is in exactly one state from its first batch on, and every
//! interval of its time is charged to one state, so the states add up to the
//! worker's wall time since it started. A state change is charged at a clock
//! reading the recorder has anyway (a batch start, the end of the last poll)
//! or, at the rarer changes (park, unpark, a driver turn, maintenance, a
//! core hand-off), at one new reading. Nothing per poll.
//!
//! # Definitions (multi-thread scheduler)
//!
//! - **poll**: from the start of a batch of polls to the end of its last
//!   poll; the poll-time sum, as [`PollTimeSnapshot::poll_time`](crate::PollTimeSnapshot::poll_time),
//!   but for a poll whose core `block_in_place` handed away (that time is
//!   `blocking` here, and in the poll that called it there).
//! - **search**: from the end of a batch's last poll until the worker polls,
//!   parks or turns the driver: failed local and inject pops, steal
//!   attempts, successful or not, and the last inject check.
//! - **driver**: the worker's own non-sleeping driver turns
//!   (`park_timeout(0)`): every `event_interval` ticks, and when deferred
//!   wakers wait before a park.
//! - **park**: the sleeping park, from the park call until it returns. A
//!   worker that parks on the driver (holding it) waits for I/O and timers
//!   in there, and dispatches what woke it: that turn is part of the park,
//!   since it is how a sleeping worker waits.
//! - **maintenance**: the scheduler's bookkeeping that is no poll: the
//!   maintenance after a driver turn or a park (stats, shutdown and trace
//!   checks), waking a sibling worker, waiting for a task dump.
//! - **blocking**: the worker's core handed away by `block_in_place`, until
//!   a thread runs it again (the blocking thread taking it back, or a new
//!   worker thread picking it up).

use std::time::Duration;

use crate::clock::Clock;
use crate::counter::Counter;
use crate::delta::delta_by_field;
use crate::sync::{fence, AtomicU64, Ordering};

/// One state of a worker; the `state` label of
/// `tokio_pulse_worker_state_seconds_total`. See the module docs of
/// `timing::states` for the definitions.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::WorkerState;
///
/// assert_eq!(WorkerState::Search.label(), "search");
/// assert_eq!(WorkerState::ALL.len(), WorkerState::COUNT);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum WorkerState {
    /// Polling tasks (a batch, from its start to its last poll's end).
    Poll = 0,
    /// The worker's own non-sleeping driver turns.
    Driver = 1,
    /// Looking for work: failed pops, steal attempts.
    Search = 2,
    /// The sleeping park.
    Park = 3,
    /// Scheduler bookkeeping that is no poll.
    Maintenance = 4,
    /// The core handed away by `block_in_place`.
    Blocking = 5,
}

impl WorkerState {
    /// How many states there are.
    pub const COUNT: usize = 6;
    /// Every state, in index order.
    pub const ALL: [WorkerState; WorkerState::COUNT] = [
        WorkerState::Poll,
        WorkerState::Driver,
        WorkerState::Search,
        WorkerState::Park,
        WorkerState::Maintenance,
        WorkerState::Blocking,
    ];

    /// The label value used by the exporters.
    ///
    /// # Examples
    ///
    /// See [`WorkerState`].
    pub fn label(self) -> &'static str {
        match self {
            WorkerState::Poll => "poll",
            WorkerState::Driver => "driver",
            WorkerState::Search => "search",
            WorkerState::Park => "park",
            WorkerState::Maintenance => "maintenance",
            WorkerState::Blocking => "blocking",
        }
    }

    fn from_index(index: u64) -> WorkerState {
        WorkerState::ALL[(index as usize).min(WorkerState::COUNT - 1)]
    }
}

/// The published side: time per state in clock ticks, and the open
/// interval (state and start), under a sequence lock the worker alone
/// writes (odd while it writes).
#[derive(Debug)]
pub(crate) struct StateProbes {
    seq: AtomicU64,
    ticks: [Counter; WorkerState::COUNT],
    current: AtomicU64,
    since: AtomicU64,
    /// The reading the worker's first state started at; zero before.
    started: AtomicU64,
}

impl Default for StateProbes {
    fn default() -> StateProbes {
        StateProbes {
            seq: AtomicU64::new(0),
            ticks: std::array::from_fn(|_| Counter::new()),
            current: AtomicU64::new(0),
            since: AtomicU64::new(0),
            started: AtomicU64::new(0),
        }
    }
}

/// The recorder's private side.
#[derive(Debug)]
pub(crate) struct StateClock {
    /// A `WorkerState`, not its index: the compiler then knows the index
    /// is in range, and indexing `StateProbes::ticks` needs no check.
    state: WorkerState,
    since: u64,
    started: bool,
}

impl Default for StateClock {
    fn default() -> StateClock {
        StateClock {
            state: WorkerState::Poll,
            since: 0,
            started: false,
        }
    }
}

impl StateClock {
    /// Charges the time since the last change, up to `now`, to the current
    /// state, and enters `next` at `now`. A `now` before the last change (a
    /// mark older than a later reading, or a TSC read on another CPU) charges
    /// nothing and keeps the later start, so time is never counted twice.
    #[inline]
    pub(crate) fn switch(&mut self, probes: &StateProbes, now: u64, next: WorkerState) {
        let seq = probes.seq.load(Ordering::Relaxed);
        probes.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        if self.started {
            probes.ticks[self.state as usize].add(now.saturating_sub(self.since));
        } else {
            self.started = true;
            probes.started.store(now.max(1), Ordering::Relaxed);
        }
        self.state = next;
        self.since = self.since.max(now);
        probes.current.store(self.state as u64, Ordering::Relaxed);
        probes.since.store(self.since, Ordering::Relaxed);
        probes.seq.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// The worker has stopped (its recorder is dropped): the current state
    /// is charged up to `now`, and nothing after it.
    pub(crate) fn stop(&mut self, probes: &StateProbes, now: u64) {
        if !self.started {
            return;
        }
        let state = self.state;
        self.switch(probes, now, state);
        let seq = probes.seq.load(Ordering::Relaxed);
        probes.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        probes.current.store(STOPPED, Ordering::Relaxed);
        probes.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

/// The published `current` of a worker that has stopped.
const STOPPED: u64 = u64::MAX;

/// One worker's time per state since its first batch (poll timing on),
/// read live: the state it is in now is charged up to the reading.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, WorkerState};
///
/// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
/// let (rt, _recorders) = RuntimeProbes::with_settings(None, 1, &settings);
/// let states = rt.snapshot().workers[0].states.clone().unwrap();
/// assert_eq!(states.state(WorkerState::Park), std::time::Duration::ZERO);
/// assert_eq!(states.total(), std::time::Duration::ZERO);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WorkerStatesSnapshot {
    /// Time per state, in [`WorkerState::ALL`] order.
    pub time: [Duration; WorkerState::COUNT],
    /// The worker's wall time since its first batch, up to the reading the
    /// open state was charged to; the states add up to it. A delta keeps
    /// the difference.
    pub wall: Duration,
    /// The state the worker was in at the reading, `None` before it
    /// started and after it stopped. A gauge: a delta keeps the later
    /// value.
    pub current: Option<WorkerState>,
}

impl WorkerStatesSnapshot {
    pub(crate) fn read(probes: &StateProbes, clock: Clock) -> WorkerStatesSnapshot {
        for _ in 0..64 {
            let seq = probes.seq.load(Ordering::Acquire);
            if seq & 1 == 1 {
                std::hint::spin_loop();
                continue;
            }
            let mut ticks: [u64; WorkerState::COUNT] =
                std::array::from_fn(|k| probes.ticks[k].get());
            let current = probes.current.load(Ordering::Relaxed);
            let since = probes.since.load(Ordering::Relaxed);
            let started = probes.started.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if probes.seq.load(Ordering::Relaxed) != seq {
                continue;
            }
            if started == 0 {
                return WorkerStatesSnapshot::default();
            }
            let ns = |t: u64| Duration::from_nanos(clock.ticks_to_ns(t));
            if current == STOPPED {
                return WorkerStatesSnapshot {
                    time: ticks.map(ns),
                    wall: ns(since.saturating_sub(started)),
                    current: None,
                };
            }
            let now = clock.now().max(since);
            let state = WorkerState::from_index(current);
            ticks[state as usize] += now - since;
            return WorkerStatesSnapshot {
                time: ticks.map(ns),
                wall: ns(now.saturating_sub(started)),
                current: Some(state),
            };
        }
        // The worker changes state faster than we can read: report what is
        // closed, without the open interval.
        let ns = |t: u64| Duration::from_nanos(clock.ticks_to_ns(t));
        let time: [Duration; WorkerState::COUNT] =
            std::array::from_fn(|k| ns(probes.ticks[k].get()));
        WorkerStatesSnapshot {
            wall: time.iter().sum(),
            time,
            current: None,
        }
    }

    /// Time in `state`.
    ///
    /// # Examples
    ///
    /// See [`WorkerStatesSnapshot`].
    pub fn state(&self, state: WorkerState) -> Duration {
        self.time[state as usize]
    }

    /// Time in all states.
    ///
    /// # Examples
    ///
    /// See [`WorkerStatesSnapshot`].
    pub fn total(&self) -> Duration {
        self.time.iter().sum()
    }
}

impl crate::delta::Delta for [Duration; WorkerState::COUNT] {
    fn since(&self, earlier: &Self) -> Self {
        std::array::from_fn(|k| self[k].since(&earlier[k]))
    }
}

delta_by_field!(WorkerStatesSnapshot {
    time: since,
    wall: since,
    current: later,
});
