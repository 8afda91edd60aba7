//! The Tokio-Pulse demo: a multi-thread runtime running a mixed workload,
//! with a live per-worker table of what the scheduler probes see.
//!
//! Run it with `cargo xtask demo` (which materializes the fork first), or
//! `cargo run --release -p tokio-pulse-examples --example demo -- --help`.
//! It serves every counter at `http://127.0.0.1:9464/metrics` for
//! Prometheus, and everything as JSON at `/pulse.json` for `tokio-pulse top`
//! (`--addr` to change; port 0 picks a free port and the demo prints which,
//! on stderr).
//!
//! On a terminal it shows the `tokio-pulse top` view of its own runtime,
//! drawn in-process by the same library (`tokio-pulse-top`) from the same
//! JSON; `q` or Ctrl-C stops it. Headless (stdout not a terminal) it prints
//! a plain per-worker table every `--interval` instead. Either way it says
//! how to stop it and where `/metrics` is. Poll timing and a 50 ms stall
//! watchdog are on, so the view has busy shares, poll times and stalls.
//!
//! The workload, each part running concurrently:
//!
//! 1. **local spawns**: a task that spawns short-lived children in batches;
//! 2. **remote spawns**: a plain OS thread spawning through a `Handle`;
//! 3. **yields**: tasks that call `yield_now()` in a loop, and tasks that run
//!    out of coop budget on a busy channel;
//! 4. **I/O**: TCP echo over loopback, a server and several clients;
//! 5. **imbalance**: every few hundred milliseconds one task floods its own
//!    worker with CPU-bound children and then stays busy itself, so the other
//!    workers must steal;
//! 6. **contention**: tasks taking turns on one `tokio::sync::Mutex`.

mod common;

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use crossterm::{cursor, terminal, QueueableCommand};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_pulse_rt::{
    report::WorkerTable, PulseConfig, RuntimeProbes, RuntimeSnapshot, ScheduleSource, WorkerState,
};
use tokio_pulse_top::{model::Document, Options, Source};

/// Runs a mixed workload on the instrumented runtime and shows the probes live.
#[derive(Debug, Parser)]
#[command(name = "demo", version)]
struct Args {
    /// Worker threads of the demo runtime.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,

    /// Stop after this many seconds; 0 runs until Ctrl-C.
    #[arg(long, default_value_t = 0)]
    duration: u64,

    /// Which part of the workload to run.
    #[arg(long, value_enum, default_value_t = Workload::Mixed)]
    workload: Workload,

    /// Seconds between table refreshes.
    #[arg(long, default_value_t = 1.0)]
    interval: f64,

