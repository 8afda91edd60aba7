//! `cargo xtask bench`: the criterion suite in `benches/`, baselines, and
//! the seed's performance-targets table on the fork and on stock.
//!
//! 1. `cargo xtask bench [BENCH...]` runs `cargo bench -p
//!    tokio-pulse-benches` (all benches, or the named ones) and prints, for
//!    every bench it ran, the median time per iteration and per element
//!    (criterion's `Throughput::Elements`, e.g. per probe call of a ×100
//!    batch).
//! 2. `--save-baseline NAME` saves the run as criterion baseline `NAME`;
//!    `--baseline NAME` compares against it. A bench **regresses** when the
//!    lower bound of criterion's 95 % confidence interval for the change in
//!    mean time is above `--threshold` (default 5 %): the slowdown is larger
//!    than the threshold with statistical significance. Any regression makes
//!    the command exit non-zero. Before merging a change to `patches/`: run
//!    `cargo xtask bench --save-baseline before` on the old fork, apply the
//!    change, run `cargo xtask bench --baseline before`.
//! 3. `--targets` runs the `seed_targets` group of `integration/regression.rs`
//!    on the fork, then builds the same bench against pristine Tokio in a
//!    generated package (`target/pulse/bench-stock/`, the root `Cargo.lock`
//!    copied so every other crate is the same version) and runs it there,
//!    and prints the seed's table with both columns.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use anyhow::{anyhow, bail, Context, Result};
use serde_json::Value;

use crate::cargo::{cargo_cmd, path_dep, path_str, read_manifest, ScratchManifest};
use crate::{fork, pristine, process, Paths, TOKIO_VERSION};

/// Options of `cargo xtask bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// Save this run as criterion baseline NAME.
    #[arg(long, value_name = "NAME", conflicts_with = "baseline")]
    pub save_baseline: Option<String>,
    /// Compare against criterion baseline NAME; exit 1 on a regression.
    #[arg(long, value_name = "NAME")]
    pub baseline: Option<String>,
    /// Regression threshold in percent for --baseline.
    #[arg(long, default_value_t = 5.0, value_name = "PERCENT")]
    pub threshold: f64,
    /// Short measurements (0.2 s warm-up, 1 s measurement, 10 samples).
    #[arg(long)]
    pub quick: bool,
    /// Measure the seed's performance-targets table on the fork and on stock.
    #[arg(long, conflicts_with_all = ["save_baseline", "baseline"])]
    pub targets: bool,
    /// Benches to run (hooks, budget, tier_check, contention, work_stealing,
    /// fairness, full_system, regression); all if none.
    pub benches: Vec<String>,
}

/// The bench targets of `benches/Cargo.toml`.
pub const BENCHES: &[&str] = &[
    "hooks",
    "budget",
    "tier_check",
    "contention",
    "work_stealing",
    "fairness",
    "full_system",
    "regression",
];

/// The seed's performance targets: bench id prefix in group `seed_targets`,
/// the row's label, and the target in ns per operation.
pub const SEED_TARGETS: &[(&str, &str, f64)] = &[
    ("uncontended_atomic", "Uncontended atomic (fetch_add)", 10.0),
    ("uncontended_mutex", "Uncontended mutex (parking_lot)", 20.0),
    (
        "contention_2_tasks",
        "2-task contention (tokio Mutex, 2 workers)",
        50.0,
    ),
    (
        "contention_8_tasks",
        "8-task contention (tokio Mutex, 2 workers)",
        200.0,
    ),
    ("channel_send_recv", "Channel send/recv (tokio mpsc)", 100.0),
    ("task_spawn", "Task spawn + join (from a worker)", 500.0),
    ("context_switch", "Context switch (yield_now)", 1500.0),
];

