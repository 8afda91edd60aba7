//! Composite commands: `test` and `demo`.
//!
//! `cargo xtask test` runs a list of [`Step`]s:
//!
//! 1. `fork`: make sure `vendor/tokio` is current. If this fails, nothing
//!    else can run, so the remaining steps are skipped.
//! 2. `cargo test --workspace [extra args]` from the repository root.
//! 3. `patches --check`: no fork work is left unexported.
//! 4. `cargo test --benches -p tokio-pulse-benches`: every criterion bench
//!    runs once, so the benches cannot rot.
//! 5. The `tokio_unstable` tests: the differential test
//!    (`tokio-pulse-rt/tests/differential.rs`), which needs Tokio's own
//!    metrics to compare the probes with, and the task-name test
//!    (`tokio-pulse-rt/tests/task_names.rs`), which needs
//!    `tokio::task::Builder`, and the task-dump test
//!    (`tokio-pulse-rt/tests/task_dump.rs`), which needs `Handle::dump()`
//!    (the `taskdump` feature, on Linux). Built with `--cfg tokio_unstable` in its own
//!    target directory `target/unstable` (a different cfg would otherwise
//!    rebuild everything in `target/debug`).
//! 6. The loom model checks of the probes crate (`probes/tests/loom.rs`),
//!    built with `--cfg loom` in release mode in `target/loom`.
//! 7. With `--miri`: the probes crate's tests (unit, integration and doc)
//!    under Miri, with `rustup run nightly cargo miri test`.
//!
//! Every step runs even if an earlier (non-fatal) one failed; the last line is
//! `xtask test: N passed, N failed` (plus `, N skipped`), and the exit status
//! is non-zero if any step failed. To add a step, push it onto the list in
//! [`test()`].
//!
//! `cargo xtask demo [-- args]` makes sure the fork is current, then runs the
//! `demo` example of `tokio-pulse-examples` in release mode.

use std::process::Command;
use std::time::Instant;

use anyhow::Result;

use crate::fork::{check_patches, ensure_fork};
use crate::pristine::cargo_cmd;
use crate::process::stream;
use crate::upstream::rustflags;
use crate::Paths;

/// One named step of a composite command.
pub struct Step<'a> {
    /// Shown in progress and summary lines.
    pub name: String,
    /// If it fails, skip the steps after it.
    pub fatal: bool,
    /// The work.
    pub run: Box<dyn FnOnce() -> Result<()> + 'a>,
}

impl<'a> Step<'a> {
    /// A step whose failure does not stop the others.
    pub fn new(name: impl Into<String>, run: impl FnOnce() -> Result<()> + 'a) -> Self {
        Self {
            name: name.into(),
            fatal: false,
            run: Box::new(run),
        }
    }

    /// A step that the later steps depend on.
    pub fn fatal(name: impl Into<String>, run: impl FnOnce() -> Result<()> + 'a) -> Self {
        Self {
            fatal: true,
            ..Self::new(name, run)
        }
    }
}

/// Runs `steps` in order, reporting each; prints `<title>: N passed, N
/// failed[, N skipped]` last and fails if any step failed.
pub fn run_steps(title: &str, steps: Vec<Step<'_>>) -> Result<()> {
    let total = steps.len();
    let (mut passed, mut failed) = (Vec::new(), Vec::new());
    for step in steps {
        eprintln!("==> {title}: {}", step.name);
        let start = Instant::now();
        match (step.run)() {
            Ok(()) => {
                eprintln!("<== {} passed ({:.1?})", step.name, start.elapsed());
                passed.push(step.name);
            }
            Err(e) => {
                eprintln!("<== {} FAILED ({:.1?}): {e:#}", step.name, start.elapsed());
                failed.push(step.name);
                if step.fatal {
                    break;
                }
            }
        }
    }
    let skipped = total - passed.len() - failed.len();
    if !failed.is_empty() {
        eprintln!("failed steps: {}", failed.join(", "));
    }
    let skipped = if skipped > 0 {
        format!(", {skipped} skipped")
    } else {
        String::new()
    };
    println!(
        "{title}: {} passed, {} failed{skipped}",
        passed.len(),
        failed.len()
    );
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

/// An error whose message has already been printed (the summary line of
/// [`run_steps`]); `main` exits non-zero without printing it again, so the
/// summary stays the last line.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed (reported above)")
    }
}

