//! `cargo xtask upstream-tests`: Tokio's own test suite, the `tests/` that
//! ships in the 1.54.1 crate plus the unit tests in its `src/`, run against
//! the fork (or, with `--pristine`, against the unpatched crate).
//!
//! Protocol of [`run`]:
//!
//! 1. Make sure the crate is there: the fork through
//!    [`ensure_fork`], the pristine crate through
//!    [`pristine::ensure`].
//! 2. Write a wrapper workspace, `target/pulse/upstream/<mode>/`, whose only
//!    member `tokio` is a symlink to the crate, and which has
//!    `[patch.crates-io] tokio = { path = "tokio" }` as Tokio's own workspace
//!    has: the dev-dependencies (tokio-test, tokio-stream, ...) then use this
//!    Tokio, not a second one from the registry. The fork's manifest depends
//!    on `../../probes`; seen through the symlink that is
//!    `target/pulse/upstream/probes`, a second symlink to `probes/`.
//!    Its `Cargo.lock` starts as a copy of `upstream-tests/Cargo.lock`, so the
//!    dev-dependencies' versions are pinned in git.
//! 3. Read the exclusions, `upstream-tests/excluded.toml` (see
//!    [`Exclusions::parse`]). Each names a test binary or one test, with the
//!    reason. A stale entry (a binary that does not exist) is an error.
//! 4. Pick the test binaries: every `[[test]]` of the crate's manifest plus
//!    `lib` (the unit tests), or with `--ci` those starting with one of
//!    [`CI_PREFIXES`] plus `lib`; drop the excluded binaries.
//! 5. Build them in one `cargo test --no-run` with features [`FEATURES`] and
//!    `--cfg tokio_unstable` (so the metrics, hooks and task-dump tests run
//!    too), in the target directory `target/upstream` (fork) or
//!    `target/upstream-pristine`, and read the executables from cargo's JSON
//!    messages.
//! 6. Run each executable from the crate directory, as `cargo test` would,
//!    with `--exact --skip <test>` for the excluded tests, under a per-binary
//!    time limit. Parse libtest's `test <name> ... <outcome>` lines.
//! 7. Write every outcome to `target/pulse/upstream/<mode>/results.txt`. If
//!    the other mode's file exists, list every test whose outcome differs:
//!    a test that fails on the fork but passes on pristine is a fork bug.
//! 8. Print per-binary lines and a summary; fail if anything failed.
//!
//! `--loom` runs Tokio's loom model checks of the multi-thread scheduler
//! instead, through the same wrapper ([`run_loom`]).

pub mod exclusions;
pub mod results;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::cargo::{cargo_cmd, inline, read_manifest, rustflags, strings, ScratchManifest};
use crate::fork::ensure_fork;
use crate::pristine;
use crate::process::{self, display, run_with_deadline};
use crate::Paths;
use exclusions::Exclusions;
use results::{compare, parse_libtest, render_results, report_binary, BinaryRun, Outcome};

/// Cargo features the suite is built with (Tokio's `[[test]]`s need `full`;
/// `test-util` for paused time; `taskdump` because the fork touches the
/// task-dump path, and its tests need it).
pub const FEATURES: &str = "full,test-util,taskdump";

/// Test binaries run by `--ci`: the runtime, tasks, sync, time, macros, I/O
/// and networking (the unit tests in `src/` always run).
pub const CI_PREFIXES: [&str; 7] = ["rt_", "task_", "sync_", "time_", "macros_", "io_", "net_"];

/// The name used for the crate's unit tests (`cargo test --lib`).
pub const LIB: &str = "lib";

/// A test binary that runs longer than this is killed and counted failed.
const BINARY_TIME_LIMIT: Duration = Duration::from_secs(600);

/// What to run (the command-line options of `upstream-tests`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Options {
    /// Run against the unpatched crate (vendor/tokio-1.54.1) instead of the fork.
    #[arg(long)]
    pub pristine: bool,
    /// Run only the CI subset: rt_*, task_*, sync_*, time_*, macros_*, io_*,
    /// net_* and the unit tests.
    #[arg(long)]
    pub ci: bool,
    /// Run only the test binaries whose name contains one of these
    /// (`lib` is the unit tests).
    #[arg(long, value_name = "NAME")]
    pub only: Vec<String>,
    /// Instead of the suite, run Tokio's loom model checks of the
    /// multi-thread scheduler (`loom_multi_thread` in src/) on the crate,
    /// with `LOOM_MAX_PREEMPTIONS` 1 unless set.
    #[arg(long, conflicts_with_all = ["ci", "only"])]
    pub loom: bool,
}

