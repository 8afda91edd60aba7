//! Running git in a way that does not depend on who runs it or where.
//!
//! Every git command that writes history or exports patches goes through
//! [`Git::cmd`], which:
//!
//! 1. clears every inherited `GIT_*` variable (a `GIT_DIR` set by a hook in the
//!    outer repository must not redirect us) and stops repository discovery at
//!    the parent directory (`GIT_CEILING_DIRECTORIES`), so a missing `.git`
//!    never falls through to the outer repository;
//! 2. ignores the user's and the system's git configuration, so options such
//!    as `format.signature`, `diff.noprefix` or `commit.gpgsign` cannot change
//!    the result;
//! 3. sets a fixed author and committer (name, e-mail, date), so that it works
//!    on a machine with no git identity and gives the same commits everywhere;
//! 4. pins the options that shape exported patches on the command line.
//!
//! [`Git::user_cmd`] does step 1 only, for read-only questions whose answer
//! should follow the user's own settings (e.g. `git status` and their global
//! excludes file).

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Result;

use crate::process::output;

/// Fixed identity for commits made by xtask.
pub const IDENTITY_NAME: &str = "Tokio-Pulse";
/// Fixed e-mail for commits made by xtask.
pub const IDENTITY_EMAIL: &str = "tokio-pulse@invalid";
/// Fixed date for commits made by xtask.
pub const IDENTITY_DATE: &str = "1970-01-01T00:00:00Z";

/// `-c` options passed to every git command run through [`Git::cmd`] (besides
/// the identity).
const PINNED_CONFIG: &[&str] = &[
    "commit.gpgsign=false",
    "tag.gpgsign=false",
    "core.autocrlf=false",
    "core.abbrev=12",
    "core.quotepath=true",
    "diff.noprefix=false",
    "diff.mnemonicprefix=false",
    "diff.renames=true",
    "diff.algorithm=myers",
    "format.signature=",
    "init.defaultBranch=main",
];

/// A git work tree (not necessarily existing yet) that commands run in.
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
}

impl Git {
    /// Git commands for the work tree at `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    /// The work tree.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether `dir/.git` is a directory (a repository of its own, not a
    /// directory inside some outer repository).
    pub fn is_repo(&self) -> bool {
        self.dir.join(".git").is_dir()
    }

    /// `git <args>` in the work tree, isolated from user config and with the
    /// fixed identity (see the module docs).
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.user_cmd(std::iter::empty::<&str>());
        cmd.env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_AUTHOR_NAME", IDENTITY_NAME)
            .env("GIT_AUTHOR_EMAIL", IDENTITY_EMAIL)
            .env("GIT_AUTHOR_DATE", IDENTITY_DATE)
            .env("GIT_COMMITTER_NAME", IDENTITY_NAME)
            .env("GIT_COMMITTER_EMAIL", IDENTITY_EMAIL)
            .env("GIT_COMMITTER_DATE", IDENTITY_DATE);
        cmd.arg("-c").arg(format!("user.name={IDENTITY_NAME}"));
        cmd.arg("-c").arg(format!("user.email={IDENTITY_EMAIL}"));
        for pin in PINNED_CONFIG {
            cmd.arg("-c").arg(pin);
        }
        cmd.args(args);
        cmd
    }

    /// `git <args>` in the work tree with the user's own configuration, but no
    /// inherited `GIT_*` variables and no discovery above the work tree.
    pub fn user_cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = Command::new("git");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("GIT_") {
                cmd.env_remove(key);
            }
        }
        if let Some(parent) = self.dir.parent() {
            cmd.env("GIT_CEILING_DIRECTORIES", parent);
        }
        cmd.env("LC_ALL", "C").current_dir(&self.dir).args(args);
        cmd
    }

    /// Runs an isolated git command and returns its stdout; fails with its
    /// stderr if it exits non-zero.
    pub fn run<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        output(self.cmd(args))
    }

    /// Like [`Git::run`], with the user's git configuration.
    pub fn run_user<I, S>(&self, args: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        output(self.user_cmd(args))
    }

    /// Uncommitted changes in the work tree, as `git status --porcelain`
    /// lines (an untracked `target/` ignored), plus a line for an
    /// `am`/rebase in progress.
    pub fn uncommitted(&self) -> Result<Vec<String>> {
        let status = self.run_user(["status", "--porcelain"])?;
        let mut lines: Vec<String> = status
            .lines()
            .filter(|l| *l != "?? target/")
            .map(str::to_owned)
            .collect();
        for op in ["rebase-apply", "rebase-merge"] {
            if self.dir.join(".git").join(op).exists() {
                lines.push(format!("(a `git am` or rebase is in progress: .git/{op})"));
            }
        }
        Ok(lines)
    }
}
