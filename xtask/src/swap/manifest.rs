//! The swap's edits of a manifest, as pure functions of its text (no file
//! system access, so they are tested on strings). `toml_edit` keeps the
//! project's formatting and comments. [`edit_manifest`] adds the swap's two
//! entries, [`remove_entries`] takes them out again; the file protocol around
//! them is in [`super`].

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use super::base::check_tokio_requirements;
use crate::{Paths, TOKIO_VERSION};

/// The crate that the swap adds as a dependency.
pub const PULSE_RT: &str = "tokio-pulse-rt";

/// Where the swapped project's entries point: absolute paths into this
/// checkout.
///
/// # Examples
///
/// ```
/// let targets = xtask::swap::manifest::Targets::new("/src/tokio-pulse".as_ref()).unwrap();
/// assert_eq!(targets.vendor_tokio, "/src/tokio-pulse/vendor/tokio");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// The fork's tree: `<checkout>/vendor/tokio` (default base) or
    /// `<checkout>/target/pulse/base-<version>/vendor/tokio` (a link to
    /// `vendor/tokio-<version>-pulse`).
    pub vendor_tokio: String,
    /// The base's Tokio version, which the app's requirements must accept.
    pub tokio: &'static str,
    /// `<checkout>/tokio-pulse-rt`.
    pub pulse_rt: String,
}

impl Targets {
    /// The targets for the checkout at `root` (an absolute path), default base.
    pub fn new(root: &Path) -> Result<Targets> {
        Self::for_base(root, TOKIO_VERSION)
    }

    /// The targets for the checkout at `root` on base `version` (one of
    /// [`BASES`](crate::BASES)).
    pub fn for_base(root: &Path, version: &str) -> Result<Targets> {
        let paths = Paths::new(root).with_tokio(version)?;
        let text = |p: PathBuf| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("the path {} is not valid UTF-8", p.display()))
        };
        Ok(Targets {
            // On another base, the fork as the twin workspace sees it
            // (`<twin>/vendor/tokio`), so that the fork's `../../probes` and
            // tokio-pulse-rt's `../probes` are one path, one package.
            vendor_tokio: text(if paths.is_default_base() {
                paths.vendor_tokio()
            } else {
                paths.workspace().join("vendor").join("tokio")
            })?,
            tokio: paths.tokio,
            // On another base, the twin workspace's tokio-pulse-rt, whose
            // manifest pins that base (see `crate::workspace`).
            pulse_rt: text(paths.workspace().join(PULSE_RT))?,
        })
    }
}

/// What [`edit_manifest`] decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// Both entries are already there.
    Unchanged,
    /// The new manifest text, and notes for the user.
    Changed {
        /// The edited manifest.
        text: String,
        /// Things the user should know (no direct tokio dependency, a
        /// virtual manifest, ...).
        notes: Vec<String>,
    },
}

/// A string field of a dependency given as an inline or a full table.
pub(super) fn field<'a>(item: &'a Item, key: &str) -> Option<&'a Value> {
    match item {
        Item::Value(Value::InlineTable(t)) => t.get(key),
        Item::Table(t) => t.get(key).and_then(Item::as_value),
        _ => None,
    }
}

/// The path of our patch entry, if the manifest has one: `Ok(true)` if it
/// points at `targets`, an error if something else patches tokio.
fn existing_patch(doc: &DocumentMut, targets: &Targets) -> Result<bool> {
    let mut ours = false;
    if let Some(patches) = doc.get("patch").and_then(Item::as_table_like) {
        for (registry, table) in patches.iter() {
            let Some(entry) = table.get("tokio") else {
                continue;
            };
            let path = field(entry, "path").and_then(Value::as_str);
            if registry == "crates-io" && path == Some(targets.vendor_tokio.as_str()) {
                ours = true;
            } else {
                bail!(
                    "the manifest already patches tokio in [patch.{registry}] ({}). \
                     Remove that entry first if you want to run on Tokio-Pulse.",
                    entry.to_string().trim()
                );
            }
        }
    }
    if let Some(replace) = doc.get("replace").and_then(Item::as_table_like) {
        if let Some((spec, _)) = replace.iter().find(|(k, _)| k.starts_with("tokio:")) {
            bail!("the manifest already replaces tokio in [replace] (\"{spec}\"); remove it first");
        }
    }
    Ok(ours)
}

/// Whether the manifest already depends on our `tokio-pulse-rt`; an error if
/// it depends on some other `tokio-pulse-rt`.
fn existing_dependency(table: Option<&Table>, targets: &Targets) -> Result<bool> {
    let Some(entry) = table.and_then(|t| t.get(PULSE_RT)) else {
        return Ok(false);
    };
    if field(entry, "path").and_then(Value::as_str) == Some(targets.pulse_rt.as_str()) {
        return Ok(true);
    }
    bail!(
        "the manifest already depends on {PULSE_RT} ({}), not on this checkout's \
         {}; remove that entry first",
        entry.to_string().trim(),
        targets.pulse_rt
    )
}

