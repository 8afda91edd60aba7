//! End to end with the real tools: the demo serves `/metrics`,
//! `promtool check metrics` accepts a scrape, and a real Prometheus server
//! scrapes the demo every second and answers queries about it.
//!
//! 1. Start the demo (the `demo` example, which `cargo test` builds) on a
//!    free loopback port; it prints the address it serves on.
//! 2. Scrape it and run `promtool check metrics` on the scrape.
//! 3. Scrape again a second later: no counter went down.
//! 4. Start `prometheus` with its own config and data directory in a temp
//!    directory, listening on a free loopback port, scraping the demo every
//!    second.
//! 5. Query its HTTP API until `rate(tokio_pulse_polls_total[10s])`,
//!    `tokio_pulse_spawns_total{origin="remote"}`,
//!    `tokio_pulse_stolen_tasks_total > 0` and a p99 poll time from the
//!    `tokio_pulse_poll_duration_seconds` histogram (the demo runs with
//!    `TOKIO_PULSE_POLL_TIMING=1`) all return series.
//!
//! Everything is bounded by [`BUDGET`], and every process the test starts is
//! stopped by a guard, also when the test fails. Both processes also stop by
//! themselves: the demo after `--duration`, Prometheus under `timeout`.
//!
//! Without `promtool` or `prometheus` (Debian package `prometheus`) the test
//! fails under `CI=true`, and elsewhere prints `SKIPPED`, reports the skip to
//! `cargo xtask test` (through the file in `TOKIO_PULSE_SKIP_LOG`, so that its
//! summary names it) and returns. `cargo xtask test` installs the package
//! first where it can (as root, with `apt-get`).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{example_binary, get, url_encode, Guard, TempDir};

/// The whole test's time limit.
const BUDGET: Duration = Duration::from_secs(50);

/// Seconds the demo runs before it stops by itself.
const DEMO_SECONDS: &str = "75";

/// Seconds Prometheus runs before `timeout` stops it.
const PROMETHEUS_SECONDS: &str = "75";

/// The counter samples of a scrape, by series.
fn counters(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| l.starts_with("tokio_pulse_") && l.contains("_total{"))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn promtool_check(text: &str) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .expect("promtool stdin")
        .write_all(text.as_bytes())
        .expect("feed promtool");
    let out = child.wait_with_output().expect("promtool result");
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the demo on a free port and returns it with the address it
/// serves `/metrics` on.
fn start_demo(deadline: Instant) -> (Guard, SocketAddr) {
    let mut child = Command::new(example_binary("demo"))
        .args([
            "--addr",
            "127.0.0.1:0",
            "--workers",
            "4",
            "--duration",
            DEMO_SECONDS,
        ])
        // Poll timing on, for the poll-duration histogram.
        .env("TOKIO_PULSE_POLL_TIMING", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo");
    let stderr = child.stderr.take().expect("demo stderr");
    let guard = Guard {
        name: "demo".into(),
        child,
        terminate: false,
    };
    let (tx, rx) = mpsc::channel();
    // Keeps reading so that the demo never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("e2e: {line}");
            if let Some(url) = line.strip_prefix("demo: serving http://") {
                let _ = tx.send(url.trim_end_matches("/metrics").to_string());
            }
        }
    });
    let wait = deadline.saturating_duration_since(Instant::now());
    let addr = rx
        .recv_timeout(wait)
        .expect("the demo printed its /metrics address");
    (guard, addr.parse().expect("a socket address"))
}

/// Starts Prometheus scraping `target` every second; returns it and its
/// API address once it is ready.
fn start_prometheus(dir: &Path, target: SocketAddr, deadline: Instant) -> (Guard, SocketAddr) {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: tokio-pulse-demo\n    static_configs:\n      \
             - targets: ['{target}']\n"
        ),
    )
    .expect("write the config");
    common::start_prometheus(dir, &config, PROMETHEUS_SECONDS, deadline)
}

/// The result vector of an instant query.
fn query(api: SocketAddr, promql: &str) -> Vec<serde_json::Value> {
    let target = format!("/api/v1/query?query={}", url_encode(promql));
    let Ok((200, body)) = get(api, &target) else {
        return Vec::new();
    };
    let json: serde_json::Value = serde_json::from_str(&body).expect("JSON from the query API");
    assert_eq!(json["status"], "success", "{promql}: {body}");
    json["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[test]
fn prometheus_scrapes_the_demo() {
    if !common::prometheus_tools_or_skip("prometheus e2e") {
        return;
    }
    let start = Instant::now();
    let deadline = start + BUDGET;
    let dir = TempDir(std::env::temp_dir().join(format!("tokio-pulse-e2e-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).expect("temp dir");

    let (_demo, metrics) = start_demo(deadline);
    let (status, first) = get(metrics, "/metrics").expect("scrape the demo");
    assert_eq!(status, 200);
    promtool_check(&first);
    std::thread::sleep(Duration::from_secs(1));
    let (_, second) = get(metrics, "/metrics").expect("scrape the demo again");
    let (before, after) = (counters(&first), counters(&second));
    assert!(before.len() > 20, "{} counter series", before.len());
    for (series, value) in &before {
        let later = after
            .get(series)
            .unwrap_or_else(|| panic!("{series} vanished"));
        assert!(later >= value, "{series} went from {value} to {later}");
    }
    eprintln!(
        "e2e: promtool passed, {} counters monotonic ({:.1?})",
        before.len(),
        start.elapsed()
    );

    let (_prometheus, api) = start_prometheus(&dir.0, metrics, deadline);
    let queries = [
        "rate(tokio_pulse_polls_total[10s])",
        "tokio_pulse_spawns_total{origin=\"remote\"}",
        "tokio_pulse_stolen_tasks_total > 0",
        // The p99 poll time from the histogram; `> 0` drops a NaN (no
        // increase yet) as well as zero.
        "histogram_quantile(0.99, sum by (le) (rate(tokio_pulse_poll_duration_seconds_bucket[10s]))) > 0",
    ];
    let mut pending: Vec<&str> = queries.to_vec();
    while !pending.is_empty() {
        pending.retain(|promql| {
            let result = query(api, promql);
            if result.is_empty() {
                return true;
            }
            eprintln!(
                "e2e: {promql}: {} series, e.g. {} ({:.1?})",
                result.len(),
                result[0],
                start.elapsed()
            );
            false
        });
        assert!(
            Instant::now() < deadline,
            "no result from Prometheus within {BUDGET:?} for {pending:?}; up = {:?}",
            query(api, "up")
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let remote = query(api, "tokio_pulse_spawns_total{origin=\"remote\"}");
    assert!(remote.iter().all(|s| s["metric"]["worker"] == "external"));
    eprintln!("e2e: done in {:.1?}", start.elapsed());
}
