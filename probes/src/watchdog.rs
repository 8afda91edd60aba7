//! The stall watchdog: a monitor thread per runtime, in the manner of Go's
//! sysmon.
//!
//! 1. Every period it reads each worker's published poll state (start
//!    mark, task), a few relaxed loads per worker, between two readings of
//!    its own clock (`Instant`). It never writes anything a worker reads,
//!    never locks, and signals a worker only once it is stalled (below).
//! 2. A worker is stalled when the watchdog itself has seen the same poll
//!    (same start mark, same task) on two samples at least the threshold
//!    apart, by its own `Instant` readings. The poll's start mark, a
//!    reading of the worker's clock, never decides it: a TSC read on one CPU
//!    and compared with a TSC read on another can appear to have run ahead
//!    (or back), and such a skew must never raise a stall. The cost is
//!    detection up to two periods after the threshold, instead of one.
//! 3. The watchdog counts the stall and tells the listener while the poll is
//!    still running, rate-limited per worker like slow polls (at most
//!    [`EVENTS_PER_SECOND`](crate::events::EVENTS_PER_SECOND) stalls a
//!    second; the rest are counted as dropped). A stall whose start event
//!    went out always gets its end event; one whose start was dropped gets
//!    none.
//! 4. When that worker's mark moves on, the stall is over: the listener
//!    hears the final duration, from the worker's own record of the poll
//!    (written before the worker publishes the end), or else the watchdog's
//!    clock reading. Either way the duration reported is kept within what
//!    the watchdog's own samples bound it to (it saw the poll running at two
//!    instants, and not yet started, or ended, at two others), so a clock
//!    skew cannot inflate it past a period either.
//!
//!    Before it reports a stall, it gathers why (see `stall_report`): the
//!    stuck thread's stack (one signal; see `stack`), its CPU share and its
//!    `/proc` state; the stacks of a sample are symbolized after every
//!    stuck worker's is captured. After the workers, it checks for a
//!    starved driver (see `driver`).
//! 5. The listener runs under `catch_unwind`: a panic is counted and the
//!    watchdog keeps going.
//! 6. The thread holds only a `Weak` reference to the probes. It keeps
//!    watching through shutdown, while a worker stuck in a poll keeps
//!    `Runtime::drop` waiting, until every worker has stopped (their
//!    recorders dropped); then it closes any stall still open and exits. The
//!    last recorder's drop, and the probes' drop, wake it, so a long period
//!    never keeps the thread alive past its runtime.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crate::events::{self, Delivery, EventLimiter, PollEvent, Stall, TaskInfo};
use crate::lifecycle::Lifecycle;
use crate::runtime::RuntimeProbes;
use crate::stack::{self, StackUnavailable};
use crate::stall_report::{Investigation, StallDetails};
use crate::task_names;
use crate::worker::WorkerProbes;

/// How far past the bounds of its own samples the watchdog accepts a
/// duration read from the worker's clock (a TSC's calibration error is well
/// under this), as a fraction: 1 %.
const CLOCK_SLACK_PERCENT: u32 = 1;

/// What the watchdog knows of one worker.
#[derive(Debug)]
struct WorkerWatch {
    /// The last start mark seen, poll or no poll.
    mark: u64,
    /// When that mark was stored, at the earliest: the watchdog's clock
    /// just before the last sample that still saw an older mark.
    mark_since: Instant,
    /// The poll being watched, if the worker is inside one.
    poll: Option<Watched>,
    /// Stall events, rate-limited on the watchdog's clock (nanoseconds
    /// since the thread started).
    limiter: EventLimiter,
}

/// One poll, as the watchdog has seen it.
#[derive(Debug)]
struct Watched {
    mark: u64,
    task: TaskInfo,
    /// The earliest the poll can have started (see `WorkerWatch::mark_since`).
    since: Instant,
    /// The watchdog's clock just after the first sample that saw it: the
    /// poll was running by then.
    seen: Instant,
    /// The watchdog's clock just before the latest sample that saw it: the
    /// poll was still running after that.
    still: Instant,
    /// Set once the poll counts as a stall.
    stall: Option<Reported>,
    /// Its thread's stack, CPU time and state (see `stall_report`).
    investigation: Investigation,
}

#[derive(Debug)]
struct Reported {
    /// Looked up once, while the task is alive, for both reports.
    task_name: Option<Arc<str>>,
    /// Whether the start event went out, so the end event must too.
    delivered: bool,
    details: StallDetails,
}

