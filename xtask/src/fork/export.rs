//! Exporting `vendor/tokio` as a deterministic patch set (see
//! [the protocol](super)).

use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};

use super::PRISTINE_TAG;
use crate::fs::remove_dir_if_exists;
use crate::git::Git;
use crate::patchset::{normalize_date, Patch, PatchSet};

/// Exports `pristine..HEAD` of `git` as a deterministic patch set (see the
/// module docs), using a scratch directory under `scratch`.
pub fn export(git: &Git, scratch: &Path) -> Result<PatchSet> {
    let range = format!("{PRISTINE_TAG}..HEAD");
    let merges = git.run(["rev-list", "--merges", &range])?;
    if !merges.trim().is_empty() {
        bail!(
            "{} has merge commits in {range}, which cannot be exported as patches: {}",
            git.dir().display(),
            merges.split_whitespace().collect::<Vec<_>>().join(", ")
        );
    }
    let out = scratch.join(format!("export-{}", std::process::id()));
    remove_dir_if_exists(&out)?;
    fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let result = (|| {
        let mut cmd = git.cmd([
            "format-patch",
            "--zero-commit",
            "--no-signature",
            "--full-index",
            "--no-numbered",
            "--subject-prefix=PATCH",
            "--no-thread",
            "--no-cover-letter",
            "--quiet",
            "-o",
        ]);
        cmd.arg(&out).arg(&range);
        crate::process::output(cmd)?;
        read_export(&out)
    })();
    let _ = fs::remove_dir_all(&out);
    result
}

/// Reads the `*.patch` files format-patch wrote into `dir`, in name order
/// (which is commit order, as names start with `NNNN-`), normalizing dates.
fn read_export(dir: &Path) -> Result<PatchSet> {
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name().into_string().map_err(|n| {
            anyhow!(
                "format-patch wrote a file whose name is not UTF-8: {}",
                n.to_string_lossy()
            )
        })?;
        names.push(name);
    }
    names.sort();
    let mut patches = Vec::with_capacity(names.len());
    for name in names {
        let path = dir.join(&name);
        let bytes = fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        patches.push(Patch {
            name,
            bytes: normalize_date(&bytes),
        });
    }
    Ok(PatchSet {
        patches,
        stale: Vec::new(),
    })
}