impl std::error::Error for Reported {}

/// `cargo xtask test [--miri] [-- args]`: the steps in the module docs;
/// `args` go to the workspace's `cargo test`.
pub fn test(paths: &Paths, miri: bool, args: &[String]) -> Result<()> {
    let mut steps = vec![
        Step::fatal("fork", || ensure_fork(paths, false)),
        Step::new(
            format!("cargo test --workspace {}", args.join(" ")).trim_end(),
            || {
                let mut cmd = cargo_cmd();
                cmd.args(["test", "--workspace"])
                    .args(args)
                    .current_dir(&paths.root);
                stream(cmd)
            },
        ),
        Step::new("patches --check", || check_patches(paths)),
        Step::new(
            "cargo test --benches -p tokio-pulse-benches (each bench once)",
            || {
                let mut cmd = cargo_cmd();
                cmd.args(["test", "--benches", "-p", "tokio-pulse-benches"])
                    .current_dir(&paths.root);
                stream(cmd)
            },
        ),
        Step::new(
            "differential test vs Tokio's metrics, task names, task dumps (--cfg tokio_unstable)",
            || stream(differential_cmd(paths)),
        ),
        Step::new("loom model checks of the probes (--cfg loom)", || {
            stream(loom_cmd(paths))
        }),
    ];
    if miri {
        steps.push(Step::new("miri test -p tokio-pulse-probes", || {
            stream(miri_cmd(paths))
        }));
    }
    run_steps("xtask test", steps)
}

/// `cargo test -p tokio-pulse-rt --test differential --test task_names
/// --test task_dump` under `--cfg tokio_unstable`, in `target/unstable`.
pub fn differential_cmd(paths: &Paths) -> Command {
    let mut cmd = cargo_cmd();
    cmd.args(["test", "-p", "tokio-pulse-rt", "--test", "differential"])
        .args(["--test", "task_names", "--test", "task_dump"])
        .current_dir(&paths.root)
        .env("CARGO_TARGET_DIR", paths.target.join("unstable"))
        .env("RUSTFLAGS", rustflags("--cfg tokio_unstable"));
    cmd
}

/// `cargo test --release -p tokio-pulse-probes --test loom` under
/// `--cfg loom`, in `target/loom`.
pub fn loom_cmd(paths: &Paths) -> Command {
    let mut cmd = cargo_cmd();
    cmd.args([
        "test",
        "--release",
        "-p",
        "tokio-pulse-probes",
        "--test",
        "loom",
    ])
    .current_dir(&paths.root)
    .env("CARGO_TARGET_DIR", paths.target.join("loom"))
    .env("RUSTFLAGS", rustflags("--cfg loom"));
    cmd
}

/// `rustup run nightly cargo miri test -p tokio-pulse-probes`. The `cargo`
/// that runs xtask is the stable one; `$CARGO` is dropped so that Miri finds
/// nightly's. The heavy multi-threaded tests shrink their event counts under
/// `cfg(miri)`, and the clock-calibration test is ignored there (Miri's
/// clock is emulated).
pub fn miri_cmd(paths: &Paths) -> Command {
    let mut cmd = Command::new("rustup");
    cmd.args(["run", "nightly", "cargo", "miri", "test"])
        .args(["-p", "tokio-pulse-probes"])
        .current_dir(&paths.root)
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// `cargo xtask demo [-- args]`: ensure the fork, then run the demo example.
pub fn demo(paths: &Paths, args: &[String]) -> Result<()> {
    ensure_fork(paths, false)?;
    let mut cmd = cargo_cmd();
    cmd.args([
        "run",
        "--release",
        "-p",
        "tokio-pulse-examples",
        "--example",
        "demo",
        "--",
    ])
    .args(args)
    .current_dir(&paths.root);
    stream(cmd)
}
