//! Getting the pristine Tokio crate through cargo, and unpacking it.
//!
//! The machine may reach only the package registry, so cargo itself fetches
//! the crate. Protocol of [`ensure`]:
//!
//! 1. [`fetch_crate`] writes a throwaway package `pulse-fetch` in
//!    `target/pulse/fetch/` whose only dependency is `tokio = "=1.54.1"` (no
//!    default features). It has an empty `[workspace]` table so cargo does
//!    not take it for a member of the root workspace.
//! 2. It runs `cargo fetch` there. Cargo downloads the `.crate` into
//!    `$CARGO_HOME/registry/cache/<index>/`, checks it against the registry's
//!    checksum, and unpacks it into `$CARGO_HOME/registry/src/<index>/`.
//! 3. `cargo metadata` there gives tokio's `manifest_path`, i.e. the unpacked
//!    directory `registry/src/<index>/tokio-1.54.1`; the `.crate` is
//!    `registry/cache/<index>/tokio-1.54.1.crate`.
//! 4. Read tokio's `checksum` from the throwaway `Cargo.lock` and check that
//!    the `.crate` file's SHA-256 equals it (cargo checked its download; we
//!    check again because we read the file ourselves).
//! 5. Unless `vendor/tokio-1.54.1/.pulse-pristine` already holds that
//!    checksum, unpack the `.crate` (a gzipped tar whose entries all start
//!    with `tokio-1.54.1/`, which is stripped) into a temporary directory,
//!    write the marker into it, and rename it to `vendor/tokio-1.54.1/`.

use std::fs;
use std::path::{Component, Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};

use crate::cargo::fetch_crate;
use crate::fs::remove_dir_if_exists;
use crate::patchset::sha256_file;
use crate::Paths;

/// Marker file in the pristine directory; it holds the `.crate`'s checksum.
pub const MARKER: &str = ".pulse-pristine";

/// The unpacked, verified pristine crate.
#[derive(Debug)]
pub struct Pristine {
    /// `vendor/tokio-1.54.1/`.
    pub dir: PathBuf,
    /// SHA-256 of the `.crate` file, as recorded in `Cargo.lock`.
    pub checksum: String,
}

/// Makes sure `vendor/tokio-1.54.1/` holds the verified pristine crate (see
/// the module docs for the steps).
pub fn ensure(paths: &Paths) -> Result<Pristine> {
    let fetched = fetch_crate(
        &paths.scratch().join(format!("fetch-{}", paths.tokio)),
        "tokio",
        paths.tokio,
    )
    .context("cargo could not fetch the pristine tokio crate")?;
    let crate_file = crate_file_for(&fetched.dir.join("Cargo.toml"))?;

    let lock = fs::read_to_string(&fetched.lock)
        .with_context(|| format!("reading {}", fetched.lock.display()))?;
    let checksum = lock_checksum(&lock, "tokio", paths.tokio)
        .with_context(|| format!("in {}", fetched.lock.display()))?;

    let actual = sha256_file(&crate_file)?;
    if actual != checksum {
        bail!(
            "checksum mismatch for {}:\n  Cargo.lock says {checksum}\n  the file hashes to {actual}\n\
             Delete the file (and its unpacked twin under registry/src) and run again.",
            crate_file.display()
        );
    }

    let dir = paths.pristine();
    let marker = dir.join(MARKER);
    if fs::read_to_string(&marker).is_ok_and(|m| m.trim() == checksum) {
        return Ok(Pristine { dir, checksum });
    }
    unpack_crate(&crate_file, &dir, &checksum, paths.tokio)?;
    Ok(Pristine { dir, checksum })
}

/// From `.../registry/src/<index>/tokio-1.54.1/Cargo.toml` derives
/// `.../registry/cache/<index>/tokio-1.54.1.crate`.
pub fn crate_file_for(manifest: &Path) -> Result<PathBuf> {
    let unpacked = manifest.parent();
    let index = unpacked.and_then(Path::parent);
    let src = index.and_then(Path::parent);
    let registry = src.and_then(Path::parent);
    match (unpacked, index, src, registry) {
        (Some(unpacked), Some(index), Some(src), Some(registry))
            if src.file_name().is_some_and(|n| n == "src") =>
        {
            let (Some(index_name), Some(crate_name)) = (index.file_name(), unpacked.file_name())
            else {
                bail!("unexpected tokio manifest path {}", manifest.display());
            };
            let mut file = crate_name.to_os_string();
            file.push(".crate");
            let path = registry.join("cache").join(index_name).join(file);
            if !path.is_file() {
                bail!(
                    "cargo unpacked tokio into {} but its archive {} is missing \
                     (a cache cleaner may have removed it): delete {} and run again",
                    unpacked.display(),
                    path.display(),
                    unpacked.display()
                );
            }
            Ok(path)
        }
        _ => bail!(
            "tokio's manifest {} is not inside a cargo registry's `src/<index>/` directory \
             (is tokio patched or vendored by a cargo config?)",
            manifest.display()
        ),
    }
}

