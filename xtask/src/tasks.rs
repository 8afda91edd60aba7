//! Composite commands: `test` and `demo`.
//!
//! `cargo xtask test` runs a list of [`Step`]s:
//!
//! 1. `fork`: make sure `vendor/tokio` is current. If this fails, nothing
//!    else can run, so the remaining steps are skipped.
//! 2. `cargo test --workspace [extra args]` from the repository root. First,
//!    [`ensure_prometheus`] makes sure of `promtool` and `prometheus`
//!    (installing the Debian package as root where `apt-get` exists, and
//!    saying so). Tests that skip report it through the file named in
//!    [`SKIP_LOG_ENV`], and the step passes with those skips named.
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
//!    built with `--cfg loom` in release mode in `target/loom`; then xtask's
//!    own tests ([`xtask_tests_cmd`]), in `target/xtask-tests`.
//! 7. `promtool check rules` and `promtool test rules` on `dashboards/`
//!    ([`crate::dashboards`]).
//! 8. The TUI test, `top/tests/tui_tmux.rs` (ignored by the workspace's
//!    `cargo test`): `tokio-pulse top` in a tmux pane against the demo and
//!    the `slow_poll` example, after building the examples. Without `tmux`
//!    it is a named skip (a failure under `CI=true`).
//! 9. `check-targets` ([`crate::cross`]): `cargo check -p tokio` of the fork
//!    for powerpc-unknown-linux-gnu (no 64-bit atomics; features `full`) and
//!    wasm32-unknown-unknown (`rt`, `sync`, `macros`, `time`), one step each,
//!    in `target/cross`. A target rustup cannot add is a named skip.
//! 10. With `--miri`: the probes crate's tests (unit, integration and doc)
//!     under Miri, with `rustup run nightly cargo miri test`.
//!
//! Every step runs even if an earlier (non-fatal) one failed; the last line is
//! `xtask test: N passed, N failed` plus, if anything did not run,
//! `, N skipped: what (fix), ...` (a test or target inside a step that did not
//! run, or a step skipped after a fatal failure: never counted as passed).
//! Under `CI=true` a skip is a failure. The exit status is non-zero if any
//! step failed. To add a step, push it onto the list in [`test()`].
//!
//! `cargo xtask demo [-- args]` makes sure the fork is current, then runs the
//! `demo` example of `tokio-pulse-examples` in release mode. `cargo xtask top
//! [-- args]` runs `tokio-pulse top` (top/) in release mode.

use std::path::Path;
use std::process::Command;

use anyhow::Result;

use crate::cargo::{cargo_cmd, rustflags};
use crate::fork::{check_patches, ensure_fork};
use crate::process::stream;
use crate::steps::{run_steps, Outcome, Step};
use crate::tools::{ensure_prometheus, read_skip_log, Installer, SKIP_LOG_ENV};
use crate::Paths;

/// `cargo xtask test [--miri] [-- args]`: the steps in the module docs;
/// `args` go to the workspace's `cargo test`.
pub fn test(paths: &Paths, miri: bool, args: &[String]) -> Result<()> {
    let mut steps = vec![
        Step::fatal("fork", || {
            ensure_fork(paths, false)?;
            crate::workspace::ensure(paths).map(drop)
        }),
        Step::reporting(
            format!("cargo test --workspace {}", args.join(" ")).trim_end(),
            || workspace_tests(paths, args, &Installer::system()),
        ),
        Step::new("patches --check", || check_patches(paths)),
        Step::new(
            "differential test vs Tokio's metrics, task names, task dumps (--cfg tokio_unstable)",
            || stream(differential_cmd(paths)),
        ),
    ];
    if paths.is_default_base() {
        // These do not depend on the base (the probes crate has no Tokio
        // dependency; the benches and the dashboards are the same code), so
        // they run once, on the default base.
        steps.extend([
            Step::new(
                "cargo test --benches -p tokio-pulse-benches (each bench once)",
                || {
                    let mut cmd = cargo_cmd();
                    cmd.args(["test", "--benches", "-p", "tokio-pulse-benches"])
                        .current_dir(paths.workspace());
                    stream(cmd)
                },
            ),
            Step::new("loom model checks of the probes (--cfg loom)", || {
                stream(loom_cmd(paths))
            }),
            Step::new(
                "xtask's own tests (fork, patches, swap, rebase, overhead report)",
                || stream(xtask_tests_cmd(paths)),
            ),
            Step::reporting("promtool check/test rules (dashboards/)", || {
                crate::dashboards::check_rules(paths)
            }),
            Step::reporting("tokio-pulse top under tmux (top/tests/tui_tmux.rs)", || {
                tui_test(paths)
            }),
        ]);
    }
    steps.extend(crate::cross::steps(paths));
    if miri && paths.is_default_base() {
        steps.push(Step::new("miri test -p tokio-pulse-probes", || {
            stream(miri_cmd(paths))
        }));
    }
    run_steps("xtask test", steps)
}

/// The workspace's `cargo test`, after [`ensure_prometheus`]; the tests that
/// skipped (through [`SKIP_LOG_ENV`]) come back as skips.
fn workspace_tests(paths: &Paths, args: &[String], installer: &Installer) -> Result<Outcome> {
    ensure_prometheus(installer);
    let mut cmd = cargo_cmd();
    cmd.args(["test", "--workspace"])
        .args(args)
        .current_dir(paths.workspace());
    stream_with_skip_log(paths, "skips", cmd)
}

