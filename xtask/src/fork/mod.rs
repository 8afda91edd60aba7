//! `vendor/tokio` and `patches/`: materializing the fork, exporting it, and
//! checking that the two agree.
//!
//! `vendor/tokio` is a git repository: the pristine crate as its first commit
//! (tagged `pristine`), then one commit per patch. `patches/` is the only copy
//! git tracks. `vendor/.pulse-applied` records what xtask last left in
//! `vendor/tokio` (see [`Record`]), so that xtask can tell "patches/ moved on"
//! (safe to rebuild) from "vendor/tokio holds new commits" (must not be lost).
//!
//! Export ([`export()`]), used by every command here:
//!
//! 1. Refuse merge commits in `pristine..HEAD` (`format-patch` would skip them).
//! 2. `git format-patch --zero-commit --no-signature --full-index --no-numbered
//!    --no-thread -o <scratch> pristine..HEAD`, with user config ignored and
//!    output options pinned (see [`crate::git`]).
//! 3. Replace each patch's `Date:` header with a fixed date; the file names
//!    (`NNNN-slug.patch`) and the order are format-patch's.
//!
//! `cargo xtask fork` ([`ensure_fork`]):
//!
//! 1. No `vendor/tokio`, or `--force`: materialize ([`materialize`]): get the
//!    pristine crate, copy it to `vendor/tokio`, `git init`, commit it as
//!    `tokio 1.54.1 as published` with a fixed identity and date, tag it
//!    `pristine`, then `git am` each patch of `patches/series` in order. If a
//!    patch does not apply: `git am --abort`, record the partial state as
//!    failed, and name the patch.
//! 2. Otherwise refuse if it is not a repository with a `pristine` tag, or if
//!    it has uncommitted changes (listed).
//! 3. Export it and compare with `patches/`. Identical: it is current.
//! 4. Different, but the export is what xtask last left there (its digest is
//!    the record's): vendor/tokio holds no work of its own. If the record is
//!    complete and `patches/` is the same as then, it is current (`patches/`
//!    is just not in canonical form); otherwise rebuild (step 1), unless the
//!    repository keeps work outside `HEAD`'s history ([`kept_work`]: stashes,
//!    tags, branches or other refs with commits `HEAD` lacks, linked
//!    worktrees): then refuse, naming each, until it is saved and removed or
//!    `--force` is given.
//! 5. Different otherwise: vendor/tokio holds commits `patches/` lacks. Refuse,
//!    naming the differing files.
//!
//! `cargo xtask patches` ([`write_patches`]): export, refuse if `patches/`
//! changed since the record (it would drop those changes) unless `--force`,
//! replace `patches/*.patch` and `series`, update the record, print a diffstat.
//!
//! `cargo xtask patches --check` ([`check_patches`]): fail if vendor/tokio has
//! uncommitted changes, or if its export differs from `patches/` (unless, as in
//! step 4 above, nothing changed on either side since xtask built it).

mod applied;
mod export;
mod kept;

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

pub use applied::Record;
pub use export::export;
pub use kept::kept_work;
use kept::{refuse_kept_work, refuse_uncommitted, unexported_commits};

use crate::fs::{copy_tree, remove_dir_if_exists};
use crate::git::Git;
use crate::patchset::{describe, PatchSet};
use crate::pristine::{self, MARKER};
use crate::Paths;

/// Prints a message written for the default base, naming this base's tree,
/// series and `--tokio` flag instead (see [`localize`]).
macro_rules! say {
    ($paths:expr, $($arg:tt)*) => {
        println!("{}", localize($paths, &format!($($arg)*)))
    };
}

/// Rewrites a message written for the default base so that it names `paths`'
/// base: `vendor/tokio` becomes its tree, `patches/` its series directory,
/// and each `cargo xtask fork`/`patches` command gets `--tokio VERSION`.
///
/// ```
/// let paths = xtask::Paths::new("/r").with_tokio("1.53.3").unwrap();
/// assert_eq!(
///     xtask::fork::localize(&paths, "vendor/tokio: run `cargo xtask patches --force`"),
///     "vendor/tokio-1.53.3-pulse: run `cargo xtask patches --tokio 1.53.3 --force`"
/// );
/// ```
pub fn localize(paths: &Paths, text: &str) -> String {
    if paths.is_default_base() {
        return text.to_owned();
    }
    let v = paths.tokio;
    let mut out = replace_unless_followed(
        text,
        "vendor/tokio",
        "-",
        &format!("vendor/tokio-{v}-pulse"),
    );
    out = replace_unless_followed(&out, "patches/", "tokio-", &format!("patches/tokio-{v}/"));
    for command in ["fork", "patches"] {
        out = out.replace(
            &format!("`cargo xtask {command}"),
            &format!("`cargo xtask {command} --tokio {v}"),
        );
    }
    out
}

