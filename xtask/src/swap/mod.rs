//! `cargo xtask swap PATH`: run an existing cargo project on the fork.
//!
//! Protocol of [`swap`]:
//!
//! 1. Make sure `vendor/tokio` is current ([`ensure_fork`]).
//! 2. Check `PATH`: it holds a `Cargo.toml`, and it is its own workspace root
//!    (`cargo metadata --no-deps`); a member is refused with the root's path,
//!    because `[patch]` only takes effect in the root manifest.
//! 3. Edit the manifest with `toml_edit`, which keeps its formatting and
//!    comments ([`manifest::edit_manifest`]):
//!    - every direct tokio dependency must be from the registry and its
//!      requirement must accept 1.54.1, the fork's version;
//!    - nothing may already patch or replace tokio (in the manifest, or in a
//!      `.cargo/config.toml` of the project or above it);
//!    - add `[patch.crates-io] tokio = { path = "<checkout>/vendor/tokio" }`
//!      and the dependency `tokio-pulse-rt = { path = "<checkout>/tokio-pulse-rt" }`
//!      (to `[workspace.dependencies]` in a virtual manifest).
//!
//!    When both entries are already there, nothing is written: swapping is
//!    idempotent.
//! 4. Before writing, copy `Cargo.toml` to `Cargo.toml.pulse-backup`, then
//!    record the lock file: copy `Cargo.lock` to `Cargo.lock.pulse-backup`, or,
//!    when there is none, write the marker `Cargo.lock.pulse-none`. The first
//!    build on the fork rewrites (or creates) the lock file, so the lock is
//!    part of what `--undo` must give back. Then write the manifest. Every
//!    file is written through a temporary file and a rename; a symlinked
//!    `Cargo.toml` stays a symlink (its target is rewritten) and keeps its
//!    permissions.
//!
//! A backup that is byte-identical to the manifest means a swap (or undo)
//! stopped before the manifest changed: `swap` then starts over, and `--undo`
//! removes the swap's records and touches nothing else.
//!
//! [`undo`] works out the new manifest first (an unreadable one stops it with
//! nothing changed), then:
//!
//! 1. the lock: restored from `Cargo.lock.pulse-backup`; or removed, only if
//!    the swap left the `Cargo.lock.pulse-none` marker (the fork's build
//!    wrote it); with neither record, left as it is;
//! 2. the manifest: restored byte for byte when it is still exactly what the
//!    swap wrote. If it was edited since, only the two entries are removed,
//!    keeping the edits, and the backup is kept as `Cargo.toml.pulse-original`
//!    (`.pulse-original.2`, ... if that exists), where it does not block the
//!    next swap;
//! 3. the backup is removed last, so an undo stopped anywhere is finished by
//!    running it again.
//!
//! Without a backup, `--undo` removes the two entries if they are there and
//! leaves the lock alone; on a project that is not swapped it does nothing
//! and says so. It never deletes a file the swap did not create.

pub mod base;
pub mod manifest;
#[cfg(test)]
mod tests;

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{DocumentMut, Item};

use crate::cargo::cargo_cmd;
use crate::fork::ensure_fork;
use crate::process;
use crate::Paths;
use manifest::{edit_manifest, remove_entries, Edit, Targets, PULSE_RT};

/// Suffix of the backup files next to `Cargo.toml` and `Cargo.lock`.
pub const BACKUP_SUFFIX: &str = ".pulse-backup";

/// Suffix of the marker next to `Cargo.lock` that records that the project
/// had no lock file before the swap.
pub const NO_LOCK_SUFFIX: &str = ".pulse-none";

/// Suffix under which `--undo` keeps the pre-swap manifest when the manifest
/// was edited after the swap (so it cannot simply be restored).
pub const ORIGINAL_SUFFIX: &str = ".pulse-original";

/// `<file><BACKUP_SUFFIX>` next to `file`.
pub fn backup_of(file: &Path) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(BACKUP_SUFFIX);
    PathBuf::from(name)
}

/// The project directory for `path`: it must exist and hold a `Cargo.toml`.
fn project_dir(path: &Path) -> Result<PathBuf> {
    let dir = path
        .canonicalize()
        .with_context(|| format!("{} does not exist", path.display()))?;
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "{} is not a cargo project: it has no Cargo.toml",
            path.display()
        );
    }
    Ok(dir)
}

