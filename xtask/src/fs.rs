//! File-system helpers that several commands share.

use std::fs;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// Copies the directory tree `from` into `to` (created), preserving file
/// permissions and leaving out, at every level, entries whose name is in
/// `skip`. Anything that is neither a file nor a directory (a symlink, a
/// socket) is an error naming it.
pub fn copy_tree(from: &Path, to: &Path, skip: &[&str]) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    let entries = fs::read_dir(from).with_context(|| format!("listing {}", from.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", from.display()))?;
        if skip.iter().any(|name| entry.file_name() == *name) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .with_context(|| format!("reading {}", src.display()))?;
        if kind.is_dir() {
            copy_tree(&src, &dst, skip)?;
        } else if kind.is_file() {
            fs::copy(&src, &dst)
                .with_context(|| format!("copying {} to {}", src.display(), dst.display()))?;
        } else {
            bail!("{} is neither a file nor a directory", src.display());
        }
    }
    Ok(())
}

/// Removes a directory tree; a missing one is fine.
pub fn remove_dir_if_exists(dir: &Path) -> Result<()> {
    match fs::remove_dir_all(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e).with_context(|| format!("removing {}", dir.display())),
    }
}

/// Writes `text` to `file` (creating its directory) unless it already holds
/// exactly that, so that cargo, which looks at modification times, sees no
/// change.
pub fn write_if_changed(file: &Path, text: &str) -> Result<()> {
    if fs::read_to_string(file).is_ok_and(|old| old == text) {
        return Ok(());
    }
    if let Some(dir) = file.parent() {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    fs::write(file, text).with_context(|| format!("writing {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_tree_copies_files_and_dirs_and_leaves_out_skipped_names() {
        let dir = tempfile::tempdir().unwrap();
        let from = dir.path().join("from");
        fs::create_dir_all(from.join("sub")).unwrap();
        fs::write(from.join("a"), "a").unwrap();
        fs::write(from.join("sub/b"), "b").unwrap();
        fs::write(from.join("sub/.marker"), "m").unwrap();
        fs::write(from.join(".marker"), "m").unwrap();
        let to = dir.path().join("to");
        copy_tree(&from, &to, &[".marker"]).unwrap();
        assert_eq!(fs::read_to_string(to.join("a")).unwrap(), "a");
        assert_eq!(fs::read_to_string(to.join("sub/b")).unwrap(), "b");
        assert!(!to.join(".marker").exists() && !to.join("sub/.marker").exists());

        std::os::unix::fs::symlink(from.join("a"), from.join("link")).unwrap();
        let err = copy_tree(&from, &dir.path().join("again"), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains("link") && err.contains("neither"), "{err}");

        remove_dir_if_exists(&to).unwrap();
        assert!(!to.exists());
        remove_dir_if_exists(&to).unwrap();
    }
}