/// The `checksum` of package `name` at `version` in a `Cargo.lock`.
///
/// The lockfile is a sequence of `[[package]]` tables with one `key = "value"`
/// per line; that is all this reads.
pub fn lock_checksum(lock: &str, name: &str, version: &str) -> Result<String> {
    let mut blocks: Vec<Vec<(&str, &str)>> = Vec::new();
    for line in lock.lines() {
        let line = line.trim();
        if line == "[[package]]" {
            blocks.push(Vec::new());
        } else if line.starts_with('[') {
            blocks.push(Vec::new()); // some other table: collect and ignore it
        } else if let (Some(block), Some((key, value))) = (blocks.last_mut(), line.split_once('='))
        {
            let value = value.trim();
            if let Some(value) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                block.push((key.trim(), value));
            }
        }
    }
    fn get<'a>(block: &[(&str, &'a str)], key: &str) -> Option<&'a str> {
        block.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
    }
    let block = blocks
        .iter()
        .find(|b| get(b, "name") == Some(name) && get(b, "version") == Some(version))
        .ok_or_else(|| anyhow!("no [[package]] entry for {name} {version}"))?;
    let checksum = get(block, "checksum")
        .ok_or_else(|| anyhow!("the entry for {name} {version} has no checksum"))?;
    if checksum.len() != 64 || !checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("the checksum of {name} {version} is not a SHA-256 hex string: {checksum:?}");
    }
    Ok(checksum.to_ascii_lowercase())
}

/// Unpacks `crate_file` into `dest` (replacing it) and writes the marker.
fn unpack_crate(crate_file: &Path, dest: &Path, checksum: &str, version: &str) -> Result<()> {
    let parent = dest
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", dest.display()))?;
    fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    let tmp = parent.join(format!(".tokio-{version}.unpacking-{}", std::process::id()));
    remove_dir_if_exists(&tmp)?;
    eprintln!(
        "xtask: unpacking {} into {}",
        crate_file.display(),
        dest.display()
    );
    let result = extract_version(crate_file, &tmp, version).and_then(|()| {
        let marker = tmp.join(MARKER);
        fs::write(&marker, format!("{checksum}\n"))
            .with_context(|| format!("writing {}", marker.display()))?;
        remove_dir_if_exists(dest)?;
        fs::rename(&tmp, dest)
            .with_context(|| format!("renaming {} to {}", tmp.display(), dest.display()))
    });
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

/// Extracts the gzipped tar `crate_file` into `dest`, stripping the leading
/// `tokio-<version>/` from every entry. Entries that would land outside
/// `dest`, and links, are refused.
pub fn extract(crate_file: &Path, dest: &Path) -> Result<()> {
    extract_version(crate_file, dest, crate::TOKIO_VERSION)
}

/// [`extract`] for the crate of tokio `version` (entries under `tokio-<version>/`).
pub fn extract_version(crate_file: &Path, dest: &Path, version: &str) -> Result<()> {
    let file =
        fs::File::open(crate_file).with_context(|| format!("opening {}", crate_file.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let prefix = format!("tokio-{version}");
    let bad = |what: String| anyhow!("{}: {what}", crate_file.display());
    fs::create_dir_all(dest).with_context(|| format!("creating {}", dest.display()))?;
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("not a tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt archive: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("entry with unreadable path: {e}")))?
            .into_owned();
        let rel = path
            .strip_prefix(&prefix)
            .map_err(|_| bad(format!("entry {} is not under {prefix}/", path.display())))?;
        if rel.as_os_str().is_empty() {
            continue;
        }
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            return Err(bad(format!(
                "entry {} escapes the crate directory",
                path.display()
            )));
        }
        let target = dest.join(rel);
        match entry.header().entry_type() {
            tar::EntryType::Directory => fs::create_dir_all(&target)
                .with_context(|| format!("creating {}", target.display()))?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                if let Some(dir) = target.parent() {
                    fs::create_dir_all(dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                }
                entry.unpack(&target).with_context(|| {
                    format!("extracting {} to {}", path.display(), target.display())
                })?;
            }
            tar::EntryType::XGlobalHeader => {}
            other => {
                return Err(bad(format!(
                    "entry {} has unsupported type {other:?}",
                    path.display()
                )))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_checksum_from_lockfile() {
        let lock = r#"
version = 4

[[package]]
name = "pin-project-lite"
version = "0.2.18"
source = "registry+https://example.invalid/index"
checksum = "1111111111111111111111111111111111111111111111111111111111111111"

[[package]]
name = "pulse-fetch"
version = "0.0.0"
dependencies = [
 "tokio",
]

[[package]]
name = "tokio"
version = "1.54.1"
source = "registry+https://example.invalid/index"
checksum = "B52FD3255258D26FAC7264AB5A76B53C13367136DC011D3D6AD4F8ED070396A3"
dependencies = [
 "pin-project-lite",
]
"#;
        assert_eq!(
            lock_checksum(lock, "tokio", "1.54.1").unwrap(),
            "b52fd3255258d26fac7264ab5a76b53c13367136dc011d3d6ad4f8ed070396a3"
        );
        let err = lock_checksum(lock, "tokio", "1.0.0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokio 1.0.0"), "{err}");
        let err = lock_checksum(lock, "pulse-fetch", "0.0.0")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no checksum"), "{err}");
    }

    #[test]
    fn derives_crate_file_from_manifest() {
        let home = tempfile::tempdir().unwrap();
        let registry = home.path().join("registry");
        let manifest = registry.join("src/idx-123/tokio-1.54.1/Cargo.toml");
        let err = crate_file_for(&manifest).unwrap_err().to_string();
        assert!(
            err.contains("registry/cache/idx-123/tokio-1.54.1.crate"),
            "{err}"
        );
        fs::create_dir_all(registry.join("cache/idx-123")).unwrap();
        fs::write(registry.join("cache/idx-123/tokio-1.54.1.crate"), "").unwrap();
        assert_eq!(
            crate_file_for(&manifest).unwrap(),
            registry.join("cache/idx-123/tokio-1.54.1.crate")
        );
        assert!(crate_file_for(Path::new("/work/vendor/tokio/Cargo.toml")).is_err());
    }
}
