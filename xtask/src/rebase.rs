//! `cargo xtask rebase --onto VERSION [--from BASE]`: carries a patch series
//! from one Tokio release to another.
//!
//! Protocol of [`run`]:
//!
//! 1. Make sure the `--from` fork is current ([`ensure_fork`] on that base):
//!    its commits hold every blob the series' `index` lines name, which is
//!    what lets `git am -3` fall back to a three-way merge.
//! 2. Fetch and unpack pristine tokio `VERSION` ([`pristine::ensure`]).
//! 3. Refuse if the target tree (`vendor/tokio-VERSION-pulse`, or
//!    `vendor/tokio` for the default base) exists, unless `--force`.
//! 4. Copy the pristine crate there, commit it and tag it `pristine`
//!    ([`commit_base_of`]), then `git fetch` the `--from` fork's history into
//!    `refs/pulse/from` and its pristine commit into `refs/pulse/from-pristine`
//!    (xtask's own refs: [`crate::fork::kept_work`] ignores them).
//! 5. `git am -3` each patch of the `--from` series in order. At the first
//!    that does not apply, stop with the `am` session left open and say: the
//!    patch, the conflicting files, what upstream changed in each of them
//!    between the two releases (a diffstat and the command showing the
//!    diff), and how to continue (resolve, `git am --continue` in the tree,
//!    then `cargo xtask patches --tokio VERSION`).
//! 6. When all apply: export the tree into `patches/tokio-VERSION/`, write its
//!    record, drop the `refs/pulse/*` refs, and print the diffstat. If
//!    VERSION is not yet in [`crate::BASES`], say to add it there.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::fork::{commit_base_of, ensure_fork, export, Record, PRISTINE_TAG};
use crate::fs::{copy_tree, remove_dir_if_exists};
use crate::git::Git;
use crate::patchset::PatchSet;
use crate::pristine::{self, MARKER};
use crate::Paths;

/// Ref that holds the `--from` fork's history in the new tree.
pub const FROM_REF: &str = "refs/pulse/from";
/// Ref that holds the `--from` base's pristine commit in the new tree.
pub const FROM_PRISTINE_REF: &str = "refs/pulse/from-pristine";

/// Command-line options of `rebase`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// The Tokio release to carry the series onto (e.g. 1.53.3, 1.55.0).
    #[arg(long, value_name = "VERSION")]
    pub onto: String,
    /// The supported base whose series is carried (default: the newest).
    #[arg(long, value_name = "BASE", default_value = crate::TOKIO_VERSION)]
    pub from: String,
    /// Start from the pristine crate and carry the whole series, even if
    /// patches/tokio-VERSION/ exists (the default then carries only the
    /// patches it lacks, keeping the resolutions made for the others).
    #[arg(long)]
    pub fresh: bool,
    /// With --fresh: delete the target tree first if it exists (with any
    /// work in it).
    #[arg(long)]
    pub force: bool,
    /// After carrying by hand the patches that changed on the `--from` side
    /// (edited in the target's tree, then `cargo xtask patches --tokio
    /// VERSION`): record their current digests in `carried-from`, so the
    /// next `rebase` no longer stops on them. Needs the target's fork
    /// current with its series.
    #[arg(long, conflicts_with_all = ["fresh", "force"])]
    pub mark_carried: bool,
}

/// The file in a carried series that lists the `--from` patches it carries,
/// each with the SHA-256 of the patch file as it was when carried.
pub const CARRIED_FILE: &str = "carried-from";

/// Where a rebase reads from and writes to (see [`rebase_series`]).
#[derive(Debug, Clone)]
pub struct Plan {
    /// The `--from` fork: a repository with a `pristine` tag and the series
    /// as commits on `HEAD`.
    pub from_repo: PathBuf,
    /// The `--from` series directory (`patches/tokio-BASE/`).
    pub from_patches: PathBuf,
    /// The `--from` base's version.
    pub from_version: String,
    /// The pristine crate of the target release.
    pub onto_pristine: PathBuf,
    /// The target release.
    pub onto_version: String,
    /// The tree to create (a git repository when done).
    pub dest: PathBuf,
    /// Scratch space for the export.
    pub scratch: PathBuf,
    /// Carry only the patches of the `--from` series whose names are not in
    /// this (the target's existing series), onto `dest` as it is (a current
    /// fork); `None`: build `dest` from `onto_pristine` and carry all.
    pub onto_series: Option<PathBuf>,
}

