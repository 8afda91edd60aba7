//! Contention: 1, 2, 4, 8 and 16 tasks taking turns on a
//! `tokio::sync::Mutex`, a `parking_lot::Mutex` and an mpsc channel, with
//! the throughput and what the probes say about each.
//!
//! Run it with
//! `cargo run --release -p tokio-pulse-examples --example contention -- --help`.
//!
//! Each case runs for `--duration` milliseconds:
//!
//! - **tokio-mutex**: each task loops `lock().await`, holds the lock for
//!   `--hold` ns of busy work, releases it, then works `--hold` ns outside.
//!   A waiter returns `Pending` and is woken by the unlock; an uncontended
//!   `lock()` still spends coop budget, so a task alone gets made to yield
//!   (`yields_budget`).
//! - **parking_lot**: the same loop with a blocking mutex. A waiter blocks
//!   its whole worker thread, which the runtime cannot see. Such a task never
//!   awaits, so it calls `yield_now()` every 256 turns to let others run
//!   (`yields_yield_now`).
//! - **mpsc**: each task sends into one bounded channel (capacity 64); one
//!   receiver task does the `--hold` ns of work per message. Senders wait
//!   when it is full.
//!
//! Columns: operations per second; the fewest and most operations of one
//! task (a wide spread means unfair); polls; yields by reason; wakes (local
//! and remote); parks; and imbalance, the busiest worker's polls over the
//! mean (1.00 is even).

mod common;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use common::{count, spin, Table};
use tokio_pulse_rt::RuntimeSnapshot;

/// Runs tasks contending on a lock or a channel and shows what the probes see.
#[derive(Debug, Parser)]
#[command(name = "contention", version)]
struct Args {
    /// Numbers of contending tasks, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4,8,16",
          value_parser = clap::value_parser!(u16).range(1..=4096))]
    tasks: Vec<u16>,

    /// Which primitives to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "tokio-mutex,parking-lot,mpsc"
    )]
    primitives: Vec<Primitive>,

    /// Milliseconds each case runs.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u64).range(10..=60_000))]
    duration: u64,

    /// Nanoseconds of busy work inside the lock (and again outside it).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    hold: u64,

    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Primitive {
    /// `tokio::sync::Mutex`.
    TokioMutex,
    /// `parking_lot::Mutex`, blocking.
    ParkingLot,
    /// A bounded `tokio::sync::mpsc` channel with one receiver.
    Mpsc,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let workers = usize::from(args.workers);
    let Some(rt) = common::runtime("contention", workers) else {
        return ExitCode::FAILURE;
    };
    let probes = rt.handle().pulse();
    let run_for = Duration::from_millis(args.duration);
    let hold = Duration::from_nanos(args.hold);
    if !common::emit(&format!(
        "contention: {} workers, {} ms per case, {} ns held inside and outside\n",
        workers, args.duration, args.hold
    )) {
        return ExitCode::SUCCESS;
    }

    for &primitive in &args.primitives {
        let mut table = Table::new([
            "tasks",
            "ops/s",
            "ops/task min",
            "max",
            "polls",
            "yield_now",
            "budget",
            "self_wake",
            "wakes",
            "parks",
            "imbalance",
        ]);
        for &n in &args.tasks {
            let before = probes.snapshot();
            let start = Instant::now();
            let per_task = rt.block_on(run_case(primitive, usize::from(n), run_for, hold));
            let elapsed = start.elapsed();
            let change = probes.snapshot().delta(&before);
            table.row(row(n, &per_task, elapsed, &change));
        }
        let name = primitive
            .to_possible_value()
            .map(|v| v.get_name().to_owned())
            .unwrap_or_default();
        if !common::emit(&format!("\n{name}\n{table}")) {
            break;
        }
    }
    common::emit(concat!(
        "\nRead it: tokio-mutex waiters sleep in the mutex's queue (wakes, parks when\n",
        "idle) and a lone task is stopped by its coop budget; parking_lot waiters\n",
        "block their worker thread, invisible to the scheduler (few polls, yields\n",
        "only where the example added them); mpsc senders are woken as the receiver\n",
        "drains, and the receiver runs out of budget while the channel stays full.\n",
    ));
    rt.shutdown_timeout(Duration::from_secs(1));
    ExitCode::SUCCESS
}

