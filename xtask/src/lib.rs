//! Project automation for Tokio-Pulse, run as `cargo xtask <command>` (the
//! alias lives in `.cargo/config.toml`). This crate is its own workspace so
//! that it builds before `vendor/tokio`, which the root workspace patches in,
//! exists.
//!
//! The fork of Tokio lives in git only as the patch series `patches/`;
//! `vendor/` is generated and ignored. The commands:
//!
//! 1. `fork` ([`fork::ensure_fork`]) gets the pristine crate through cargo
//!    ([`pristine`]) and builds `vendor/tokio` from it and `patches/`.
//! 2. `patches` ([`fork::write_patches`]) exports the commits made in
//!    `vendor/tokio` back into `patches/`; `patches --check`
//!    ([`fork::check_patches`]) says whether that would change anything.
//! 3. `test` and `demo` ([`tasks`]) make sure the fork is current, then run.
//! 4. `check-targets` ([`cross`]) checks that the fork compiles for targets
//!    without 64-bit atomics and for wasm32 (also a step of `test`).
//! 5. `upstream-tests` ([`upstream`]) runs Tokio's own test suite on the fork.
//! 6. `swap` ([`swap`]) wires a cargo project to the fork; `swap-test`
//!    ([`swap_test`]) does so to a published Tokio app and checks it.
//! 7. `overhead` ([`overhead`]) and `bench` ([`bench`](mod@bench)) measure the probes.
//!
//! Each command's module imports only the shared drawers, never another
//! command's helpers: [`cargo`] (the cargo command, `RUSTFLAGS`, scratch
//! manifests, fetching a crate), [`process`] (running programs, with a
//! deadline), [`fs`], [`git`], [`steps`] (the steps and summary line of a
//! composite command), [`tools`] (outside tools that tests need),
//! [`patchset`] and [`pristine`]. A command may run another command whole:
//! most begin with [`fork::ensure_fork`], `test` runs `check-targets`'
//! steps, and `swap-test` runs `swap` and `swap --undo`.

pub mod bench;
pub mod cargo;
pub mod cross;
pub mod dashboards;
pub mod fork;
pub mod fs;
pub mod git;
pub mod overhead;
pub mod patchset;
pub mod pristine;
pub mod process;
pub mod rebase;
pub mod steps;
pub mod swap;
pub mod swap_test;
pub mod tasks;
pub mod tools;
pub mod upstream;
pub mod workspace;

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Result};

/// The default base: the newest Tokio release the fork supports. Commands
/// without `--tokio` use it, and it is the one `vendor/tokio` holds (the tree
/// the root workspace's `[patch.crates-io]` points at).
pub const TOKIO_VERSION: &str = "1.54.1";

/// Every Tokio release the fork is carried on, newest first. Each has its own
/// series in `patches/tokio-<version>/`.
pub const BASES: &[&str] = &[TOKIO_VERSION, "1.53.3"];

/// The supported bases as a readable list, for error messages.
pub fn bases_list() -> String {
    BASES.join(", ")
}

/// Checks that `version` is a supported base and returns its static name.
///
/// ```
/// assert_eq!(xtask::base("1.53.3").unwrap(), "1.53.3");
/// assert!(xtask::base("1.52.0").unwrap_err().to_string().contains("1.54.1, 1.53.3"));
/// ```
pub fn base(version: &str) -> Result<&'static str> {
    BASES
        .iter()
        .copied()
        .find(|b| *b == version.trim())
        .ok_or_else(|| {
            anyhow!(
                "--tokio {version:?} is not a supported base; supported: {} \
                 (add one with `cargo xtask rebase --onto VERSION`)",
                bases_list()
            )
        })
}

/// Where things live, all derived from the repository root and the base.
#[derive(Debug, Clone)]
pub struct Paths {
    /// The repository root (the parent of `xtask/`).
    pub root: PathBuf,
    /// Scratch space root: `<root>/target`.
    pub target: PathBuf,
    /// The Tokio release this command works on (one of [`BASES`]).
    pub tokio: &'static str,
}

impl Paths {
    /// Paths for the repository rooted at `root`, on the default base.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        let root = root.into();
        let target = root.join("target");
        Self {
            root,
            target,
            tokio: TOKIO_VERSION,
        }
    }

    /// The same repository on base `version` (which must be in [`BASES`];
    /// the error names it and lists them).
    pub fn with_tokio(&self, version: &str) -> Result<Self> {
        Ok(Self {
            tokio: base(version)?,
            ..self.clone()
        })
    }

    /// Whether this is the default base (the one the root workspace builds).
    pub fn is_default_base(&self) -> bool {
        self.tokio == TOKIO_VERSION
    }

    /// Paths for this repository: the parent of `CARGO_MANIFEST_DIR` (as set
    /// by `cargo run`, else as it was when xtask was built).
    pub fn from_env() -> Result<Self> {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
        let root = manifest_dir.parent().ok_or_else(|| {
            anyhow!(
                "CARGO_MANIFEST_DIR {} has no parent directory",
                manifest_dir.display()
            )
        })?;
        Ok(Self::new(root))
    }

    /// `vendor/`.
    pub fn vendor(&self) -> PathBuf {
        self.root.join("vendor")
    }

    /// The fork, as a git repository: `vendor/tokio/` for the default base
    /// (the root workspace's `[patch.crates-io]` points there), and
    /// `vendor/tokio-<version>-pulse/` for any other.
    pub fn vendor_tokio(&self) -> PathBuf {
        if self.is_default_base() {
            self.vendor().join("tokio")
        } else {
            self.vendor().join(format!("tokio-{}-pulse", self.tokio))
        }
    }

    /// `vendor/tokio-<version>/`: the pristine crate, unpacked.
    pub fn pristine(&self) -> PathBuf {
        self.vendor().join(format!("tokio-{}", self.tokio))
    }

    /// What xtask last left in [`Paths::vendor_tokio`]:
    /// `vendor/.pulse-applied` (default base) or `vendor/.pulse-applied-<version>`.
    pub fn applied_record(&self) -> PathBuf {
        if self.is_default_base() {
            self.vendor().join(".pulse-applied")
        } else {
            self.vendor().join(format!(".pulse-applied-{}", self.tokio))
        }
    }

    /// `patches/tokio-<version>/`: this base's series.
    pub fn patches(&self) -> PathBuf {
        self.root
            .join("patches")
            .join(format!("tokio-{}", self.tokio))
    }

    /// The workspace to build on this base: the root for the default base,
    /// `target/pulse/base-<version>/` for another (see [`workspace`]).
    pub fn workspace(&self) -> PathBuf {
        if self.is_default_base() {
            self.root.clone()
        } else {
            self.scratch().join(format!("base-{}", self.tokio))
        }
    }

    /// A build directory `target/<name>` of this base: `target/<name>` for
    /// the default base, `target/<name>-<version>` for another.
    pub fn build_dir(&self, name: &str) -> PathBuf {
        if self.is_default_base() {
            self.target.join(name)
        } else {
            self.target.join(format!("{name}-{}", self.tokio))
        }
    }

    /// `target/pulse/`: xtask's scratch space.
    pub fn scratch(&self) -> PathBuf {
        self.target.join("pulse")
    }

    /// The repository root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