/// What [`rebase_series`] did.
#[derive(Debug)]
pub enum Outcome {
    /// Every patch applied; the new tree's export.
    Applied(PatchSet),
    /// `git am` stopped; the message to show (the session stays open).
    Conflict(String),
}

/// `cargo xtask rebase`: see the module docs.
pub fn run(paths: &Paths, args: &Args) -> Result<()> {
    let start = std::time::Instant::now();
    let from = paths.with_tokio(&args.from)?;
    let onto_version = parse_version(&args.onto)?;
    let onto = Paths {
        tokio: Box::leak(onto_version.clone().into_boxed_str()),
        ..paths.clone()
    };
    if onto.tokio == from.tokio {
        bail!(
            "--onto {} is the --from base itself: nothing to carry",
            args.onto
        );
    }
    ensure_fork(&from, false).with_context(|| {
        format!(
            "the --from {} fork must be current before its series is carried",
            from.tokio
        )
    })?;
    let onto_pristine = pristine::ensure(&onto)
        .with_context(|| format!("fetching pristine tokio {onto_version} (--onto)"))?
        .dir;
    let dest = onto.vendor_tokio();
    let incremental = !args.fresh && onto.patches().join(crate::patchset::SERIES_FILE).is_file();
    let from_set = PatchSet::read_dir(&from.patches())?;
    let mut carried = read_carried(&onto.patches())?;
    if args.mark_carried && !incremental {
        bail!(
            "--mark-carried needs a carried series in {} (there is none to mark)",
            onto.patches().display()
        );
    }
    if incremental {
        if !crate::BASES.contains(&onto.tokio) {
            bail!(
                "{} exists but {onto_version} is not in BASES (xtask/src/lib.rs): add it, or \
                 pass --fresh",
                onto.patches().display()
            );
        }
        // The target's own fork must be current: its series is what is kept.
        ensure_fork(&onto, false)?;
        let onto_set = PatchSet::read_dir(&onto.patches())?;
        let changed = changed_since_carried(&from_set, &onto_set.names(), &carried);
        if args.mark_carried {
            mark_carried(&mut carried, &from_set, &changed);
            write_carried(&onto.patches(), from.tokio, &carried)?;
            println!(
                "rebase: marked as carried onto {onto_version} in their current form: {}",
                if changed.is_empty() {
                    "none had changed".to_owned()
                } else {
                    changed.join(", ")
                }
            );
            return Ok(());
        }
        if !changed.is_empty() {
            bail!(
                "these patches of tokio {}'s series changed since they were carried onto \
                 {onto_version}: {}. Carry the change by hand (edit the commit in {}, run \
                 `cargo xtask patches --tokio {onto_version}`, then `cargo xtask rebase --onto \
                 {onto_version} --mark-carried`), or start over with \
                 `cargo xtask rebase --onto {onto_version} --fresh --force`.",
                from.tokio,
                changed.join(", "),
                dest.display()
            );
        }
    } else if dest.exists() {
        if !args.force {
            bail!(
                "{} already exists (an earlier rebase or fork?). If an `git am` is in progress \
                 there, finish it (`git am --continue`) and run `cargo xtask patches --tokio \
                 {onto_version}`; otherwise pass --force to delete it and start again.",
                dest.display()
            );
        }
        remove_dir_if_exists(&dest)?;
    }
    // Record what is being carried before `git am` starts, so that a run
    // that stops at a conflict and is finished by hand is recorded too.
    for p in &from_set.patches {
        let digest = crate::patchset::hex(&sha256(&p.bytes));
        carried.retain(|(n, _)| *n != p.name);
        carried.push((p.name.clone(), digest));
    }
    carried.sort();
    fs::create_dir_all(onto.patches())?;
    write_carried(&onto.patches(), from.tokio, &carried)?;
    let plan = Plan {
        from_repo: from.vendor_tokio(),
        from_patches: from.patches(),
        from_version: from.tokio.to_owned(),
        onto_pristine,
        onto_version: onto_version.clone(),
        dest: dest.clone(),
        scratch: onto.scratch(),
        onto_series: incremental.then(|| onto.patches()),
    };
    match rebase_series(&plan)? {
        Outcome::Conflict(message) => {
            let _ = fs::remove_file(onto.applied_record());
            bail!("{message}")
        }
        Outcome::Applied(exported) => {
            exported.write_dir(&onto.patches())?;
            Record::new(true, &exported, &exported).write(&onto.applied_record())?;
            let git = Git::new(&dest);
            let stat = git.run(["diff", "--shortstat", PRISTINE_TAG, "HEAD"])?;
            println!(
                "rebase: tokio {onto_version}'s series now carries {} patches of tokio {}'s \
                 ({:.0?}), written to {}\n  series vs pristine {onto_version}: {}",
                exported.patches.len(),
                from.tokio,
                start.elapsed(),
                onto.patches().display(),
                stat.trim()
            );
            if !crate::BASES.contains(&onto.tokio) {
                println!(
                    "note: {onto_version} is not a supported base yet: add it to BASES in \
                     xtask/src/lib.rs so that `--tokio {onto_version}` works"
                );
            }
            Ok(())
        }
    }
}