fn row(n: u16, per_task: &[u64], elapsed: Duration, change: &RuntimeSnapshot) -> Vec<String> {
    let total: u64 = per_task.iter().sum();
    let sum = |f: fn(&tokio_pulse_rt::WorkerSnapshot) -> u64| -> u64 {
        change.workers.iter().map(f).sum()
    };
    let polls: Vec<u64> = change.workers.iter().map(|w| w.polls).collect();
    vec![
        n.to_string(),
        count(total as f64 / elapsed.as_secs_f64()),
        count(per_task.iter().copied().min().unwrap_or(0) as f64),
        count(per_task.iter().copied().max().unwrap_or(0) as f64),
        count(change.polls() as f64),
        count(sum(|w| w.yields_yield_now) as f64),
        count(sum(|w| w.yields_budget) as f64),
        count(sum(|w| w.self_wakes_local) as f64),
        count((sum(|w| w.wakes_lifo + w.wakes_local_queue) + change.wakes_remote) as f64),
        count(sum(|w| w.parks) as f64),
        format!("{:.2}", common::imbalance(&polls)),
    ]
}

/// Runs one case; returns each task's operation count.
async fn run_case(primitive: Primitive, n: usize, run_for: Duration, hold: Duration) -> Vec<u64> {
    let stop = Arc::new(AtomicBool::new(false));
    // The mpsc case's receiver, which ends once every sender is gone.
    let mut receiver = None;
    let handles: Vec<tokio::task::JoinHandle<u64>> = match primitive {
        Primitive::TokioMutex => {
            let lock = Arc::new(tokio::sync::Mutex::new(0u64));
            (0..n)
                .map(|_| {
                    let (lock, stop) = (lock.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut ops = 0;
                        while !stop.load(Ordering::Relaxed) {
                            {
                                let mut guard = lock.lock().await;
                                *guard += 1;
                                spin(hold);
                            }
                            spin(hold);
                            ops += 1;
                        }
                        ops
                    })
                })
                .collect()
        }
        Primitive::ParkingLot => {
            let lock = Arc::new(parking_lot::Mutex::new(0u64));
            (0..n)
                .map(|_| {
                    let (lock, stop) = (lock.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut ops = 0u64;
                        while !stop.load(Ordering::Relaxed) {
                            {
                                let mut guard = lock.lock();
                                *guard += 1;
                                spin(hold);
                            }
                            spin(hold);
                            ops += 1;
                            if ops % 256 == 0 {
                                tokio::task::yield_now().await;
                            }
                        }
                        ops
                    })
                })
                .collect()
        }
        Primitive::Mpsc => {
            let (tx, mut rx) = tokio::sync::mpsc::channel::<()>(64);
            receiver = Some(tokio::spawn(async move {
                while rx.recv().await.is_some() {
                    spin(hold);
                }
            }));
            (0..n)
                .map(|_| {
                    let (tx, stop) = (tx.clone(), stop.clone());
                    tokio::spawn(async move {
                        let mut ops = 0;
                        while !stop.load(Ordering::Relaxed) {
                            if tx.send(()).await.is_err() {
                                break;
                            }
                            spin(hold);
                            ops += 1;
                        }
                        ops
                    })
                })
                .collect()
        }
    };
    tokio::time::sleep(run_for).await;
    stop.store(true, Ordering::Relaxed);
    let mut per_task = Vec::with_capacity(n);
    for handle in handles {
        per_task.push(handle.await.unwrap_or(0));
    }
    if let Some(receiver) = receiver {
        let _ = receiver.await;
    }
    per_task
}
