//! The `/metrics` server on the real runtime: what it serves, its errors,
//! and `promtool check metrics` on its output.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_probes::PulseConfig;
use tokio_pulse_rt::prometheus::{self, write_histogram, HistogramSeries};
use tokio_pulse_rt::ExportError;

mod common;
use common::{facade, named_multi_thread, named_pulse_multi_thread};

/// Some work on `rt`, from inside and outside its workers.
fn busy(rt: &Runtime) {
    rt.block_on(async {
        tokio::spawn(async {
            let children: Vec<_> = (0..100).map(|_| tokio::spawn(async {})).collect();
            for child in children {
                child.await.unwrap();
            }
            tokio::task::yield_now().await;
        })
        .await
        .unwrap();
    });
}

/// A plain HTTP/1.1 GET; returns the status code and the body.
fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the exporter");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .expect("a response head and body");
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .and_then(|l| l.trim().parse().ok())
        .expect("a Content-Length");
    assert_eq!(length, body.len(), "Content-Length matches the body");
    (status, body.to_string())
}

/// Sample lines by series (`name{labels}`), comments skipped.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample line");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// Runs `promtool check metrics` on `text`. `None` if promtool is not
/// installed outside CI (after saying so); under `CI=true` a missing
/// promtool fails the test.
fn promtool_check(text: &str) -> Option<()> {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "promtool is not installed, and CI=true needs it (apt-get install prometheus)"
            );
            eprintln!("SKIPPED: promtool not installed; `promtool check metrics` did not run");
            return None;
        }
        Err(err) => panic!("cannot run promtool: {err}"),
    };
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{}{}\n--- input ---\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(())
}

fn pulse_only() -> prometheus::Builder {
    tokio_pulse_rt::prometheus()
        .listen("127.0.0.1:0")
        .with_global_recorder(false)
}

#[test]
fn serves_metrics_that_promtool_accepts() {
    let rt = named_multi_thread("prom-serve", 3);
    busy(&rt);
    let id = rt.handle().pulse().id();
    let server = pulse_only().install().expect("install");
    let (status, body) = get(server.local_addr(), "/metrics");
    assert_eq!(status, 200);
    let labels = format!("runtime=\"prom-serve\",runtime_id=\"{id}\"");
    for family in tokio_pulse_rt::export::FAMILIES {
        // Gauges the runtime may not read, and poll timing (off here).
        if family.name.ends_with("_depth")
            || family.name.ends_with("alive_tasks")
            || family.poll_timing
        {
            continue;
        }
        assert!(
            body.lines()
                .any(|l| l.starts_with(family.name) && l.contains(&labels)),
            "{} missing for the runtime:\n{body}",
            family.name
        );
        assert!(body.contains(&format!("# HELP {} ", family.name)));
    }
    assert!(body.contains("# TYPE tokio_pulse_polls_total counter"));
    assert!(body.contains("# TYPE tokio_pulse_workers gauge"));
    let remote =
        format!("tokio_pulse_spawns_total{{{labels},origin=\"remote\",worker=\"external\"}}");
    assert!(samples(&body)[&remote] >= 1.0, "{body}");
    promtool_check(&body);

    let (status, _) = get(server.local_addr(), "/other");
    assert_eq!(status, 404);
    server.stop();
    drop(rt);
}

#[test]
fn counters_do_not_decrease_between_scrapes() {
    let rt = named_multi_thread("prom-monotonic", 2);
    let renderer = tokio_pulse_rt::prometheus()
        .with_global_recorder(false)
        .build()
        .unwrap();
    busy(&rt);
    let first = samples(&renderer.render());
    busy(&rt);
    let second = samples(&renderer.render());
    let mut counters = 0;
    for (series, value) in &first {
        if series.contains("_total{") && series.contains("prom-monotonic") {
            counters += 1;
            let later = second
                .get(series)
                .unwrap_or_else(|| panic!("{series} gone"));
            assert!(later >= value, "{series}: {value} then {later}");
        }
    }
    assert!(counters > 10, "{counters} counters");
    let polls = |s: &HashMap<String, f64>| -> f64 {
        s.iter()
            .filter(|(k, _)| {
                k.starts_with("tokio_pulse_polls_total{") && k.contains("prom-monotonic")
            })
            .map(|(_, v)| v)
            .sum()
    };
    assert!(polls(&second) > polls(&first));
    drop(rt);
}