impl Options {
    /// `fork` or `pristine`, plus `-<version>` on a base other than the
    /// default: names the wrapper directory and the results.
    fn mode(&self, paths: &Paths) -> String {
        mode_name(self.pristine, paths)
    }
}

fn mode_name(pristine: bool, paths: &Paths) -> String {
    let mode = if pristine { "pristine" } else { "fork" };
    if paths.is_default_base() {
        mode.to_owned()
    } else {
        format!("{mode}-{}", paths.tokio)
    }
}

/// The exclusions of `paths`' base: `upstream-tests/excluded.toml` for the
/// default base, `upstream-tests/excluded-<version>.toml` for another.
pub fn exclusions_path(paths: &Paths) -> PathBuf {
    let dir = paths.root.join("upstream-tests");
    if paths.is_default_base() {
        dir.join("excluded.toml")
    } else {
        dir.join(format!("excluded-{}.toml", paths.tokio))
    }
}

/// `cargo xtask upstream-tests`: see the module docs.
pub fn run(paths: &Paths, opts: &Options) -> Result<()> {
    let start = Instant::now();
    let mode = opts.mode(paths);
    let mode = mode.as_str();
    let crate_dir = if opts.pristine {
        pristine::ensure(paths)?.dir
    } else {
        ensure_fork(paths, false)?;
        paths.vendor_tokio()
    };
    let wrapper = write_wrapper(paths, mode, &crate_dir)?;
    if opts.loom {
        return run_loom(paths, mode, &wrapper);
    }

    let excluded_path = exclusions_path(paths);
    let excluded_text = fs::read_to_string(&excluded_path)
        .with_context(|| format!("reading {}", excluded_path.display()))?;
    let exclusions = Exclusions::parse(&excluded_text, &excluded_path.display().to_string())?;

    let all = test_binaries(&crate_dir)?;
    for e in &exclusions.0 {
        if e.binary != LIB && !all.contains(&e.binary) {
            bail!(
                "{}: `{}` names no test binary of tokio (stale entry?)",
                excluded_path.display(),
                e.binary
            );
        }
    }
    let selected: Vec<String> = std::iter::once(LIB.to_owned())
        .chain(all)
        .filter(|b| !opts.ci || b == LIB || CI_PREFIXES.iter().any(|p| b.starts_with(p)))
        .filter(|b| opts.only.is_empty() || opts.only.iter().any(|o| b.contains(o.as_str())))
        .collect();
    let (skipped, selected): (Vec<String>, Vec<String>) = selected
        .into_iter()
        .partition(|b| exclusions.whole_binary(b));

    let target_dir = paths.build_dir(if opts.pristine {
        "upstream-pristine"
    } else {
        "upstream"
    });
    eprintln!(
        "xtask: upstream-tests ({mode}): building {} test binaries of {} (features {FEATURES}, --cfg tokio_unstable)",
        selected.len(),
        crate_dir.display()
    );
    let executables = build(&wrapper, &target_dir, &selected)?;

    let mut runs = Vec::new();
    for name in &selected {
        let exe = executables
            .get(name)
            .ok_or_else(|| anyhow!("cargo built no test executable for `{name}`"))?;
        let run = run_binary(name, exe, &crate_dir, &exclusions.tests_in(name))?;
        report_binary(&run);
        runs.push(run);
    }

    let results = render_results(&runs);
    let results_path = paths
        .scratch()
        .join("upstream")
        .join(mode)
        .join("results.txt");
    fs::write(&results_path, &results)
        .with_context(|| format!("writing {}", results_path.display()))?;
    let other = mode_name(!opts.pristine, paths);
    let other = other.as_str();
    let other_path = paths
        .scratch()
        .join("upstream")
        .join(other)
        .join("results.txt");
    if let Ok(other_results) = fs::read_to_string(&other_path) {
        let differences = compare(&results, &other_results, mode, other);
        if differences.is_empty() {
            eprintln!(
                "xtask: every outcome shared with the last {other} run ({}) is the same",
                other_path.display()
            );
        } else {
            eprintln!(
                "xtask: outcomes that differ from the last {other} run ({}):",
                other_path.display()
            );
            for d in &differences {
                eprintln!("  {d}");
            }
        }
    }

    let sum = |o| runs.iter().map(|r| r.count(o)).sum::<usize>();
    let broken = runs.iter().filter(|r| r.failed()).count();
    let excluded_tests: usize = runs
        .iter()
        .map(|r| exclusions.tests_in(&r.name).len())
        .sum();
    println!(
        "upstream-tests ({mode}{}): {} binaries run ({broken} failed); tests: {} passed, {} failed, {} ignored; \
         excluded: {} binaries, {excluded_tests} tests ({}); {:.0?}",
        if opts.ci { ", --ci" } else { "" },
        runs.len(),
        sum(Outcome::Ok),
        sum(Outcome::Failed),
        sum(Outcome::Ignored),
        skipped.len(),
        excluded_path.strip_prefix(&paths.root).unwrap_or(&excluded_path).display(),
        start.elapsed()
    );
    if broken > 0 {
        let names: Vec<&str> = runs
            .iter()
            .filter(|r| r.failed())
            .map(|r| r.name.as_str())
            .collect();
        bail!("failing test binaries: {}", names.join(", "));
    }
    Ok(())
}