fn path_table(path: &str) -> InlineTable {
    let mut t = InlineTable::new();
    t.insert("path", path.into());
    t
}

/// Inserts `name = { path }` into `table`, matching its style: as a
/// `[parent.name]` sub-table when `table` itself only holds sub-tables
/// (the style of manifests that cargo normalizes on publish).
fn insert_path_dependency(table: &mut Table, name: &str, path: &str) {
    if table.is_implicit() && !table.is_empty() {
        let mut sub = Table::new();
        sub.insert("path", toml_edit::value(path));
        table.insert(name, Item::Table(sub));
    } else {
        table.insert(name, Item::Value(Value::InlineTable(path_table(path))));
    }
}

/// Edits a manifest's text for the swap; see [the swap's protocol](super). Pure: no file
/// system access, so it can be tested on strings.
///
/// # Examples
///
/// ```
/// use xtask::swap::manifest::{edit_manifest, Edit, Targets};
///
/// let targets = Targets::new("/pulse".as_ref()).unwrap();
/// let app = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\n[dependencies]\ntokio = \"1\"\n";
/// let Edit::Changed { text, .. } = edit_manifest(app, &targets).unwrap() else { panic!() };
/// assert!(text.contains("[patch.crates-io]\ntokio = { path = \"/pulse/vendor/tokio\" }"));
/// assert_eq!(edit_manifest(&text, &targets).unwrap(), Edit::Unchanged);
/// ```
pub fn edit_manifest(text: &str, targets: &Targets) -> Result<Edit> {
    let mut doc: DocumentMut = text.parse().context("Cargo.toml is not valid TOML")?;
    let has_package = doc.get("package").is_some_and(Item::is_table_like);
    let has_workspace = doc.get("workspace").is_some_and(Item::is_table_like);
    if !has_package && !has_workspace {
        bail!("Cargo.toml has neither [package] nor [workspace]");
    }
    let tokio_deps = check_tokio_requirements(&doc, targets.tokio)?;
    let patched = existing_patch(&doc, targets)?;
    let dependency_table = |doc: &DocumentMut| -> Option<Table> {
        if has_package {
            doc.get("dependencies").and_then(Item::as_table).cloned()
        } else {
            doc.get("workspace")
                .and_then(|w| w.get("dependencies"))
                .and_then(Item::as_table)
                .cloned()
        }
    };
    let depended = existing_dependency(dependency_table(&doc).as_ref(), targets)?;
    if patched && depended {
        return Ok(Edit::Unchanged);
    }

    let mut notes = Vec::new();
    if tokio_deps == 0 {
        notes.push(format!(
            "the project has no direct tokio dependency: the patch applies to tokio \
             wherever it appears in the graph, as long as the requirement there accepts \
             {} (cargo warns \"patch `tokio` was not used\" otherwise)",
            targets.tokio
        ));
    }
    if !patched {
        let patch = doc
            .entry("patch")
            .or_insert_with(|| {
                let mut t = Table::new();
                t.set_implicit(true);
                Item::Table(t)
            })
            .as_table_mut()
            .ok_or_else(|| anyhow!("[patch] in Cargo.toml is not a table"))?;
        let registry = patch
            .entry("crates-io")
            .or_insert_with(|| Item::Table(Table::new()))
            .as_table_like_mut()
            .ok_or_else(|| anyhow!("[patch.crates-io] in Cargo.toml is not a table"))?;
        registry.insert(
            "tokio",
            Item::Value(Value::InlineTable(path_table(&targets.vendor_tokio))),
        );
    }
    if !depended {
        let table = if has_package {
            doc.entry("dependencies")
        } else {
            notes.push(format!(
                "this is a virtual workspace: {PULSE_RT} went into [workspace.dependencies]; \
                 add `{PULSE_RT} = {{ workspace = true }}` to the member that should \
                 export the counters (the counters themselves need no code change)"
            ));
            doc.entry("workspace")
                .or_insert_with(|| Item::Table(Table::new()))
                .as_table_mut()
                .ok_or_else(|| anyhow!("[workspace] in Cargo.toml is not a table"))?
                .entry("dependencies")
        }
        .or_insert_with(|| Item::Table(Table::new()))
        .as_table_mut()
        .ok_or_else(|| anyhow!("the dependencies entry in Cargo.toml is not a table"))?;
        insert_path_dependency(table, PULSE_RT, &targets.pulse_rt);
    }
    Ok(Edit::Changed {
        text: doc.to_string(),
        notes,
    })
}

