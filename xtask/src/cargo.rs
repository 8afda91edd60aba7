//! Driving cargo: the command, `RUSTFLAGS`, the throwaway packages xtask
//! writes under `target/` ([`ScratchManifest`]), and fetching a published
//! crate's source through cargo ([`fetch_crate`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, Context, Result};
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, Value};

use crate::process;

/// `$CARGO` if cargo set it (we run under `cargo run`), else `cargo`.
pub fn cargo_cmd() -> Command {
    Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
}

/// `$RUSTFLAGS` (if any) plus `extra`.
///
/// # Examples
///
/// ```
/// let flags = xtask::cargo::rustflags("--cfg loom");
/// assert!(flags.ends_with("--cfg loom"));
/// ```
pub fn rustflags(extra: &str) -> String {
    match std::env::var("RUSTFLAGS") {
        Ok(flags) if !flags.trim().is_empty() => format!("{flags} {extra}"),
        _ => extra.to_owned(),
    }
}

/// A path as TOML text; a path that is not valid UTF-8 is an error naming it
/// (a lossy rendering would point cargo somewhere else).
pub fn path_str(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| anyhow!("the path {} is not valid UTF-8", path.display()))
}

/// Reads and parses the manifest (or any TOML file) at `path`; the errors
/// name it ("reading PATH", "PATH is not valid TOML").
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("Cargo.toml");
/// std::fs::write(&path, "[package]\nname = \"a\"\n").unwrap();
/// let doc = xtask::cargo::read_manifest(&path).unwrap();
/// assert_eq!(doc["package"]["name"].as_str(), Some("a"));
/// ```
pub fn read_manifest(path: &Path) -> Result<DocumentMut> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    text.parse()
        .with_context(|| format!("{} is not valid TOML", path.display()))
}

/// The inline table `{ path = "<path>" }`.
pub fn path_dep(path: &Path) -> Result<Value> {
    Ok(inline([("path", path_str(path)?.into())]))
}

/// An inline table of `pairs`, in order.
pub fn inline<'a>(pairs: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    let mut table = InlineTable::new();
    for (key, val) in pairs {
        table.insert(key, val);
    }
    Value::InlineTable(table)
}

/// A TOML array of strings.
pub fn strings<S: AsRef<str>>(items: &[S]) -> Value {
    Value::Array(items.iter().map(|s| s.as_ref()).collect::<Array>())
}

/// The manifest of a throwaway package (or bare workspace) that xtask writes
/// under `target/`: always its own workspace, so that cargo never takes it
/// for a member of the repository's workspace. Built with `toml_edit`, so
/// every string is quoted and escaped correctly.
///
/// # Examples
///
/// ```
/// use xtask::cargo::{inline, ScratchManifest};
///
/// let text = ScratchManifest::package("pulse-fetch", "Written by a doctest.")
///     .set("dependencies", "tokio", inline([("version", "=1.54.1".into())]))
///     .render();
/// assert!(text.starts_with("# Written by a doctest.\n[package]\nname = \"pulse-fetch\"\n"));
/// assert!(text.contains("\n[workspace]\n"));
/// assert!(text.contains("[dependencies]\ntokio = { version = \"=1.54.1\" }\n"));
/// ```
#[derive(Debug, Clone)]
pub struct ScratchManifest {
    comment: String,
    doc: DocumentMut,
    empty_lib: bool,
}

impl ScratchManifest {
    /// A package `name` (version 0.0.0, edition 2021, not published) with an
    /// empty `[workspace]`; `comment` (one line: who writes it, and why) heads
    /// the file.
    pub fn package(name: &str, comment: &str) -> Self {
        let mut package = Table::new();
        package["name"] = value(name);
        package["version"] = value("0.0.0");
        package["edition"] = value("2021");
        package["publish"] = value(false);
        let mut doc = DocumentMut::new();
        doc["package"] = Item::Table(package);
        doc["workspace"] = Item::Table(Table::new());
        Self {
            comment: comment.to_owned(),
            doc,
            empty_lib: false,
        }
    }