/// Starts the watchdog thread for `probes`.
pub(crate) fn spawn(
    probes: &Arc<RuntimeProbes>,
    threshold: Duration,
    period: Duration,
) -> std::io::Result<()> {
    let weak = Arc::downgrade(probes);
    let lifecycle = probes.lifecycle().clone();
    let workers = probes.workers().len();
    // Installs the signal handler once per process, reporting here, at
    // build, if it cannot.
    let stacks = if probes.settings().stack_capture {
        stack::prepare(probes.settings().stack_signal)
    } else {
        Err(StackUnavailable::Off)
    };
    // Before any poll can start (the recorders have not been handed out
    // yet), so it bounds every poll's start from below.
    let started = Instant::now();
    lifecycle.set_watchdog_alive(true);
    let thread_lifecycle = lifecycle.clone();
    let spawned = std::thread::Builder::new()
        .name(format!("tokio-pulse-watchdog-{}", probes.id()))
        .spawn(move || {
            let _alive = Alive(&thread_lifecycle);
            run(
                &weak,
                &thread_lifecycle,
                workers,
                threshold,
                period,
                started,
                stacks,
            );
        });
    match spawned {
        Ok(handle) => {
            lifecycle.set_watchdog(handle.thread().clone());
            Ok(())
        }
        Err(error) => {
            lifecycle.set_watchdog_alive(false);
            Err(error)
        }
    }
}

/// Clears the running flag when the thread ends, however it ends.
struct Alive<'a>(&'a Lifecycle);

impl Drop for Alive<'_> {
    fn drop(&mut self) {
        self.0.set_watchdog_alive(false);
    }
}

fn run(
    probes: &Weak<RuntimeProbes>,
    lifecycle: &Lifecycle,
    workers: usize,
    threshold: Duration,
    period: Duration,
    started: Instant,
    stacks: Result<i32, StackUnavailable>,
) {
    if stacks.is_ok() {
        stack::warm_up();
    }
    let mut watch = Watch {
        workers: (0..workers)
            .map(|_| WorkerWatch {
                mark: 0,
                mark_since: started,
                poll: None,
                limiter: EventLimiter::new(1_000_000_000),
            })
            .collect(),
        reads: Vec::with_capacity(workers),
        previous: started,
        started,
        threshold,
        stacks,
        pending: Vec::new(),
        starvation: Default::default(),
    };
    loop {
        // A wake-up (the last worker stopped, the probes dropped) or a
        // spurious one only brings the next sample forward.
        std::thread::park_timeout(period);
        // Read before sampling: once true, this sample sees every worker's
        // last writes and is the last one.
        let stopped = lifecycle.workers_stopped();
        let Some(probes) = probes.upgrade() else {
            return;
        };
        watch.sample(&probes, stopped);
        // Spawn sites, queue ages, pressure: see `sampler`.
        probes.sampler().sample(&probes);
        if stopped {
            return;
        }
    }
}

/// The watchdog's state across samples.
struct Watch {
    workers: Vec<WorkerWatch>,
    /// Scratch space for one sample's reads: (start mark, current poll).
    reads: Vec<(u64, Option<crate::timing::CurrentPoll>)>,
    /// The watchdog's clock just before the previous sample.
    previous: Instant,
    started: Instant,
    threshold: Duration,
    /// The signal for stack capture, or why there is none.
    stacks: Result<i32, StackUnavailable>,
    /// Stall reports of this sample whose stacks are captured but not yet
    /// symbolized, by worker index.
    pending: Vec<(usize, Stall, stack::Captured)>,
    starvation: crate::driver::StarvationWatch,
}

