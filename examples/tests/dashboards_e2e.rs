//! The Grafana dashboard and the Prometheus rules in `dashboards/`, against
//! the real tools.
//!
//! `dashboard_json_is_well_formed` needs nothing installed: it reads
//! `dashboards/tokio-pulse.json` the way Grafana would import it and checks
//! its structure (rows, template variables, a datasource variable on every
//! panel and target, known metric families, the rate windows, and that every
//! per-worker or per-runtime aggregation keeps `instance` and `runtime_id`).
//!
//! `fleet_answers_every_dashboard_query_and_alert` runs a real Prometheus:
//!
//! 1. Two `demo` processes (a fleet of two instances, poll timing on) and the
//!    `slow_poll` example, whose blocking task holds a worker inside one poll
//!    for [`BLOCK_MS`], all serving `/metrics` on free loopback ports.
//! 2. A test copy of `dashboards/tokio-pulse.rules.yml` with every `for:`
//!    shortened to 1 s (checked with `promtool check rules`), and a
//!    Prometheus scraping the three every second and evaluating the rules
//!    every second.
//! 3. Until all hold, within [`BUDGET`]: every expression of the dashboard,
//!    with the template variables set to "All" and then to one instance,
//!    runtime and worker, returns data through `/api/v1/query` (with "All",
//!    per-instance results cover both demos); every template variable's
//!    `label_values` query returns values; every recording rule produces
//!    series; and `/api/v1/alerts` shows `TokioPulseWorkerStuck` firing for
//!    the blocked worker of `slow-poll-example`, naming it.
//!
//! Every process the test starts is stopped by a guard, also when it fails;
//! they also stop by themselves (`--duration`, the end of the block,
//! `timeout`). Without `promtool` or `prometheus` (Debian package
//! `prometheus`) the test fails under `CI=true`, and elsewhere prints
//! `SKIPPED` and returns. Grafana itself is not installed here; the JSON test
//! stands in for its import.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ChildStderr, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{example_binary, get, url_encode, Guard, TempDir};

/// The end-to-end test's time limit, once the processes are started.
const BUDGET: Duration = Duration::from_secs(60);

/// Seconds the demos run before they stop by themselves.
const DEMO_SECONDS: &str = "90";

/// Seconds Prometheus runs before `timeout` stops it.
const PROMETHEUS_SECONDS: &str = "90";

/// How long `slow_poll`'s blocking task holds its worker, in milliseconds.
const BLOCK_MS: &str = "45000";

/// The Prometheus job of the two demos.
const FLEET_JOB: &str = "tokio-pulse-fleet";

/// What `$__rate_interval` and `$__range` stand for: Grafana makes the rate
/// interval at least four scrape intervals (1 s here).
const RATE_INTERVAL: &str = "8s";
const RANGE: &str = "1m";

/// The row titles, in order.
const ROWS: [&str; 5] = ["Saturation", "Throughput", "Balance", "Latency", "Stalls"];

/// The template variables besides the data source.
const VARIABLES: [&str; 4] = ["job", "instance", "runtime", "worker"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the examples crate sits in the repository root")
        .to_path_buf()
}

fn dashboard() -> Value {
    let path = repo_root().join("dashboards/tokio-pulse.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", path.display()))
}

/// Every panel that is not a row, with its targets' expressions.
fn queries(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] == "row" {
            continue;
        }
        let title = panel["title"].as_str().unwrap_or("?").to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_default().to_string();
            out.push((title.clone(), expr));
        }
    }
    out
}

/// The names of the `$name` and `${name}` references in `text`, skipping
/// `$1`-style capture references (of `label_replace`).
fn variable_refs(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let name = &body[..len];
        if !name.is_empty() && !name.chars().all(|c| c.is_ascii_digit()) {
            names.push(name.to_string());
        }
    }
    names
}

/// `text` with each `$name` / `${name}` replaced by `values[name]`; `$1`
/// and the like are left alone. Panics on an unknown name.
fn substitute(text: &str, values: &HashMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let braced = after.starts_with('{');
        let body = if braced { &after[1..] } else { after };
        let len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let name = &body[..len];
        if name.is_empty() || name.chars().all(|c| c.is_ascii_digit()) {
            out.push('$');
            rest = after;
            continue;
        }
        let value = values
            .get(name)
            .unwrap_or_else(|| panic!("unknown variable ${name} in {text}"));
        out.push_str(value);
        let used = if braced { len + 2 } else { len };
        rest = &after[used..];
    }
    out.push_str(rest);
    out
}

