//! Work stealing: every task is spawned onto one worker, and the others
//! steal. Shows the steal matrix (thief × victim) as a heatmap, and how the
//! load evens out over time.
//!
//! Run it with
//! `cargo run --release -p tokio-pulse-examples --example work_stealing -- --help`.
//!
//! What it does, each round:
//!
//! 1. A driver task, on whichever worker picks it up (the *victim*), spawns
//!    `--tasks` CPU-bound children. Spawns from a worker go to its own local
//!    queue (capacity 256; beyond that, half the queue overflows into the
//!    inject queue, counted as `overflows`).
//! 2. Idle workers are woken and steal half of the victim's queue at a time.
//! 3. A sampler thread snapshots the probes every `--interval` ms: polls per
//!    worker in each interval, and each worker's local queue depth.
//!
//! The timeline shows the victim's queue draining and the thieves' polls
//! rising; the matrix shows who stole from whom.

mod common;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use common::{spin, Table};
use crossterm::style::{Color, Stylize};
use tokio_pulse_rt::{RuntimeProbes, RuntimeSnapshot};

/// Spawns all work onto one worker and shows how the others steal it.
#[derive(Debug, Parser)]
#[command(name = "work_stealing", version)]
struct Args {
    /// Children spawned per round, all from one worker.
    #[arg(long, default_value_t = 250, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    tasks: u32,

    /// Microseconds of busy work per child.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    task_us: u64,

    /// Rounds; the timeline is shown for the first, the matrix covers all.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=1000))]
    rounds: u32,

    /// Milliseconds between timeline samples.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    interval: u64,

    /// Worker threads of the runtime.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(2..=64))]
    workers: u16,

    /// Never color the heatmap (also when `NO_COLOR` is set or stdout is not a terminal).
    #[arg(long)]
    no_color: bool,
}

/// One timeline sample: the change over one interval.
struct Sample {
    at: Duration,
    change: RuntimeSnapshot,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let workers = usize::from(args.workers);
    let Some(rt) = common::runtime("stealing", workers) else {
        return ExitCode::FAILURE;
    };
    let color =
        !args.no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
    let probes = rt.handle().pulse();
    let work = Duration::from_micros(args.task_us);
    if !common::emit(&format!(
        "work_stealing: {} workers, {} rounds of {} children x {} µs, all spawned from one worker\n",
        workers, args.rounds, args.tasks, args.task_us
    )) {
        return ExitCode::SUCCESS;
    }

    let start = probes.snapshot();
    let mut rounds = Table::new([
        "round",
        "victim",
        "spawned",
        "overflows",
        "stolen",
        "by thieves",
        "wall",
    ]);
    let mut timeline = Vec::new();
    for round in 0..args.rounds {
        let before = probes.snapshot();
        let began = Instant::now();
        let done = Arc::new(AtomicBool::new(false));
        let sampler = (round == 0).then(|| {
            let (probes, done) = (probes.clone(), done.clone());
            let every = Duration::from_millis(args.interval);
            std::thread::spawn(move || sample(&probes, &done, every))
        });
        let tasks = args.tasks;
        rt.block_on(async move {
            let driver = tokio::spawn(async move {
                let children: Vec<_> = (0..tasks)
                    .map(|_| tokio::spawn(async move { spin(work) }))
                    .collect();
                for child in children {
                    let _ = child.await;
                }
            });
            let _ = driver.await;
        });
        done.store(true, Ordering::Relaxed);
        if let Some(samples) = sampler.and_then(|s| s.join().ok()) {
            timeline = samples;
        }
        let change = probes.snapshot().delta(&before);
        let victim = change
            .workers
            .iter()
            .max_by_key(|w| w.spawns_local)
            .map(|w| w.index)
            .unwrap_or(0);
        let by_thieves: u64 = change
            .workers
            .iter()
            .filter(|w| w.index != victim)
            .filter_map(|w| w.steals_from.get(victim))
            .map(|cell| cell.tasks)
            .sum();
        rounds.row([
            round.to_string(),
            format!("worker {victim}"),
            change.workers[victim].spawns_local.to_string(),
            change
                .workers
                .iter()
                .map(|w| w.overflows_batch)
                .sum::<u64>()
                .to_string(),
            change.stolen_tasks().to_string(),
            format!("{by_thieves} from the victim"),
            common::dur(began.elapsed()),
        ]);
    }
    let total = probes.snapshot().delta(&start);