/// Checks that `version` looks like a release (`MAJOR.MINOR.PATCH`).
pub fn parse_version(version: &str) -> Result<String> {
    match semver::Version::parse(version.trim()) {
        Ok(v) if v.pre.is_empty() && v.build.is_empty() => Ok(v.to_string()),
        _ => bail!(
            "--onto {version:?} is not a Tokio release version (MAJOR.MINOR.PATCH, e.g. 1.53.3)"
        ),
    }
}

/// Steps 4 to 6 of the module docs without cargo: builds `plan.dest` from
/// `plan.onto_pristine` and applies the series of `plan.from_patches` with
/// `git am -3`.
pub fn rebase_series(plan: &Plan) -> Result<Outcome> {
    let mut series = PatchSet::read_dir(&plan.from_patches)?;
    let git = Git::new(&plan.dest);
    if let Some(onto_series) = &plan.onto_series {
        let kept = PatchSet::read_dir(onto_series)?;
        series
            .patches
            .retain(|p| !kept.names().contains(&p.name.as_str()));
        println!(
            "rebase: {} patches already carried, {} to carry: {}",
            kept.patches.len(),
            series.patches.len(),
            series.names().join(", ")
        );
    } else {
        let base = copy_tree(&plan.onto_pristine, &plan.dest, &[MARKER])
            .and_then(|()| commit_base_of(&git, &plan.onto_version));
        if let Err(e) = base {
            let _ = fs::remove_dir_all(&plan.dest);
            return Err(e.context(format!(
                "creating the base commit in {}",
                plan.dest.display()
            )));
        }
    }
    let from = plan.from_repo.to_string_lossy().into_owned();
    git.run([
        "fetch",
        "-q",
        "--no-tags",
        &from,
        &format!("+HEAD:{FROM_REF}"),
        &format!("+refs/tags/{PRISTINE_TAG}:{FROM_PRISTINE_REF}"),
    ])
    .with_context(|| format!("fetching the --from fork's history from {from}"))?;

    // One `git am` session for the whole series, so that after a conflict
    // `git am --continue` goes on with the patches after it.
    if !series.patches.is_empty() {
        let mut cmd = git.cmd(["am", "-3", "--quiet", "--committer-date-is-author-date"]);
        for patch in &series.patches {
            cmd.arg(plan.from_patches.join(&patch.name));
        }
        if let Err(err) = crate::process::output(cmd) {
            // `.git/rebase-apply/next` is the 1-based number of the patch
            // being applied; each series file holds one patch.
            let next = fs::read_to_string(plan.dest.join(".git/rebase-apply/next"))
                .ok()
                .and_then(|n| n.trim().parse::<usize>().ok());
            let Some(index) = next.filter(|n| (1..=series.patches.len()).contains(n)) else {
                return Err(err.context(format!(
                    "git am stopped in {} and left no session to continue",
                    plan.dest.display()
                )));
            };
            let name = &series.patches[index - 1].name;
            let left = series.patches.len() - index;
            return Ok(Outcome::Conflict(conflict_message(
                plan, &git, name, left, &err,
            )?));
        }
    }
    let exported = export(&git, &plan.scratch)?;
    for r in [FROM_REF, FROM_PRISTINE_REF] {
        git.run(["update-ref", "-d", r])?;
    }
    Ok(Outcome::Applied(exported))
}