/// Refuses a workspace member, naming its workspace root.
fn require_workspace_root(dir: &Path) -> Result<()> {
    let mut cmd = cargo_cmd();
    cmd.args([
        "metadata",
        "--no-deps",
        "--format-version",
        "1",
        "--manifest-path",
    ])
    .arg(dir.join("Cargo.toml"))
    .current_dir(dir);
    let json = process::output(cmd).context("cargo cannot read the project")?;
    let meta: serde_json::Value =
        serde_json::from_str(&json).context("cargo metadata printed invalid JSON")?;
    let root = meta["workspace_root"]
        .as_str()
        .ok_or_else(|| anyhow!("cargo metadata gave no workspace_root"))?;
    let root = Path::new(root);
    if root.canonicalize().ok().as_deref() != Some(dir) {
        bail!(
            "{} is a member of the workspace at {}: [patch] only works in the workspace \
             root's Cargo.toml. Run `cargo xtask swap {}` instead.",
            dir.display(),
            root.display(),
            root.display()
        );
    }
    Ok(())
}

/// Refuses when a `.cargo/config.toml` (or `.cargo/config`) at `dir` or
/// above patches tokio: it would fight with the manifest's patch.
fn require_no_config_patch(dir: &Path) -> Result<()> {
    for ancestor in dir.ancestors() {
        for name in ["config.toml", "config"] {
            let file = ancestor.join(".cargo").join(name);
            let Ok(text) = fs::read_to_string(&file) else {
                continue;
            };
            let Ok(doc) = text.parse::<DocumentMut>() else {
                continue; // cargo itself will complain about it
            };
            let patches_tokio = doc
                .get("patch")
                .and_then(Item::as_table_like)
                .is_some_and(|p| p.iter().any(|(_, t)| t.get("tokio").is_some()));
            if patches_tokio {
                bail!(
                    "{} already patches tokio; remove that entry first",
                    file.display()
                );
            }
        }
    }
    Ok(())
}

/// Writes `text` to `file` through a temporary file and a rename. A
/// symlinked `file` stays a symlink (the file it points to is replaced), and
/// the replaced file's permissions are kept.
fn write_atomic(file: &Path, text: &[u8]) -> Result<()> {
    // Resolve a symlink (chain) to the file that holds the text; a file that
    // does not exist yet is written where it is named.
    let real = match fs::symlink_metadata(file) {
        Ok(meta) if meta.file_type().is_symlink() => file
            .canonicalize()
            .with_context(|| format!("following the symlink {}", file.display()))?,
        _ => file.to_path_buf(),
    };
    let mut tmp = real.as_os_str().to_owned();
    tmp.push(".pulse-tmp");
    let tmp = PathBuf::from(tmp);
    fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    if let Ok(meta) = fs::metadata(&real) {
        fs::set_permissions(&tmp, meta.permissions())
            .with_context(|| format!("setting the permissions of {}", tmp.display()))?;
    }
    fs::rename(&tmp, &real).with_context(|| format!("replacing {}", real.display()))
}

/// Copies `from` to `to` through a temporary file and a rename, so that an
/// interrupted copy never leaves a truncated `to`.
fn copy_atomic(from: &Path, to: &Path) -> Result<()> {
    let bytes = fs::read(from).with_context(|| format!("reading {}", from.display()))?;
    write_atomic(to, &bytes)
}

/// Removes `file`; `Ok` if it was not there.
fn remove_if_exists(file: &Path) -> Result<bool> {
    match fs::remove_file(file) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("removing {}", file.display())),
    }
}

/// `Cargo.lock.pulse-none` next to `lock`: the swap's record that the
/// project had no lock file, so that `--undo` may remove the one a build on
/// the fork writes (and only then).
pub fn no_lock_marker(lock: &Path) -> PathBuf {
    let mut name = lock.as_os_str().to_owned();
    name.push(NO_LOCK_SUFFIX);
    PathBuf::from(name)
}

