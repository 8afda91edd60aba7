//! A patch series as data: the `series` file, the patch files it lists, their
//! digest, and how two series differ.
//!
//! Everything here is pure (no git, no processes) apart from reading and
//! writing a `patches/` directory. The protocol for a series directory:
//!
//! 1. `series` lists patch file names in the order `git am` applies them, one
//!    per line. Blank lines and lines starting with `#` are ignored. A missing
//!    or empty `series` means zero patches.
//! 2. Every listed name is a plain file name (no `/`) of a file beside
//!    `series`; a listed file that does not exist is an error.
//! 3. A `*.patch` file that `series` does not list is stale: comparisons report
//!    it, and writing a series deletes it.
//! 4. The digest of a series is a SHA-256 over, for each patch in order, its
//!    name, its length and its bytes. It does not depend on comments in
//!    `series`, nor on stale files.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};

/// Name of the file that lists the patches in order.
pub const SERIES_FILE: &str = "series";

/// The `Date:` header every exported patch carries, so that exports don't churn.
pub const FIXED_DATE_HEADER: &str = "Date: Thu, 1 Jan 1970 00:00:00 +0000";

/// First line of a `series` file written by `cargo xtask patches`.
const SERIES_HEADER: &str =
    "# Applied in this order by `cargo xtask fork`; written by `cargo xtask patches`.";

/// One patch file: its file name and its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// File name, e.g. `0001-rt-add-probes.patch`.
    pub name: String,
    /// The file's contents.
    pub bytes: Vec<u8>,
}

/// An ordered patch series, plus any stale `*.patch` files found beside it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchSet {
    /// The patches, in `series` order.
    pub patches: Vec<Patch>,
    /// `*.patch` files in the directory that `series` does not list.
    pub stale: Vec<String>,
}

/// Parses the text of a `series` file into the listed file names, in order.
///
/// Blank lines and `#` comments are skipped; surrounding whitespace is trimmed.
/// A name containing a path separator or naming `.`/`..` is an error, so that
/// a series can only refer to files beside it.
pub fn parse_series(text: &str) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if line.contains(['/', '\\']) || line == "." || line == ".." {
            bail!(
                "line {}: {line:?} is not a plain file name (patches must sit beside `series`)",
                index + 1
            );
        }
        if names.iter().any(|n| n == line) {
            bail!("line {}: {line:?} is listed twice", index + 1);
        }
        names.push(line.to_owned());
    }
    Ok(names)
}

/// Renders a `series` file listing `names` in order, after `header` (comment
/// lines, each ending in a newline) or, if it is empty, a default comment.
pub fn render_series<'a>(header: &str, names: impl IntoIterator<Item = &'a str>) -> String {
    let mut text = if header.is_empty() {
        format!("{SERIES_HEADER}\n")
    } else {
        header.to_owned()
    };
    for name in names {
        text.push_str(name);
        text.push('\n');
    }
    text
}

/// Replaces the first `Date:` line of a patch's mail header with
/// [`FIXED_DATE_HEADER`].
///
/// Only the header (everything before the first empty line) is looked at, so a
/// `Date:` line inside the commit message or the diff is left alone. Line
/// endings are preserved.
pub fn normalize_date(patch: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(patch.len());
    let mut in_header = true;
    let mut replaced = false;
    for line in patch.split_inclusive(|&b| b == b'\n') {
        let content = line.strip_suffix(b"\n").unwrap_or(line);
        let content = content.strip_suffix(b"\r").unwrap_or(content);
        if in_header && content.is_empty() {
            in_header = false;
        }
        if in_header && !replaced && content.starts_with(b"Date: ") {
            out.extend_from_slice(FIXED_DATE_HEADER.as_bytes());
            out.extend_from_slice(&line[content.len()..]);
            replaced = true;
        } else {
            out.extend_from_slice(line);
        }
    }
    out
}