/// The message for a `git am -3` that stopped at `patch`.
fn conflict_message(
    plan: &Plan,
    git: &Git,
    patch: &str,
    left: usize,
    err: &anyhow::Error,
) -> Result<String> {
    let mut files: Vec<String> = git
        .run(["diff", "--name-only", "--diff-filter=U"])?
        .lines()
        .map(str::to_owned)
        .collect();
    if files.is_empty() {
        // No three-way merge happened (e.g. a file the patch touches is
        // missing): name every file of the patch.
        let mut names: Vec<String> = git
            .run(["am", "--show-current-patch=diff"])
            .map(|diff| {
                diff.lines()
                    .filter_map(|l| l.strip_prefix("+++ b/"))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        names.dedup();
        files = names;
    }
    let dest = plan.dest.display();
    let (from, onto) = (&plan.from_version, &plan.onto_version);
    let mut text = format!(
        "rebase: patch {patch} (of tokio {from}'s series) does not apply to tokio {onto}.\n\
         Conflicting files:\n"
    );
    for file in &files {
        let stat = git
            .run([
                "diff",
                "--shortstat",
                FROM_PRISTINE_REF,
                PRISTINE_TAG,
                "--",
                file,
            ])
            .unwrap_or_default();
        let upstream = if stat.trim().is_empty() {
            format!("upstream did not change it between {from} and {onto}")
        } else {
            format!(
                "upstream changed it between {from} and {onto}: {}",
                stat.trim()
            )
        };
        let _ = writeln!(text, "  {file}: {upstream}");
    }
    let _ = write!(
        text,
        "The upstream change: `git -C {dest} diff {FROM_PRISTINE_REF} {PRISTINE_TAG} -- <file>`.\n\
         git said: {}\n\
         To continue: resolve the conflicts in {dest} (say in the patch message why this base \
         differs), `git add` the files, then `git -C {dest} am --continue`, which goes on \
         with the {left} patch(es) after it (resolve and continue again at any that stops), \
         then `cargo xtask patches --tokio {onto}` to write \
         patches/tokio-{onto}/. To give up: `git -C {dest} am --abort`, then \
         `cargo xtask rebase --onto {onto} --from {from}` tries again (a series \
         carried before is kept), or with `--fresh --force` starts over from the pristine \
         crate.",
        first_line(err)
    );
    Ok(text)
}

/// The first non-empty line of an error chain, for a one-line quote.
fn first_line(err: &anyhow::Error) -> String {
    let text = format!("{err:#}");
    text.lines()
        .map(str::trim)
        .find(|l| l.starts_with("error:") || l.starts_with("CONFLICT"))
        .or_else(|| text.lines().map(str::trim).find(|l| !l.is_empty()))
        .unwrap_or("")
        .to_owned()
}

/// SHA-256 of `bytes`.
fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes).to_vec()
}

/// The `(name, sha256)` lines of `dir`'s [`CARRIED_FILE`] (none if missing).
pub fn read_carried(dir: &Path) -> Result<Vec<(String, String)>> {
    let path = dir.join(CARRIED_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, digest)) = line.split_once(' ') else {
            bail!(
                "{}:{}: expected `NAME SHA256`, found {line:?}",
                path.display(),
                i + 1
            );
        };
        out.push((name.to_owned(), digest.trim().to_owned()));
    }
    Ok(out)
}

fn write_carried(dir: &Path, from: &str, carried: &[(String, String)]) -> Result<()> {
    let mut text = format!(
        "# Written by `cargo xtask rebase`: the patches of patches/tokio-{from}/ this series \
         carries, each with the\n# SHA-256 of that patch file when it was carried (a later \
         change to it is then detected).\n"
    );
    for (name, digest) in carried {
        let _ = writeln!(text, "{name} {digest}");
    }
    crate::fs::write_if_changed(&dir.join(CARRIED_FILE), &text)
}

/// The patches of `from` that `onto_names` (the target's series) has, whose
/// file changed since `carried` recorded it: carrying them again is work
/// for a person, so `rebase` stops on them.
pub fn changed_since_carried(
    from: &PatchSet,
    onto_names: &[&str],
    carried: &[(String, String)],
) -> Vec<String> {
    from.patches
        .iter()
        .filter(|p| onto_names.contains(&p.name.as_str()))
        .filter(|p| {
            let digest = crate::patchset::hex(&sha256(&p.bytes));
            carried.iter().any(|(n, d)| *n == p.name && *d != digest)
        })
        .map(|p| p.name.clone())
        .collect()
}

/// Records the patches `names` of `from` in `carried` with their current
/// digests (`--mark-carried`, after they were carried by hand).
pub fn mark_carried(carried: &mut Vec<(String, String)>, from: &PatchSet, names: &[String]) {
    for p in from.patches.iter().filter(|p| names.contains(&p.name)) {
        carried.retain(|(n, _)| *n != p.name);
        carried.push((p.name.clone(), crate::patchset::hex(&sha256(&p.bytes))));
    }
    carried.sort();
}

/// Whether `dir` has a `git am` session open.
pub fn am_in_progress(dir: &Path) -> bool {
    dir.join(".git").join("rebase-apply").exists()
}