/// The label lists of every `by (...)` clause in `expr`.
fn by_clauses(expr: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find(" by (") {
        rest = &rest[at + " by (".len()..];
        let end = rest.find(')').expect("a closed by clause");
        out.push(
            rest[..end]
                .split(',')
                .map(|l| l.trim().to_string())
                .collect(),
        );
        rest = &rest[end..];
    }
    out
}

/// The metric names (`tokio_pulse_...`) in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tokio_pulse_") {
        let preceded = rest[..at]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':');
        let name_len = rest[at..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len() - at);
        if !preceded {
            out.insert(rest[at..at + name_len].to_string());
        }
        rest = &rest[at + name_len..];
    }
    out
}

/// Every family the exporter writes, histogram series included.
fn known_families() -> BTreeSet<String> {
    use tokio_pulse_rt::prometheus::{BUSY_SECONDS, CURRENT_POLL_SECONDS, POLL_DURATION};
    let mut out: BTreeSet<String> = tokio_pulse_rt::export::FAMILIES
        .iter()
        .map(|f| f.name.to_string())
        .collect();
    for suffix in ["_bucket", "_sum", "_count"] {
        out.insert(format!("{POLL_DURATION}{suffix}"));
    }
    out.insert(BUSY_SECONDS.to_string());
    out.insert(CURRENT_POLL_SECONDS.to_string());
    out
}

#[test]
fn dashboard_json_is_well_formed() {
    let dash = dashboard();
    assert!(dash["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(dash["uid"], "tokio-pulse");
    assert!(
        dash["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion {}",
        dash["schemaVersion"]
    );
    // Importable anywhere: no fixed datasource id, and no __inputs to fill.
    assert!(dash["id"].is_null());

    // Template variables: a Prometheus datasource variable, then the label
    // variables, each a label_values query through that datasource.
    let vars = dash["templating"]["list"].as_array().expect("templating");
    let names: Vec<&str> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(
        names,
        ["datasource", "job", "instance", "runtime", "worker"]
    );
    assert_eq!(vars[0]["type"], "datasource");
    assert_eq!(vars[0]["query"], "prometheus");
    for var in &vars[1..] {
        let name = var["name"].as_str().unwrap();
        assert_eq!(var["type"], "query", "{name}");
        assert_eq!(var["datasource"]["uid"], "${datasource}", "{name}");
        let query = var["definition"].as_str().unwrap_or_default();
        assert!(
            query.starts_with("label_values(tokio_pulse_")
                && query.ends_with(&format!(", {name})")),
            "{name}: {query}"
        );
        assert_eq!(var["query"]["query"], query, "{name}");
        // "All" is a regex that also matches what a selector leaves empty.
        assert_eq!(var["includeAll"], true, "{name}");
        assert_eq!(var["allValue"], ".*", "{name}");
    }

    // The rows, in order, and panels that do not overlap on the grid.
    let panels = dash["panels"].as_array().expect("panels");
    let rows: Vec<&str> = panels
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    assert_eq!(rows, ROWS);
    let mut cells = BTreeSet::new();
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap_or("?");
        assert!(
            ids.insert(panel["id"].as_u64().expect("a panel id")),
            "{title}: duplicate id"
        );
        let grid = &panel["gridPos"];
        let (x, y, w, h) = (
            grid["x"].as_u64().unwrap(),
            grid["y"].as_u64().unwrap(),
            grid["w"].as_u64().unwrap(),
            grid["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: gridPos {grid}");
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{title} overlaps another panel at {cx},{cy}"
                );
            }
        }
    }

    // Every panel and target reads through the datasource variable; every
    // expression names known families, uses Grafana's windows, only defined
    // variables, and keeps instances and runtimes apart.
    let families = known_families();
    let defined: BTreeSet<&str> = names.iter().copied().collect();
    let builtins = ["__rate_interval", "__range", "__interval"];
    let mut count = 0;
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or("?");
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        assert!(
            panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}"
        );
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no targets");
        let mut refs = BTreeSet::new();
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                refs.insert(target["refId"].as_str().expect("refId")),
                "{title}"
            );
            let expr = target["expr"].as_str().expect("expr");
            assert!(!expr.trim().is_empty(), "{title}: empty expr");
            let metrics = metric_names(expr);
            assert!(!metrics.is_empty(), "{title}: {expr}");
            for metric in &metrics {
                assert!(
                    families.contains(metric),
                    "{title}: unknown family {metric}"
                );
            }
            for name in variable_refs(expr).iter().chain(&variable_refs(title)) {
                assert!(
                    defined.contains(name.as_str()) || builtins.contains(&name.as_str()),
                    "{title}: undefined variable ${name}"
                );
            }
            for window in expr.split('[').skip(1) {
                let window = window.split(']').next().unwrap();
                assert!(
                    window == "$__rate_interval" || window == "$__range",
                    "{title}: window [{window}] in {expr}"
                );
            }
            for by in by_clauses(expr) {
                if by.iter().any(|l| l == "worker" || l == "runtime") {
                    for keep in ["instance", "runtime_id"] {
                        assert!(
                            by.iter().any(|l| l == keep),
                            "{title}: by {by:?} drops {keep}"
                        );
                    }
                }
                if by.iter().any(|l| l == "le") {
                    assert!(expr.contains("histogram_quantile") || target["format"] == "heatmap");
                }
            }
            count += 1;
        }
    }
    assert!(count >= 20, "{count} queries");
}

