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
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The whole test's time limit.
const BUDGET: Duration = Duration::from_secs(50);

/// Seconds the demo runs before it stops by itself.
const DEMO_SECONDS: &str = "75";

/// Seconds Prometheus runs before `timeout` stops it.
const PROMETHEUS_SECONDS: &str = "75";

/// A child process that is stopped when the guard drops.
struct Guard {
    name: &'static str,
    child: Child,
    /// Send SIGTERM first (for `timeout`, which passes it on to its child).
    terminate: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if self.terminate {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("e2e: stopped {}", self.name);
    }
}

/// A temporary directory removed when the guard drops.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tool_present(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The `demo` example next to this test's executable
/// (`target/<profile>/deps/<test>` → `target/<profile>/examples/demo`).
fn demo_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let demo = profile_dir
        .join("examples")
        .join(format!("demo{}", std::env::consts::EXE_SUFFIX));
    assert!(
        demo.is_file(),
        "{} is missing: `cargo test` builds it; with a target filter, run \
         `cargo build -p tokio-pulse-examples --example demo` first",
        demo.display()
    );
    demo
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// An HTTP/1.0 GET (so no chunked answers); the status and the body.
fn get(addr: SocketAddr, target: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {target} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

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
    let mut child = Command::new(demo_binary())
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
        name: "demo",
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
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("timeout")
        .args(["-s", "TERM", "-k", "5", PROMETHEUS_SECONDS, "prometheus"])
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={api}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start prometheus");
    let mut guard = Guard {
        name: "prometheus",
        child,
        terminate: true,
    };
    loop {
        if let Ok((200, _)) = get(api, "/-/ready") {
            return (guard, api);
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!("prometheus exited early: {status}");
        }
        assert!(Instant::now() < deadline, "prometheus never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
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

/// Tells `cargo xtask test` that this test skipped, since `cargo test` reports
/// a skipped test as `ok`: appends `what<TAB>fix` to the file that xtask names
/// in `TOKIO_PULSE_SKIP_LOG` (not set outside xtask: then only the
/// `SKIPPED` line above says so).
fn report_skip(what: &str, fix: &str) {
    let Some(log) = std::env::var_os("TOKIO_PULSE_SKIP_LOG") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| writeln!(file, "{what}\t{fix}"));
    if let Err(e) = written {
        panic!(
            "could not report the skip to {}: {e}",
            Path::new(&log).display()
        );
    }
}

#[test]
fn prometheus_scrapes_the_demo() {
    let in_ci = std::env::var("CI").as_deref() == Ok("true");
    let missing: Vec<&str> = ["promtool", "prometheus"]
        .into_iter()
        .filter(|tool| !tool_present(tool))
        .collect();
    if !missing.is_empty() {
        assert!(
            !in_ci,
            "{missing:?} not installed; CI=true needs them (apt-get install prometheus)"
        );
        eprintln!(
            "SKIPPED: {missing:?} not installed (apt-get install prometheus); \
             the end-to-end Prometheus test did not run"
        );
        report_skip("prometheus e2e", "install prometheus");
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