impl PatchSet {
    /// Reads the series in `dir`: `dir/series` plus every file it lists, and
    /// the names of unlisted `*.patch` files. A missing `dir` or `series` is
    /// an empty series.
    pub fn read_dir(dir: &Path) -> Result<Self> {
        let series_path = dir.join(SERIES_FILE);
        let names = match fs::read_to_string(&series_path) {
            Ok(text) => {
                parse_series(&text).with_context(|| format!("in {}", series_path.display()))?
            }
            Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e).with_context(|| format!("reading {}", series_path.display())),
        };
        let mut patches = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            let bytes = fs::read(&path).with_context(|| {
                format!(
                    "{} lists {name:?}, but {} cannot be read",
                    series_path.display(),
                    path.display()
                )
            })?;
            patches.push(Patch { name, bytes });
        }
        let listed: BTreeSet<&str> = patches.iter().map(|p| p.name.as_str()).collect();
        let stale = patch_files_in(dir)?
            .into_iter()
            .filter(|name| !listed.contains(name.as_str()))
            .collect();
        Ok(Self { patches, stale })
    }

    /// Writes this series into `dir`: every patch, a fresh `series`, and
    /// deletes `*.patch` files the series does not list. Files whose bytes are
    /// already right are not rewritten.
    pub fn write_dir(&self, dir: &Path) -> Result<()> {
        fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let listed: BTreeSet<&str> = self.patches.iter().map(|p| p.name.as_str()).collect();
        for name in patch_files_in(dir)? {
            if !listed.contains(name.as_str()) {
                let path = dir.join(&name);
                fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
            }
        }
        for patch in &self.patches {
            write_if_changed(&dir.join(&patch.name), &patch.bytes)?;
        }
        // Keep the comment lines that open the old `series`, if any.
        let series_path = dir.join(SERIES_FILE);
        let old = fs::read_to_string(&series_path).unwrap_or_default();
        let header: String = old
            .split_inclusive('\n')
            .take_while(|line| line.trim_start().starts_with('#'))
            .collect();
        let series = render_series(&header, self.patches.iter().map(|p| p.name.as_str()));
        write_if_changed(&series_path, series.as_bytes())
    }

    /// The patch file names, in order.
    pub fn names(&self) -> Vec<&str> {
        self.patches.iter().map(|p| p.name.as_str()).collect()
    }

    /// SHA-256 (hex) over the ordered patches: for each, its name, its length
    /// and its bytes. Stale files and `series` comments don't count.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for patch in &self.patches {
            hasher.update(patch.name.as_bytes());
            hasher.update([0]);
            hasher.update(patch.bytes.len().to_string().as_bytes());
            hasher.update([0]);
            hasher.update(&patch.bytes);
        }
        hex(&hasher.finalize())
    }

    /// How `self` (the series in `patches/`) differs from `exported` (the
    /// series exported from `vendor/tokio`). Empty when they are identical.
    pub fn differences(&self, exported: &PatchSet) -> Vec<Difference> {
        let mut out = Vec::new();
        for patch in &exported.patches {
            match self.patches.iter().find(|p| p.name == patch.name) {
                None => out.push(Difference::OnlyInVendor(patch.name.clone())),
                Some(p) if p.bytes != patch.bytes => {
                    out.push(Difference::Changed(patch.name.clone()))
                }
                Some(_) => {}
            }
        }
        for patch in &self.patches {
            if !exported.patches.iter().any(|p| p.name == patch.name) {
                out.push(Difference::OnlyInPatches(patch.name.clone()));
            }
        }
        for name in &self.stale {
            out.push(Difference::Stale(name.clone()));
        }
        if out.is_empty() && self.names() != exported.names() {
            out.push(Difference::Order);
        }
        out
    }
}

/// One way in which `patches/` differs from the export of `vendor/tokio`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Difference {
    /// A commit in `vendor/tokio` that `patches/` lacks.
    OnlyInVendor(String),
    /// A patch in `patches/` that `vendor/tokio` lacks.
    OnlyInPatches(String),
    /// Both have it, with different contents.
    Changed(String),
    /// A `*.patch` file in `patches/` that `series` does not list.
    Stale(String),
    /// Same patches, listed in a different order.
    Order,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OnlyInVendor(n) => write!(f, "patches/{n}: in vendor/tokio, not in patches/"),
            Self::OnlyInPatches(n) => write!(f, "patches/{n}: in patches/, not in vendor/tokio"),
            Self::Changed(n) => write!(f, "patches/{n}: differs from vendor/tokio"),
            Self::Stale(n) => write!(f, "patches/{n}: not listed in patches/series"),
            Self::Order => write!(f, "patches/series: same patches in another order"),
        }
    }
}

/// Lists each difference on its own indented line.
pub fn describe(differences: &[Difference]) -> String {
    let mut text = String::new();
    for d in differences {
        let _ = writeln!(text, "  {d}");
    }
    text
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// SHA-256 (hex) of a file's contents.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {}", path.display()))?;
    Ok(hex(&hasher.finalize()))
}

