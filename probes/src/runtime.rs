//! One runtime's probes: its identity, its workers, its remote counters
//! ([`remote`](crate::remote)) and its lifecycle.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::sync::{self, AtomicBool, Ordering::Relaxed, StaticAtomicU64};

use crate::clock::Clock;
use crate::config::PulseSettings;
use crate::lifecycle::Lifecycle;
use crate::recorder::WorkerRecorder;
use crate::remote::{RemoteProbes, RuntimeGauges};
use crate::sampler::Sampler;
use crate::snapshot::RuntimeSnapshot;
use crate::worker::WorkerProbes;
use crate::{registry, watchdog};

/// All probes of one Tokio runtime.
///
/// The patched Tokio creates one per runtime at build time (through the
/// hidden [`fork`](crate::fork) module), keeps the writers in its handle and
/// worker cores and hands the `Arc` out through
/// `tokio::runtime::Handle::pulse()`. This type has no method that writes:
/// whoever holds the `Arc` can read and nothing else. Every runtime also appears in
/// [`runtimes()`](crate::runtimes) for as long as anything holds its `Arc`.
///
/// Reading is always allowed and never blocks a worker. The counters keep
/// their last values after the runtime shuts down, for as long as the `Arc`
/// lives.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{RuntimeProbes, ScheduleKind};
///
/// let (rt, mut recorders) = RuntimeProbes::new(Some("ingest"), 2);
/// recorders[1].scheduled_local(ScheduleKind::Spawn, true);
///
/// assert_eq!(rt.name(), "ingest");
/// assert_eq!(rt.workers().len(), 2);
/// assert_eq!(rt.snapshot().workers[1].spawns_local, 1);
/// ```
#[derive(Debug)]
pub struct RuntimeProbes {
    id: u64,
    name: Arc<str>,
    created: Option<Instant>,
    workers: Box<[Arc<CachePadded<WorkerProbes>>]>,
    remote: CachePadded<RemoteProbes>,
    /// The runtime's gauges. A `Weak`, so that the probes never keep the
    /// scheduler alive and no reference cycle forms.
    gauges: OnceLock<Weak<dyn RuntimeGauges>>,
    shut_down: AtomicBool,
    settings: PulseSettings,
    clock: Clock,
    /// Live workers, and the watchdog thread, shared with the recorders and
    /// the watchdog.
    lifecycle: Arc<Lifecycle>,
    /// What the watchdog samples besides stalls.
    sampler: Sampler,
    /// The watchdog's last starved-driver report.
    last_starvation: std::sync::Mutex<Option<Arc<crate::Recent<crate::events::Stall>>>>,
}

impl RuntimeProbes {
    /// Detached probes for examples, tests and benches: like
    /// [`fork::new`](crate::fork::new), with the runtime's
    /// [`RuntimeWriter`](crate::fork::RuntimeWriter) dropped, so that nothing
    /// can mark them shut down or count remote pushes. The recorders still
    /// write the worker counters.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 3);
    /// assert_eq!(recorders.len(), 3);
    /// assert_eq!(rt.name(), format!("runtime-{}", rt.id()));
    /// ```
    #[doc(hidden)]
    pub fn new(name: Option<&str>, workers: usize) -> (Arc<RuntimeProbes>, Vec<WorkerRecorder>) {
        let (writer, recorders) = crate::fork::new(name, workers);
        (writer.into_probes(), recorders)
    }

    /// Detached probes per `settings`; see [`new`](Self::new) and
    /// [`fork::with_settings`](crate::fork::with_settings).
    #[doc(hidden)]
    pub fn with_settings(
        name: Option<&str>,
        workers: usize,
        settings: &PulseSettings,
    ) -> (Arc<RuntimeProbes>, Vec<WorkerRecorder>) {
        let (writer, recorders) = crate::fork::with_settings(name, workers, settings);
        (writer.into_probes(), recorders)
    }

    /// Detached probes timed on `clock`; see [`new`](Self::new) and
    /// [`fork::with_clock`](crate::fork::with_clock).
    #[doc(hidden)]
    pub fn with_clock(
        name: Option<&str>,
        workers: usize,
        settings: &PulseSettings,
        clock: Clock,
    ) -> (Arc<RuntimeProbes>, Vec<WorkerRecorder>) {
        let (writer, recorders) = crate::fork::with_clock(name, workers, settings, clock);
        (writer.into_probes(), recorders)
    }

