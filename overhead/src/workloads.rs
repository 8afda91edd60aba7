//! The workloads. Each one is a closure that does one iteration of a fixed
//! amount of work on a multi-thread runtime and returns when it is done, plus
//! the unit of that work ("spawn", "poll", ...) and how many units one
//! iteration does. They are shaped like Tokio's own runtime benches: fixed
//! sizes, one runtime per process, completion signalled back to the caller.
//!
//! Except in the `spawn_many_remote_*` workloads, whose point is spawning
//! from outside, one task on a worker does the spawning, and the caller's
//! thread only starts it and waits. With one worker that makes a run
//! single-threaded in effect, so callgrind counts repeat run to run.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::{mpsc, Arc};

use tokio::runtime::Runtime;

/// Tasks spawned per iteration by the spawn workloads.
const SPAWNS: usize = 10_000;
/// Tasks in `yield_many`, and yields each.
const YIELD_TASKS: usize = 20;
const YIELDS: usize = 1_000;
/// Round trips per iteration of `ping_pong`.
const PINGS: usize = 1_000;
/// Length of the spawn chain in `chained_spawn`.
const CHAIN: usize = 1_000;
/// Lock acquisitions per iteration of `contention_*`, split over the tasks.
const LOCK_OPS: usize = 16_000;
/// Tasks per iteration of `work_stealing`, and the work each does.
const STEAL_TASKS: usize = 2_000;
const STEAL_SPIN: u64 = 200;

/// Task counts of the contention workloads.
pub const CONTENTION_TASKS: [usize; 5] = [1, 2, 4, 8, 16];

/// One iteration of a workload.
pub type Iteration = Box<dyn FnMut()>;

/// A workload ready to run.
pub struct Workload {
    /// Runs one iteration.
    pub iteration: Iteration,
    /// What one unit of work is.
    pub unit: &'static str,
    /// Units of work per iteration.
    pub units: u64,
}

/// Every workload name, in report order.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = [
        "spawn_many_local",
        "spawn_many_remote_idle",
        "spawn_many_remote_busy",
        "ping_pong",
        "yield_many",
        "chained_spawn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for lock in ["tokio", "parking_lot"] {
        for tasks in CONTENTION_TASKS {
            names.push(format!("contention_{lock}_x{tasks}"));
        }
    }
    names.push("work_stealing".to_string());
    names
}

/// Builds workload `name` on `rt`, or says why `name` is not one.
pub fn build(name: &str, rt: &Arc<Runtime>) -> Result<Workload, String> {
    let rt = Arc::clone(rt);
    let workload = match name {
        "spawn_many_local" => spawn_many_local(rt),
        "spawn_many_remote_idle" => spawn_many_remote(rt, false),
        "spawn_many_remote_busy" => spawn_many_remote(rt, true),
        "ping_pong" => ping_pong(rt),
        "yield_many" => yield_many(rt),
        "chained_spawn" => chained_spawn(rt),
        "work_stealing" => work_stealing(rt),
        other => {
            let parsed = other
                .strip_prefix("contention_")
                .and_then(|rest| rest.rsplit_once("_x"))
                .and_then(|(lock, tasks)| Some((lock, tasks.parse::<usize>().ok()?)))
                .filter(|(_, tasks)| CONTENTION_TASKS.contains(tasks));
            match parsed {
                Some(("tokio", tasks)) => contention(rt, tasks, false),
                Some(("parking_lot", tasks)) => contention(rt, tasks, true),
                _ => {
                    return Err(format!(
                        "unknown workload {other:?}; known: {}",
                        names().join(", ")
                    ))
                }
            }
        }
    };
    Ok(workload)
}

/// A countdown shared by the tasks of one iteration: the task that takes it
/// to zero tells the waiting caller.
#[derive(Clone)]
struct Countdown {
    left: Arc<AtomicUsize>,
    done: mpsc::SyncSender<()>,
}

impl Countdown {
    fn new(n: usize) -> (Countdown, mpsc::Receiver<()>) {
        let (done, rx) = mpsc::sync_channel(1);
        let left = Arc::new(AtomicUsize::new(n));
        (Countdown { left, done }, rx)
    }

    fn tick(&self) {
        if self.left.fetch_sub(1, Relaxed) == 1 {
            let _ = self.done.send(());
        }
    }
}

fn wait(rx: &mpsc::Receiver<()>) {
    rx.recv()
        .expect("a workload task panicked before finishing");
}

/// A task on a worker spawns `SPAWNS` trivial tasks: every spawn is local.
fn spawn_many_local(rt: Arc<Runtime>) -> Workload {
    let iteration = move || {
        let (countdown, rx) = Countdown::new(SPAWNS);
        rt.spawn(async move {
            for _ in 0..SPAWNS {
                let countdown = countdown.clone();
                tokio::spawn(async move { countdown.tick() });
            }
        });
        wait(&rx);
    };
    Workload {
        iteration: Box::new(iteration),
        unit: "spawn",
        units: SPAWNS as u64,
    }
}

