//! The root workspace built against another base's fork.
//!
//! The root `Cargo.toml` patches tokio with `vendor/tokio` (the default
//! base), and the members pin `tokio = "=1.54.1"`, so `cargo test
//! --workspace` there always builds the default base. For any other base,
//! [`ensure`] writes a twin workspace, `target/pulse/base-<version>/`, made of
//! symlinks to the real sources (nothing is copied, so it never goes stale):
//!
//! 1. every top-level entry of the repository (`README.md`, `dashboards/`,
//!    `overhead/`, ...) but `Cargo.lock`, `target/`, `vendor/`, `xtask/` and
//!    `.git`, as a symlink;
//! 2. each member whose manifest pins `"=<default>"`: a real directory whose
//!    entries are symlinks, except `Cargo.toml`, rewritten to pin
//!    `"=<version>"`; other members as a symlink;
//! 3. `vendor/tokio`: a symlink to `vendor/tokio-<version>-pulse`. Seen
//!    through it, the fork's `../../probes` dependency is the twin's `probes`,
//!    the same package as the member;
//! 4. `Cargo.lock`: a copy of the root's, made once (cargo moves its tokio
//!    entry to `<version>` on the first build; the root's is never touched).
//!
//! Its build output goes to `target/pulse/base-<version>/target` (inside the
//! root's `target/`). On the default base [`ensure`] does nothing and
//! [`Paths::workspace`] is the root.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cargo::read_manifest;
use crate::fs::remove_dir_if_exists;
use crate::{Paths, TOKIO_VERSION};

/// The members of the root workspace, as its `Cargo.toml` lists them (so a
/// new member cannot be missed here).
pub fn members(root: &Path) -> Result<Vec<String>> {
    let manifest = root.join("Cargo.toml");
    let doc = read_manifest(&manifest)?;
    let members = doc
        .get("workspace")
        .and_then(|w| w.get("members"))
        .and_then(|m| m.as_array())
        .with_context(|| format!("{} has no workspace.members", manifest.display()))?;
    Ok(members
        .iter()
        .filter_map(|m| m.as_str().map(str::to_owned))
        .collect())
}

/// Top-level entries not linked into the twin.
const LEFT_OUT: [&str; 6] = [
    "Cargo.toml",
    "Cargo.lock",
    "target",
    "vendor",
    "xtask",
    ".git",
];

/// Makes [`Paths::workspace`] a workspace that builds against this base's
/// fork (see the module docs); returns it.
pub fn ensure(paths: &Paths) -> Result<PathBuf> {
    let ws = paths.workspace();
    if paths.is_default_base() {
        return Ok(ws);
    }
    fs::create_dir_all(ws.join("vendor")).with_context(|| format!("creating {}", ws.display()))?;
    let members = members(&paths.root)?;
    for entry in
        fs::read_dir(&paths.root).with_context(|| format!("listing {}", paths.root.display()))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if LEFT_OUT.contains(&name) || members.iter().any(|m| m == name) {
            continue;
        }
        link(&entry.path(), &ws.join(name))?;
    }
    fs::copy(paths.root.join("Cargo.toml"), ws.join("Cargo.toml")).context("copying Cargo.toml")?;
    for member in &members {
        let src = paths.root.join(member);
        let manifest = fs::read_to_string(src.join("Cargo.toml"))
            .with_context(|| format!("reading {member}/Cargo.toml"))?;
        let pin = format!("\"={TOKIO_VERSION}\"");
        let dest = ws.join(member);
        if !manifest.contains(&pin) {
            link(&src, &dest)?;
            continue;
        }
        if fs::symlink_metadata(&dest).is_ok_and(|m| m.file_type().is_symlink()) {
            fs::remove_file(&dest)?;
        }
        fs::create_dir_all(&dest).with_context(|| format!("creating {}", dest.display()))?;
        for entry in fs::read_dir(&src)? {
            let entry = entry?;
            let name = entry.file_name();
            if name == "Cargo.toml" || name == "target" {
                continue;
            }
            link(&entry.path(), &dest.join(&name))?;
        }
        crate::fs::write_if_changed(
            &dest.join("Cargo.toml"),
            &manifest.replace(&pin, &format!("\"={}\"", paths.tokio)),
        )?;
    }
    link(&paths.vendor_tokio(), &ws.join("vendor").join("tokio"))?;
    let lock = ws.join("Cargo.lock");
    if !lock.exists() {
        fs::copy(paths.root.join("Cargo.lock"), &lock).context("copying Cargo.lock")?;
    }
    Ok(ws)
}

/// Makes `at` a symlink to `to` (replacing a different one).
fn link(to: &Path, at: &Path) -> Result<()> {
    if fs::read_link(at).is_ok_and(|t| t == to) {
        return Ok(());
    }
    match fs::symlink_metadata(at) {
        Ok(m) if m.is_dir() && !m.file_type().is_symlink() => remove_dir_if_exists(at)?,
        Ok(_) => fs::remove_file(at).with_context(|| format!("removing {}", at.display()))?,
        Err(_) => {}
    }
    std::os::unix::fs::symlink(to, at)
        .with_context(|| format!("linking {} to {}", at.display(), to.display()))
}
