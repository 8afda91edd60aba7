//! Which task is blocking my runtime? One task blocks its worker with
//! `std::thread::sleep`, another spins; the probes name both, with the line
//! of this file that spawned them, and the watchdog reports the blocker while
//! it is still blocking.
//!
//! `cargo run --release -p tokio-pulse-examples --example slow_poll -- --help`

mod common;

use std::panic::Location;
use std::time::{Duration, Instant};

use clap::Parser;
use tokio_pulse_rt::{tier, PulseConfig};

/// Shows slow-poll events, the stall watchdog and the poll-time tiers.
#[derive(Debug, Parser)]
#[command(name = "slow_poll", version)]
struct Args {
    /// How long the blocking task sleeps inside one poll, in milliseconds.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=120_000))]
    block_ms: u64,

    /// How long the spinning task spins inside one poll, in milliseconds.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    spin_ms: u64,

    /// The stall threshold of the watchdog, in milliseconds.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    stall_ms: u64,

    /// Also serve the probes at http://ADDR/metrics while the example runs
    /// (for example 127.0.0.1:0 for any free port), so that a scraper sees
    /// the blocked worker while it is blocked.
    #[arg(long)]
    addr: Option<String>,
}

fn main() {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_target(true)
        .with_ansi(false)
        .init();
    tokio_pulse_rt::events::install();

    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .name("slow-poll-example")
        .enable_all()
        .pulse(
            PulseConfig::new()
                .poll_timing(true)
                .slow_poll_threshold(Duration::from_millis(1))
                .stall_watchdog(Duration::from_millis(args.stall_ms)),
        )
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("slow_poll: cannot build the runtime: {err}");
            std::process::exit(1);
        }
    };
    let _server = match &args.addr {
        Some(addr) => match tokio_pulse_rt::prometheus().listen(addr).install() {
            Ok(server) => {
                // Tools (and the dashboards' end-to-end test) read this line.
                eprintln!("slow_poll: serving http://{}/metrics", server.local_addr());
                Some(server)
            }
            Err(err) => {
                eprintln!("slow_poll: cannot serve /metrics: {err}");
                std::process::exit(1);
            }
        },
        None => None,
    };
    let probes = rt.handle().pulse();
    let before = probes.snapshot();

    let block = Duration::from_millis(args.block_ms);
    let spin_for = Duration::from_millis(args.spin_ms);
    let blocker_at = Location::caller();
    let blocker = rt.spawn(async move { std::thread::sleep(block) });
    let spinner_at = Location::caller();
    let spinner = rt.spawn(async move { common::spin(spin_for) });
    // Well-behaved neighbours: short polls, many of them.
    let neighbours: Vec<_> = (0..200)
        .map(|i| {
            rt.spawn(async move {
                for _ in 0..10 {
                    tokio::task::yield_now().await;
                }
                i
            })
        })
        .collect();
    // `Location::caller()` sits one line above each `rt.spawn`.
    println!(
        "blocker spawned at {}:{}, spinner at {}:{}",
        blocker_at.file(),
        blocker_at.line() + 1,
        spinner_at.file(),
        spinner_at.line() + 1
    );

    // What a scrape sees while it happens: each worker's time in its
    // current poll, live.
    let started = Instant::now();
    while !(blocker.is_finished() && spinner.is_finished()) {
        let now = probes.snapshot();
        let live: Vec<String> = now
            .workers
            .iter()
            .map(
                |w| match w.poll_time.as_ref().and_then(|t| t.current_poll) {
                    Some(d) if d >= Duration::from_millis(1) => format!("w{}: {d:.1?}", w.index),
                    _ => format!("w{}: -", w.index),
                },
            )
            .collect();
        println!(
            "{:>6.1?}  inside the current poll: {}",
            started.elapsed(),
            live.join("  ")
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    rt.block_on(async {
        let _ = blocker.await;
        let _ = spinner.await;
        for neighbour in neighbours {
            let _ = neighbour.await;
        }
    });
    // Let the watchdog notice the last stall ended.
    std::thread::sleep(Duration::from_millis(args.stall_ms * 2));

    let change = probes.snapshot().delta(&before);
    println!("\nper worker, over the run:");
    println!(
        "{:>6} {:>7} {:>10} {:>7} {:>12}   polls per tier (<1µs, 1-2µs, 2-4µs, ... ≥1s)",
        "worker", "polls", "slow", "stalls", "poll time"
    );
    for worker in &change.workers {
        let Some(timing) = &worker.poll_time else {
            continue;
        };
        let last = timing.tiers.iter().rposition(|&n| n > 0).unwrap_or(0);
        let tiers: Vec<String> = timing.tiers[..=last].iter().map(u64::to_string).collect();
        println!(
            "{:>6} {:>7} {:>10} {:>7} {:>12.2?}   {}",
            worker.index,
            worker.polls,
            timing.slow_polls,
            timing.stalls,
            timing.poll_time,
            tiers.join(" ")
        );
    }
    println!(
        "tier k holds polls of [2^(k-1), 2^k) µs; the {} ms block is in tier {}, the {} ms spin in tier {}",
        args.block_ms,
        tier::of_us(args.block_ms * 1000),
        args.spin_ms,
        tier::of_us(args.spin_ms * 1000)
    );
}