/// Starts an example with `args` and returns it with the address it prints
/// on stderr after `prefix` (`<name>: serving http://`).
fn start_example(
    name: &'static str,
    args: &[&str],
    label: String,
    deadline: Instant,
) -> (Guard, SocketAddr) {
    let mut child = Command::new(example_binary(name))
        .args(args)
        .env("TOKIO_PULSE_POLL_TIMING", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("start {name}: {err}"));
    let stderr: ChildStderr = child.stderr.take().expect("stderr");
    let guard = Guard {
        name: label.clone(),
        child,
        terminate: false,
    };
    let prefix = format!("{name}: serving http://");
    let (tx, rx) = mpsc::channel();
    // Keeps reading so that the example never blocks on a full pipe; the
    // slow_poll example logs its stall events here.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix(&prefix) {
                let _ = tx.send(url.trim_end_matches("/metrics").to_string());
            }
            if line.len() < 300 {
                eprintln!("{label}: {line}");
            }
        }
    });
    let wait = deadline.saturating_duration_since(Instant::now());
    let addr = rx
        .recv_timeout(wait)
        .unwrap_or_else(|_| panic!("{name} did not print its /metrics address"));
    (guard, addr.parse().expect("a socket address"))
}

/// The rules file with every `for:` shortened to 1 s, checked by promtool.
fn test_rules(dir: &Path) -> PathBuf {
    let source = repo_root().join("dashboards/tokio-pulse.rules.yml");
    let text = std::fs::read_to_string(&source).expect("read the rules");
    let mut shortened = 0;
    let copy: Vec<String> = text
        .lines()
        .map(|line| match line.split_once("for: ") {
            Some((indent, _)) if indent.trim().is_empty() => {
                shortened += 1;
                format!("{indent}for: 1s")
            }
            _ => line.to_string(),
        })
        .collect();
    assert!(
        shortened >= 4,
        "{shortened} `for:` lines in {}",
        source.display()
    );
    let path = dir.join("rules.yml");
    std::fs::write(&path, copy.join("\n") + "\n").expect("write the rules copy");
    let out = Command::new("promtool")
        .args(["check", "rules"])
        .arg(&path)
        .output()
        .expect("run promtool");
    assert!(
        out.status.success(),
        "promtool check rules failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    path
}

/// Starts Prometheus with `rules`, scraping the fleet and the slow_poll
/// example every second; returns it and its API address once it is ready.
fn start_prometheus(
    dir: &Path,
    rules: &Path,
    fleet: &[SocketAddr],
    slow: SocketAddr,
    deadline: Instant,
) -> (Guard, SocketAddr) {
    let config = dir.join("prometheus.yml");
    let fleet: Vec<String> = fleet.iter().map(|a| format!("'{a}'")).collect();
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - '{}'\n\
             scrape_configs:\n  - job_name: {FLEET_JOB}\n    static_configs:\n      \
             - targets: [{}]\n  - job_name: slow-poll\n    static_configs:\n      \
             - targets: ['{slow}']\n",
            rules.display(),
            fleet.join(", ")
        ),
    )
    .expect("write the config");
    common::start_prometheus(dir, &config, PROMETHEUS_SECONDS, deadline)
}