/// Replaces each `from` in `text` that is not followed by `unless` (so an
/// already specific name, e.g. a path printed in full, is left alone).
fn replace_unless_followed(text: &str, from: &str, unless: &str, to: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find(from) {
        let after = &rest[i + from.len()..];
        out.push_str(&rest[..i]);
        out.push_str(if after.starts_with(unless) { from } else { to });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Tag of the base commit in `vendor/tokio`.
pub const PRISTINE_TAG: &str = "pristine";

/// `cargo xtask fork [--force]`: makes `vendor/tokio` match `patches/`, or
/// refuses to discard work (see the module docs). Other commands call this
/// first.
pub fn ensure_fork(paths: &Paths, force: bool) -> Result<()> {
    sync(paths, force, || pristine::ensure(paths).map(|p| p.dir))
        .map_err(|e| anyhow!("{}", localize(paths, &format!("{e:#}"))))
}

/// [`ensure_fork`] with the pristine crate supplied by `pristine` (which
/// returns its directory), so the protocol can be tested without cargo.
pub fn sync(paths: &Paths, force: bool, pristine: impl FnOnce() -> Result<PathBuf>) -> Result<()> {
    let vendor = paths.vendor_tokio();
    if !vendor.exists() || force {
        return materialize(paths, &pristine()?);
    }
    let git = Git::new(&vendor);
    require_repo(&git, "--force")?;
    refuse_uncommitted(&git)?;
    let exported = export(&git, &paths.scratch())?;
    let current = PatchSet::read_dir(&paths.patches())?;
    let differences = current.differences(&exported);
    let record = Record::read(&paths.applied_record());
    if differences.is_empty() {
        let now = Record::new(true, &current, &exported);
        if record.as_ref() != Some(&now) {
            now.write(&paths.applied_record())?;
        }
        say!(
            paths,
            "vendor/tokio is current ({} patches)",
            exported.patches.len()
        );
        return Ok(());
    }
    match record {
        Some(r) if r.built(&exported) => {
            if r.untouched(&current, &exported) {
                say!(
                    paths,
                    "vendor/tokio is current ({} patches); patches/ is not in the form \
                     `cargo xtask patches` writes: run it to normalize",
                    current.patches.len()
                );
                Ok(())
            } else {
                refuse_kept_work(&git)?;
                say!(
                    paths,
                    "patches/ changed since vendor/tokio was built: rebuilding it"
                );
                materialize(paths, &pristine()?)
            }
        }
        _ => Err(unexported_commits(&git, &differences)),
    }
}

/// Rebuilds `vendor/tokio` from the pristine tree at `pristine_dir` and the
/// series in `patches/`, replacing whatever was there.
pub fn materialize(paths: &Paths, pristine_dir: &Path) -> Result<()> {
    let series = PatchSet::read_dir(&paths.patches())?;
    let vendor = paths.vendor_tokio();
    let record_path = paths.applied_record();
    Record::clear(&record_path)?;
    remove_dir_if_exists(&vendor)?;

    let git = Git::new(&vendor);
    let base = copy_tree(pristine_dir, &vendor, &[MARKER])
        .and_then(|()| commit_base_of(&git, paths.tokio));
    if let Err(e) = base {
        let _ = fs::remove_dir_all(&vendor);
        return Err(e.context(format!(
            "could not create the base commit in {}",
            vendor.display()
        )));
    }

    let patches_dir = paths.patches();
    for patch in &series.patches {
        if let Err(e) = apply(&git, &patches_dir.join(&patch.name)) {
            let exported = export(&git, &paths.scratch())?;
            Record::new(false, &series, &exported).write(&record_path)?;
            return Err(e.context(format!(
                "patches/{} does not apply; vendor/tokio holds the patches before it. \
                 Fix the patch and run `cargo xtask fork` again, or apply it there by hand \
                 (`git am -3`), commit, and run `cargo xtask patches`",
                patch.name
            )));
        }
    }
    let exported = export(&git, &paths.scratch())?;
    Record::new(true, &series, &exported).write(&record_path)?;
    say!(
        paths,
        "{}: tokio {} + {} patches applied",
        vendor.display(),
        paths.tokio,
        series.patches.len()
    );
    if !series.differences(&exported).is_empty() {
        say!(
            paths,
            "note: patches/ is not in the form `cargo xtask patches` writes: run it to normalize"
        );
    }
    Ok(())
}

/// In the (new) work tree of `git`, which holds the pristine files: `git
/// init`, commit everything with the fixed identity, and tag it `pristine`.
pub fn commit_base(git: &Git) -> Result<()> {
    commit_base_of(git, crate::TOKIO_VERSION)
}

/// [`commit_base`] for the pristine tree of tokio `version`.
pub fn commit_base_of(git: &Git, version: &str) -> Result<()> {
    git.run(["init", "-q"])?;
    git.run(["config", "core.autocrlf", "false"])?;
    let exclude = git.dir().join(".git").join("info").join("exclude");
    if let Some(dir) = exclude.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(
        &exclude,
        "# build output of side-by-side builds\n/target/\n",
    )
    .with_context(|| format!("writing {}", exclude.display()))?;
    git.run(["add", "--all", "--force", "."])?;
    let message = format!("tokio {version} as published");
    git.run(["commit", "-q", "--no-verify", "-m", &message])?;
    git.run(["tag", PRISTINE_TAG])?;
    Ok(())
}

/// `git am` one patch file with the fixed committer; on failure, aborts the
/// `am` session and returns git's message.
pub fn apply(git: &Git, patch: &Path) -> Result<()> {
    let mut cmd = git.cmd(["am", "--quiet", "--committer-date-is-author-date"]);
    cmd.arg(patch);
    if let Err(e) = crate::process::output(cmd) {
        let _ = git.run(["am", "--abort"]);
        return Err(e);
    }
    Ok(())
}

/// `cargo xtask patches [--force]`: writes the export of `vendor/tokio` into
/// `patches/` and prints its diffstat against the pristine tree.
pub fn write_patches(paths: &Paths, force: bool) -> Result<()> {
    write_patches_inner(paths, force).map_err(|e| anyhow!("{}", localize(paths, &format!("{e:#}"))))
}

fn write_patches_inner(paths: &Paths, force: bool) -> Result<()> {
    let vendor = paths.vendor_tokio();
    if !vendor.exists() {
        bail!(
            "nothing to export: {} does not exist (run `cargo xtask fork` first)",
            vendor.display()
        );
    }
    let git = Git::new(&vendor);
    require_repo(&git, "")?;
    let dirty = git.uncommitted()?;
    let exported = export(&git, &paths.scratch())?;
    let current = PatchSet::read_dir(&paths.patches());
    let differences = match &current {
        Ok(current) => current.differences(&exported),
        Err(_) => Vec::new(),
    };
    let record = Record::read(&paths.applied_record());
    if !force {
        if let Err(e) = &current {
            bail!(
                "cannot read patches/ to see whether overwriting it loses anything: {e:#}\n\
                 To overwrite patches/ with vendor/tokio's commits anyway, \
                 run `cargo xtask patches --force`."
            );
        }
        let moved_on = match (&current, &record) {
            (Ok(c), Some(r)) if !differences.is_empty() && r.patches_moved_on(c) => {
                Some(describe(&differences))
            }
            _ => None,
        };
        if let Some(why) = moved_on {
            bail!(
                "patches/ changed since vendor/tokio was built from it (a pull? an edit?), \
                 so writing it would drop those changes:\n{}\
                 If vendor/tokio holds no work of its own, run `cargo xtask fork` to rebuild it \
                 from patches/. To overwrite patches/ with vendor/tokio's commits anyway, \
                 run `cargo xtask patches --force`.",
                why
            );
        }
    }
    if differences.is_empty() && current.is_ok() {
        say!(
            paths,
            "patches/ is already current ({} patches)",
            exported.patches.len()
        );
    } else {
        exported.write_dir(&paths.patches())?;
        say!(paths, "patches/: wrote {} patches", exported.patches.len());
        print!("{}", describe(&differences));
    }
    Record::new(true, &exported, &exported).write(&paths.applied_record())?;
    let shortstat = git.run(["diff", "--shortstat", PRISTINE_TAG, "HEAD"])?;
    let stat = git.run(["diff", "--stat", PRISTINE_TAG, "HEAD"])?;
    say!(
        paths,
        "series vs pristine tokio {}: {}",
        paths.tokio,
        if shortstat.trim().is_empty() {
            "no changes"
        } else {
            shortstat.trim()
        }
    );
    print!("{stat}");
    if !dirty.is_empty() {
        eprintln!(
            "{}",
            localize(
                paths,
                &format!(
                    "warning: vendor/tokio has uncommitted changes, which are not exported:\n{}",
                    indent(&dirty)
                )
            )
        );
    }
    Ok(())
}

/// `cargo xtask patches --check`: `Ok` if `patches/` holds all of
/// `vendor/tokio`'s work (or there is no `vendor/tokio`); otherwise an error
/// naming every differing patch file and uncommitted path.
pub fn check_patches(paths: &Paths) -> Result<()> {
    check_patches_inner(paths).map_err(|e| anyhow!("{}", localize(paths, &format!("{e:#}"))))
}

fn check_patches_inner(paths: &Paths) -> Result<()> {
    let vendor = paths.vendor_tokio();
    if !vendor.exists() {
        say!(
            paths,
            "nothing to check: {} does not exist",
            vendor.display()
        );
        return Ok(());
    }
    let git = Git::new(&vendor);
    require_repo(&git, "")?;
    let mut problems = String::new();
    let dirty = git.uncommitted()?;
    if !dirty.is_empty() {
        let _ = write!(
            problems,
            "vendor/tokio has uncommitted changes (commit them there, then run \
             `cargo xtask patches`):\n{}",
            indent(&dirty)
        );
    }
    let exported = export(&git, &paths.scratch())?;
    let current = PatchSet::read_dir(&paths.patches())?;
    let differences = current.differences(&exported);
    if !differences.is_empty() {
        let record = Record::read(&paths.applied_record());
        let untouched = record
            .as_ref()
            .is_some_and(|r| r.untouched(&current, &exported));
        if untouched {
            say!(paths, "note: patches/ is not in the form `cargo xtask patches` writes: run it to normalize");
        } else {
            let hint = if record.is_some_and(|r| r.built(&exported)) {
                "vendor/tokio holds no commits of its own, and patches/ changed since it was \
                 built: run `cargo xtask fork` to rebuild it"
            } else {
                "run `cargo xtask patches` to export vendor/tokio's commits into patches/, \
                 then commit patches/"
            };
            let _ = write!(
                problems,
                "patches/ does not match vendor/tokio:\n{}{hint}\n",
                describe(&differences)
            );
        }
    }
    if !problems.is_empty() {
        bail!("{}", problems.trim_end());
    }
    say!(
        paths,
        "patches/ matches vendor/tokio ({} patches)",
        exported.patches.len()
    );
    Ok(())
}

/// Fails unless `git`'s work tree is a repository with a `pristine` tag.
/// `force_hint` names the option that would rebuild it anyway.
fn require_repo(git: &Git, force_hint: &str) -> Result<()> {
    let how = if force_hint.is_empty() {
        "`cargo xtask fork --force` rebuilds it".to_owned()
    } else {
        format!("pass {force_hint} to delete and rebuild it")
    };
    if !git.is_repo() {
        bail!("{} is not a git repository: {how}", git.dir().display());
    }
    let tag = format!("refs/tags/{PRISTINE_TAG}");
    if git.run(["rev-parse", "--verify", "--quiet", &tag]).is_err() {
        bail!(
            "{} has no `{PRISTINE_TAG}` tag to export from: {how}",
            git.dir().display()
        );
    }
    Ok(())
}

/// Indents each line by two spaces, newline-terminated.
fn indent<S: AsRef<str>>(lines: &[S]) -> String {
    lines
        .iter()
        .map(|l| format!("  {}\n", l.as_ref()))
        .collect()
}