/// `cargo xtask bench`: see the module docs.
pub fn run(paths: &Paths, args: &Args) -> Result<()> {
    if !(args.threshold.is_finite() && args.threshold >= 0.0) {
        bail!(
            "--threshold must be a non-negative percentage, not {}",
            args.threshold
        );
    }
    for name in [&args.save_baseline, &args.baseline].into_iter().flatten() {
        check_baseline_name(name)?;
    }
    if let Some(bad) = args.benches.iter().find(|b| !BENCHES.contains(&b.as_str())) {
        bail!("unknown bench {bad:?}; known: {}", BENCHES.join(", "));
    }
    if !paths.vendor_tokio().join("Cargo.toml").is_file() {
        fork::ensure_fork(paths, false)?;
    }
    if args.targets {
        return targets(paths, args.quick);
    }

    let started = SystemTime::now();
    let mut cmd = cargo_cmd();
    cmd.args(["bench", "-p", "tokio-pulse-benches"])
        .current_dir(&paths.root);
    for bench in &args.benches {
        cmd.args(["--bench", bench]);
    }
    cmd.arg("--");
    if args.quick {
        cmd.args(quick_args());
    }
    if let Some(name) = &args.save_baseline {
        cmd.args(["--save-baseline", name]);
    }
    if let Some(name) = &args.baseline {
        cmd.args(["--baseline", name]);
    }
    process::stream(cmd)?;

    let criterion = paths.target.join("criterion");
    let runs = collect(&criterion, started)?;
    print!("{}", per_element_table(&runs));
    if args.baseline.is_some() {
        let regressions: Vec<&BenchRun> = runs
            .iter()
            .filter(|r| r.change.is_some_and(|c| c.lower * 100.0 > args.threshold))
            .collect();
        print!("{}", change_table(&runs, args.threshold));
        if !regressions.is_empty() {
            let ids: Vec<&str> = regressions.iter().map(|r| r.id.as_str()).collect();
            bail!(
                "{} bench(es) regressed by more than {} % with 95 % confidence: {}",
                ids.len(),
                args.threshold,
                ids.join(", ")
            );
        }
        println!(
            "no bench regressed by more than {} % with 95 % confidence",
            args.threshold
        );
    }
    Ok(())
}

fn quick_args() -> [&'static str; 6] {
    [
        "--warm-up-time",
        "0.2",
        "--measurement-time",
        "1",
        "--sample-size",
        "10",
    ]
}

/// Criterion stores baselines as directory names; keep them plain.
fn check_baseline_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        && name != "new"
        && name != "change"
        && !name.starts_with('.');
    if !ok {
        bail!(
            "baseline name {name:?} must be letters, digits, '-', '_' or '.', \
             not start with '.', and not be `new` or `change`"
        );
    }
    Ok(())
}

/// One bench that criterion measured in this run.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchRun {
    /// `group/function[/parameter]`.
    pub id: String,
    /// Median ns per iteration.
    pub median_ns: f64,
    /// Elements per iteration, if the bench declared a throughput.
    pub elements: Option<u64>,
    /// Relative change of the mean against the compared baseline.
    pub change: Option<Change>,
}

/// A relative change with its 95 % confidence interval (0.05 = +5 %).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Change {
    /// Point estimate.
    pub mean: f64,
    /// Lower bound of the confidence interval.
    pub lower: f64,
    /// Upper bound of the confidence interval.
    pub upper: f64,
}

/// Every `*/new/estimates.json` under `criterion` written since `since`.
pub fn collect(criterion: &Path, since: SystemTime) -> Result<Vec<BenchRun>> {
    let mut runs = Vec::new();
    let mut stack = vec![criterion.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if !path.is_dir() {
                continue;
            }
            let estimates = path.join("new").join("estimates.json");
            let fresh = fs::metadata(&estimates)
                .and_then(|m| m.modified())
                .is_ok_and(|t| t >= since);
            if fresh {
                runs.push(read_run(&path)?);
            } else if path.file_name().is_some_and(|n| n != "report") {
                stack.push(path);
            }
        }
    }
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(runs)
}

fn read_json(path: &Path) -> Result<Value> {
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Reads one bench's directory (`<criterion>/<group>/<function>[/<param>]`).
pub fn read_run(dir: &Path) -> Result<BenchRun> {
    let new = dir.join("new");
    let estimates = read_json(&new.join("estimates.json"))?;
    let median_ns = estimates
        .pointer("/median/point_estimate")
        .and_then(Value::as_f64)
        .ok_or_else(|| anyhow!("{} has no median", new.display()))?;
    let benchmark = read_json(&new.join("benchmark.json"))?;
    let id = benchmark
        .get("full_id")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| dir.display().to_string());
    let elements = benchmark
        .pointer("/throughput/Elements")
        .and_then(Value::as_u64);
    let change_path = dir.join("change").join("estimates.json");
    let change = if change_path.is_file() {
        let change = read_json(&change_path)?;
        let get = |p: &str| change.pointer(p).and_then(Value::as_f64);
        match (
            get("/mean/point_estimate"),
            get("/mean/confidence_interval/lower_bound"),
            get("/mean/confidence_interval/upper_bound"),
        ) {
            (Some(mean), Some(lower), Some(upper)) => Some(Change { mean, lower, upper }),
            _ => bail!("{} lacks the mean change", change_path.display()),
        }
    } else {
        None
    };
    Ok(BenchRun {
        id,
        median_ns,
        elements,
        change,
    })
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.2} ns")
    }
}

