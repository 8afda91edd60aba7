//! Where a task is scheduled and taken from, and its schedule-latency wait.

use crate::clock;
use crate::events::TaskInfo;
use crate::fork::STAMP_TSC;
use crate::kinds::ScheduleKind;
use crate::timing::schedule::{Row, ScheduleSource};
use crate::timing::{self, Timing};
use crate::worker::WorkerProbes;

use super::WorkerRecorder;

impl WorkerRecorder {
    /// The scheduler has taken a task from `source`: the LIFO slot, a
    /// steal, or the inject queue. It names where the next
    /// [`poll_started_stamped`](Self::poll_started_stamped)'s task came
    /// from; a poll with no call before it counts its task as taken from the
    /// local queue, so that the commonest dequeue costs nothing. Call it
    /// only once a task is in hand (a source named for a search that found
    /// nothing would be charged to the next poll). One store.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, ScheduleSource, TaskInfo};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// let worker = &mut recorders[0];
    /// worker.busy_started_at(10);
    /// worker.took(ScheduleSource::Inject);
    /// // Scheduled at tick 4, polled from the batch start at tick 10.
    /// worker.poll_started_stamped(|| TaskInfo { id: 1, spawned_at: None }, || 4);
    /// worker.poll_ended_at(20);
    /// let latency = rt.snapshot().workers[0].schedule_latency.clone().unwrap();
    /// assert_eq!(latency.source(ScheduleSource::Inject).tasks(), 1);
    /// ```
    #[inline(always)]
    pub fn took(&mut self, source: ScheduleSource) {
        self.source = Row::of(source);
    }

    /// A task is being scheduled by the thread holding this worker's core:
    /// like [`RuntimeWriter::schedule_stamp`](crate::fork::RuntimeWriter::schedule_stamp),
    /// from the recorder the core already has at hand (`None`, and no clock
    /// read, with poll timing or schedule latency off).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{fork, PulseConfig};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (_writer, mut recorders) = fork::with_settings(None, 1, &settings);
    /// assert!(recorders[0].schedule_stamp().is_some_and(|stamp| stamp > 0));
    /// ```
    #[inline(always)]
    pub fn schedule_stamp(&self) -> Option<u64> {
        // One compare with `STAMP_TSC`: below is off, equal the TSC.
        if self.stamp < STAMP_TSC {
            return None;
        }
        // Every schedule is stamped and every stamped poll recorded, so a
        // stamp needs no mark of its own (such as a set low bit) to tell it
        // from none.
        Some(if self.stamp == STAMP_TSC {
            clock::tsc_now()
        } else {
            self.other_stamp()
        })
    }

    /// [`schedule_stamp`](Self::schedule_stamp) on a clock that is not the
    /// TSC, out of line.
    #[cold]
    #[inline(never)]
    fn other_stamp(&self) -> u64 {
        self.timing.as_ref().map_or(1, Timing::stamp)
    }

    /// [`poll_started`](Self::poll_started) for a task whose schedule
    /// stamp `scheduled_at` returns (the reading of
    /// [`RuntimeWriter::schedule_stamp`](crate::fork::RuntimeWriter::schedule_stamp)
    /// or [`schedule_stamp`](Self::schedule_stamp) kept in the task). With
    /// poll timing and schedule latency on, the wait from the stamp to this
    /// poll's start (the mark: no clock read) goes into the
    /// schedule-latency histogram of the source named by
    /// [`took`](Self::took) since the last poll ([`ScheduleSource::Local`]
    /// if none). `task` runs only with timing on, `scheduled_at` only with
    /// schedule latency on too (every schedule is then stamped).
    ///
    /// # Examples
    ///
    /// See [`took`](Self::took).
    #[inline(always)]
    pub fn poll_started_stamped(
        &mut self,
        task: impl FnOnce() -> TaskInfo,
        scheduled_at: impl FnOnce() -> u64,
    ) {
        let probes = &*self.probes;
        probes.polls[0].add(1);
        if let Some(timing) = &self.timing {
            timing::publish_start(&probes.timing, task());
            // A poll whose task nobody named came from the local queue: the
            // scheduler names only the other sources, so that the commonest
            // dequeue stores nothing.
            let row = std::mem::replace(&mut self.source, Row::of(ScheduleSource::Local));
            if self.stamp >= STAMP_TSC {
                record_wait(probes, timing, row, scheduled_at());
            }
        }
    }

    /// [`lifo_poll_started`](Self::lifo_poll_started) with the task's
    /// schedule stamp; see [`poll_started_stamped`](Self::poll_started_stamped).
    /// The source is [`ScheduleSource::Lifo`].
    ///
    /// # Examples
    ///
    /// See [`took`](Self::took).
    #[inline(always)]
    pub fn lifo_poll_started_stamped(
        &mut self,
        task: impl FnOnce() -> TaskInfo,
        scheduled_at: impl FnOnce() -> u64,
    ) {
        let probes = &*self.probes;
        probes.polls[1].add(1);
        if let Some(timing) = &self.timing {
            timing::publish_start(&probes.timing, task());
            if self.stamp >= STAMP_TSC {
                let row = Row::of(ScheduleSource::Lifo);
                record_wait(probes, timing, row, scheduled_at());
            }
        }
    }

    /// A task was scheduled by the thread holding this worker's core, into
    /// the LIFO slot (`lifo == true`) or onto the back of the local queue.
    #[inline(always)]
    pub fn scheduled_local(&mut self, kind: ScheduleKind, lifo: bool) {
        self.probes.scheduled[kind as usize][lifo as usize].add(1);
    }
}

/// Records the wait of the task whose poll starts now (at the mark), stamped
/// at `stamp`, in the source's `row`.
#[inline(always)]
fn record_wait(probes: &WorkerProbes, timing: &Timing, row: Row, stamp: u64) {
    let start = probes.timing.own_mark();
    probes
        .timing
        .schedule
        .record(timing.clock(), row, stamp, start);
}
