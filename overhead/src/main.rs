//! `pulse-overhead`: the workload binary of `cargo xtask overhead`.
//!
//! xtask compiles this one source once per variant (stock Tokio 1.54.1, the
//! fork, the fork with poll timing, stock with upstream's poll-time
//! histogram, and with it upstream's schedule-latency histogram), with the same flags, so that only the runtime differs. The
//! variant's runtime options come from this package's cargo features, which
//! the generated manifest turns on.
//!
//! ```text
//! pulse-overhead list
//! pulse-overhead run WORKLOAD [--workers N] [--warmup N] [--iters N]
//! pulse-overhead mem [--workers N] [--tasks N]
//! ```
//!
//! `run` prints `key value...` lines: `unit`, `units` (per iteration), `ns`
//! (one duration per measured iteration) and `vmhwm_kib` (peak RSS). Under
//! callgrind xtask runs `--warmup 0 --iters 1` and `--iters N+1` and takes
//! the difference of the instruction counts, which cancels start-up.

mod alloc;
mod workloads;

use std::process::ExitCode;
use std::sync::{mpsc, Arc};
use std::time::Instant;

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

/// Options shared by the commands.
struct Options {
    workers: usize,
    warmup: usize,
    iters: usize,
    tasks: usize,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("pulse-overhead: {err}");
            ExitCode::from(2)
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let (command, rest) = args
        .split_first()
        .ok_or("usage: pulse-overhead list | run WORKLOAD [options] | mem [options]")?;
    match command.as_str() {
        "list" => {
            for name in workloads::names() {
                println!("{name}");
            }
            Ok(())
        }
        "run" => {
            let (name, rest) = rest
                .split_first()
                .ok_or("`run` needs a workload name (see `pulse-overhead list`)")?;
            let options = parse_options(rest)?;
            run_workload(name, &options)
        }
        "mem" => {
            let options = parse_options(rest)?;
            let rt = runtime(options.workers)?;
            let bytes = bytes_per_task(&rt, options.tasks);
            println!("bytes_per_task {bytes:.1}");
            println!("vmhwm_kib {}", peak_rss_kib()?);
            Ok(())
        }
        other => Err(format!(
            "unknown command {other:?}: expected list, run or mem"
        )),
    }
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        workers: 2,
        warmup: 2,
        iters: 5,
        tasks: 10_000,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("option {flag} needs a value"))?;
        let number: usize = value
            .parse()
            .map_err(|_| format!("option {flag}: {value:?} is not a non-negative integer"))?;
        match flag.as_str() {
            "--workers" if number > 0 => options.workers = number,
            "--warmup" => options.warmup = number,
            "--iters" if number > 0 => options.iters = number,
            "--tasks" if number > 0 => options.tasks = number,
            "--workers" | "--iters" | "--tasks" => {
                return Err(format!("option {flag} must be at least 1"))
            }
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(options)
}

/// The runtime every workload runs on, configured for this variant.
fn runtime(workers: usize) -> Result<Arc<tokio::runtime::Runtime>, String> {
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    builder.worker_threads(workers).enable_all();
    #[cfg(feature = "upstream_hist")]
    builder.enable_metrics_poll_time_histogram();
    #[cfg(feature = "upstream_sched")]
    builder.enable_metrics_schedule_latency_histogram();
    #[cfg(feature = "pulse_timing")]
    builder.pulse(
        tokio_pulse_probes::PulseConfig::new()
            .poll_timing(true)
            // fork+timing-nostamp: poll timing without the schedule stamp,
            // for the stamp's cost in the same run.
            .schedule_latency(!cfg!(feature = "pulse_nostamp")),
    );
    builder
        .build()
        .map(Arc::new)
        .map_err(|e| format!("cannot build the runtime: {e}"))
}

fn run_workload(name: &str, options: &Options) -> Result<(), String> {
    let rt = runtime(options.workers)?;
    let mut workload = workloads::build(name, &rt)?;
    for _ in 0..options.warmup {
        (workload.iteration)();
    }
    let mut ns = Vec::with_capacity(options.iters);
    for _ in 0..options.iters {
        let start = Instant::now();
        (workload.iteration)();
        ns.push(start.elapsed().as_nanos());
    }
    println!("unit {}", workload.unit);
    println!("units {}", workload.units);
    let ns: Vec<String> = ns.iter().map(u128::to_string).collect();
    println!("ns {}", ns.join(" "));
    println!("vmhwm_kib {}", peak_rss_kib()?);
    Ok(())
}

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn peak_rss_kib() -> Result<u64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "/proc/self/status has no readable VmHWM line".to_string())
}

/// Net heap bytes per task while `tasks` tasks, spawned from a worker, are
/// alive and pending. Counted by the global allocator.
fn bytes_per_task(rt: &tokio::runtime::Runtime, tasks: usize) -> f64 {
    let (ready_tx, ready_rx) = mpsc::sync_channel(1);
    let (release_tx, release_rx) = tokio::sync::watch::channel(false);
    alloc::set_counting(true);
    let before = alloc::live();
    rt.spawn(async move {
        for _ in 0..tasks {
            let mut release = release_rx.clone();
            tokio::spawn(async move {
                let _ = release.wait_for(|go| *go).await;
            });
        }
        let _ = ready_tx.send(());
    });
    ready_rx
        .recv()
        .expect("the spawning task panicked before finishing");
    let after = alloc::live();
    alloc::set_counting(false);
    let _ = release_tx.send(true);
    (after - before) as f64 / tasks as f64
}