/// Removes the swap's two entries from a manifest's text, keeping everything
/// else; used by [`undo`](super::undo) when the manifest was edited after the swap.
///
/// # Examples
///
/// ```
/// use xtask::swap::manifest::{edit_manifest, remove_entries, Edit, Targets};
///
/// let targets = Targets::new("/pulse".as_ref()).unwrap();
/// let app = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n";
/// let Edit::Changed { text, .. } = edit_manifest(app, &targets).unwrap() else { panic!() };
/// let back = remove_entries(&text, &targets).unwrap();
/// assert!(!back.contains("patch") && !back.contains("tokio-pulse-rt"));
/// ```
pub fn remove_entries(text: &str, targets: &Targets) -> Result<String> {
    let mut doc: DocumentMut = text.parse().context("Cargo.toml is not valid TOML")?;
    if let Some(patch) = doc.get_mut("patch").and_then(Item::as_table_like_mut) {
        if let Some(registry) = patch.get_mut("crates-io").and_then(Item::as_table_like_mut) {
            let ours = registry
                .get("tokio")
                .and_then(|e| field(e, "path"))
                .and_then(Value::as_str)
                == Some(targets.vendor_tokio.as_str());
            if ours {
                registry.remove("tokio");
            }
            if registry.is_empty() {
                patch.remove("crates-io");
            }
        }
        if patch.is_empty() {
            doc.remove("patch");
        }
    }
    let remove_ours = |deps: Option<&mut Item>| {
        if let Some(deps) = deps.and_then(Item::as_table_like_mut) {
            let ours = deps
                .get(PULSE_RT)
                .and_then(|e| field(e, "path"))
                .and_then(Value::as_str)
                == Some(targets.pulse_rt.as_str());
            if ours {
                deps.remove(PULSE_RT);
            }
        }
    };
    remove_ours(doc.get_mut("dependencies"));
    remove_ours(
        doc.get_mut("workspace")
            .and_then(|w| w.get_mut("dependencies")),
    );
    Ok(doc.to_string())
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn targets() -> Targets {
        Targets::new("/pulse".as_ref()).unwrap()
    }

    fn changed(text: &str) -> (String, Vec<String>) {
        match edit_manifest(text, &targets()).unwrap() {
            Edit::Changed { text, notes } => (text, notes),
            Edit::Unchanged => panic!("expected a change for:\n{text}"),
        }
    }

    fn refused(text: &str) -> String {
        format!("{:#}", edit_manifest(text, &targets()).unwrap_err())
    }

    /// A small app's manifest, with comments and odd spacing to keep.
    pub(in crate::swap) const APP: &str = "# my app\n[package]\nname = \"app\"   # the name\nversion = \"0.1.0\"\n\n\
                       [dependencies]\nserde = \"1\"\ntokio = { version = \"1.40\", features = [\"full\"] }\n";

    #[test]
    fn adds_both_entries_and_keeps_the_rest_byte_for_byte() {
        let (text, notes) = changed(APP);
        assert!(notes.is_empty(), "{notes:?}");
        assert!(
            text.starts_with(APP),
            "the original text must stay as it was:\n{text}"
        );
        assert_eq!(
            &text[APP.len()..],
            "tokio-pulse-rt = { path = \"/pulse/tokio-pulse-rt\" }\n\n\
             [patch.crates-io]\ntokio = { path = \"/pulse/vendor/tokio\" }\n"
        );
    }

    #[test]
    fn is_idempotent() {
        let (once, _) = changed(APP);
        assert_eq!(edit_manifest(&once, &targets()).unwrap(), Edit::Unchanged);
    }

    #[test]
    fn follows_the_sub_table_style_of_published_manifests() {
        let published = "[package]\nname = \"app\"\nversion = \"0.1.0\"\n\
                         [dependencies.bytes]\nversion = \"1\"\n\n\
                         [dependencies.tokio]\nversion = \"1\"\nfeatures = [\"full\"]\n\
                         [dev-dependencies.tokio]\nversion = \"1\"\n";
        let (text, _) = changed(published);
        // The new sub-table goes next to its siblings; nothing else moves.
        assert_eq!(remove_entries(&text, &targets()).unwrap(), published);
        assert!(
            text.contains("[dependencies.tokio-pulse-rt]\npath = \"/pulse/tokio-pulse-rt\"\n"),
            "{text}"
        );
        assert!(
            text.contains("[patch.crates-io]\ntokio = { path = \"/pulse/vendor/tokio\" }\n"),
            "{text}"
        );
        let doc: DocumentMut = text.parse().unwrap();
        assert_eq!(
            doc["dependencies"]["tokio-pulse-rt"]["path"].as_str(),
            Some("/pulse/tokio-pulse-rt")
        );
        assert_eq!(edit_manifest(&text, &targets()).unwrap(), Edit::Unchanged);
    }

    #[test]
    fn adds_to_an_existing_patch_table() {
        let text = format!("{APP}\n[patch.crates-io]\nserde = {{ path = \"../serde\" }}\n");
        let (edited, _) = changed(&text);
        let doc: DocumentMut = edited.parse().unwrap();
        let patch = &doc["patch"]["crates-io"];
        assert_eq!(patch["serde"]["path"].as_str(), Some("../serde"));
        assert_eq!(patch["tokio"]["path"].as_str(), Some("/pulse/vendor/tokio"));
    }

    #[test]
    fn checks_every_tokio_requirement_against_the_fork() {
        for ok in ["1", "1.54", "^1.54.1", "~1.54", ">=1.38, <2", "=1.54.1"] {
            let text = format!(
                "[package]\nname = \"a\"\nversion = \"0.1.0\"\n[dependencies]\ntokio = \"{ok}\"\n"
            );
            changed(&text);
        }
        for bad in ["1.60", "=1.40.0", "0.2", "~1.53"] {
            let text = format!("[package]\nname = \"a\"\nversion = \"0.1.0\"\n[dev-dependencies]\ntokio = \"{bad}\"\n");
            let err = refused(&text);
            assert!(
                err.contains(&format!(
                    "[dev-dependencies] tokio = \"{bad}\" does not accept 1.54.1"
                )),
                "{err}"
            );
            assert!(err.contains("for example \"1\""), "{err}");
        }
        let renamed = "[package]\nname = \"a\"\nversion = \"0.1.0\"\n\
                       [target.'cfg(unix)'.dependencies]\nrt = { package = \"tokio\", version = \"1.70\" }\n";
        assert!(refused(renamed).contains("[target.'cfg(unix)'.dependencies] rt"));
        let garbage =
            "[package]\nname = \"a\"\nversion = \"0.1.0\"\n[dependencies]\ntokio = \"one\"\n";
        assert!(refused(garbage).contains("not a valid version requirement"));
    }

    #[test]
    fn refuses_tokio_from_a_path_or_git() {
        let git = "[package]\nname = \"a\"\nversion = \"0.1.0\"\n[dependencies]\n\
                   tokio = { git = \"https://example.invalid/tokio\" }\n";
        assert!(refused(git).contains("comes from a git, not the registry"));
        let path = "[package]\nname = \"a\"\nversion = \"0.1.0\"\n[dependencies]\ntokio = { path = \"../tokio\" }\n";
        assert!(refused(path).contains("comes from a path"));
    }

    #[test]
    fn refuses_a_project_that_already_patches_tokio() {
        let other = format!("{APP}[patch.crates-io]\ntokio = {{ path = \"/elsewhere/tokio\" }}\n");
        let err = refused(&other);
        assert!(
            err.contains("already patches tokio in [patch.crates-io]"),
            "{err}"
        );
        assert!(err.contains("/elsewhere/tokio"), "{err}");
        let git =
            format!("{APP}[patch.'https://example.invalid/tokio']\ntokio = {{ path = \"t\" }}\n");
        assert!(refused(&git).contains("[patch.https://example.invalid/tokio]"));
        let replace = format!("{APP}[replace]\n\"tokio:1.40.0\" = {{ path = \"t\" }}\n");
        assert!(refused(&replace).contains("[replace]"));
        let rt = format!("{APP}tokio-pulse-rt = \"0.1\"\n");
        assert!(refused(&rt).contains("already depends on tokio-pulse-rt"));
    }

    #[test]
    fn puts_the_dependency_into_workspace_dependencies_of_a_virtual_manifest() {
        let (text, notes) = changed("[workspace]\nmembers = [\"a\"]\n");
        let doc: DocumentMut = text.parse().unwrap();
        assert_eq!(
            doc["workspace"]["dependencies"]["tokio-pulse-rt"]["path"].as_str(),
            Some("/pulse/tokio-pulse-rt")
        );
        assert!(
            notes.iter().any(|n| n.contains("virtual workspace")),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("no direct tokio dependency")),
            "{notes:?}"
        );
    }

    #[test]
    fn refuses_what_is_not_a_manifest() {
        assert!(refused("[lib]\nname = \"x\"\n").contains("neither [package] nor [workspace]"));
        assert!(refused("[package\n").contains("not valid TOML"));
    }

    #[test]
    fn remove_entries_takes_out_only_the_swap() {
        let (text, _) = changed(APP);
        let edited = text.replace("serde = \"1\"", "serde = \"1.0.200\"");
        let back = remove_entries(&edited, &targets()).unwrap();
        assert_eq!(
            back.trim_end(),
            APP.replace("serde = \"1\"", "serde = \"1.0.200\"")
                .trim_end()
        );
    }
}