/// The caller's thread (not a worker) spawns `SPAWNS` tasks and then waits
/// for them all. With `busy`, every worker first gets a task that keeps it
/// busy by yielding until the spawned tasks are done.
fn spawn_many_remote(rt: Arc<Runtime>, busy: bool) -> Workload {
    let workers = rt.metrics().num_workers();
    let iteration = move || {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let hogs: Vec<_> = (0..if busy { workers } else { 0 })
            .map(|_| {
                let stop = Arc::clone(&stop);
                rt.spawn(async move {
                    while !stop.load(Relaxed) {
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let handles: Vec<_> = (0..SPAWNS)
            .map(|i| rt.spawn(async move { black_box(i) }))
            .collect();
        rt.block_on(async {
            for handle in handles {
                handle.await.expect("a spawned task panicked");
            }
        });
        stop.store(true, Relaxed);
        rt.block_on(async {
            for hog in hogs {
                hog.await.expect("a busy task panicked");
            }
        });
    };
    Workload {
        iteration: Box::new(iteration),
        unit: "spawn",
        units: SPAWNS as u64,
    }
}

/// `PINGS` pairs of tasks, each pair exchanging one message each way over
/// oneshot channels.
fn ping_pong(rt: Arc<Runtime>) -> Workload {
    let iteration = move || {
        let (countdown, rx) = Countdown::new(PINGS);
        rt.spawn(async move {
            for _ in 0..PINGS {
                let countdown = countdown.clone();
                tokio::spawn(async move {
                    let (ping_tx, ping_rx) = tokio::sync::oneshot::channel::<()>();
                    let (pong_tx, pong_rx) = tokio::sync::oneshot::channel::<()>();
                    tokio::spawn(async move {
                        ping_rx.await.expect("ping sender dropped");
                        pong_tx.send(()).expect("pong receiver dropped");
                    });
                    ping_tx.send(()).expect("ping receiver dropped");
                    pong_rx.await.expect("pong sender dropped");
                    countdown.tick();
                });
            }
        });
        wait(&rx);
    };
    Workload {
        iteration: Box::new(iteration),
        unit: "round trip",
        units: PINGS as u64,
    }
}

/// `YIELD_TASKS` tasks each yield `YIELDS` times: the polls are tiny, so the
/// scheduler's per-poll cost dominates.
fn yield_many(rt: Arc<Runtime>) -> Workload {
    let iteration = move || {
        let (countdown, rx) = Countdown::new(YIELD_TASKS);
        rt.spawn(async move {
            for _ in 0..YIELD_TASKS {
                let countdown = countdown.clone();
                tokio::spawn(async move {
                    for _ in 0..YIELDS {
                        tokio::task::yield_now().await;
                    }
                    countdown.tick();
                });
            }
        });
        wait(&rx);
    };
    Workload {
        iteration: Box::new(iteration),
        unit: "poll",
        units: (YIELD_TASKS * (YIELDS + 1)) as u64,
    }
}

/// Each task spawns the next, `CHAIN` deep; the last one signals.
fn chained_spawn(rt: Arc<Runtime>) -> Workload {
    fn link(left: usize, done: mpsc::SyncSender<()>) {
        if left == 0 {
            let _ = done.send(());
        } else {
            tokio::spawn(async move { link(left - 1, done) });
        }
    }
    let iteration = move || {
        let (done, rx) = mpsc::sync_channel(1);
        rt.spawn(async move { link(CHAIN, done) });
        wait(&rx);
    };
    Workload {
        iteration: Box::new(iteration),
        unit: "spawn",
        units: CHAIN as u64,
    }
}

/// `tasks` tasks share `LOCK_OPS` increments of one counter behind a
/// `tokio::sync::Mutex` (or a `parking_lot::Mutex` with `parking_lot`).
fn contention(rt: Arc<Runtime>, tasks: usize, parking_lot: bool) -> Workload {
    let per_task = LOCK_OPS / tasks;
    let iteration = move || {
        let (countdown, rx) = Countdown::new(tasks);
        rt.spawn(async move {
            if parking_lot {
                let counter = Arc::new(parking_lot::Mutex::new(0u64));
                for _ in 0..tasks {
                    let (counter, countdown) = (Arc::clone(&counter), countdown.clone());
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            *counter.lock() += 1;
                        }
                        countdown.tick();
                    });
                }
            } else {
                let counter = Arc::new(tokio::sync::Mutex::new(0u64));
                for _ in 0..tasks {
                    let (counter, countdown) = (Arc::clone(&counter), countdown.clone());
                    tokio::spawn(async move {
                        for _ in 0..per_task {
                            *counter.lock().await += 1;
                        }
                        countdown.tick();
                    });
                }
            }
        });
        wait(&rx);
    };
    Workload {
        iteration: Box::new(iteration),
        unit: "lock",
        units: (per_task * tasks) as u64,
    }
}

/// One task spawns `STEAL_TASKS` tasks that each do a little work, all into
/// its own worker's queue; the other workers must steal to help.
fn work_stealing(rt: Arc<Runtime>) -> Workload {
    let iteration = move || {
        let (countdown, rx) = Countdown::new(STEAL_TASKS);
        rt.spawn(async move {
            for _ in 0..STEAL_TASKS {
                let countdown = countdown.clone();
                tokio::spawn(async move {
                    let mut x = 0u64;
                    for i in 0..STEAL_SPIN {
                        x = black_box(x.wrapping_mul(31).wrapping_add(i));
                    }
                    black_box(x);
                    countdown.tick();
                });
            }
        });
        wait(&rx);
    };
    Workload {
        iteration: Box::new(iteration),
        unit: "task",
        units: STEAL_TASKS as u64,
    }
}