#[test]
fn a_runtime_that_shuts_down_leaves_the_next_scrape() {
    let stays = named_multi_thread("prom-stays", 1);
    let goes = named_multi_thread("prom-goes", 2);
    let renderer = tokio_pulse_rt::prometheus()
        .with_global_recorder(false)
        .build()
        .unwrap();
    let before = renderer.render();
    assert!(before.contains("runtime=\"prom-goes\""));
    assert!(before.contains("runtime=\"prom-stays\""));
    goes.shutdown_timeout(Duration::from_secs(5));
    let after = renderer.render();
    assert!(!after.contains("runtime=\"prom-goes\""), "{after}");
    assert!(after.contains("runtime=\"prom-stays\""));
    promtool_check(&after);
    drop(stays);
}

#[test]
fn a_port_in_use_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = tokio_pulse_rt::prometheus()
        .listen(addr)
        .with_global_recorder(false)
        .install()
        .unwrap_err();
    assert!(matches!(err, ExportError::Bind { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&addr.to_string()), "{text}");
    assert!(text.to_lowercase().contains("in use"), "{text}");
}

#[test]
fn a_bad_address_is_a_clear_error() {
    for input in ["not an address", "127.0.0.1", "127.0.0.1:99999", ""] {
        let err = tokio_pulse_rt::prometheus()
            .listen(input)
            .with_global_recorder(false)
            .install()
            .unwrap_err();
        assert!(
            matches!(err, ExportError::Address { .. }),
            "{input}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("{input:?}")), "{err}");
    }
}

/// Asserts that every family in `text` has one `# TYPE` line, that its
/// samples come together right after it, and that no series appears twice.
fn assert_each_family_once(text: &str) {
    let mut typed: HashMap<String, usize> = HashMap::new();
    let mut series: HashMap<String, usize> = HashMap::new();
    let mut current: Option<String> = None;
    let mut finished: Vec<String> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split_whitespace().next().expect("a family name");
            *typed.entry(name.to_string()).or_default() += 1;
            if let Some(previous) = current.replace(name.to_string()) {
                finished.push(previous);
            }
        } else if !line.is_empty() && !line.starts_with('#') {
            let key = line.rsplit_once(' ').expect("a sample line").0;
            *series.entry(key.to_string()).or_default() += 1;
            let name = key.split('{').next().unwrap();
            let family = current
                .as_deref()
                .unwrap_or_else(|| panic!("{line}: no # TYPE before it"));
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| name.strip_suffix(suffix))
                .filter(|base| *base == family)
                .unwrap_or(name);
            assert_eq!(base, family, "{line}: a sample away from its family");
            assert!(!finished.iter().any(|f| f == family), "{family} split");
        }
    }
    let twice: Vec<_> = typed.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "families typed more than once: {twice:?}");
    let twice: Vec<_> = series.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "series given more than once: {twice:?}");
}

/// The one test in this binary that installs the global recorder: the
/// application's metrics come through it, and an interval publisher
/// running next to `install()` cannot make a family appear twice.
#[test]
fn the_global_recorder_carries_the_application_metrics() {
    let rt = named_multi_thread("prom-global", 1);
    busy(&rt);
    let server = tokio_pulse_rt::prometheus()
        .listen("127.0.0.1:0")
        .install()
        .expect("install with the global recorder");
    metrics::describe_counter!("app_requests_total", "Requests the application served.");
    metrics::counter!("app_requests_total", "route" => "/").increment(3);
    // A publisher feeding the same global recorder: it publishes at once,
    // then every 10 ms.
    let publisher = tokio_pulse_rt::export::publisher()
        .interval(Duration::from_millis(10))
        .spawn()
        .expect("start the publisher");
    std::thread::sleep(Duration::from_millis(1500));
    let (status, body) = get(server.local_addr(), "/metrics");
    assert_eq!(status, 200);
    assert_eq!(samples(&body)["app_requests_total{route=\"/\"}"], 3.0);
    assert!(body.contains("runtime=\"prom-global\""));
    assert_each_family_once(&body);
    assert_eq!(
        body.matches("# TYPE tokio_pulse_polls_total counter")
            .count(),
        1,
        "{body}"
    );
    promtool_check(&body);

    let again = tokio_pulse_rt::prometheus()
        .listen("127.0.0.1:0")
        .install()
        .unwrap_err();
    assert!(matches!(again, ExportError::RecorderInstalled), "{again:?}");
    publisher.stop();
    server.stop();
    drop(rt);
}

