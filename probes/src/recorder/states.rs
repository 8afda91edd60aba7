//! Batches and the worker's states: busy, search, driver, maintenance, blocking, park.

use crate::timing::states::WorkerState;

use super::WorkerRecorder;

impl WorkerRecorder {
    /// The worker starts a batch of polls: after a park, after maintenance,
    /// or when a thread picks up the worker's core. With poll timing on,
    /// this reads the clock, so that the next poll is not charged for the
    /// time before it, and ends a poll left open by a core hand-off (a
    /// `block_in_place`, whose thread gives the core away mid-poll and never
    /// ends the poll): that poll held the worker until this reading, and is
    /// timed and counted up to it, so that every poll counted is timed.
    #[inline]
    pub fn busy_started(&mut self) {
        self.batches = self.batches.wrapping_add(1);
        if let Some(timing) = &self.timing {
            let now = timing.now();
            self.restart_clock_at(now);
            self.switch_state(now, WorkerState::Poll);
        }
    }

    /// The worker did scheduler work after the last poll ended or its batch
    /// started, and is about to poll: it woke a sibling worker (a futex or
    /// `eventfd` syscall), or waited for the other workers to take a task
    /// dump. With poll timing on, this reads the clock, like
    /// [`busy_started`](Self::busy_started), so that the next poll is not
    /// charged for that work; the work is in no poll and in no busy time.
    /// Tokio calls it only on those paths, never once per poll.
    #[inline]
    pub fn scheduler_work_done(&mut self) {
        if let Some(timing) = &self.timing {
            let now = timing.now();
            // Polls up to the last mark, scheduler work since.
            let mark = self.probes.timing.own_mark();
            self.switch_state(mark, WorkerState::Maintenance);
            self.restart_clock_at(now);
            self.switch_state(now, WorkerState::Poll);
        }
    }

    /// [`busy_started`](Self::busy_started) at an explicit clock reading.
    ///
    /// # Examples
    ///
    /// See [`poll_ended_at`](Self::poll_ended_at).
    pub fn busy_started_at(&mut self, now: u64) {
        self.batches = self.batches.wrapping_add(1);
        self.restart_clock_at(now);
        self.switch_state(now, WorkerState::Poll);
    }

    /// Makes `now` the next poll's start, with poll timing on: counts what
    /// is pending and closes a poll left open, as a batch start does.
    fn restart_clock_at(&mut self, now: u64) {
        if let Some(timing) = &mut self.timing {
            timing.restart_at(&self.probes.timing, now);
        }
    }

    /// The worker ran out of tasks to poll (it is about to steal, park or
    /// run maintenance). With poll timing on, counts the last poll's tier
    /// and adds the batch, from its start to the end of its last poll, to the
    /// poll-time sum (which is also busy time). That end is the last mark,
    /// so this reads no clock: a batch of `n` polls costs `n + 1` reads.
    ///
    /// # Examples
    ///
    /// See [`busy_started`](Self::busy_started).
    #[inline]
    pub fn busy_ended(&mut self) {
        if let Some(timing) = &mut self.timing {
            timing.flush(&self.probes.timing);
            // The batch ended with its last poll: what follows, until the
            // worker polls, parks or turns the driver, is looking for work.
            let mark = self.probes.timing.own_mark();
            self.switch_state(mark, WorkerState::Search);
        }
    }

    /// With poll timing on, charges the time since the worker's last state
    /// change, up to `now`, to that state, and enters `next`.
    #[inline]
    fn switch_state(&mut self, now: u64, next: WorkerState) {
        if self.timing.is_some() {
            self.states.switch(&self.probes.timing.states, now, next);
        }
    }

    /// With poll timing on, reads the clock and enters `next`.
    #[inline]
    fn switch_state_now(&mut self, next: WorkerState) {
        if let Some(timing) = &self.timing {
            let now = timing.now();
            self.states.switch(&self.probes.timing.states, now, next);
        }
    }

    /// The worker turns its driver without sleeping (`park_timeout(0)`:
    /// maintenance, or deferred wakers before a park). With poll timing on,
    /// one clock read: the worker enters the `driver` state.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, WorkerState};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started();
    /// recorders[0].busy_ended();
    /// recorders[0].driver_turn_started();
    /// recorders[0].maintenance_started();
    /// let states = rt.snapshot().workers[0].states.clone().unwrap();
    /// assert_eq!(states.current, Some(WorkerState::Maintenance));
    /// // Equal but for rounding each state to whole nanoseconds.
    /// assert!(states.total().abs_diff(states.wall).as_nanos() < 10);
    /// ```
    #[inline]
    pub fn driver_turn_started(&mut self) {
        self.switch_state_now(WorkerState::Driver);
    }

    /// The worker starts its regular maintenance after a driver turn. With
    /// poll timing on, one clock read: the worker enters `maintenance`.
    ///
    /// # Examples
    ///
    /// See [`driver_turn_started`](Self::driver_turn_started).
    #[inline]
    pub fn maintenance_started(&mut self) {
        self.switch_state_now(WorkerState::Maintenance);
    }

    /// `block_in_place` is handing this worker's core to another thread.
    /// With poll timing on, one clock read: the worker enters `blocking`
    /// until a thread runs the core again ([`busy_started`](Self::busy_started)
    /// or [`core_taken_back`](Self::core_taken_back)).
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes, WorkerState};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// recorders[0].busy_started();
    /// recorders[0].core_handed_off();
    /// let states = rt.snapshot().workers[0].states.clone().unwrap();
    /// assert_eq!(states.current, Some(WorkerState::Blocking));
    /// recorders[0].core_taken_back();
    /// ```
    #[inline]
    pub fn core_handed_off(&mut self) {
        self.switch_state_now(WorkerState::Blocking);
    }

    /// The thread that handed the core away in `block_in_place` took it
    /// back, inside the poll that called it: with poll timing on, one clock
    /// read, and the worker is polling again.
    ///
    /// # Examples
    ///
    /// See [`core_handed_off`](Self::core_handed_off).
    #[inline]
    pub fn core_taken_back(&mut self) {
        self.switch_state_now(WorkerState::Poll);
    }

    /// The worker is about to park.
    #[inline(always)]
    pub fn parked(&mut self) {
        self.probes.parks.add(1);
        self.switch_state_now(WorkerState::Park);
    }

    /// The worker returned from a park. `had_driver`: the park turned the
    /// drivers (I/O, timers); with poll timing on, that is recorded with a
    /// clock reading, for the watchdog's starved-driver check and
    /// `tokio_pulse_driver_last_turn_age_seconds`. Once per park, never per
    /// poll.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{fork, PulseConfig};
    ///
    /// let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    /// let (writer, mut recorders) = fork::with_settings(None, 1, &settings);
    /// std::thread::sleep(std::time::Duration::from_millis(20));
    /// // Not turned yet: the age is the runtime's.
    /// let built = writer.probes().snapshot().driver_last_turn_age.unwrap();
    /// recorders[0].driver_turned(true);
    /// let turned = writer.probes().snapshot().driver_last_turn_age.unwrap();
    /// assert!(turned < built, "{turned:?} {built:?}");
    /// ```
    #[inline]
    pub fn driver_turned(&mut self, had_driver: bool) {
        if let (true, Some(timing)) = (had_driver, &self.timing) {
            self.probes.driver.record(timing.now());
        }
    }

    /// The worker returned from a park.
    #[inline(always)]
    pub fn unparked(&mut self) {
        self.probes.unparks.add(1);
        self.switch_state_now(WorkerState::Maintenance);
    }
}