/// Streams `cmd` with [`SKIP_LOG_ENV`] set to a fresh log,
/// `<scratch>/<stem>-<pid>.log`; the tests that skipped come back as skips.
fn stream_with_skip_log(paths: &Paths, stem: &str, mut cmd: Command) -> Result<Outcome> {
    let log = paths
        .scratch()
        .join(format!("{stem}-{}.log", std::process::id()));
    std::fs::create_dir_all(paths.scratch())?;
    let _ = std::fs::remove_file(&log);
    cmd.env(SKIP_LOG_ENV, &log);
    let result = stream(cmd);
    let skipped = read_skip_log(&log);
    let _ = std::fs::remove_file(&log);
    result?;
    Ok(Outcome::Passed { skipped: skipped? })
}

/// `cargo test -p tokio-pulse-rt --test differential --test task_names
/// --test task_dump` under `--cfg tokio_unstable`, in `target/unstable`.
pub fn differential_cmd(paths: &Paths) -> Command {
    let mut cmd = cargo_cmd();
    cmd.args(["test", "-p", "tokio-pulse-rt", "--test", "differential"])
        .args(["--test", "task_names", "--test", "task_dump"])
        .current_dir(paths.workspace())
        .env("CARGO_TARGET_DIR", paths.build_dir("unstable"))
        .env("RUSTFLAGS", rustflags("--cfg tokio_unstable"));
    cmd
}

/// `cargo test` of xtask's own workspace (its unit tests and `xtask/tests/`:
/// the fork and patch checks, swap's repeated and interrupted paths,
/// rebase on synthetic releases), in `target/xtask-tests` so that the
/// running xtask binary is never rebuilt under itself.
pub fn xtask_tests_cmd(paths: &Paths) -> Command {
    let mut cmd = cargo_cmd();
    cmd.args(["test", "--manifest-path"])
        .arg(paths.root.join("xtask").join("Cargo.toml"))
        .current_dir(&paths.root)
        .env(
            "CARGO_TARGET_DIR",
            paths.root.join("target").join("xtask-tests"),
        );
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
    .current_dir(paths.workspace())
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
        .current_dir(paths.workspace())
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN");
    cmd
}

/// `cargo xtask top [-- args]`: `tokio-pulse top` from top/, in release mode.
/// The fork is ensured first only because the workspace's `[patch]` needs
/// `vendor/tokio` to resolve; top itself has no Tokio.
pub fn top(paths: &Paths, args: &[String]) -> Result<()> {
    run_release(
        paths,
        &paths.root,
        &["tokio-pulse-top", "--bin", "tokio-pulse", "--", "top"],
        args,
    )
}

/// The TUI test (`top/tests/tui_tmux.rs`, ignored by a plain `cargo test`):
/// builds the example programs it drives, then runs it with the skip log,
/// so a missing `tmux` comes back as a named skip (a failure under
/// `CI=true`).
fn tui_test(paths: &Paths) -> Result<Outcome> {
    let mut build = cargo_cmd();
    build
        .args(["build", "-p", "tokio-pulse-examples", "--examples"])
        .current_dir(&paths.root);
    stream(build)?;
    let mut cmd = cargo_cmd();
    cmd.args([
        "test",
        "-p",
        "tokio-pulse-top",
        "--test",
        "tui_tmux",
        "--",
        "--ignored",
    ])
    .current_dir(&paths.root);
    stream_with_skip_log(paths, "skips-tui", cmd)
}

/// `cargo xtask demo [-- args]`: ensure the fork, then run the demo example.
pub fn demo(paths: &Paths, args: &[String]) -> Result<()> {
    run_release(
        paths,
        &paths.workspace(),
        &["tokio-pulse-examples", "--example", "demo", "--"],
        args,
    )
}

/// Ensures the fork, then streams `cargo run --release -p PACKAGE...`
/// (`package`: the package, its target and what goes before `args`) in `dir`.
fn run_release(paths: &Paths, dir: &Path, package: &[&str], args: &[String]) -> Result<()> {
    ensure_fork(paths, false)?;
    let mut cmd = cargo_cmd();
    cmd.args(["run", "--release", "-p"])
        .args(package)
        .args(args)
        .current_dir(dir);
    stream(cmd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::{tally_steps, Skip};

    #[test]
    fn a_test_that_reports_a_skip_comes_back_from_cargo_test_as_a_skip() {
        // A real cargo project whose one test skips the way the Prometheus
        // end-to-end test does.
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("ws");
        std::fs::create_dir_all(root.join("tests")).unwrap();
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(
            root.join("Cargo.toml"),
            "[package]\nname = \"skips\"\nversion = \"0.0.0\"\nedition = \"2021\"\n[workspace]\n",
        )
        .unwrap();
        std::fs::write(root.join("src/lib.rs"), "").unwrap();
        std::fs::write(
            root.join("tests/e2e.rs"),
            "#[test]\nfn e2e() {\n    use std::io::Write;\n    \
             let log = std::env::var_os(\"TOKIO_PULSE_SKIP_LOG\").expect(\"xtask sets it\");\n    \
             let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();\n    \
             writeln!(f, \"prometheus e2e\\tinstall prometheus\").unwrap();\n}\n",
        )
        .unwrap();
        let paths = Paths::new(&root);
        let nothing = Installer {
            path: tmp.path().join("no-bin").into_os_string(),
            root: false,
            policy_rc_d: tmp.path().join("policy-rc.d"),
        };
        let outcome = workspace_tests(&paths, &["--quiet".to_owned()], &nothing).unwrap();
        assert_eq!(
            outcome,
            Outcome::Passed {
                skipped: vec![Skip::new("prometheus e2e", "install prometheus")]
            }
        );
        let tally = tally_steps(
            vec![Step::reporting("cargo test --workspace", || Ok(outcome))],
            "xtask test",
            false,
        );
        assert_eq!(
            tally.summary("xtask test"),
            "xtask test: 1 passed, 0 failed, 1 skipped: prometheus e2e (install prometheus)"
        );
    }
}
