//! Local vs remote spawn: the same tasks spawned from a worker and from a
//! plain thread, with what the probes count and how long each task waited
//! for its first poll.
//!
//! Run it with
//! `cargo run --release -p tokio-pulse-examples --example spawn_local_vs_remote -- --help`.
//!
//! What it does:
//!
//! 1. **Local.** A task on a worker spawns `--tasks` tasks, `--batch` at a
//!    time, and waits for each batch to finish. A spawn from a thread that
//!    holds a worker's core goes into that worker's LIFO slot or local queue,
//!    so it counts as `spawns_local` on that worker. The task that drives
//!    this is itself spawned from the main thread: that is one remote spawn.
//! 2. **Remote.** A plain OS thread spawns the same tasks through a
//!    `Handle`. Those go to the runtime's inject queue and a parked worker
//!    must be woken to run them: `spawns_remote`.
//!
//! Each task's latency to first poll is `Instant::now()` at the top of its
//! body minus an `Instant` taken just before the spawn call.

mod common;

use std::process::ExitCode;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{dur, Percentiles, Table};
use tokio_pulse_rt::{report::WorkerTable, RuntimeSnapshot};

/// Spawns the same tasks from a worker and from a plain thread, and compares.
#[derive(Debug, Parser)]
#[command(name = "spawn_local_vs_remote", version)]
struct Args {
    /// Tasks spawned on each path.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    tasks: u32,

    /// Tasks spawned back to back before waiting for them all to be polled.
    /// 1 shows the bare hand-off; larger batches add queueing.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    batch: u32,

    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

/// One path's results.
struct Outcome {
    name: &'static str,
    change: RuntimeSnapshot,
    latency: Percentiles,
    elapsed: Duration,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(rt) = common::runtime("spawn-demo", args.workers.into()) else {
        return ExitCode::FAILURE;
    };
    let probes = rt.handle().pulse();
    let (tasks, batch) = (args.tasks, args.batch);
    common::emit(&format!(
        "spawn_local_vs_remote: {tasks} tasks per path, batches of {batch}, {} workers\n\n",
        args.workers
    ));

    // 1. Local: a task on a worker spawns and awaits the batches.
    let before = probes.snapshot();
    let start = Instant::now();
    let local = rt.block_on(async move {
        let driver = tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(tasks as usize);
            let mut left = tasks;
            while left > 0 {
                let n = left.min(batch);
                left -= n;
                let handles: Vec<_> = (0..n)
                    .map(|_| {
                        let spawned = Instant::now();
                        tokio::spawn(async move { spawned.elapsed() })
                    })
                    .collect();
                for handle in handles {
                    latencies.push(handle.await.unwrap_or_default());
                }
            }
            latencies
        });
        driver.await.unwrap_or_default()
    });
    let local = Outcome {
        name: "local (from a worker)",
        elapsed: start.elapsed(),
        change: probes.snapshot().delta(&before),
        latency: Percentiles::of(&mut { local }),
    };

    // 2. Remote: a plain thread spawns through a handle and waits on a
    //    std channel for each batch.
    let handle = rt.handle().clone();
    let before = probes.snapshot();
    let start = Instant::now();
    let remote = std::thread::spawn(move || {
        let (tx, rx) = mpsc::channel::<Duration>();
        let mut latencies = Vec::with_capacity(tasks as usize);
        let mut left = tasks;
        while left > 0 {
            let n = left.min(batch);
            left -= n;
            for _ in 0..n {
                let tx = tx.clone();
                let spawned = Instant::now();
                handle.spawn(async move {
                    let _ = tx.send(spawned.elapsed());
                });
            }
            latencies.extend(rx.iter().take(n as usize));
        }
        latencies
    })
    .join()
    .unwrap_or_default();
    let remote = Outcome {
        name: "remote (plain thread)",
        elapsed: start.elapsed(),
        change: probes.snapshot().delta(&before),
        latency: Percentiles::of(&mut { remote }),
    };

    let mut table = Table::new([
        "path",
        "spawns_local",
        "spawns_remote",
        "polls",
        "steals",
        "parks",
        "first poll p50",
        "p90",
        "p99",
        "max",
        "wall",
    ]);
    for o in [&local, &remote] {
        let c = &o.change;
        table.row([
            o.name.to_string(),
            c.workers
                .iter()
                .map(|w| w.spawns_local)
                .sum::<u64>()
                .to_string(),
            c.spawns_remote.to_string(),
            c.polls().to_string(),
            c.stolen_tasks().to_string(),
            c.workers.iter().map(|w| w.parks).sum::<u64>().to_string(),
            dur(o.latency.p50),
            dur(o.latency.p90),
            dur(o.latency.p99),
            dur(o.latency.max),
            dur(o.elapsed),
        ]);
    }
    let mut text = table.to_string();
    for o in [&local, &remote] {
        text += &format!("\n{}: per worker\n{}", o.name, WorkerTable::new(&o.change));
    }
    text += concat!(
        "\nThe local path's one remote spawn is its driver task, spawned from main.\n",
        "Local spawns land in the spawning worker's LIFO slot and run as soon as it\n",
        "awaits; remote spawns go through the inject queue and often wait for a\n",
        "parked worker to wake.\n"
    );
    common::emit(&text);
    rt.shutdown_timeout(Duration::from_secs(1));
    ExitCode::SUCCESS
}