    /// Builds and registers the probes of a runtime; see
    /// [`fork::with_clock`](crate::fork::with_clock).
    pub(crate) fn build(
        name: Option<&str>,
        workers: usize,
        settings: &PulseSettings,
        clock: Clock,
    ) -> (Arc<RuntimeProbes>, Vec<WorkerRecorder>) {
        static NEXT_ID: StaticAtomicU64 = StaticAtomicU64::new(1);
        // Once per runtime build, never on a hot path.
        let id = NEXT_ID.fetch_add(1, Relaxed);
        let name: Arc<str> = match name {
            Some(name) => name.into(),
            None => format!("runtime-{id}").into(),
        };
        let slots: Box<[Arc<CachePadded<WorkerProbes>>]> = (0..workers)
            .map(|index| Arc::new(CachePadded::new(WorkerProbes::new(index, workers))))
            .collect();
        if settings.poll_timing {
            // Until a worker first turns the drivers, they have gone
            // unturned since now: a runtime whose workers enter long polls
            // at once is starved from its start, not unobserved.
            let now = clock.now();
            for slot in slots.iter() {
                slot.driver.record(now);
            }
        }
        let lifecycle = Arc::new(Lifecycle::new(workers));
        let recorders = slots
            .iter()
            .cloned()
            .map(|slot| {
                WorkerRecorder::new(slot)
                    .with_timing(settings, clock, name.clone(), id)
                    .with_lifecycle(lifecycle.clone())
            })
            .collect();
        let probes = Arc::new(RuntimeProbes {
            id,
            name,
            created: sync::now_if_clock(),
            workers: slots,
            remote: CachePadded::default(),
            gauges: OnceLock::new(),
            shut_down: AtomicBool::new(false),
            settings: settings.clone(),
            clock,
            lifecycle,
            sampler: Sampler::new(settings, workers),
            last_starvation: Default::default(),
        });
        if let Some(threshold) = settings.stall {
            // On failure the thread never ran and the flag stays false.
            let _ = watchdog::spawn(&probes, threshold, settings.watchdog_period);
        }
        registry::register(&probes);
        (probes, recorders)
    }

    /// How long since a worker last turned the runtime's drivers (I/O and
    /// timers): zero while a worker is parked, the runtime's age before the
    /// first turn, `None` without poll timing. A large age while tasks wait
    /// for I/O means every worker is inside a long poll.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.driver_last_turn_age(), None);
    /// ```
    pub fn driver_last_turn_age(&self) -> Option<std::time::Duration> {
        if !self.settings.poll_timing {
            return None;
        }
        crate::driver::last_turn_age(self.workers(), self.clock, self.clock.now())
    }

    /// The watchdog's last stall report on each worker that has stalled,
    /// in worker order, then its last starved-driver report: the stuck task, for how long, and why (its thread's
    /// stack, CPU share, state and syscall; see
    /// [`StallDetails`](crate::StallDetails)).
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// assert!(rt.stalls().is_empty());
    /// ```
    pub fn stalls(&self) -> Vec<Arc<crate::Recent<crate::events::Stall>>> {
        let starved = self
            .last_starvation
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone();
        self.workers()
            .filter_map(WorkerProbes::last_stall)
            .chain(starved)
            .collect()
    }

    pub(crate) fn set_last_starvation(&self, report: Arc<crate::Recent<crate::events::Stall>>) {
        *self
            .last_starvation
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(report);
    }

