//! The kept-work checks: `cargo xtask fork` refuses to delete or rebuild a
//! `vendor/tokio` that holds work `patches/` lacks (uncommitted changes,
//! commits not exported, work kept outside `HEAD`'s history) unless
//! `--force` is given.

use anyhow::{anyhow, bail, Error, Result};

use super::{indent, PRISTINE_TAG};
use crate::git::Git;
use crate::patchset::{describe, Difference};

/// Refuses, listing them, if `git`'s work tree has uncommitted changes.
pub(super) fn refuse_uncommitted(git: &Git) -> Result<()> {
    let dirty = git.uncommitted()?;
    if !dirty.is_empty() {
        bail!(
            "{} has uncommitted changes:\n{}\
             Commit them in vendor/tokio and run `cargo xtask patches` to keep them, \
             or run `cargo xtask fork --force` to discard them.",
            git.dir().display(),
            indent(&dirty)
        );
    }
    Ok(())
}

/// Refuses, naming each, if `git` keeps work outside `HEAD`'s history
/// ([`kept_work`]), which rebuilding it would delete.
pub(super) fn refuse_kept_work(git: &Git) -> Result<()> {
    let kept = kept_work(git)?;
    if !kept.is_empty() {
        bail!(
            "patches/ changed since {} was built, so it must be rebuilt, but that \
             would delete work kept there outside its checked-out history:\n{}\
             To keep it, save it outside vendor/ first, for example \
             `git -C vendor/tokio bundle create ../../pulse-work.bundle --all` \
             (restore with `git fetch`), then delete those refs, stashes or \
             worktrees there. Or run `cargo xtask fork --force` to delete them \
             with vendor/tokio.",
            git.dir().display(),
            indent(&kept)
        );
    }
    Ok(())
}

/// The refusal when `git` holds commits that `patches/` does not
/// (`differences`, from comparing its export with `patches/`).
pub(super) fn unexported_commits(git: &Git, differences: &[Difference]) -> Error {
    anyhow!(
        "{} has commits that patches/ does not hold:\n{}\
         Run `cargo xtask patches` to export them into patches/ (and commit patches/), \
         or `cargo xtask fork --force` to discard them.",
        git.dir().display(),
        describe(differences)
    )
}

/// Work in `git` that is not in `HEAD`'s history, which deleting the
/// repository would lose: each stash; each tag but `pristine` (its name and
/// message are the user's); each branch or other ref (notes, ...) with
/// commits that `HEAD` lacks, with those commits; each linked worktree.
/// Remote-tracking refs are left out: their commits live on the remote; so
/// are xtask's own `refs/pulse/*`.
/// Empty when the repository holds nothing but its checked-out history.
pub fn kept_work(git: &Git) -> Result<Vec<String>> {
    let mut kept = Vec::new();
    let refs = git.run(["for-each-ref", "--format=%(refname)"])?;
    for name in refs.lines() {
        // `refs/pulse/*` are xtask's own (`cargo xtask rebase` keeps the
        // `--from` fork's history there while a conflict is resolved).
        if name == format!("refs/tags/{PRISTINE_TAG}")
            || name.starts_with("refs/remotes/")
            || name.starts_with("refs/pulse/")
        {
            continue;
        }
        if name == "refs/stash" {
            let stashes = git.run(["stash", "list", "--format=%gd: %gs"])?;
            let before = kept.len();
            kept.extend(stashes.lines().map(str::to_owned));
            if kept.len() == before {
                // A stash without a readable reflog: still a stash.
                kept.push("a stash (refs/stash)".to_owned());
            }
            continue;
        }
        if let Some(tag) = name.strip_prefix("refs/tags/") {
            kept.push(format!("tag `{tag}`"));
            continue;
        }
        let only_there = git.run(["log", "--format=%h %s", &format!("HEAD..{name}"), "--"])?;
        let commits: Vec<&str> = only_there.lines().collect();
        if commits.is_empty() {
            continue;
        }
        let shown = match name.strip_prefix("refs/heads/") {
            Some(branch) => format!("branch `{branch}`"),
            None => format!("ref `{name}`"),
        };
        let n = commits.len();
        let mut line = format!(
            "{shown}: {n} commit{} not on HEAD: {}",
            if n == 1 { "" } else { "s" },
            commits
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>()
                .join("; ")
        );
        if n > 3 {
            line.push_str("; ...");
        }
        kept.push(line);
    }
    let worktrees = git.run(["worktree", "list", "--porcelain"])?;
    kept.extend(
        worktrees
            .lines()
            .filter_map(|l| l.strip_prefix("worktree "))
            .skip(1) // the main work tree: vendor/tokio itself
            .map(|path| format!("linked worktree at {path}")),
    );
    Ok(kept)
}
