//! The stall watchdog: a monitor thread per runtime, in the manner of Go's
//! sysmon.
//!
//! 1. Every period it reads each worker's published poll state (start
//!    mark, task), a few relaxed loads per worker. It never
//!    writes anything a worker reads, never locks, and never signals a
//!    worker, so it cannot slow one down.
//! 2. A worker whose published poll has been running for at least the
//!    threshold is stalled: the watchdog counts one stall, and tells the
//!    listener while the poll is still running.
//! 3. When that worker's mark moves on, the stall is over: the listener
//!    hears the final duration, exact from the worker's own record of the
//!    poll (written before the worker publishes the end), or bounded by the
//!    sampling period if another stall has replaced the record already.
//! 4. The thread holds only a `Weak` reference to the probes and exits when
//!    the runtime has shut down or its probes are gone.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::events::{self, Stall, TaskInfo};
use crate::task_names;
use crate::RuntimeProbes;

/// A stall in progress on one worker: the poll's start mark names it.
#[derive(Clone, Debug)]
struct Ongoing {
    mark: u64,
    task: TaskInfo,
    /// Looked up once, while the task is alive, for both reports.
    task_name: Option<Arc<str>>,
}

/// Starts the watchdog thread for `probes`.
pub(crate) fn spawn(
    probes: &Arc<RuntimeProbes>,
    threshold: Duration,
    period: Duration,
) -> std::io::Result<()> {
    let weak = Arc::downgrade(probes);
    let workers = probes.workers().len();
    std::thread::Builder::new()
        .name(format!("tokio-pulse-watchdog-{}", probes.id()))
        .spawn(move || run(weak, workers, threshold, period))
        .map(drop)
}

fn run(probes: Weak<RuntimeProbes>, workers: usize, threshold: Duration, period: Duration) {
    let mut ongoing: Vec<Option<Ongoing>> = vec![None; workers];
    loop {
        std::thread::sleep(period);
        let Some(probes) = probes.upgrade() else {
            return;
        };
        if probes.is_shut_down() {
            return;
        }
        sample(&probes, &mut ongoing, threshold);
    }
}

/// One pass over the workers.
fn sample(probes: &RuntimeProbes, ongoing: &mut [Option<Ongoing>], threshold: Duration) {
    let clock = probes.clock();
    let threshold_ticks =
        clock.ns_to_ticks(u64::try_from(threshold.as_nanos()).unwrap_or(u64::MAX));
    let now = clock.now();
    for (worker, state) in probes.workers().zip(ongoing.iter_mut()) {
        let timing = &worker.timing;
        let current = timing.current();
        if let Some(stall) = state.as_ref() {
            if current.is_some_and(|poll| poll.started == stall.mark) {
                continue; // Still stuck; already reported.
            }
            // The stalled poll ended. Its worker recorded the exact
            // duration before publishing the end; if a later stall has
            // replaced that record already, bound it by this sample.
            let ticks = timing
                .last_stall
                .ticks_of(stall.mark)
                .unwrap_or_else(|| now.saturating_sub(stall.mark));
            report(probes, worker.index(), stall, ticks, true);
            *state = None;
        }
        if let Some(poll) = current {
            let elapsed = now.saturating_sub(poll.started);
            if elapsed >= threshold_ticks {
                let stall = Ongoing {
                    mark: poll.started,
                    task: poll.task,
                    task_name: task_names::name_of(poll.task.id),
                };
                timing.stalls.add(1);
                report(probes, worker.index(), &stall, elapsed, false);
                *state = Some(stall);
            }
        }
    }
}

fn report(probes: &RuntimeProbes, worker: usize, stall: &Ongoing, ticks: u64, ended: bool) {
    if let Some(listener) = events::listener() {
        listener.stall(&Stall {
            runtime: probes.name_arc(),
            runtime_id: probes.id(),
            worker,
            task: stall.task,
            task_name: stall.task_name.clone(),
            duration: Duration::from_nanos(probes.clock().ticks_to_ns(ticks)),
            ended,
        });
    }
}