/// Sorted names of the `*.patch` files directly in `dir` (none if `dir` is missing).
fn patch_files_in(dir: &Path) -> Result<Vec<String>> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("listing {}", dir.display())),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if name.ends_with(".patch") && entry.path().is_file() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Writes `bytes` to `path` unless it already holds exactly them.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|old| old == bytes) {
        return Ok(());
    }
    fs::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(items: &[(&str, &str)]) -> PatchSet {
        PatchSet {
            patches: items
                .iter()
                .map(|(n, b)| Patch {
                    name: (*n).into(),
                    bytes: b.as_bytes().to_vec(),
                })
                .collect(),
            stale: Vec::new(),
        }
    }

    #[test]
    fn series_skips_comments_and_blank_lines() {
        let text = "# header\n\n0001-a.patch\n  # indented comment\n  0002-b.patch  \n\n";
        assert_eq!(
            parse_series(text).unwrap(),
            ["0001-a.patch", "0002-b.patch"]
        );
        assert!(parse_series("").unwrap().is_empty());
        assert!(parse_series("# only a comment\n").unwrap().is_empty());
    }

    #[test]
    fn series_rejects_paths_and_duplicates() {
        let err = parse_series("0001-a.patch\n../x.patch\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("../x.patch"),
            "{err}"
        );
        let err = parse_series("a.patch\na.patch\n").unwrap_err().to_string();
        assert!(err.contains("listed twice"), "{err}");
    }

    #[test]
    fn render_then_parse_round_trips() {
        let names = ["0001-a.patch", "0002-b.patch"];
        assert_eq!(parse_series(&render_series("", names)).unwrap(), names);
        assert!(parse_series(&render_series("", [])).unwrap().is_empty());
        let text = render_series("# mine\n# two\n", names);
        assert_eq!(text, "# mine\n# two\n0001-a.patch\n0002-b.patch\n");
    }

    #[test]
    fn date_header_is_normalized_only_in_the_header() {
        let patch = "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n\
                     From: A U Thor <a@example.com>\n\
                     Date: Tue, 4 Mar 2025 12:34:56 +0100\n\
                     Subject: [PATCH] rt: x\n\
                     \n\
                     Date: in the body stays\n\
                     ---\n\
                     +Date: in the diff stays\n";
        let out = String::from_utf8(normalize_date(patch.as_bytes())).unwrap();
        let expected = patch.replace("Date: Tue, 4 Mar 2025 12:34:56 +0100", FIXED_DATE_HEADER);
        assert_eq!(out, expected);
        assert_eq!(normalize_date(out.as_bytes()), out.as_bytes(), "idempotent");
    }

    #[test]
    fn date_normalization_keeps_crlf_and_missing_header() {
        let crlf = b"From: a\r\nDate: Wed, 5 Mar 2025 00:00:00 +0000\r\n\r\nbody\r\n";
        let out = normalize_date(crlf);
        assert_eq!(
            out,
            b"From: a\r\nDate: Thu, 1 Jan 1970 00:00:00 +0000\r\n\r\nbody\r\n"
        );
        let no_date = b"From: a\n\nDate: body\n";
        assert_eq!(normalize_date(no_date), no_date);
    }

    #[test]
    fn digest_is_stable_and_sensitive() {
        let a = set(&[("0001-a.patch", "one"), ("0002-b.patch", "two")]);
        // Pinned: a change here makes every recorded `vendor/.pulse-applied` stale.
        assert_eq!(
            a.digest(),
            "79b040b89675717c43331d1b7f32cce469cf6d02e1796a07010290b2106898d7"
        );
        assert_eq!(
            PatchSet::default().digest(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let reordered = set(&[("0002-b.patch", "two"), ("0001-a.patch", "one")]);
        let renamed = set(&[("0001-x.patch", "one"), ("0002-b.patch", "two")]);
        let edited = set(&[("0001-a.patch", "one!"), ("0002-b.patch", "two")]);
        // Moving bytes between name and contents must not collide.
        let shifted = set(&[("0001-a.patchone", ""), ("0002-b.patch", "two")]);
        for other in [reordered, renamed, edited, shifted] {
            assert_ne!(a.digest(), other.digest(), "{other:?}");
        }
    }

    #[test]
    fn differences_name_every_file() {
        let ours = set(&[("0001-a.patch", "one"), ("0002-b.patch", "two")]);
        let theirs = set(&[("0001-a.patch", "ONE"), ("0003-c.patch", "three")]);
        let d = ours.differences(&theirs);
        assert_eq!(
            d,
            [
                Difference::Changed("0001-a.patch".into()),
                Difference::OnlyInVendor("0003-c.patch".into()),
                Difference::OnlyInPatches("0002-b.patch".into()),
            ]
        );
        assert!(ours.differences(&ours.clone()).is_empty());
        let swapped = set(&[("0002-b.patch", "two"), ("0001-a.patch", "one")]);
        assert_eq!(ours.differences(&swapped), [Difference::Order]);
    }

    #[test]
    fn write_then_read_round_trips_and_removes_stale() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("0009-old.patch"), "old").unwrap();
        fs::write(dir.path().join("notes.txt"), "kept").unwrap();
        let before = PatchSet::read_dir(dir.path()).unwrap();
        assert_eq!(before.stale, ["0009-old.patch"]);
        let s = set(&[("0001-a.patch", "one"), ("0002-b.patch", "two")]);
        s.write_dir(dir.path()).unwrap();
        assert_eq!(PatchSet::read_dir(dir.path()).unwrap(), s);
        assert!(dir.path().join("notes.txt").exists());
        // The opening comments of `series` survive a rewrite.
        fs::write(
            dir.path().join(SERIES_FILE),
            "# kept\n0001-a.patch\n# dropped\n",
        )
        .unwrap();
        s.write_dir(dir.path()).unwrap();
        let series = fs::read_to_string(dir.path().join(SERIES_FILE)).unwrap();
        assert_eq!(series, "# kept\n0001-a.patch\n0002-b.patch\n");
        assert!(!dir.path().join("0009-old.patch").exists());
    }

    #[test]
    fn missing_listed_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(SERIES_FILE), "0001-gone.patch\n").unwrap();
        let err = format!("{:#}", PatchSet::read_dir(dir.path()).unwrap_err());
        assert!(
            err.contains("0001-gone.patch") && err.contains("series"),
            "{err}"
        );
    }
}