    /// A bare workspace: `[workspace]` and what [`set`](Self::set) adds.
    pub fn workspace(comment: &str) -> Self {
        let mut doc = DocumentMut::new();
        doc["workspace"] = Item::Table(Table::new());
        Self {
            comment: comment.to_owned(),
            doc,
            empty_lib: false,
        }
    }

    /// Also write an empty `src/lib.rs`, for a package with no targets of its
    /// own (one that only exists to resolve or check dependencies).
    pub fn empty_lib(mut self) -> Self {
        self.empty_lib = true;
        self
    }

    /// Sets `key = val` in the table at the dotted path `table`
    /// (`"dependencies"`, `"patch.crates-io"`, ...), creating it.
    pub fn set(self, table: &str, key: &str, val: impl Into<Value>) -> Self {
        self.set_item(table, key, value(val))
    }

    /// [`set`](Self::set) for any item (a sub-table, a copied dependency).
    pub fn set_item(mut self, table: &str, key: &str, item: Item) -> Self {
        let mut at = self.doc.as_table_mut();
        let mut segments = table.split('.').peekable();
        while let Some(segment) = segments.next() {
            let last = segments.peek().is_none();
            let entry = at.entry(segment).or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(!last);
                Item::Table(t)
            });
            at = entry
                .as_table_mut()
                .expect("xtask's own scratch manifests only nest tables");
        }
        at.insert(key, item);
        self
    }

    /// Appends a `[[array]]` table (`[[bin]]`, `[[bench]]`) with `pairs`.
    pub fn push<'a>(
        mut self,
        array: &str,
        pairs: impl IntoIterator<Item = (&'a str, Value)>,
    ) -> Self {
        let mut table = Table::new();
        for (key, val) in pairs {
            table.insert(key, value(val));
        }
        self.doc
            .entry(array)
            .or_insert_with(|| Item::ArrayOfTables(ArrayOfTables::new()))
            .as_array_of_tables_mut()
            .expect("xtask's own scratch manifests only push onto arrays of tables")
            .push(table);
        self
    }

    /// The manifest's text.
    pub fn render(&self) -> String {
        format!("# {}\n{}", self.comment, self.doc)
    }

    /// Writes `dir/Cargo.toml` (and `dir/src/lib.rs` if asked for), creating
    /// `dir`; a file that already holds the text is not touched, so cargo
    /// sees no change. Returns the manifest's path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let manifest = dir.join("Cargo.toml");
        crate::fs::write_if_changed(&manifest, &self.render())?;
        if self.empty_lib {
            crate::fs::write_if_changed(&dir.join("src").join("lib.rs"), "")?;
        }
        Ok(manifest)
    }
}

/// A published crate's source, as cargo unpacked it.
#[derive(Debug, Clone)]
pub struct Fetched {
    /// The unpacked crate in cargo's registry sources
    /// (`$CARGO_HOME/registry/src/<index>/<name>-<version>/`).
    pub dir: PathBuf,
    /// The throwaway package's `Cargo.lock`, which records the crate's
    /// checksum.
    pub lock: PathBuf,
}

/// Gets crate `name` at exactly `version` through cargo: a throwaway package
/// in `dir` that depends on it, `cargo fetch` (which downloads, checks and
/// unpacks it) and `cargo metadata` (which says where).
pub fn fetch_crate(dir: &Path, name: &str, version: &str) -> Result<Fetched> {
    ScratchManifest::package(
        "pulse-fetch",
        &format!("Written by `cargo xtask` to fetch {name} {version}. Not part of the build."),
    )
    .set(
        "dependencies",
        name,
        inline([
            ("version", format!("={version}").into()),
            ("default-features", false.into()),
        ]),
    )
    .empty_lib()
    .write(dir)?;

    eprintln!("xtask: fetching {name} {version} with cargo");
    let mut fetch = cargo_cmd();
    fetch.arg("fetch").current_dir(dir);
    process::stream(fetch).with_context(|| format!("cargo could not fetch {name} {version}"))?;

    let mut metadata = cargo_cmd();
    metadata
        .args(["metadata", "--format-version", "1"])
        .current_dir(dir);
    let manifest = manifest_path(&process::output(metadata)?, name, version)?;
    let unpacked = manifest
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", manifest.display()))?;
    Ok(Fetched {
        dir: unpacked.to_path_buf(),
        lock: dir.join("Cargo.lock"),
    })
}

