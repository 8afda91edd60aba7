//! Fairness: CPU-hog tasks beside a latency-sensitive ticker. Shows how late
//! the ticker's ticks fire, and what the yield and budget counters say about
//! the hogs, for hogs that never yield, yield by hand, spend coop budget, or
//! move their work to the blocking pool.
//!
//! Run it with
//! `cargo run --release -p tokio-pulse-examples --example fairness -- --help`.
//!
//! Each scenario runs for `--duration` ms on a runtime with `--workers`
//! workers:
//!
//! - a ticker task wants to run every `--tick` ms. For each scheduled tick
//!   it records how late it woke (`sleep_until` returned, minus the tick's
//!   scheduled time). It sleeps through every tick of the scenario, however
//!   late, so each scenario has the same number of ticks;
//! - `--hogs` tasks burn CPU in `--chunk` µs pieces until the scenario ends:
//!   - `none`: no hogs, the baseline;
//!   - `no-yield`: never await between chunks. With at least as many hogs as
//!     workers, nothing else runs, timers included, until they stop;
//!   - `yield-now`: `tokio::task::yield_now()` after each chunk;
//!   - `budget`: `tokio::task::consume_budget()` after each 1/128 of a chunk,
//!     so Tokio's coop budget (128 units) makes them yield about once a chunk;
//!   - `spawn-blocking`: each chunk runs in `spawn_blocking`, off the workers.

mod common;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use common::{dur, spin, Percentiles, Table};

/// Runs CPU hogs beside a ticker and shows the ticker's delays and the hogs' yields.
#[derive(Debug, Parser)]
#[command(name = "fairness", version)]
struct Args {
    /// Scenarios to run, comma-separated.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "none,no-yield,yield-now,budget,spawn-blocking"
    )]
    scenarios: Vec<Hogs>,

    /// CPU-hog tasks.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=1024))]
    hogs: u16,

    /// Microseconds of work in one hog chunk.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(128..=1_000_000))]
    chunk: u64,

    /// Milliseconds between the ticker's ticks.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    tick: u64,

    /// Milliseconds each scenario runs.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(50..=600_000))]
    duration: u64,

    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Hogs {
    /// No hogs: the baseline.
    None,
    /// Hogs that never await.
    NoYield,
    /// Hogs that call `yield_now()` after each chunk.
    YieldNow,
    /// Hogs that call `consume_budget()` 128 times per chunk.
    Budget,
    /// Hogs whose chunks run in `spawn_blocking`.
    SpawnBlocking,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let Some(rt) = common::runtime("fairness", args.workers.into()) else {
        return ExitCode::FAILURE;
    };
    let probes = rt.handle().pulse();
    let run_for = Duration::from_millis(args.duration);
    let tick = Duration::from_millis(args.tick);
    let chunk = Duration::from_micros(args.chunk);
    if !common::emit(&format!(
        "fairness: {} workers, {} hogs of {} µs chunks, a ticker every {} ms, {} ms per scenario\n\n",
        args.workers, args.hogs, args.chunk, args.tick, args.duration
    )) {
        return ExitCode::SUCCESS;
    }

    let mut table = Table::new([
        "hogs",
        "ticks",
        "late p50",
        "p90",
        "p99",
        "max",
        "hog chunks",
        "polls",
        "yield_now",
        "budget",
        "self_wake",
        "parks",
    ]);
    for &scenario in &args.scenarios {
        let before = probes.snapshot();
        let stop = Arc::new(AtomicBool::new(false));
        let chunks = Arc::new(AtomicU64::new(0));
        let ticks = (run_for.as_nanos() / tick.as_nanos()).max(1) as u32;
        let ticker = rt.spawn(ticker(tick, ticks));
        let hogs: Vec<_> = if scenario == Hogs::None {
            Vec::new()
        } else {
            (0..args.hogs)
                .map(|_| rt.spawn(hog(scenario, chunk, stop.clone(), chunks.clone())))
                .collect()
        };
        // Sleep on this thread, not in the runtime: `no-yield` hogs keep
        // every worker busy, and then the runtime's timers do not fire.
        std::thread::sleep(run_for);
        stop.store(true, Ordering::Relaxed);
        let mut delays = rt.block_on(async move {
            for hog in hogs {
                let _ = hog.await;
            }
            ticker.await.unwrap_or_default()
        });
        let change = probes.snapshot().delta(&before);
        let late = Percentiles::of(&mut delays);
        let sum = |f: fn(&tokio_pulse_rt::WorkerSnapshot) -> u64| -> String {
            change.workers.iter().map(f).sum::<u64>().to_string()
        };
        table.row([
            scenario
                .to_possible_value()
                .map(|v| v.get_name().to_owned())
                .unwrap_or_default(),
            late.count.to_string(),
            dur(late.p50),
            dur(late.p90),
            dur(late.p99),
            dur(late.max),
            chunks.load(Ordering::Relaxed).to_string(),
            change.polls().to_string(),
            sum(|w| w.yields_yield_now),
            sum(|w| w.yields_budget),
            sum(|w| w.self_wakes_local),
            sum(|w| w.parks),
        ]);
    }
    common::emit(&format!(
        "{table}{}",
        concat!(
            "\nRead it: the ticker's own yields are none; every yield_now and budget\n",
            "yield above is a hog giving the worker back. no-yield hogs show zero of\n",
            "both, and the ticker waits for them to end. spawn-blocking hogs leave the\n",
            "workers idle (parks); their threads still compete for the CPU cores, so on\n",
            "a machine with fewer cores than hogs the ticker can still be late.\n",
        )
    ));
    rt.shutdown_timeout(Duration::from_secs(1));
    ExitCode::SUCCESS
}

/// Sleeps until each of `ticks` ticks `every` apart and returns how late
/// each wake-up was.
async fn ticker(every: Duration, ticks: u32) -> Vec<Duration> {
    let start = tokio::time::Instant::now();
    let mut delays = Vec::with_capacity(ticks as usize);
    for k in 1..=ticks {
        let due = start + every * k;
        tokio::time::sleep_until(due).await;
        delays.push(tokio::time::Instant::now().saturating_duration_since(due));
    }
    delays
}

/// Burns CPU in `chunk` pieces until `stop`, yielding as `kind` says.
async fn hog(kind: Hogs, chunk: Duration, stop: Arc<AtomicBool>, chunks: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        match kind {
            Hogs::None => return,
            Hogs::NoYield => spin(chunk),
            Hogs::YieldNow => {
                spin(chunk);
                tokio::task::yield_now().await;
            }
            Hogs::Budget => {
                for _ in 0..128 {
                    spin(chunk / 128);
                    tokio::task::consume_budget().await;
                }
            }
            Hogs::SpawnBlocking => {
                let _ = tokio::task::spawn_blocking(move || spin(chunk)).await;
            }
        }
        chunks.fetch_add(1, Ordering::Relaxed);
    }
}