/// A free name for keeping the pre-swap manifest when `--undo` cannot
/// restore it: `Cargo.toml.pulse-original`, then `...-original.2`, ...
fn keepsake_of(manifest: &Path) -> PathBuf {
    let base = {
        let mut name = manifest.as_os_str().to_owned();
        name.push(ORIGINAL_SUFFIX);
        PathBuf::from(name)
    };
    let mut candidate = base.clone();
    let mut n = 2;
    while fs::symlink_metadata(&candidate).is_ok() {
        let mut name = base.as_os_str().to_owned();
        name.push(format!(".{n}"));
        candidate = PathBuf::from(name);
        n += 1;
    }
    candidate
}

/// `cargo xtask swap [--tokio VERSION] PATH`: see the module docs. Without
/// `tokio`, the base is the newest one the app's tokio requirements accept
/// ([`base::pick_base`]).
pub fn swap(default: &Paths, tokio: Option<&str>, project: &Path) -> Result<()> {
    let paths = choose_base(default, tokio, project)?;
    ensure_fork(&paths, false)?;
    crate::workspace::ensure(&paths)?;
    swap_manifest(&paths, project)
}

/// The paths of the base `swap` uses for `project`: `tokio` if given, else
/// the newest base the project's manifest accepts.
pub fn choose_base(default: &Paths, tokio: Option<&str>, project: &Path) -> Result<Paths> {
    if let Some(v) = tokio {
        return default.with_tokio(v);
    }
    let manifest = project_dir(project)?.join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let base = base::pick_base(&text).with_context(|| format!("in {}", manifest.display()))?;
    println!("swap: using the tokio {base} base of the fork");
    default.with_tokio(base)
}

/// [`swap`] without making sure of the fork first.
pub fn swap_manifest(paths: &Paths, project: &Path) -> Result<()> {
    let dir = project_dir(project)?;
    require_workspace_root(&dir)?;
    require_no_config_patch(&dir)?;
    let targets = Targets::for_base(&paths.root.canonicalize()?, paths.tokio)?;
    let manifest = dir.join("Cargo.toml");
    let text =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    let (new_text, notes) = match edit_manifest(&text, &targets)
        .with_context(|| format!("cannot swap {}", manifest.display()))?
    {
        Edit::Unchanged => {
            println!(
                "{} already runs on Tokio-Pulse; nothing to do",
                dir.display()
            );
            return Ok(());
        }
        Edit::Changed { text, notes } => (text, notes),
    };
    let backup = backup_of(&manifest);
    if backup.exists() {
        // The same bytes as the manifest: a swap stopped before it wrote the
        // manifest (or an undo before it removed the backup). Start over.
        let same = fs::read(&backup).ok() == Some(text.as_bytes().to_vec());
        if !same {
            bail!(
                "{} exists from an earlier swap, but the manifest no longer has both of the \
                 swap's entries. Run `cargo xtask swap --undo {}` first (it keeps your edits \
                 and the original), then swap again.",
                backup.display(),
                dir.display()
            );
        }
    }
    // Order matters for an interrupted swap: the backup first (while it
    // equals the manifest, `--undo` and a new swap know nothing happened),
    // then the record of the lock file, then the manifest.
    copy_atomic(&manifest, &backup)?;
    let lock = dir.join("Cargo.lock");
    let (lock_backup, marker) = (backup_of(&lock), no_lock_marker(&lock));
    if lock.exists() {
        remove_if_exists(&marker)?;
        copy_atomic(&lock, &lock_backup)?;
    } else {
        remove_if_exists(&lock_backup)?;
        write_atomic(
            &marker,
            b"Written by `cargo xtask swap`: the project had no Cargo.lock before the swap,\n\
              so `cargo xtask swap --undo` removes the one a build on the fork writes.\n",
        )?;
    }
    write_atomic(&manifest, new_text.as_bytes())?;
    println!("swapped {} onto Tokio-Pulse:", dir.display());
    println!(
        "  [patch.crates-io] tokio = {{ path = \"{}\" }}",
        targets.vendor_tokio
    );
    println!("  {PULSE_RT} = {{ path = \"{}\" }}", targets.pulse_rt);
    for note in notes {
        println!("note: {note}");
    }
    println!(
        "Build as usual: every crate in the graph that uses tokio now runs on the \
         instrumented scheduler.\nBackup: {}. Undo with `cargo xtask swap --undo {}`.",
        backup.display(),
        dir.display()
    );
    Ok(())
}

