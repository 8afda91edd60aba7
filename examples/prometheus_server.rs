//! A small HTTP service on the fork, with `/metrics` for Prometheus and a
//! built-in load generator: the "swap the runtime in an application" story
//! end to end.
//!
//! Run it with
//! `cargo run --release -p tokio-pulse-examples --example prometheus_server -- --help`.
//!
//! 1. An axum service runs on a runtime named `server`. Its routes (and
//!    `/block/{ms}`, which blocks its worker, for the stall watchdog):
//!    `/hello`, and `/compute/{n}`, which spawns a task to do `n` units of
//!    work and awaits it (a local spawn).
//! 2. One line, `tokio_pulse_rt::prometheus().listen(addr).install()`, serves
//!    `/metrics`: every runtime's `tokio_pulse_*` families, plus the
//!    application's own `metrics` (here `app_requests_total{route}`).
//! 3. A load generator on its own runtime (`load`) keeps `--connections`
//!    keep-alive HTTP/1.1 connections busy over loopback for `--duration`
//!    seconds. With `--duration 0` there is no load and the service runs
//!    until Ctrl-C, for a Prometheus server to scrape.
//! 4. At the end: requests per second, the server runtime's per-worker table
//!    over the load, and the `tokio_pulse_*` lines of one real scrape.

mod common;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::Path;
use axum::routing::get;
use axum::Router;
use clap::Parser;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_pulse_rt::report::WorkerTable;

/// An HTTP service with Prometheus metrics and a built-in loopback load generator.
#[derive(Debug, Parser)]
#[command(name = "prometheus_server", version)]
struct Args {
    /// Where the service listens (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    addr: SocketAddr,

    /// Where `/metrics` is served (port 0: a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    metrics_addr: SocketAddr,

    /// Seconds of load; 0 serves without load until Ctrl-C.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(0..=3600))]
    duration: u64,

    /// Concurrent keep-alive connections of the load generator.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=1024))]
    connections: u16,

    /// Worker threads of the service's runtime.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    workers: u16,
}

fn main() -> ExitCode {
    let args = Args::parse();
    // Stall events (with `TOKIO_PULSE_STALL` set) as `tracing` events on
    // stderr.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .init();
    tokio_pulse_rt::events::install();
    let server = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.workers.into())
        .name("server")
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("prometheus_server: cannot build the server runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let exporter = match tokio_pulse_rt::prometheus()
        .listen(args.metrics_addr)
        .install()
    {
        Ok(exporter) => exporter,
        Err(err) => {
            eprintln!(
                "prometheus_server: cannot serve /metrics on {}: {err}",
                args.metrics_addr
            );
            return ExitCode::FAILURE;
        }
    };
    let metrics_addr = exporter.local_addr();
    let listener = match server.block_on(TcpListener::bind(args.addr)) {
        Ok(listener) => listener,
        Err(err) => {
            eprintln!("prometheus_server: cannot listen on {}: {err}", args.addr);
            return ExitCode::FAILURE;
        }
    };
    let addr = listener.local_addr().unwrap_or(args.addr);
    let app = Router::new()
        .route("/hello", get(hello))
        .route("/compute/{n}", get(compute))
        .route("/block/{ms}", get(block));
    server.spawn(async move {
        if let Err(err) = axum::serve(listener, app).await {
            eprintln!("prometheus_server: the service stopped: {err}");
        }
    });
    common::emit(&format!(
        "service: http://{addr}/hello and http://{addr}/compute/{{n}}\n\
         metrics: http://{metrics_addr}/metrics\n"
    ));

    if args.duration == 0 {
        common::emit("no load (--duration 0): serving until Ctrl-C\n");
        let _ = server.block_on(tokio::signal::ctrl_c());
        exporter.stop();
        server.shutdown_timeout(Duration::from_secs(1));
        return ExitCode::SUCCESS;
    }

    let probes = server.handle().pulse();
    let before = probes.snapshot();
    let run_for = Duration::from_secs(args.duration);
    let connections = args.connections;
    let load = std::thread::spawn(move || -> std::io::Result<(u64, u64)> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        rt.block_on(generate_load(addr, connections, run_for))
    });
    let (requests, failures) = match load.join() {
        Ok(Ok(counts)) => counts,
        Ok(Err(err)) => {
            eprintln!("prometheus_server: the load generator failed: {err}");
            return ExitCode::FAILURE;
        }
        Err(_) => {
            eprintln!("prometheus_server: the load generator panicked");
            return ExitCode::FAILURE;
        }
    };
    let change = probes.snapshot().delta(&before);
    let scrape = server.block_on(http_get_once(metrics_addr, "/metrics"));
    exporter.stop();
    server.shutdown_timeout(Duration::from_secs(1));

    let mut text = format!(
        "\nload: {} connections for {:.1} s: {} requests ({:.0}/s), {} failed\n\
         server runtime over the load: {} spawns ({} local, {} remote), {} polls, {} steals\n{}",
        connections,
        change.uptime.as_secs_f64(),
        requests,
        change.rate(requests),
        failures,
        change.spawns(),
        change.spawns() - change.spawns_remote,
        change.spawns_remote,
        change.polls(),
        change.stolen_tasks(),
        WorkerTable::new(&change),
    );
    match scrape {
        Ok(body) => {
            text += &format!(
                "\none scrape of http://{metrics_addr}/metrics ({} lines); a sample:\n",
                body.lines().count()
            );
            let wanted = [
                "app_requests_total",
                "tokio_pulse_spawns_total",
                "tokio_pulse_polls_total",
                "tokio_pulse_yields_total",
                "tokio_pulse_steal_operations_total",
                "tokio_pulse_parks_total",
            ];
            // Up to three series of each family, the server runtime's.
            for family in wanted {
                let mut lines: Vec<&str> = body
                    .lines()
                    .filter(|l| l.starts_with(family))
                    .filter(|l| family.starts_with("app_") || l.contains("runtime=\"server\""))
                    .collect();
                lines.sort_unstable();
                for line in lines.into_iter().take(3) {
                    text += line;
                    text += "\n";
                }
            }
        }
        Err(err) => text += &format!("\nthe scrape of /metrics failed: {err}\n"),
    }
    common::emit(&text);
    if failures > 0 || requests == 0 {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn hello() -> &'static str {
    metrics::counter!("app_requests_total", "route" => "/hello").increment(1);
    "hello from Tokio-Pulse\n"
}

