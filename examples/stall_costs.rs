//! What stall stacks cost: from the watchdog's signal to the captured stack
//! (median, p99), how long the stuck thread ran the handler instead of its
//! own code (timed by the handler, on that thread), and how long
//! symbolizing took, the first time and from the cache. Linux x86_64 and
//! AArch64 (elsewhere there is nothing to measure).
//!
//! `cargo run --release -p tokio-pulse-examples --example stall_costs -- --help`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use tokio_pulse_rt::{PulseConfig, PulseListener, SlowPoll, Stall};

/// Measures stall-stack capture on a runtime whose tasks keep stalling.
#[derive(Debug, Parser)]
#[command(name = "stall_costs", version)]
struct Args {
    /// Stalls to cause (half of them sleeping, half spinning).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(2..=100_000))]
    stalls: u64,
    /// Worker threads (each reports at most 10 stalls a second).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    workers: u64,
}

#[derive(Default)]
struct Costs {
    /// (signal to capture, interrupted for, symbolized in), per report.
    samples: Mutex<Vec<(Duration, Duration, Duration)>>,
    /// Reports without a stack, and why.
    missing: Mutex<Vec<String>>,
}

struct Collect(Arc<Costs>);

impl PulseListener for Collect {
    fn slow_poll(&self, _: &SlowPoll) {}
    fn stall(&self, event: &Stall) {
        if event.ended {
            return;
        }
        match (&event.details.stack, event.details.stack_unavailable) {
            (Some(stack), _) => self.0.samples.lock().unwrap().push((
                stack.signal_to_capture,
                stack.interrupted_for,
                stack.symbolized_in,
            )),
            (None, why) => self.0.missing.lock().unwrap().push(format!("{why:?}")),
        }
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

#[inline(never)]
fn stuck(spin: bool, for_: Duration) {
    if spin {
        let started = Instant::now();
        while started.elapsed() < for_ {
            std::hint::spin_loop();
        }
    } else {
        std::thread::sleep(for_);
    }
}

fn main() {
    let args = Args::parse();
    let costs = Arc::new(Costs::default());
    if tokio_pulse_probes_listener(Collect(costs.clone())).is_err() {
        eprintln!("stall_costs: another listener is installed");
        std::process::exit(1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers as usize)
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_millis(5))
                .watchdog_period(Duration::from_millis(1)),
        )
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("stall_costs: cannot build the runtime: {err}");
            std::process::exit(1);
        }
    };
    let preload = tokio_pulse_rt::preload_symbols();
    let started = Instant::now();
    let run = rt.block_on(async {
        let tasks: Vec<_> = (0..args.stalls)
            .map(|i| tokio::spawn(async move { stuck(i % 2 == 1, Duration::from_millis(15)) }))
            .collect();
        for task in tasks {
            let _ = task.await;
        }
        started.elapsed()
    });
    println!("{} stalls caused in {run:.1?}", args.stalls);
    // The watchdog delivers a sample's reports after symbolizing them: wait
    // until no report has come for a second.
    let count = || costs.samples.lock().unwrap().len() + costs.missing.lock().unwrap().len();
    let mut seen = count();
    let waited = Instant::now();
    while waited.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_secs(1));
        let now = count();
        if now == seen {
            break;
        }
        seen = now;
    }
    let samples = costs.samples.lock().unwrap().clone();
    let missing = costs.missing.lock().unwrap().clone();
    if !missing.is_empty() {
        println!("{} reports without a stack: {missing:?}", missing.len());
    }
    if samples.is_empty() {
        println!("no stacks captured (this platform captures none, or stacks are off)");
        return;
    }
    let mut latency: Vec<Duration> = samples.iter().map(|s| s.0).collect();
    let mut interrupted: Vec<Duration> = samples.iter().map(|s| s.1).collect();
    let symbolized: Vec<Duration> = samples.iter().map(|s| s.2).collect();
    latency.sort();
    interrupted.sort();
    let mut cached = symbolized[1..].to_vec();
    cached.sort();
    println!(
        "{} stacks captured ({} workers)",
        samples.len(),
        args.workers
    );
    println!("symbols preloaded in {preload:.1?} (background, once per process)");
    println!(
        "signal -> stack captured: median {:.1?}, p99 {:.1?}, max {:.1?}",
        percentile(&latency, 0.5),
        percentile(&latency, 0.99),
        latency[latency.len() - 1]
    );
    println!(
        "stuck thread interrupted (timed by the handler): median {:.1?}, p99 {:.1?}, max {:.1?}",
        percentile(&interrupted, 0.5),
        percentile(&interrupted, 0.99),
        interrupted[interrupted.len() - 1]
    );
    if !cached.is_empty() {
        println!(
            "symbolization: first stack {:.1?}; later stacks median {:.1?}, p99 {:.1?}",
            symbolized[0],
            percentile(&cached, 0.5),
            percentile(&cached, 0.99)
        );
    }
    println!(
        "preallocated: {} bytes per process for the handler's buffer ({} frames), none per worker",
        tokio_pulse_rt::MAX_FRAMES * std::mem::size_of::<usize>(),
        tokio_pulse_rt::MAX_FRAMES
    );
}

fn tokio_pulse_probes_listener(listener: Collect) -> Result<(), ()> {
    tokio_pulse_rt::set_listener(Box::new(listener)).map_err(|_| ())
}