/// `cargo xtask swap --undo PATH`: see the module docs. Repeating it, or
/// running it on a project that is not swapped, changes nothing and says so.
pub fn undo(paths: &Paths, project: &Path) -> Result<()> {
    let dir = project_dir(project)?;
    let manifest = dir.join("Cargo.toml");
    let backup = backup_of(&manifest);
    let lock = dir.join("Cargo.lock");
    let (lock_backup, marker) = (backup_of(&lock), no_lock_marker(&lock));
    let current =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    // The base the project was swapped to: the one whose tree its manifest
    // names (`--tokio` if none does).
    let root = paths.root.canonicalize()?;
    let mut targets = Targets::for_base(&root, paths.tokio)?;
    for base in crate::BASES {
        let candidate = Targets::for_base(&root, base)?;
        if current.contains(&format!("\"{}\"", candidate.vendor_tokio)) {
            targets = candidate;
            break;
        }
    }
    let original = match fs::read(&backup) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return undo_without_backup(&dir, &manifest, &current, &targets)
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", backup.display())),
    };

    if original == current.as_bytes() {
        // Nothing was swapped: a swap stopped before it wrote the manifest
        // (its lock record describes a swap that never happened), or an undo
        // stopped after it restored everything but the backup's removal.
        for record in [&lock_backup, &marker] {
            remove_if_exists(record)?;
        }
        remove_if_exists(&backup)?;
        println!(
            "{} was not swapped (an interrupted swap or undo): removed the backup; \
             Cargo.toml and Cargo.lock are left as they are",
            dir.display()
        );
        return Ok(());
    }

    let as_swapped = std::str::from_utf8(&original)
        .ok()
        .and_then(|o| edit_manifest(o, &targets).ok())
        .and_then(|edit| match edit {
            Edit::Changed { text, .. } => Some(text),
            Edit::Unchanged => None,
        });
    let exact = as_swapped.as_deref() == Some(current.as_str());
    // Worked out before anything is written: an unparsable manifest stops
    // the undo with every file untouched.
    let kept_edits = if exact {
        None
    } else {
        Some(remove_entries(&current, &targets).with_context(|| {
            format!(
                "cannot remove the swap's entries from {}; nothing was changed",
                manifest.display()
            )
        })?)
    };

    // The lock first, the manifest next, the backup last: an undo stopped
    // at any point is finished by running it again.
    if lock_backup.exists() {
        copy_atomic(&lock_backup, &lock)?;
        remove_if_exists(&lock_backup)?;
        println!("restored {}", lock.display());
    } else if marker.exists() {
        if remove_if_exists(&lock)? {
            println!(
                "removed {} (the swap recorded that there was none before it)",
                lock.display()
            );
        }
        remove_if_exists(&marker)?;
    } else {
        println!(
            "no record of {} from before the swap: left it as it is",
            lock.display()
        );
    }
    match kept_edits {
        None => {
            write_atomic(&manifest, &original)?;
            remove_if_exists(&backup)?;
            println!("restored {} from the backup", manifest.display());
        }
        Some(text) => {
            write_atomic(&manifest, text.as_bytes())?;
            let keepsake = keepsake_of(&manifest);
            fs::rename(&backup, &keepsake).with_context(|| {
                format!("renaming {} to {}", backup.display(), keepsake.display())
            })?;
            println!(
                "{} changed since the swap: removed only the swap's entries and kept your \
                 edits. The manifest from before the swap is in {} (delete it when you \
                 no longer need it).",
                manifest.display(),
                keepsake.display()
            );
        }
    }
    Ok(())
}

/// [`undo`] when there is no backup: the project was never swapped, was
/// already undone, or its backup was deleted. Removes the swap's entries if
/// they are there; never touches the lock file.
fn undo_without_backup(
    dir: &Path,
    manifest: &Path,
    current: &str,
    targets: &Targets,
) -> Result<()> {
    let without = remove_entries(current, targets)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    if without == current {
        println!(
            "nothing to undo in {}: it is not swapped (no {})",
            dir.display(),
            backup_of(manifest).display()
        );
        return Ok(());
    }
    write_atomic(manifest, without.as_bytes())?;
    println!(
        "{} has no backup (it was deleted?): removed the swap's entries from {}; \
         Cargo.lock is left as it is",
        dir.display(),
        manifest.display()
    );
    Ok(())
}