    /// A process-unique id, starting at 1 in order of creation.
    ///
    /// # Examples
    ///
    /// ```
    /// let (a, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// let (b, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert!(b.id() > a.id());
    /// ```
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The runtime's name.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(Some("db"), 1);
    /// assert_eq!(rt.name(), "db");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        self.name.clone()
    }

    /// The settings of the optional probes this runtime was built with.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert!(!rt.settings().poll_timing);
    /// ```
    pub fn settings(&self) -> &PulseSettings {
        &self.settings
    }

    /// The clock poll timing reads: [`Clock::global`] when poll timing is on.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// let clock = rt.clock();
    /// assert!(clock.now() <= clock.now());
    /// ```
    pub fn clock(&self) -> Clock {
        self.clock
    }

    /// Whether this runtime's stall watchdog thread is running. It keeps
    /// running through shutdown until every worker has stopped (see
    /// [`workers_stopped`](Self::workers_stopped)), closes any stall still
    /// open, and exits; the last worker to stop wakes it, so it exits
    /// promptly whatever its period.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_pulse_probes::{PulseConfig, RuntimeProbes};
    ///
    /// let (rt, _) = RuntimeProbes::new(None, 1);
    /// assert!(!rt.watchdog_running());
    ///
    /// let settings = PulseConfig::new()
    ///     .stall_watchdog(Duration::from_millis(10))
    ///     .watchdog_period(Duration::from_secs(10))
    ///     .resolve()
    ///     .unwrap();
    /// let (rt, recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    /// assert!(rt.watchdog_running());
    /// drop(recorders); // the worker stops: the watchdog wakes up and exits
    /// while rt.watchdog_running() {
    ///     std::thread::sleep(Duration::from_millis(1));
    /// }
    /// ```
    pub fn watchdog_running(&self) -> bool {
        self.lifecycle.watchdog_alive()
    }

    /// Whether every worker of this runtime has stopped for good: Tokio has
    /// dropped every worker's core (and recorder), which it does
    /// only after the worker's last poll. At shutdown this comes after
    /// [`is_shut_down`](Self::is_shut_down), possibly much later: a worker
    /// stuck in a blocking poll keeps `Runtime::drop` waiting, and keeps its
    /// runtime watched and exported, until the poll returns.
    ///
    /// # Examples
    ///
    /// ```
    /// let (writer, recorders) = tokio_pulse_probes::fork::new(None, 2);
    /// let rt = writer.probes();
    /// writer.mark_shut_down();
    /// assert!(!rt.workers_stopped()); // shutting down, workers still there
    /// drop(recorders);
    /// assert!(rt.workers_stopped());
    /// ```
    pub fn workers_stopped(&self) -> bool {
        self.lifecycle.workers_stopped()
    }

    pub(crate) fn lifecycle(&self) -> &Arc<Lifecycle> {
        &self.lifecycle
    }

    pub(crate) fn sampler(&self) -> &Sampler {
        &self.sampler
    }

    /// When these probes were created, i.e. when the runtime was built:
    /// `None` on a target whose std has no clock (wasm32-unknown-unknown,
    /// where `Instant::now()` panics, so the probes never call it; there
    /// snapshots have a zero `uptime`).
    ///
    /// This is the only clock read of a runtime that does not time polls:
    /// one `Instant::now()` at build, for `uptime` and the rates of
    /// [`RuntimeSnapshot`]. The poll clock is read only with poll timing on.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert!(rt.created().unwrap() <= std::time::Instant::now());
    /// ```
    pub fn created(&self) -> Option<Instant> {
        self.created
    }

    /// The live counters of every worker, in worker order.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// let polls: u64 = rt.workers().map(|w| w.polls()).sum();
    /// assert_eq!(polls, 0);
    /// ```
    pub fn workers(&self) -> impl ExactSizeIterator<Item = &WorkerProbes> + '_ {
        self.workers.iter().map(|slot| &***slot)
    }

    /// The live counters of worker `index`, or `None` past the last worker.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// assert_eq!(rt.worker(1).map(|w| w.index()), Some(1));
    /// assert!(rt.worker(2).is_none());
    /// ```
    pub fn worker(&self, index: usize) -> Option<&WorkerProbes> {
        self.workers.get(index).map(|slot| &***slot)
    }

    /// The runtime-wide counters of remote pushes.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::RemoteKind;
    ///
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.remote().pushed(RemoteKind::Spawn), 0);
    /// ```
    pub fn remote(&self) -> &RemoteProbes {
        &self.remote
    }

    /// Registers the runtime's gauges; only the first call has an effect.
    pub(crate) fn set_gauges(&self, gauges: Weak<dyn RuntimeGauges>) {
        let _ = self.gauges.set(gauges);
    }

    /// The runtime's gauges, while its scheduler is alive.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert!(rt.gauges().is_none());
    /// ```
    pub fn gauges(&self) -> Option<Arc<dyn RuntimeGauges>> {
        self.gauges.get().and_then(Weak::upgrade)
    }

    /// Records that the runtime has begun shutting down. Tokio calls this
    /// once, through its [`RuntimeWriter`](crate::fork::RuntimeWriter); the
    /// counters stay readable.
    pub(crate) fn mark_shut_down(&self) {
        self.shut_down.store(true, Relaxed);
    }

    /// Whether the runtime has begun shutting down. Exporters keep reporting
    /// such a runtime until its workers have stopped too (see
    /// [`workers_stopped`](Self::workers_stopped)); its last values stay
    /// readable here.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    /// assert!(!rt.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.shut_down.load(Relaxed)
    }

    /// Reads every counter into plain data. Each counter is read once; the
    /// snapshot as a whole may be skewed by a few events between counters
    /// that change while it is taken, but every counter is one that was
    /// really reached, and never less than in an earlier snapshot.
    ///
    /// # Examples
    ///
    /// ```
    /// let (rt, _) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    /// let snap = rt.snapshot();
    /// assert_eq!(snap.workers.len(), 2);
    /// assert_eq!(snap.polls(), 0);
    /// ```
    pub fn snapshot(&self) -> RuntimeSnapshot {
        RuntimeSnapshot::read(self)
    }
}

impl Drop for RuntimeProbes {
    /// Wakes the watchdog, which holds only a `Weak` reference, so that it
    /// sees the probes gone and exits now rather than after its period.
    fn drop(&mut self) {
        self.lifecycle.wake_watchdog();
    }
}