/// Median per iteration and per element of every bench run.
pub fn per_element_table(runs: &[BenchRun]) -> String {
    let mut out = format!(
        "\n{:<52} {:>12} {:>9} {:>12}\n",
        "bench", "median/iter", "elements", "per element"
    );
    for r in runs {
        let per = r.elements.map(|e| fmt_ns(r.median_ns / e.max(1) as f64));
        out.push_str(&format!(
            "{:<52} {:>12} {:>9} {:>12}\n",
            r.id,
            fmt_ns(r.median_ns),
            r.elements.map_or("-".into(), |e| e.to_string()),
            per.unwrap_or_else(|| "-".into())
        ));
    }
    out
}

/// Changes against the baseline, with verdicts.
pub fn change_table(runs: &[BenchRun], threshold: f64) -> String {
    let mut out = format!(
        "\nchange of the mean vs baseline (95 % CI); regression = lower bound > +{threshold} %\n"
    );
    for r in runs {
        let Some(c) = r.change else {
            out.push_str(&format!("{:<52} no baseline\n", r.id));
            continue;
        };
        let verdict = if c.lower * 100.0 > threshold {
            "REGRESSED"
        } else if c.upper < 0.0 {
            "faster"
        } else {
            "ok"
        };
        out.push_str(&format!(
            "{:<52} {:+7.2} % [{:+.2}, {:+.2}] {verdict}\n",
            r.id,
            c.mean * 100.0,
            c.lower * 100.0,
            c.upper * 100.0
        ));
    }
    out
}

/// The stock package for `--targets`: the benches library and
/// `integration/regression.rs`, with tokio patched to the pristine crate.
pub fn stock_manifest(root: &Path, pristine_dir: &Path) -> Result<ScratchManifest> {
    let bench_manifest = root.join("benches").join("Cargo.toml");
    let doc = read_manifest(&bench_manifest)?;
    // The same dependency entries as benches/Cargo.toml, so the versions and
    // features cannot drift apart.
    let dependencies = doc
        .get("dependencies")
        .and_then(toml_edit::Item::as_table_like)
        .ok_or_else(|| anyhow!("{} has no [dependencies] section", bench_manifest.display()))?;
    let mut manifest = ScratchManifest::package(
        "tokio-pulse-benches",
        &format!(
            "Generated by `cargo xtask bench --targets`: benches/ against pristine tokio {TOKIO_VERSION}."
        ),
    )
    .set("lib", "path", path_str(&root.join("benches/src/lib.rs"))?)
    .set("lib", "bench", false)
    .push(
        "bench",
        [
            ("name", "regression".into()),
            (
                "path",
                path_str(&root.join("benches/integration/regression.rs"))?.into(),
            ),
            ("harness", false.into()),
        ],
    );
    for (name, item) in dependencies.iter() {
        manifest = manifest.set_item("dependencies", name, item.clone());
    }
    Ok(manifest.set("patch.crates-io", "tokio", path_dep(pristine_dir)?))
}

/// `--targets`: the seed's table, fork and stock.
fn targets(paths: &Paths, quick: bool) -> Result<()> {
    let pristine_dir = if paths.pristine().join("Cargo.toml").is_file() {
        paths.pristine()
    } else {
        pristine::ensure(paths)?.dir
    };
    let mut cmd = cargo_cmd();
    cmd.args([
        "bench",
        "-p",
        "tokio-pulse-benches",
        "--bench",
        "regression",
    ])
    .current_dir(&paths.root);
    let fork_runs = seed_runs(cmd, quick, "the fork", &paths.target)?;

    let dir = paths.scratch().join("bench-stock");
    let manifest = stock_manifest(&paths.root, &pristine_dir)?.write(&dir)?;
    let lock = paths.root.join("Cargo.lock");
    if lock.is_file() && !dir.join("Cargo.lock").is_file() {
        fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {}", lock.display()))?;
    }
    let target_dir = dir.join("target");
    let mut cmd = cargo_cmd();
    cmd.args(["bench", "--bench", "regression", "--manifest-path"])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir);
    let stock_runs = seed_runs(
        cmd,
        quick,
        &format!("stock tokio {TOKIO_VERSION}"),
        &target_dir,
    )?;
    print!("{}", targets_table(&fork_runs, &stock_runs));
    Ok(())
}