#[test]
fn histograms_are_written_exactly_and_pass_promtool() {
    let mut out = String::new();
    let bounds = [1e-6, 1e-5, 1e-4, 1e-3];
    write_histogram(
        &mut out,
        "test_poll_duration_seconds",
        "Poll durations.",
        [
            HistogramSeries {
                labels: &[("runtime", "a \"quoted\" \\ name"), ("worker", "0")],
                bounds: &bounds,
                counts: &[5, 0, 2, 1, 1],
                sum: 0.0042,
            },
            HistogramSeries {
                labels: &[("runtime", "b"), ("worker", "1")],
                bounds: &bounds,
                counts: &[],
                sum: 0.0,
            },
        ],
    );
    let expected = "\
# HELP test_poll_duration_seconds Poll durations.
# TYPE test_poll_duration_seconds histogram
test_poll_duration_seconds_bucket{runtime=\"a \\\"quoted\\\" \\\\ name\",worker=\"0\",le=\"0.000001\"} 5
test_poll_duration_seconds_bucket{runtime=\"a \\\"quoted\\\" \\\\ name\",worker=\"0\",le=\"0.00001\"} 5
test_poll_duration_seconds_bucket{runtime=\"a \\\"quoted\\\" \\\\ name\",worker=\"0\",le=\"0.0001\"} 7
test_poll_duration_seconds_bucket{runtime=\"a \\\"quoted\\\" \\\\ name\",worker=\"0\",le=\"0.001\"} 8
test_poll_duration_seconds_bucket{runtime=\"a \\\"quoted\\\" \\\\ name\",worker=\"0\",le=\"+Inf\"} 9
test_poll_duration_seconds_sum{runtime=\"a \\\"quoted\\\" \\\\ name\",worker=\"0\"} 0.0042
test_poll_duration_seconds_count{runtime=\"a \\\"quoted\\\" \\\\ name\",worker=\"0\"} 9
test_poll_duration_seconds_bucket{runtime=\"b\",worker=\"1\",le=\"0.000001\"} 0
test_poll_duration_seconds_bucket{runtime=\"b\",worker=\"1\",le=\"0.00001\"} 0
test_poll_duration_seconds_bucket{runtime=\"b\",worker=\"1\",le=\"0.0001\"} 0
test_poll_duration_seconds_bucket{runtime=\"b\",worker=\"1\",le=\"0.001\"} 0
test_poll_duration_seconds_bucket{runtime=\"b\",worker=\"1\",le=\"+Inf\"} 0
test_poll_duration_seconds_sum{runtime=\"b\",worker=\"1\"} 0
test_poll_duration_seconds_count{runtime=\"b\",worker=\"1\"} 0

";
    assert_eq!(out, expected);
    promtool_check(&out);

    let mut empty = String::new();
    write_histogram(&mut empty, "absent_seconds", "Absent.", []);
    assert_eq!(empty, "", "no series, no family");
}

#[test]
fn poll_timing_renders_a_real_histogram() {
    let timed = named_pulse_multi_thread("prom-timed", 2, PulseConfig::new().poll_timing(true));
    let untimed =
        named_pulse_multi_thread("prom-untimed", 2, PulseConfig::new().poll_timing(false));
    busy(&timed);
    busy(&untimed);
    // One poll of at least 20 ms, far above the 16 ms bucket.
    timed.block_on(async {
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(20)) })
            .await
            .unwrap();
    });
    let renderer = tokio_pulse_rt::prometheus()
        .with_global_recorder(false)
        .build()
        .unwrap();
    // A worker records a poll's time just after the poll, which may be after
    // the awaiting thread has moved on: render until no worker is inside a
    // poll and the poll timing is the same before and after a scrape, so
    // that the snapshot matches the scrape.
    let probes = timed.handle().pulse();
    let timing = |snap: &tokio_pulse_rt::RuntimeSnapshot| -> Vec<_> {
        snap.workers
            .iter()
            .map(|w| {
                w.poll_time
                    .clone()
                    .map(|t| (t.tiers, t.poll_time, t.busy_time))
            })
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (text, snap) = loop {
        let before = probes.snapshot();
        let text = renderer.render();
        let after = probes.snapshot();
        let idle = after.workers.iter().all(|w| {
            w.poll_time
                .as_ref()
                .is_some_and(|t| t.current_poll.is_none())
        });
        if idle && timing(&before) == timing(&after) {
            break (text, after);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the runtime never went idle"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let all = samples(&text);
    let name = "tokio_pulse_poll_duration_seconds";
    assert_eq!(text.matches(&format!("# TYPE {name} histogram")).count(), 1);
    let mut slow_polls = 0.0;
    for w in &snap.workers {
        let timing = w.poll_time.as_ref().expect("poll timing on");
        let labels = format!(
            "runtime=\"prom-timed\",runtime_id=\"{}\",worker=\"{}\"",
            snap.id, w.index
        );
        let count = all[&format!("{name}_count{{{labels}}}")];
        assert_eq!(count, timing.polls() as f64, "worker {}", w.index);
        let mut previous = 0.0;
        for bound in prometheus::poll_duration_bounds() {
            let bucket = all[&format!("{name}_bucket{{{labels},le=\"{bound}\"}}")];
            assert!(bucket >= previous, "buckets are cumulative");
            previous = bucket;
        }
        assert_eq!(
            all[&format!("{name}_bucket{{{labels},le=\"+Inf\"}}")],
            count
        );
        let sum = all[&format!("{name}_sum{{{labels}}}")];
        assert!((sum - timing.poll_time.as_secs_f64()).abs() < 1e-9);
        slow_polls += count - all[&format!("{name}_bucket{{{labels},le=\"0.016384\"}}")];
        let busy = all[&format!("tokio_pulse_busy_seconds_total{{{labels}}}")];
        assert!((busy - timing.busy_time.as_secs_f64()).abs() < 1e-9);
        // Between polls the gauge is 0; inside one it is how long so far.
        let current = all[&format!("tokio_pulse_current_poll_seconds{{{labels}}}")];
        assert!((0.0..10.0).contains(&current), "{current}");
    }
    assert!(
        slow_polls >= 1.0,
        "the 20 ms poll is above the 16 ms bucket:\n{text}"
    );
    assert!(!text
        .lines()
        .any(|l| l.starts_with(name) && l.contains("prom-untimed")));
    assert!(!text
        .lines()
        .any(|l| l.starts_with("tokio_pulse_busy_seconds_total") && l.contains("prom-untimed")));
    promtool_check(&text);
    drop((timed, untimed));
}

#[test]
fn without_poll_timing_the_histogram_is_absent() {
    let untimed = Builder::new_current_thread()
        .name("prom-absent")
        .pulse(PulseConfig::new().poll_timing(false))
        .build()
        .expect("build runtime");
    let mut out = String::new();
    prometheus::render_exact_families(&mut out, &[untimed.handle().pulse().snapshot()]);
    assert_eq!(out, "");
}

/// The text renderer and the facade publisher give the same series with the
/// same values, from one snapshot.
#[test]
fn the_text_and_the_facade_agree() {
    use metrics_util::debugging::DebuggingRecorder;

    let rt = named_pulse_multi_thread("prom \"agree\"", 3, PulseConfig::new().poll_timing(true));
    busy(&rt);
    let snapshot = rt.handle().pulse().snapshot();

    let mut text = String::new();
    prometheus::render_families(&mut text, std::slice::from_ref(&snapshot));
    let from_text: HashMap<String, f64> = samples(&text)
        .into_iter()
        .filter(|(series, _)| {
            // Text-only families: the histogram and the float families.
            !series.starts_with("tokio_pulse_poll_duration_seconds")
                && !series.starts_with("tokio_pulse_busy_seconds_total")
                && !series.starts_with("tokio_pulse_current_poll_seconds")
                && !series.starts_with("tokio_pulse_schedule_latency_seconds")
                && !series.starts_with("tokio_pulse_worker_state_seconds_total")
                && !series.starts_with("tokio_pulse_driver_last_turn_age_seconds")
        })
        .collect();

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        tokio_pulse_rt::export::publish_snapshot(&snapshot)
    });
    let from_facade: HashMap<String, f64> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let labels: Vec<String> = key
                .key()
                .labels()
                .map(|l| {
                    let value = l.value().replace('\\', "\\\\").replace('"', "\\\"");
                    format!("{}=\"{value}\"", l.key())
                })
                .collect();
            let series = format!("{}{{{}}}", key.key().name(), labels.join(","));
            (series, facade::value(key.key(), value))
        })
        .collect();
    assert!(from_text.len() > 50, "{} series", from_text.len());
    assert_eq!(from_text, from_facade);
    assert!(text.contains("tokio_pulse_poll_duration_seconds_count{"));
    promtool_check(&text);
    drop(rt);
}

/// The cardinality the README states: 8 + 19·N samples per runtime,
/// 2·N·(N−1) more with the full steal matrix, 83·N more with poll timing
/// (21·N for the poll families, 4·14·N for the schedule-latency histogram,
/// 6·N for the worker states) and 2 for the driver age.
#[test]
fn samples_per_runtime_are_as_documented() {
    const N: usize = 4;
    // The samples, and whether the driver age (two series, io and time) is
    // there: with poll timing, from the runtime's build on.
    let count = |timing: bool| -> (usize, bool) {
        let rt = named_pulse_multi_thread("prom-count", N, PulseConfig::new().poll_timing(timing));
        let snapshot = rt.handle().pulse().snapshot();
        let mut text = String::new();
        prometheus::render_families(&mut text, std::slice::from_ref(&snapshot));
        drop(rt);
        let samples = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        (samples, snapshot.driver_last_turn_age.is_some())
    };
    let plain = 8 + 19 * N + 2 * N * (N - 1);
    assert_eq!(count(false), (plain, false));
    assert_eq!(count(true), (plain + 83 * N + 2, true));
}