/// The `data` of a successful API answer; `None` if Prometheus cannot be
/// reached; a panic naming `what` if it rejects the request (a bad
/// expression, say).
fn api_data(api: SocketAddr, target: &str, what: &str) -> Option<Value> {
    let (status, body) = get(api, target).ok()?;
    let json: Value = serde_json::from_str(&body)
        .unwrap_or_else(|err| panic!("{what}: HTTP {status}, not JSON ({err}): {body}"));
    assert_eq!(json["status"], "success", "{what}: {body}");
    Some(json["data"].clone())
}

/// The result vector of an instant query.
fn query(api: SocketAddr, promql: &str) -> Vec<Value> {
    let target = format!("/api/v1/query?query={}", url_encode(promql));
    api_data(api, &target, promql)
        .and_then(|data| data["result"].as_array().cloned())
        .unwrap_or_default()
}

/// Regex-escapes a label value the way Grafana does for one selected value,
/// inside a PromQL string.
fn regex_value(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push_str("\\\\");
        }
        out.push(c);
    }
    out
}

/// One check that is retried until it passes or the budget runs out.
struct Pending {
    name: String,
    check: Box<dyn FnMut() -> Result<String, String>>,
    last: String,
}

#[test]
fn fleet_answers_every_dashboard_query_and_alert() {
    if !common::prometheus_tools_or_skip("dashboards e2e") {
        return;
    }
    let start = Instant::now();
    let deadline = start + BUDGET;
    let dir = TempDir(
        std::env::temp_dir().join(format!("tokio-pulse-dashboards-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).expect("temp dir");
    let rules = test_rules(&dir.0);

    let demo_args = [
        "--addr",
        "127.0.0.1:0",
        "--workers",
        "2",
        "--duration",
        DEMO_SECONDS,
    ];
    let (_demo_a, a) = start_example("demo", &demo_args, "demo-a".into(), deadline);
    let (_demo_b, b) = start_example("demo", &demo_args, "demo-b".into(), deadline);
    let slow_args = ["--addr", "127.0.0.1:0", "--block-ms", BLOCK_MS];
    let (_slow, slow) = start_example("slow_poll", &slow_args, "slow_poll".into(), deadline);
    let (_prometheus, api) = start_prometheus(&dir.0, &rules, &[a, b], slow, deadline);
    eprintln!(
        "dashboards e2e: demos at {a} and {b}, slow_poll at {slow}, prometheus at {api} ({:.1?})",
        start.elapsed()
    );

    let dash = dashboard();
    let builtins = [
        ("__rate_interval", RATE_INTERVAL.to_string()),
        ("__range", RANGE.to_string()),
        ("__interval", "1s".to_string()),
    ];
    let all: HashMap<&str, String> = VARIABLES
        .iter()
        .map(|v| (*v, ".*".to_string()))
        .chain(builtins.iter().cloned())
        .collect();
    let one: HashMap<&str, String> = [
        ("job", regex_value(FLEET_JOB)),
        ("instance", regex_value(&a.to_string())),
        ("runtime", "demo".to_string()),
        ("worker", "1".to_string()),
    ]
    .into_iter()
    .chain(builtins.iter().cloned())
    .collect();
    let fleet: BTreeSet<String> = [a.to_string(), b.to_string()].into();

    let mut pending: Vec<Pending> = Vec::new();
    for (title, expr) in queries(&dash) {
        for (choice, values) in [("All", &all), ("one", &one)] {
            let promql = substitute(&expr, values);
            let fleet = fleet.clone();
            pending.push(Pending {
                name: format!("{title} [{choice}]: {promql}"),
                last: String::new(),
                check: Box::new(move || {
                    let result = query(api, &promql);
                    if result.is_empty() {
                        return Err("no data".into());
                    }
                    let instances: BTreeSet<String> = result
                        .iter()
                        .filter_map(|s| s["metric"]["instance"].as_str())
                        .map(str::to_string)
                        .collect();
                    for series in &result {
                        let metric = &series["metric"];
                        if metric.get("worker").is_some() {
                            assert!(
                                metric.get("instance").is_some()
                                    && metric.get("runtime_id").is_some(),
                                "{promql}: a worker series without instance or runtime_id: {metric}"
                            );
                        }
                    }
                    if choice == "All" && !instances.is_empty() && !fleet.is_subset(&instances) {
                        return Err(format!("instances {instances:?}, want {fleet:?}"));
                    }
                    if choice == "one" {
                        assert!(
                            instances.iter().all(|i| *i == a.to_string()),
                            "{promql}: selected one instance, got {instances:?}"
                        );
                    }
                    Ok(format!("{} series, e.g. {}", result.len(), result[0]))
                }),
            });
        }
    }
    for var in dash["templating"]["list"].as_array().unwrap() {
        let Some(definition) = var["definition"].as_str() else {
            continue;
        };
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .expect("label_values(selector, label)");
        let (selector, label) = inner.rsplit_once(',').expect("selector, label");
        let selector = substitute(selector.trim(), &all);
        let label = label.trim().to_string();
        let target = format!(
            "/api/v1/label/{label}/values?match[]={}",
            url_encode(&selector)
        );
        let fleet = fleet.clone();
        pending.push(Pending {
            name: format!("variable {label}: {selector}"),
            last: String::new(),
            check: Box::new(move || {
                let values: Vec<String> = api_data(api, &target, &selector)
                    .and_then(|d| d.as_array().cloned())
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect();
                if values.is_empty() {
                    return Err("no values".into());
                }
                if label == "instance" && !fleet.iter().all(|i| values.contains(i)) {
                    return Err(format!("{values:?}"));
                }
                Ok(format!("{values:?}"))
            }),
        });
    }
    let rules_text = std::fs::read_to_string(&rules).unwrap();
    let records: Vec<String> = rules_text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record: "))
        .map(str::to_string)
        .collect();
    assert!(records.len() >= 4, "{records:?}");
    for record in records {
        pending.push(Pending {
            name: format!("recording rule {record}"),
            last: String::new(),
            check: Box::new(move || {
                let result = query(api, &record);
                if result.is_empty() {
                    return Err("no data".into());
                }
                Ok(format!("{} series, e.g. {}", result.len(), result[0]))
            }),
        });
    }
    pending.push(Pending {
        name: "TokioPulseWorkerStuck firing for slow_poll's blocked worker".into(),
        last: String::new(),
        check: Box::new(move || {
            let alerts = api_data(api, "/api/v1/alerts", "alerts")
                .and_then(|d| d["alerts"].as_array().cloned())
                .unwrap_or_default();
            let stuck: Vec<&Value> = alerts
                .iter()
                .filter(|a| a["labels"]["alertname"] == "TokioPulseWorkerStuck")
                .filter(|a| a["labels"]["runtime"] == "slow-poll-example")
                .collect();
            let firing: Vec<&&Value> = stuck.iter().filter(|a| a["state"] == "firing").collect();
            let [alert] = firing.as_slice() else {
                return Err(format!("{} firing of {stuck:?}", firing.len()));
            };
            let labels = &alert["labels"];
            assert_eq!(labels["job"], "slow-poll", "{alert}");
            assert_eq!(labels["instance"], slow.to_string(), "{alert}");
            let worker = labels["worker"].as_str().expect("a worker label");
            let summary = alert["annotations"]["summary"].as_str().unwrap_or_default();
            assert!(
                summary.contains(&format!("Worker {worker} "))
                    && summary.contains("runtime slow-poll-example"),
                "the summary names the runtime and the worker: {summary}"
            );
            Ok(summary.to_string())
        }),
    });

    let total = pending.len();
    while !pending.is_empty() {
        pending.retain_mut(|p| match (p.check)() {
            Ok(seen) => {
                eprintln!(
                    "dashboards e2e: ok {} -> {seen} ({:.1?})",
                    p.name,
                    start.elapsed()
                );
                false
            }
            Err(why) => {
                p.last = why;
                true
            }
        });
        if Instant::now() >= deadline {
            let report: Vec<String> = pending
                .iter()
                .map(|p| format!("  {}: {}", p.name, p.last))
                .collect();
            panic!(
                "{} of {total} checks did not pass within {BUDGET:?}:\n{}\nup = {:?}",
                pending.len(),
                report.join("\n"),
                query(api, "up")
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!(
        "dashboards e2e: {total} checks passed in {:.1?}",
        start.elapsed()
    );
}