/// `--loom`: Tokio's own loom tests of the multi-thread scheduler, as
/// Tokio's CI runs them (`--cfg loom --cfg tokio_unstable`, release with
/// debug assertions, `LOOM_MAX_BRANCHES=10000`), one test at a time, in
/// `target/loom-tokio[-pristine]`. Under `cfg(loom)` the probes' counters are
/// loom atomics too, so the model covers them. The preemption bound is 1
/// unless `LOOM_MAX_PREEMPTIONS` is set: at Tokio CI's 2, some of these
/// tests take many minutes each on a 2-core machine.
pub fn run_loom(paths: &Paths, mode: &str, wrapper: &Path) -> Result<()> {
    let target = if mode.starts_with("fork") {
        paths.build_dir("loom-tokio")
    } else {
        paths.build_dir("loom-tokio-pristine")
    };
    let mut cmd = cargo_cmd();
    cmd.args([
        "test",
        "--lib",
        "--release",
        "-p",
        "tokio",
        "--features",
        "full",
    ])
    .args(["--", "--test-threads", "1", "loom_multi_thread"])
    .current_dir(wrapper)
    .env("CARGO_TARGET_DIR", target)
    .env(
        "RUSTFLAGS",
        rustflags("--cfg loom --cfg tokio_unstable -C debug-assertions"),
    )
    .env("LOOM_MAX_BRANCHES", "10000");
    if std::env::var_os("LOOM_MAX_PREEMPTIONS").is_none() {
        cmd.env("LOOM_MAX_PREEMPTIONS", "1");
    }
    process::stream(cmd)
}

/// Step 2: the wrapper workspace; returns its directory.
fn write_wrapper(paths: &Paths, mode: &str, crate_dir: &Path) -> Result<PathBuf> {
    let upstream = paths.scratch().join("upstream");
    let dir = upstream.join(mode);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    ScratchManifest::workspace(
        "Written by `cargo xtask upstream-tests`: a workspace around Tokio, as Tokio's own \
         repository has, so that its dev-dependencies use this Tokio.",
    )
    .set("workspace", "resolver", "2")
    .set("workspace", "members", strings(&["tokio"]))
    .set(
        "patch.crates-io",
        "tokio",
        inline([("path", "tokio".into())]),
    )
    .write(&dir)?;
    // Seed the lock file from the checked-in one, so that the
    // dev-dependencies resolve to the versions this was last run with.
    let lock = dir.join("Cargo.lock");
    let base_seed = paths
        .root
        .join("upstream-tests")
        .join(format!("Cargo-{}.lock", paths.tokio));
    let seed = if base_seed.exists() {
        base_seed
    } else {
        paths.root.join("upstream-tests").join("Cargo.lock")
    };
    if !lock.exists() && seed.exists() {
        fs::copy(&seed, &lock)
            .with_context(|| format!("copying {} to {}", seed.display(), lock.display()))?;
    }
    symlink(crate_dir, &dir.join("tokio"))?;
    // The fork's `tokio-pulse-probes = { path = "../../probes" }`, resolved
    // from `<upstream>/<mode>/tokio`, is `<upstream>/probes`.
    symlink(&paths.root.join("probes"), &upstream.join("probes"))?;
    Ok(dir)
}