impl Watch {
    /// One pass over the workers. With `last`, every worker has stopped:
    /// close what is open, open nothing.
    fn sample(&mut self, probes: &RuntimeProbes, last: bool) {
        let clock = probes.clock();
        let before = Instant::now();
        let now = clock.now();
        self.reads.clear();
        self.reads.extend(probes.workers().map(|worker| {
            let timing = &worker.timing;
            match timing.current() {
                Some(poll) => (poll.started, Some(poll)),
                None => (timing.published_mark(), None),
            }
        }));
        let after = Instant::now();
        let previous = std::mem::replace(&mut self.previous, before);
        for ((worker, state), &(mark, current)) in probes
            .workers()
            .zip(self.workers.iter_mut())
            .zip(self.reads.iter())
        {
            if mark != state.mark {
                state.mark = mark;
                state.mark_since = previous;
            }
            let same = |watched: &Watched| {
                current
                    .is_some_and(|poll| poll.started == watched.mark && poll.task == watched.task)
            };
            if let Some(mut watched) = state.poll.take() {
                if same(&watched) && !last {
                    watched.still = before;
                    state.poll = Some(watched);
                } else {
                    // The poll ended (or, on the last sample, the worker
                    // stopped inside it).
                    if let Some(mut reported) = watched.stall.take() {
                        let ended = !same(&watched);
                        // Still running on the last sample: it lasted at
                        // least until this one.
                        let lower = if ended { watched.still } else { before }
                            .saturating_duration_since(watched.seen);
                        let upper = after.saturating_duration_since(watched.since);
                        let own = worker
                            .timing
                            .stall_ticks_of(watched.mark)
                            .unwrap_or_else(|| now.saturating_sub(watched.mark));
                        let duration =
                            within(Duration::from_nanos(clock.ticks_to_ns(own)), lower, upper);
                        if reported.delivered {
                            reported.details = watched.investigation.end(worker, duration);
                            let event = stall_event(
                                probes,
                                worker.index(),
                                &watched,
                                &reported,
                                duration,
                                true,
                                0,
                            );
                            deliver(worker, &event);
                        }
                    }
                }
            }
            if last {
                continue;
            }
            if state.poll.is_none() {
                if let Some(poll) = current {
                    state.poll = Some(Watched {
                        mark: poll.started,
                        task: poll.task,
                        since: state.mark_since,
                        seen: after,
                        still: before,
                        stall: None,
                        investigation: Investigation::begin(worker),
                    });
                }
            }
            let Some(watched) = state.poll.as_mut() else {
                continue;
            };
            let observed = watched.still.saturating_duration_since(watched.seen);
            if self.stacks.is_ok() && observed >= self.threshold / 2 {
                let so_far = clock.ticks_to_ns(now.saturating_sub(watched.mark));
                watched
                    .investigation
                    .baseline(worker, Duration::from_nanos(so_far));
            }
            if watched.stall.is_some() || observed < self.threshold {
                continue;
            }
            let at =
                u64::try_from(before.duration_since(self.started).as_nanos()).unwrap_or(u64::MAX);
            let delivered = state.limiter.admit(at);
            worker.timing.count_stall(delivered);
            let mut reported = Reported {
                task_name: task_names::name_of(watched.task.id),
                delivered,
                details: StallDetails::default(),
            };
            if delivered {
                // Rate-limited with the events: only a delivered stall
                // interrupts the thread.
                let (mark, task) = (watched.mark, watched.task);
                let still_in_poll = || {
                    worker
                        .timing
                        .current()
                        .is_some_and(|poll| poll.started == mark && poll.task == task)
                };
                let (details, captured) =
                    watched
                        .investigation
                        .report(worker, self.stacks, still_in_poll);
                reported.details = details;
                let upper = after.saturating_duration_since(watched.since);
                let so_far =
                    Duration::from_nanos(clock.ticks_to_ns(now.saturating_sub(watched.mark)));
                let event = stall_event(
                    probes,
                    worker.index(),
                    watched,
                    &reported,
                    within(so_far, observed, upper),
                    false,
                    std::mem::take(&mut state.limiter.dropped_since_sent),
                );
                match captured {
                    // Symbolized and delivered after every worker's stack
                    // is captured.
                    Some(captured) => self.pending.push((worker.index(), event, captured)),
                    None => deliver(worker, &event),
                }
            }
            watched.stall = Some(reported);
        }
        if !last {
            self.check_driver(probes, now);
        }
        for (index, mut event, captured) in self.pending.drain(..) {
            let stack = Arc::new(captured.symbolize());
            if let Some(watched) = self.workers[index].poll.as_mut() {
                watched.investigation.set_stack(stack.clone());
            }
            event.details.stack = Some(stack);
            if let Some(worker) = probes.worker(index) {
                deliver(worker, &event);
            }
        }
    }
}

impl Watch {
    /// Reports, once per episode, drivers that nobody turned while every
    /// worker is inside a poll (see `driver`).
    fn check_driver(&mut self, probes: &RuntimeProbes, now: u64) {
        let clock = probes.clock();
        let all_busy = self.workers.iter().all(|state| state.poll.is_some());
        let longest = self
            .workers
            .iter()
            .enumerate()
            .filter_map(|(index, state)| Some((index, state.poll.as_ref()?)))
            .min_by_key(|(_, watched)| watched.since)
            .filter(|_| all_busy)
            .map(|(index, watched)| {
                let so_far = clock.ticks_to_ns(now.saturating_sub(watched.mark));
                let poll = PollEvent {
                    runtime: probes.name_arc(),
                    runtime_id: probes.id(),
                    worker: index,
                    task: watched.task,
                    task_name: watched.stall.as_ref().and_then(|r| r.task_name.clone()),
                    duration: Duration::from_nanos(so_far),
                    dropped_before: 0,
                };
                (index, poll)
            });
        if let Some(event) = self.starvation.check(probes, self.threshold, longest) {
            probes.set_last_starvation(events::record_stall(&event));
            let _ = events::call_listener(|listener| listener.stall(&event));
        }
    }
}

/// `reading`, a duration by the worker's or the watchdog's clock, kept
/// within what the watchdog saw: at least `lower`, at most `upper` plus
/// [`CLOCK_SLACK_PERCENT`].
fn within(reading: Duration, lower: Duration, upper: Duration) -> Duration {
    let upper = upper + upper * CLOCK_SLACK_PERCENT / 100;
    reading.min(upper).max(lower)
}

fn stall_event(
    probes: &RuntimeProbes,
    worker: usize,
    watched: &Watched,
    reported: &Reported,
    duration: Duration,
    ended: bool,
    dropped_before: u64,
) -> Stall {
    Stall {
        poll: PollEvent {
            runtime: probes.name_arc(),
            runtime_id: probes.id(),
            worker,
            task: watched.task,
            task_name: reported.task_name.clone(),
            duration,
            dropped_before,
        },
        ended,
        details: reported.details.clone(),
    }
}

fn deliver(worker: &WorkerProbes, event: &Stall) {
    worker.thread.set_last_report(events::record_stall(event));
    if events::call_listener(|listener| listener.stall(event)) == Delivery::Panicked {
        worker.timing.count_stall_listener_panic();
    }
}