    let mut text = format!("\n{rounds}");
    text += &format!(
        "\nround 0, every {} ms: polls per worker in the interval, and local queue depth\n",
        args.interval
    );
    text += &render_timeline(&timeline, workers, color);
    text += "\nsteal matrix, all rounds: tasks stolen (row = thief, column = victim)\n";
    text += &render_matrix(&total, color);
    text += &format!(
        "\nsteal attempts {}, successful {}, failed {}; polls per worker {:?}\n",
        total.workers.iter().map(|w| w.steal_attempts).sum::<u64>(),
        total
            .workers
            .iter()
            .map(|w| w.steal_operations)
            .sum::<u64>(),
        total.workers.iter().map(|w| w.failed_steals()).sum::<u64>(),
        total.workers.iter().map(|w| w.polls).collect::<Vec<_>>(),
    );
    common::emit(&text);
    rt.shutdown_timeout(Duration::from_secs(1));
    ExitCode::SUCCESS
}

/// Snapshots `probes` every `every` until `done`, and once more after.
fn sample(probes: &RuntimeProbes, done: &AtomicBool, every: Duration) -> Vec<Sample> {
    let start = Instant::now();
    let mut last = probes.snapshot();
    let mut samples = Vec::new();
    loop {
        let finished = done.load(Ordering::Relaxed);
        std::thread::sleep(every);
        let now = probes.snapshot();
        samples.push(Sample {
            at: start.elapsed(),
            change: now.delta(&last),
        });
        last = now;
        if finished || samples.len() >= 10_000 {
            return samples;
        }
    }
}

/// A shaded cell for `value` out of `max`: a block glyph always, and a
/// background color from dark to red when `color`.
fn shade(value: u64, max: u64, width: usize, color: bool) -> String {
    const GLYPHS: [char; 5] = [' ', '░', '▒', '▓', '█'];
    let level = if max == 0 || value == 0 {
        0.0
    } else {
        value as f64 / max as f64
    };
    let glyph = if value == 0 {
        GLYPHS[0]
    } else {
        GLYPHS[1 + ((level * 3.999) as usize).min(3)]
    };
    let text = format!("{glyph}{value:>w$}", w = width - 1);
    if !color {
        return text;
    }
    let heat = (level * 255.0) as u8;
    text.on(Color::Rgb {
        r: heat,
        g: 40,
        b: 255 - heat,
    })
    .with(Color::White)
    .to_string()
}

fn render_timeline(samples: &[Sample], workers: usize, color: bool) -> String {
    let max = samples
        .iter()
        .flat_map(|s| s.change.workers.iter().map(|w| w.polls))
        .max()
        .unwrap_or(0);
    let mut out = format!("{:>8}", "t");
    for w in 0..workers {
        out += &format!("  {:>7}", format!("w{w} polls"));
    }
    out += "   queue depth per worker  stolen\n";
    for s in samples {
        out += &format!("{:>8}", common::dur(s.at));
        for w in &s.change.workers {
            out += "  ";
            out += &shade(w.polls, max, 9, color);
        }
        let depths: Vec<String> = s
            .change
            .workers
            .iter()
            .map(|w| w.local_queue_depth.map_or("-".into(), |d| d.to_string()))
            .collect();
        out += &format!("   {:<24}  {}\n", depths.join(" "), s.change.stolen_tasks());
    }
    out
}

fn render_matrix(total: &RuntimeSnapshot, color: bool) -> String {
    let max = total
        .workers
        .iter()
        .flat_map(|w| w.steals_from.iter().map(|c| c.tasks))
        .max()
        .unwrap_or(0);
    let mut out = format!("{:>10}", "thief");
    for v in 0..total.workers.len() {
        out += &format!(" {:>8}", format!("v{v}"));
    }
    out += "     total\n";
    for thief in &total.workers {
        out += &format!("{:>10}", format!("w{}", thief.index));
        for (victim, cell) in thief.steals_from.iter().enumerate() {
            out += " ";
            if victim == thief.index {
                out += &format!("{:>8}", "·");
            } else {
                out += &shade(cell.tasks, max, 8, color);
            }
        }
        out += &format!("  {:>8}\n", thief.stolen_tasks);
    }
    out
}
