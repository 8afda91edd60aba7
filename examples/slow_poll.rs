//! Which task is blocking my runtime, and why? One task blocks its worker
//! with `std::thread::sleep`, another spins; the probes name both, with the
//! line of this file that spawned them, and the watchdog reports the blocker
//! while it is still blocking: with the stuck thread's own stack (naming
//! `slow_poll::blocker` and its line), its CPU share (about 0 % asleep,
//! about 100 % spinning), its state and syscall. The reports are kept for
//! `tokio_pulse_rt::stalls()`, printed at the end.
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

/// Blocks its worker: the stall report's stack names this function.
#[inline(never)]
fn blocker(block: Duration) -> Duration {
    let started = Instant::now();
    std::thread::sleep(block);
    // Work after the sleep keeps this frame on the stack (a tail call to
    // `sleep` would leave none to name).
    started.elapsed()
}

/// Keeps its worker busy: on CPU all along.
#[inline(never)]
fn spinner(spin_for: Duration) {
    common::spin(spin_for);
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
    // The watchdog names the stuck code by this program's debug info, which
    // it loads in the background once per process; wait for it, so that
    // both stalls below get their stacks at once.
    let loaded = tokio_pulse_rt::preload_symbols();
    println!("symbols for stall stacks loaded in {loaded:.1?}");
    let before = probes.snapshot();

    let block = Duration::from_millis(args.block_ms);
    let spin_for = Duration::from_millis(args.spin_ms);
    let blocker_at = Location::caller();
    let blocker = rt.spawn(async move {
        let _ = blocker(block);
    });
    let spinner_at = Location::caller();
    let spinner = rt.spawn(async move { spinner(spin_for) });
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
    // Let the watchdog notice the last stall ended (the first stack it
    // symbolizes makes it read this binary's debug info, which takes a
    // moment).
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(10) {
        let snapshot = probes.snapshot();
        let reported = snapshot.workers.iter().all(|worker| {
            let stalled = worker.poll_time.as_ref().is_some_and(|t| t.stalls > 0);
            !stalled || worker.last_stall.as_ref().is_some_and(|stall| stall.ended)
        });
        if reported {
            break;
        }
        std::thread::sleep(Duration::from_millis(args.stall_ms));
    }

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

    println!("\nthe last stall report of each worker (tokio_pulse_rt::stalls()):");
    for stall in tokio_pulse_rt::stalls() {
        if stall.runtime_id != probes.id() {
            continue;
        }
        println!(
            "worker {}: {:.1?} in {}",
            stall.worker, stall.duration, stall.task
        );
        let details = &stall.details;
        if let Some(cpu) = &details.cpu {
            println!("  {cpu}");
        }
        if let Some(thread) = &details.thread {
            println!("  thread {}: {thread}", details.thread_id.unwrap_or(0));
        }
        match (&details.stack, details.stack_unavailable) {
            (Some(stack), _) => {
                if let Some(top) = stack.top_user_frame() {
                    println!("  stuck in {top}");
                }
                println!(
                    "  captured {:.1?} after the signal; the thread was interrupted for {:.1?}; \
                     symbolized in {:.1?}",
                    stack.signal_to_capture, stack.interrupted_for, stack.symbolized_in
                );
                print!("{stack}");
            }
            (None, Some(why)) => println!("  no stack: {why}"),
            (None, None) => {}
        }
    }
}
