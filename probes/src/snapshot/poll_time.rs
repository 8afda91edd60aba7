//! One worker's poll timing, as plain data.

use std::time::Duration;

use crate::clock::tier::TIERS;
use crate::clock::Clock;
use crate::delta::delta_by_field;
use crate::worker::WorkerProbes;

/// One worker's poll timing, present only when the runtime times polls.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{PulseConfig, RuntimeProbes};
///
/// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
/// let (rt, _recorders) = RuntimeProbes::with_settings(None, 1, &settings);
/// let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
/// assert_eq!(timing.polls(), 0);
/// assert_eq!(timing.current_poll, None);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PollTimeSnapshot {
    /// Polls per duration tier; see [`tier`](crate::tier) for the bounds.
    /// A poll is counted when the worker's next poll ends, or when its batch
    /// ends (before the worker steals, parks or runs maintenance), so the
    /// tiers trail by at most one poll per worker. Every poll counted in
    /// [`WorkerSnapshot::polls`](crate::WorkerSnapshot::polls) is timed: between batches the tiers add up
    /// to it. A current-thread runtime's `block_on` future is not a task and
    /// is in neither (see [`BLOCK_ON_TASK_ID`](crate::BLOCK_ON_TASK_ID)).
    pub tiers: [u64; TIERS],
    /// The sum of all poll durations. Each poll's duration runs from the end
    /// of the one before it in its batch (or the batch's start), so it
    /// includes the scheduler's work of picking it. Added once per batch
    /// (at the latest every 61 scheduler ticks, when the worker runs
    /// maintenance) and at the end of every slow poll or stall, so it can
    /// trail [`tiers`](Self::tiers) by one batch. Task polls only: the
    /// polls of a current-thread runtime's `block_on` future are not in it.
    pub poll_time: Duration,
    /// Time spent processing tasks, from the start of each batch of polls
    /// (after a park or maintenance) to the end of its last poll: what
    /// Tokio's `worker_total_busy_duration` measures, between the same two
    /// points of the worker loop. Polls run back to back from the batch's
    /// start, so this is the same counter as
    /// [`poll_time`](Self::poll_time), read once per snapshot for both: the
    /// two are always equal, in a snapshot and in a delta.
    ///
    /// Kept, under Tokio's name, for dashboards written against Tokio's
    /// metrics (a busy ratio is `rate(busy) / 1 s`), though it adds no
    /// information to `poll_time`; an exporter may send either one.
    pub busy_time: Duration,
    /// Polls that took at least the slow-poll threshold, the polls of a
    /// current-thread runtime's `block_on` future included (their events
    /// name the pseudo-task `block_on`), so this can exceed the slow tiers.
    pub slow_polls: u64,
    /// Slow-poll events the per-worker rate limit did not send (the polls
    /// are still in [`slow_polls`](Self::slow_polls)).
    pub slow_poll_events_dropped: u64,
    /// Stalls the watchdog detected on this worker, whether or not their
    /// events went out, stuck `block_on` bodies of a current-thread runtime
    /// included.
    pub stalls: u64,
    /// Stalls of [`stalls`](Self::stalls) whose events the per-worker rate
    /// limit did not send: neither the start nor the end event of such a
    /// stall goes out.
    pub stall_events_dropped: u64,
    /// Times the installed [`PulseListener`](crate::PulseListener)
    /// panicked on an event from this worker (a slow poll or a stall). The
    /// panic is caught; the worker and the watchdog carry on.
    pub listener_panics: u64,
    /// How long the worker had been inside its current poll when the
    /// snapshot was taken; `None` between polls. A gauge: a delta keeps the
    /// later value.
    pub current_poll: Option<Duration>,
}

impl PollTimeSnapshot {
    pub(super) fn read(worker: &WorkerProbes, clock: Clock) -> PollTimeSnapshot {
        let timing = &worker.timing;
        let current_poll = timing.current().map(|poll| {
            Duration::from_nanos(clock.ticks_to_ns(clock.now().saturating_sub(poll.started)))
        });
        // One counter, read once: poll time and busy time are equal.
        let poll_time = Duration::from_nanos(clock.ticks_to_ns(timing.poll_ticks()));
        let (slow_polls, slow_poll_events_dropped) = timing.slow_polls();
        let (stalls, stall_events_dropped) = timing.stalls();
        PollTimeSnapshot {
            tiers: timing.tiers(),
            poll_time,
            busy_time: poll_time,
            slow_polls,
            slow_poll_events_dropped,
            stalls,
            stall_events_dropped,
            listener_panics: timing.listener_panics(),
            current_poll,
        }
    }

    /// Polls timed, all tiers.
    ///
    /// # Examples
    ///
    /// See [`PollTimeSnapshot`].
    pub fn polls(&self) -> u64 {
        self.tiers.iter().sum()
    }
}

delta_by_field!(PollTimeSnapshot {
    tiers: since,
    poll_time: since,
    busy_time: since,
    slow_polls: since,
    slow_poll_events_dropped: since,
    stalls: since,
    stall_events_dropped: since,
    listener_panics: since,
    current_poll: later,
});