/// Streams `cmd` (a `cargo bench` of the regression bench, building `on`)
/// with the seed targets' filter, then collects the runs it wrote into
/// `target_dir`'s `criterion/`.
fn seed_runs(
    mut cmd: std::process::Command,
    quick: bool,
    on: &str,
    target_dir: &Path,
) -> Result<Vec<BenchRun>> {
    cmd.arg("--").arg("seed_targets");
    if quick {
        cmd.args(quick_args());
    }
    eprintln!("bench: seed targets on {on}");
    let started = SystemTime::now();
    process::stream(cmd)?;
    collect(&target_dir.join("criterion"), started)
}

/// ns per operation of seed row `prefix`, from runs whose id is
/// `seed_targets/<prefix>_x<ops>`.
fn per_op(runs: &[BenchRun], prefix: &str) -> Option<f64> {
    runs.iter().find_map(|r| {
        let rest = r.id.strip_prefix("seed_targets/")?.strip_prefix(prefix)?;
        let ops: f64 = rest.strip_prefix("_x")?.parse().ok()?;
        Some(r.median_ns / ops)
    })
}

/// The seed's table with fork and stock columns.
pub fn targets_table(fork: &[BenchRun], stock: &[BenchRun]) -> String {
    let mut out = String::from(
        "\n| operation | seed target | fork | stock | fork / stock |\n|---|---|---|---|---|\n",
    );
    for (prefix, label, target) in SEED_TARGETS {
        let (f, s) = (per_op(fork, prefix), per_op(stock, prefix));
        let cell = |v: Option<f64>| v.map_or("-".to_string(), fmt_ns);
        let verdict = match f {
            Some(f) if f < *target => "",
            Some(_) => " (over target)",
            None => "",
        };
        out.push_str(&format!(
            "| {label} | < {} | {}{verdict} | {} | {} |\n",
            fmt_ns(*target),
            cell(f),
            cell(s),
            match (f, s) {
                (Some(f), Some(s)) if s > 0.0 => format!("{:.2}", f / s),
                _ => "-".into(),
            }
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_criterion_output_and_flags_regressions() {
        let dir = tempfile::tempdir().unwrap();
        let since = SystemTime::now() - std::time::Duration::from_secs(5);
        let bench = dir.path().join("probes/polled");
        write(
            &bench.join("new/estimates.json"),
            r#"{"median":{"point_estimate":150.0},"mean":{"point_estimate":151.0}}"#,
        );
        write(
            &bench.join("new/benchmark.json"),
            r#"{"full_id":"probes/polled","throughput":{"Elements":100}}"#,
        );
        write(
            &bench.join("change/estimates.json"),
            r#"{"mean":{"point_estimate":0.09,"confidence_interval":{"lower_bound":0.07,"upper_bound":0.11}}}"#,
        );
        let runs = collect(dir.path(), since).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].id, "probes/polled");
        assert_eq!(runs[0].elements, Some(100));
        assert!(per_element_table(&runs).contains("1.50 ns"));
        let table = change_table(&runs, 5.0);
        assert!(table.contains("REGRESSED"), "{table}");
        assert!(!change_table(&runs, 8.0).contains("REGRESSED"));
        // Nothing measured after `later`.
        let later = SystemTime::now() + std::time::Duration::from_secs(60);
        assert!(collect(dir.path(), later).unwrap().is_empty());
    }

    #[test]
    fn seed_rows_divide_by_their_batch() {
        let run = |id: &str, ns: f64| BenchRun {
            id: id.into(),
            median_ns: ns,
            elements: None,
            change: None,
        };
        let fork = vec![run("seed_targets/task_spawn_x1000", 300_000.0)];
        let stock = vec![run("seed_targets/task_spawn_x1000", 250_000.0)];
        assert_eq!(per_op(&fork, "task_spawn"), Some(300.0));
        let table = targets_table(&fork, &stock);
        assert!(
            table.contains("| 300.00 ns | 250.00 ns | 1.20 |"),
            "{table}"
        );
    }

    #[test]
    fn baseline_names_are_checked() {
        assert!(check_baseline_name("before-1.2").is_ok());
        for bad in ["", "../x", "a b", "new", ".hidden"] {
            assert!(check_baseline_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn stock_manifest_reuses_the_bench_dependencies() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let text = stock_manifest(root, Path::new("/p/tokio-1.54.1"))
            .unwrap()
            .render();
        assert!(text.contains("criterion = "), "{text}");
        assert!(text.contains("tokio = { path = \"/p/tokio-1.54.1\" }"));
        assert!(!text.contains("tokio-pulse-probes"), "{text}");
    }
}