/// A handler that blocks its worker (a bug on purpose): with the watchdog on
/// (`TOKIO_PULSE_STALL=20ms`), the stall report's stack names
/// `blocking_handler`, and its event is on stderr.
async fn block(Path(ms): Path<u64>) -> String {
    metrics::counter!("app_requests_total", "route" => "/block").increment(1);
    let _blocked = blocking_handler(Duration::from_millis(ms.min(10_000)));
    "unblocked\n".to_owned()
}

#[inline(never)]
fn blocking_handler(for_: Duration) -> Duration {
    let started = std::time::Instant::now();
    std::thread::sleep(for_);
    // Not a tail call: the frame stays on the stack while it sleeps.
    started.elapsed()
}

async fn compute(Path(n): Path<u32>) -> String {
    metrics::counter!("app_requests_total", "route" => "/compute").increment(1);
    let n = n.min(100_000);
    let sum = tokio::spawn(async move {
        let mut acc = 0u64;
        for i in 0..u64::from(n) {
            acc = acc.wrapping_mul(31).wrapping_add(std::hint::black_box(i));
            if i % 1000 == 999 {
                tokio::task::yield_now().await;
            }
        }
        acc
    })
    .await
    .unwrap_or(0);
    format!("{sum}\n")
}

/// Keeps `connections` keep-alive connections busy until `run_for` passes;
/// returns (successful requests, failed requests).
async fn generate_load(
    addr: SocketAddr,
    connections: u16,
    run_for: Duration,
) -> std::io::Result<(u64, u64)> {
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + run_for;
    let mut clients = Vec::new();
    for c in 0..connections {
        let (ok, failed) = (ok.clone(), failed.clone());
        clients.push(tokio::spawn(async move {
            let Ok(stream) = TcpStream::connect(addr).await else {
                failed.fetch_add(1, Ordering::Relaxed);
                return;
            };
            let mut stream = BufReader::new(stream);
            let mut i = 0u32;
            while Instant::now() < deadline {
                // Mostly cheap requests, every fourth one spawns work.
                let path = if i % 4 == 0 {
                    format!("/compute/{}", 2_000 + 100 * u32::from(c))
                } else {
                    "/hello".to_owned()
                };
                i += 1;
                match request(&mut stream, &path, true).await {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(_) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        return;
                    }
                };
            }
        }));
    }
    for client in clients {
        let _ = client.await;
    }
    Ok((ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed)))
}

/// One `GET path` on an open connection; returns the body. Fails on any
/// status but 200.
async fn request(
    stream: &mut BufReader<TcpStream>,
    path: &str,
    keep_alive: bool,
) -> std::io::Result<String> {
    let connection = if keep_alive { "keep-alive" } else { "close" };
    let head = format!("GET {path} HTTP/1.1\r\nHost: loopback\r\nConnection: {connection}\r\n\r\n");
    stream.get_mut().write_all(head.as_bytes()).await?;
    let bad = |what: String| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
    let mut status = String::new();
    stream.read_line(&mut status).await?;
    if !status.starts_with("HTTP/1.1 200") {
        return Err(bad(format!("GET {path}: {}", status.trim_end())));
    }
    let mut length = None;
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Err(bad(format!("GET {path}: connection closed in the headers")));
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("content-length") {
                length = value.trim().parse::<usize>().ok();
            }
        }
    }
    let mut body = Vec::new();
    match length {
        Some(n) => {
            body.resize(n, 0);
            stream.read_exact(&mut body).await?;
        }
        None => {
            stream.read_to_end(&mut body).await?;
        }
    }
    String::from_utf8(body).map_err(|e| bad(format!("GET {path}: {e}")))
}

/// One `GET path` on a fresh connection.
async fn http_get_once(addr: SocketAddr, path: &str) -> std::io::Result<String> {
    let stream = TcpStream::connect(addr).await?;
    request(&mut BufReader::new(stream), path, false).await
}