/// Finds the `manifest_path` of package `name` at `version` in `cargo
/// metadata` JSON output.
///
/// # Examples
///
/// ```
/// let json = r#"{"packages":[{"name":"a","version":"1.0.0","manifest_path":"/a/Cargo.toml"}]}"#;
/// let path = xtask::cargo::manifest_path(json, "a", "1.0.0").unwrap();
/// assert_eq!(path, std::path::PathBuf::from("/a/Cargo.toml"));
/// ```
pub fn manifest_path(metadata_json: &str, name: &str, version: &str) -> Result<PathBuf> {
    let value: serde_json::Value =
        serde_json::from_str(metadata_json).context("`cargo metadata` printed invalid JSON")?;
    let packages = value
        .get("packages")
        .and_then(|p| p.as_array())
        .ok_or_else(|| anyhow!("`cargo metadata` output has no `packages` array"))?;
    packages
        .iter()
        .find(|p| {
            p.get("name").and_then(|n| n.as_str()) == Some(name)
                && p.get("version").and_then(|v| v.as_str()) == Some(version)
        })
        .and_then(|p| p.get("manifest_path"))
        .and_then(|m| m.as_str())
        .map(PathBuf::from)
        .ok_or_else(|| anyhow!("`cargo metadata` does not list {name} {version}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_manifest_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing.toml");
        let err = format!("{:#}", read_manifest(&missing).unwrap_err());
        assert!(
            err.starts_with(&format!("reading {}", missing.display())),
            "{err}"
        );
        let bad = dir.path().join("Cargo.toml");
        std::fs::write(&bad, "[package\n").unwrap();
        let err = format!("{:#}", read_manifest(&bad).unwrap_err());
        assert!(
            err.starts_with(&format!("{} is not valid TOML", bad.display())),
            "{err}"
        );
    }

    #[test]
    fn finds_manifest_in_metadata() {
        let json = r#"{"packages":[
            {"name":"tokio","version":"1.0.0","manifest_path":"/a/Cargo.toml"},
            {"name":"tokio","version":"1.54.1","manifest_path":"/b/Cargo.toml"}]}"#;
        assert_eq!(
            manifest_path(json, "tokio", "1.54.1").unwrap(),
            PathBuf::from("/b/Cargo.toml")
        );
        assert!(manifest_path(json, "tokio", "2.0.0").is_err());
        assert!(manifest_path(r#"{"packages":[]}"#, "tokio", "1.54.1").is_err());
        assert!(manifest_path("not json", "tokio", "1.54.1").is_err());
    }

    #[test]
    fn paths_with_quotes_survive_the_round_trip() {
        let text = ScratchManifest::package("p", "test")
            .set(
                "patch.crates-io",
                "tokio",
                path_dep(Path::new("/a\"b\\c")).unwrap(),
            )
            .render();
        let doc: DocumentMut = text.parse().unwrap();
        assert_eq!(
            doc["patch"]["crates-io"]["tokio"]["path"].as_str(),
            Some("/a\"b\\c")
        );
        assert!(!text.contains("[patch]\n"), "{text}");
    }

    #[test]
    fn a_path_that_is_not_utf8_is_an_error_naming_it() {
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"/p/\xff/tokio"));
        let err = path_dep(bad).unwrap_err().to_string();
        assert!(
            err.contains("/p/") && err.contains("not valid UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn writes_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = ScratchManifest::package("p", "test").empty_lib();
        let path = manifest.write(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), manifest.render());
        assert_eq!(
            std::fs::read_to_string(dir.path().join("src/lib.rs")).unwrap(),
            ""
        );
        let before = std::fs::metadata(&path).unwrap().modified().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        manifest.write(dir.path()).unwrap();
        assert_eq!(
            std::fs::metadata(&path).unwrap().modified().unwrap(),
            before
        );
    }
}