    /// Where to serve `/metrics` for Prometheus (`ip:port`; port 0 picks a
    /// free one).
    #[arg(long, default_value = tokio_pulse_rt::prometheus::DEFAULT_ADDR)]
    addr: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Workload {
    /// All of the parts below at once.
    Mixed,
    /// Local and remote spawns only.
    Spawn,
    /// Yield loops and coop-budget exhaustion only.
    Yield,
    /// TCP echo over loopback only.
    Io,
    /// The imbalanced phase only, to watch stealing.
    Steal,
    /// Lock contention only.
    Contention,
}

impl Workload {
    fn runs(self, part: Workload) -> bool {
        self == Workload::Mixed || self == part
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    if !(args.interval.is_finite() && args.interval >= 0.05) {
        eprintln!(
            "demo: --interval must be at least 0.05 seconds, got {}",
            args.interval
        );
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.into())
        .name("demo")
        .enable_all()
        .pulse(
            PulseConfig::new()
                .poll_timing(true)
                .stall_watchdog(Duration::from_millis(50)),
        )
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("demo: cannot build the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let probes = rt.handle().pulse();
    let server = match tokio_pulse_rt::prometheus().listen(&args.addr).install() {
        Ok(server) => server,
        Err(err) => {
            eprintln!("demo: cannot serve /metrics: {err}");
            if matches!(err, tokio_pulse_rt::ExportError::Bind { .. }) {
                eprintln!("demo: pass --addr 127.0.0.1:0 to use any free port");
            }
            return ExitCode::FAILURE;
        }
    };
    // Tools (and the end-to-end test) read this line to find the port.
    eprintln!("demo: serving http://{}/metrics", server.local_addr());
    let live = std::io::stdout().is_terminal();
    eprintln!(
        "demo: press {} to stop; Prometheus metrics at http://{addr}/metrics, \
         the JSON view at http://{addr}/pulse.json (`cargo xtask top -- http://{addr}`)",
        if live { "q or Ctrl-C" } else { "Ctrl-C" },
        addr = server.local_addr()
    );

    if args.workload.runs(Workload::Spawn) {
        spawn_remote_feeder(rt.handle().clone());
    }
    let workload = args.workload;
    let started = rt.block_on(async move {
        let io_ready = if workload.runs(Workload::Io) {
            start_echo().await
        } else {
            Ok(())
        };
        if workload.runs(Workload::Spawn) {
            tokio::spawn(local_spawner());
        }
        if workload.runs(Workload::Yield) {
            for _ in 0..2 {
                tokio::spawn(yielder());
            }
            tokio::spawn(budget_burner());
        }
        if workload.runs(Workload::Steal) {
            tokio::spawn(imbalance());
        }
        if workload.runs(Workload::Contention) {
            let lock = Arc::new(tokio::sync::Mutex::new(0u64));
            for _ in 0..8 {
                tokio::spawn(contender(lock.clone()));
            }
        }
        io_ready
    });
    if let Err(err) = started {
        eprintln!("demo: cannot start the loopback echo server: {err}");
        return ExitCode::FAILURE;
    }

    let deadline = (args.duration > 0).then(|| Instant::now() + Duration::from_secs(args.duration));
    let interval = Duration::from_secs_f64(args.interval);
    let result = if live {
        top_view(&probes, server.local_addr(), deadline, interval)
    } else {
        rt.block_on(show(probes, deadline, interval))
    };
    server.stop();
    rt.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("demo: cannot write to the terminal: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The `tokio-pulse top` view of this process, drawn in-process from
/// `tokio_pulse_rt::json::value()`, until `q`, Ctrl-C or the deadline; then
/// the totals.
fn top_view(
    probes: &RuntimeProbes,
    addr: std::net::SocketAddr,
    deadline: Option<Instant>,
    interval: Duration,
) -> std::io::Result<()> {
    let start = probes.snapshot();
    let source = Source::from_fn(
        format!("demo (in-process, pid {})", std::process::id()),
        || Document::from_value(tokio_pulse_rt::json::value()),
    );
    let options = Options {
        interval,
        note: Some(format!(
            "demo: q or Ctrl-C stops it · Prometheus: http://{addr}/metrics · JSON: http://{addr}/pulse.json"
        )),
        until: deadline,
    };
    tokio_pulse_top::run(vec![source], &options)?;
    print_totals(&probes.snapshot().delta(&start));
    Ok(())
}

fn print_totals(total: &RuntimeSnapshot) {
    println!(
        "\ndemo: {:.1} s, {} polls ({:.0}/s), {} spawns, {} tasks stolen",
        total.uptime.as_secs_f64(),
        total.polls(),
        total.rate(total.polls()),
        total.spawns(),
        total.stolen_tasks()
    );
}

/// Prints the table until the deadline or Ctrl-C: redrawn in place on a
/// terminal, appended as plain text otherwise.
async fn show(
    probes: Arc<RuntimeProbes>,
    deadline: Option<Instant>,
    interval: Duration,
) -> std::io::Result<()> {
    let live = std::io::stdout().is_terminal();
    let mut out = std::io::stdout();
    let start = probes.snapshot();
    let mut last = start.clone();
    let mut drawn_lines = 0u16;
    let mut ticker = tokio::time::interval(interval);
    ticker.tick().await;
    loop {
        let stop = tokio::select! {
            _ = ticker.tick() => deadline.is_some_and(|d| Instant::now() >= d),
            _ = tokio::signal::ctrl_c() => true,
        };
        let now = probes.snapshot();
        let window = now.delta(&last);
        let text = render(&now, &window);
        if live {
            if drawn_lines > 0 {
                out.queue(cursor::MoveToPreviousLine(drawn_lines))?;
                out.queue(terminal::Clear(terminal::ClearType::FromCursorDown))?;
            }
            drawn_lines = u16::try_from(text.lines().count()).unwrap_or(u16::MAX);
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        last = now;
        if stop {
            print_totals(&last.delta(&start));
            return Ok(());
        }
    }
}

fn render(now: &RuntimeSnapshot, window: &RuntimeSnapshot) -> String {
    format!(
        "runtime {:?}: up {:.1} s, last {:.1} s: {:.0} polls/s, {} remote spawns, {} remote wakes\n{}{}",
        now.name,
        now.uptime.as_secs_f64(),
        window.uptime.as_secs_f64(),
        window.rate(window.polls()),
        window.spawns_remote,
        window.wakes_remote,
        WorkerTable::new(window),
        timed_rows(window) + &render_sampled(window)
    )
}

/// With poll timing on, one row per worker: the share of the window spent
/// in each worker state, and the mean schedule latency by source.
fn timed_rows(window: &RuntimeSnapshot) -> String {
    let mut rows = String::new();
    for w in &window.workers {
        let (Some(states), Some(latency)) = (&w.states, &w.schedule_latency) else {
            continue;
        };
        let total = states.total().as_secs_f64().max(f64::MIN_POSITIVE);
        let shares: Vec<String> = WorkerState::ALL
            .iter()
            .map(|&s| {
                format!(
                    "{} {:.0}%",
                    s.label(),
                    100.0 * states.state(s).as_secs_f64() / total
                )
            })
            .collect();
        let waits: Vec<String> = ScheduleSource::ALL
            .iter()
            .map(|&s| {
                let waits = latency.source(s);
                match waits
                    .total
                    .checked_div(waits.tasks().try_into().unwrap_or(u32::MAX))
                {
                    Some(mean) if waits.tasks() > 0 => format!("{} {mean:.0?}", s.label()),
                    _ => format!("{} -", s.label()),
                }
            })
            .collect();
        rows.push_str(&format!(
            "{:>8} states: {} | mean wait: {}\n",
            w.index,
            shares.join(" "),
            waits.join(" ")
        ));
    }
    rows
}

/// The sampler's view over the window: queue ages now, pressure, and the
/// spawn sites the workers were polling most (watchdog on).
fn render_sampled(window: &RuntimeSnapshot) -> String {
    let sampled = &window.sampled;
    let ms = |age: Option<Duration>| match age {
        Some(age) => format!("{:.1}", age.as_secs_f64() * 1e3),
        None => "-".to_string(),
    };
    let locals: Vec<String> = sampled.local_oldest.iter().map(|&age| ms(age)).collect();
    let mut text = format!(
        "oldest waiting task, ms: inject {}, local [{}]\n",
        ms(sampled.inject_oldest),
        locals.join(", ")
    );
    if sampled.samples == 0 {
        text.push_str("no watchdog: set TOKIO_PULSE_STALL=100ms for pressure and spawn sites\n");
        return text;
    }
    let span = window.uptime.as_secs_f64().max(f64::EPSILON);
    text.push_str(&format!(
        "pressure: some {:.1} %, full {:.1} % of the time\n",
        100.0 * sampled.pressure_some.as_secs_f64() / span,
        100.0 * sampled.pressure_full.as_secs_f64() / span
    ));
    let table = &sampled.spawn_sites;
    let total = table.samples().max(1) as f64;
    for site in table.sites.iter().take(5).filter(|site| site.samples > 0) {
        let at = site.location.map_or("unknown".to_string(), |at| {
            format!("{}:{}", at.file(), at.line())
        });
        text.push_str(&format!(
            "{:>6.1} % of poll samples  {at}\n",
            100.0 * site.samples as f64 / total
        ));
    }
    text
}

/// Spawns short tasks from a plain thread: remote spawns.
fn spawn_remote_feeder(handle: tokio::runtime::Handle) {
    std::thread::Builder::new()
        .name("demo-remote".into())
        .spawn(move || loop {
            for _ in 0..50 {
                handle.spawn(async { std::hint::black_box(0u64) });
            }
            std::thread::sleep(Duration::from_millis(5));
        })
        .map(drop)
        .unwrap_or_else(|err| eprintln!("demo: no remote spawner: {err}"));
}

/// Spawns batches of children from a worker: local spawns.
async fn local_spawner() {
    loop {
        let children: Vec<_> = (0..100u64)
            .map(|i| tokio::spawn(async move { std::hint::black_box(i * i) }))
            .collect();
        for child in children {
            let _ = child.await;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn yielder() {
    loop {
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Receives from a channel that is always full, so the receiver runs out of
/// coop budget and is made to yield.
async fn budget_burner() {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    tokio::spawn(async move {
        let mut n = 0u64;
        loop {
            for _ in 0..1000 {
                if tx.send(n).is_err() {
                    return;
                }
                n += 1;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    while let Some(n) = rx.recv().await {
        std::hint::black_box(n);
    }
}

/// Floods this worker's queue with CPU-bound children while staying busy,
/// so that idle workers steal them.
async fn imbalance() {
    loop {
        let children: Vec<_> = (0..128)
            .map(|_| tokio::spawn(async { common::spin(Duration::from_micros(100)) }))
            .collect();
        common::spin(Duration::from_millis(5));
        for child in children {
            let _ = child.await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn contender(lock: Arc<tokio::sync::Mutex<u64>>) {
    loop {
        for _ in 0..50 {
            let mut guard = lock.lock().await;
            *guard += 1;
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Starts an echo server on an ephemeral loopback port and four clients that
/// send small messages to it.
async fn start_echo() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = socket.read(&mut buf).await {
                    if n == 0 || socket.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    for _ in 0..4 {
        tokio::spawn(async move {
            let Ok(mut stream) = TcpStream::connect(addr).await else {
                return;
            };
            let mut buf = [0u8; 64];
            loop {
                if stream.write_all(b"pulse").await.is_err() || stream.read(&mut buf).await.is_err()
                {
                    return;
                }
                tokio::time::sleep(Duration::from_micros(500)).await;
            }
        });
    }
    Ok(())
}
