//! `cargo xtask`: see `cargo xtask --help` and the library docs.

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};
use xtask::{fork, tasks, upstream, Paths};

/// Project automation for Tokio-Pulse.
#[derive(Debug, Parser)]
#[command(name = "xtask", bin_name = "cargo xtask")]
struct Cli {
    /// The Tokio release to work on: one of the supported bases (default:
    /// the newest). `swap` without it picks the newest the app accepts.
    #[arg(long, global = true, value_name = "VERSION")]
    tokio: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Build vendor/tokio from the pristine crate and patches/ (does nothing if
    /// it is current; refuses to discard unexported work).
    Fork {
        /// Delete vendor/tokio, with any work in it, and build it again.
        #[arg(long)]
        force: bool,
    },
    /// Export vendor/tokio's commits (pristine..HEAD) into patches/.
    Patches {
        /// Write nothing; exit 1 if patches/ lacks work in vendor/tokio.
        #[arg(long, conflicts_with = "force")]
        check: bool,
        /// Overwrite patches/ even if it changed since vendor/tokio was built.
        #[arg(long)]
        force: bool,
    },
    /// Ensure the fork, run `cargo test --workspace [ARGS]`, then `patches --check`.
    Test {
        /// Also run the probes crate's tests under Miri (needs nightly + miri).
        #[arg(long)]
        miri: bool,
        /// Extra arguments for `cargo test` (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// `cargo check -p tokio` of the fork for a target without 64-bit atomics
    /// (powerpc) and for wasm32-unknown-unknown (`rustup target add`s them).
    CheckTargets,
    /// Run Tokio's own test suite (tests/ and src/ unit tests) on the fork.
    UpstreamTests(upstream::Options),
    /// Wire the cargo project at PATH to the fork: `[patch.crates-io] tokio` and
    /// the tokio-pulse-rt dependency (keeps a backup; `--undo` restores it).
    Swap {
        /// Restore the project's Cargo.toml (and Cargo.lock) from the backup.
        #[arg(long)]
        undo: bool,
        /// The project's directory (its workspace root).
        path: std::path::PathBuf,
    },
    /// Swap a copy of a published Tokio app (mini-redis) onto the fork, run it
    /// under load, check the probes counted its work, and undo.
    SwapTest,
    /// Measure what the probes cost against stock Tokio (wall time, callgrind Ir, memory).
    Overhead(xtask::overhead::Args),
    /// Run the criterion suite; save or compare baselines; the seed-targets table.
    Bench(xtask::bench::Args),
    /// Run `tokio-pulse top` (release build of top/): a live view of the
    /// processes at the URLs (default http://127.0.0.1:9464).
    Top {
        /// Arguments for `tokio-pulse top` (after `--`), e.g. URLs, `--once`.
        #[arg(last = true)]
        args: Vec<String>,
    },
    /// Carry a base's patch series onto another Tokio release with `git am -3`
    /// (writes patches/tokio-VERSION/, or stops at the first conflict).
    Rebase(xtask::rebase::Args),
    /// Ensure the fork, then run the demo example in release mode.
    Demo {
        /// Arguments for the demo (after `--`).
        #[arg(last = true)]
        args: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let tokio = cli.tokio;
    let Some(command) = cli.command else {
        // No arguments: help, and success (it is what was asked for).
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    let result = Paths::from_env().and_then(|default| {
        let paths = match &tokio {
            Some(v) => default.with_tokio(v)?,
            None => default.clone(),
        };
        let default_only = |what: &str| -> anyhow::Result<()> {
            if paths.is_default_base() {
                Ok(())
            } else {
                anyhow::bail!(
                    "`{what}` runs on the default base ({}) only; drop --tokio {}",
                    xtask::TOKIO_VERSION,
                    paths.tokio
                )
            }
        };
        match command {
            Command::Fork { force } => fork::ensure_fork(&paths, force),
            Command::Patches { check: true, .. } => fork::check_patches(&paths),
            Command::Patches {
                check: false,
                force,
            } => fork::write_patches(&paths, force),
            Command::Test { miri, args } => tasks::test(&paths, miri, &args),
            Command::CheckTargets => xtask::cross::check_targets(&paths),
            Command::UpstreamTests(opts) => upstream::run(&paths, &opts),
            Command::Overhead(args) => xtask::overhead::run(&paths, &args),
            Command::Bench(args) => {
                default_only("bench")?;
                xtask::bench::run(&paths, &args)
            }
            Command::Demo { args } => {
                default_only("demo")?;
                tasks::demo(&paths, &args)
            }
            Command::Top { args } => tasks::top(&paths, &args),
            Command::Rebase(args) => xtask::rebase::run(&default, &args),
            Command::Swap { undo: false, path } => {
                xtask::swap::swap(&default, tokio.as_deref(), &path)
            }
            Command::Swap { undo: true, path } => xtask::swap::undo(&paths, &path),
            Command::SwapTest => xtask::swap_test::run(&paths),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.is::<xtask::steps::Reported>() => ExitCode::FAILURE,
        Err(err) => {
            eprintln!("error: {err}");
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::FAILURE
        }
    }
}