/// Points `link` at `target`, replacing a link that points elsewhere.
fn symlink(target: &Path, link: &Path) -> Result<()> {
    if fs::read_link(link).is_ok_and(|t| t == target) {
        return Ok(());
    }
    if fs::symlink_metadata(link).is_ok() {
        fs::remove_file(link).with_context(|| format!("removing {}", link.display()))?;
    }
    #[cfg(unix)]
    std::os::unix::fs::symlink(target, link)
        .with_context(|| format!("linking {} -> {}", link.display(), target.display()))?;
    #[cfg(not(unix))]
    bail!(
        "upstream-tests needs symbolic links (a Unix host) for {}",
        link.display()
    );
    Ok(())
}

/// Step 4: the names of the crate's `[[test]]` targets.
fn test_binaries(crate_dir: &Path) -> Result<Vec<String>> {
    let path = crate_dir.join("Cargo.toml");
    let doc = read_manifest(&path)?;
    let tests = doc
        .get("test")
        .and_then(|t| t.as_array_of_tables())
        .ok_or_else(|| anyhow!("{} has no [[test]] targets", path.display()))?;
    tests
        .iter()
        .map(|t| {
            t.get("name")
                .and_then(|n| n.as_str())
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{}: a [[test]] has no name", path.display()))
        })
        .collect()
}

/// Step 5: builds `binaries` and returns each one's executable.
fn build(
    wrapper: &Path,
    target_dir: &Path,
    binaries: &[String],
) -> Result<BTreeMap<String, PathBuf>> {
    let mut cmd = cargo_cmd();
    cmd.args([
        "test",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ])
    .args(["-p", "tokio", "--features", FEATURES])
    .current_dir(wrapper)
    .env("CARGO_TARGET_DIR", target_dir)
    .env("RUSTFLAGS", rustflags("--cfg tokio_unstable"))
    .stdin(Stdio::null())
    .stderr(Stdio::inherit())
    .stdout(Stdio::piped());
    for b in binaries {
        if b == LIB {
            cmd.arg("--lib");
        } else {
            cmd.args(["--test", b]);
        }
    }
    let shown = display(&cmd);
    let out = cmd
        .output()
        .with_context(|| format!("could not start `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}); the compiler's messages are above",
            out.status
        );
    }
    let mut executables = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" || msg["profile"]["test"] != true {
            continue;
        }
        let Some(exe) = msg["executable"].as_str() else {
            continue;
        };
        let kinds = msg["target"]["kind"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let name = if kinds.iter().any(|k| k == "lib") {
            LIB.to_owned()
        } else {
            msg["target"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        executables.insert(name, PathBuf::from(exe));
    }
    Ok(executables)
}

/// Step 6: runs one test executable under the time limit.
fn run_binary(name: &str, exe: &Path, crate_dir: &Path, skips: &[&str]) -> Result<BinaryRun> {
    let mut cmd = Command::new(exe);
    if !skips.is_empty() {
        cmd.arg("--exact");
        for s in skips {
            cmd.args(["--skip", s]);
        }
    }
    cmd.current_dir(crate_dir)
        .env("CARGO_MANIFEST_DIR", crate_dir)
        .stderr(Stdio::piped());
    let shown = display(&cmd);
    let done = run_with_deadline(cmd, BINARY_TIME_LIMIT)?;
    let tests = parse_libtest(&done.stdout);
    let broken = match done.status {
        None => Some(format!("killed after the {BINARY_TIME_LIMIT:?} limit")),
        Some(status) if !status.success() && !tests.iter().any(|(_, o)| *o == Outcome::Failed) => {
            Some(format!("exited {status} with no failed test"))
        }
        Some(_) => None,
    };
    let run = BinaryRun {
        name: name.to_owned(),
        tests,
        broken,
        elapsed: done.elapsed,
    };
    if run.failed() {
        eprintln!(
            "---- output of {shown}\n{}{}---- end of output of {name}",
            done.stdout, done.stderr
        );
    }
    Ok(run)
}
