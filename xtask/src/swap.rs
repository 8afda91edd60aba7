//! `cargo xtask swap PATH`: run an existing cargo project on the fork.
//!
//! Protocol of [`swap`]:
//!
//! 1. Make sure `vendor/tokio` is current ([`ensure_fork`]).
//! 2. Check `PATH`: it holds a `Cargo.toml`, and it is its own workspace root
//!    (`cargo metadata --no-deps`); a member is refused with the root's path,
//!    because `[patch]` only takes effect in the root manifest.
//! 3. Edit the manifest with `toml_edit`, which keeps its formatting and
//!    comments ([`edit_manifest`]):
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

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

use crate::cargo::cargo_cmd;
use crate::fork::ensure_fork;
use crate::process;
use crate::{Paths, TOKIO_VERSION};

/// Suffix of the backup files next to `Cargo.toml` and `Cargo.lock`.
pub const BACKUP_SUFFIX: &str = ".pulse-backup";

/// Suffix of the marker next to `Cargo.lock` that records that the project
/// had no lock file before the swap.
pub const NO_LOCK_SUFFIX: &str = ".pulse-none";

/// Suffix under which `--undo` keeps the pre-swap manifest when the manifest
/// was edited after the swap (so it cannot simply be restored).
pub const ORIGINAL_SUFFIX: &str = ".pulse-original";

/// The crate that the swap adds as a dependency.
pub const PULSE_RT: &str = "tokio-pulse-rt";

/// Where the swapped project's entries point: absolute paths into this
/// checkout.
///
/// # Examples
///
/// ```
/// let targets = xtask::swap::Targets::new("/src/tokio-pulse".as_ref()).unwrap();
/// assert_eq!(targets.vendor_tokio, "/src/tokio-pulse/vendor/tokio");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    /// `<checkout>/vendor/tokio`.
    pub vendor_tokio: String,
    /// `<checkout>/tokio-pulse-rt`.
    pub pulse_rt: String,
}

impl Targets {
    /// The targets for the checkout at `root` (an absolute path).
    pub fn new(root: &Path) -> Result<Targets> {
        let text = |p: PathBuf| {
            p.to_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("the path {} is not valid UTF-8", p.display()))
        };
        Ok(Targets {
            vendor_tokio: text(root.join("vendor").join("tokio"))?,
            pulse_rt: text(root.join(PULSE_RT))?,
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

/// The dependency tables of a manifest, by their TOML path.
fn dependency_tables(doc: &DocumentMut) -> Vec<(String, &Table)> {
    const KINDS: [&str; 3] = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut tables = Vec::new();
    for kind in KINDS {
        if let Some(t) = doc.get(kind).and_then(Item::as_table) {
            tables.push((kind.to_owned(), t));
        }
    }
    if let Some(targets) = doc.get("target").and_then(Item::as_table) {
        for (cfg, item) in targets.iter() {
            for kind in KINDS {
                if let Some(t) = item.get(kind).and_then(Item::as_table) {
                    tables.push((format!("target.'{cfg}'.{kind}"), t));
                }
            }
        }
    }
    if let Some(t) = doc
        .get("workspace")
        .and_then(|w| w.get("dependencies"))
        .and_then(Item::as_table)
    {
        tables.push(("workspace.dependencies".to_owned(), t));
    }
    tables
}

/// A string field of a dependency given as an inline or a full table.
fn field<'a>(item: &'a Item, key: &str) -> Option<&'a Value> {
    match item {
        Item::Value(Value::InlineTable(t)) => t.get(key),
        Item::Table(t) => t.get(key).and_then(Item::as_value),
        _ => None,
    }
}

/// Checks every direct tokio dependency: from the registry, with a
/// requirement that accepts the fork's version. Returns how many there are.
fn check_tokio_requirements(doc: &DocumentMut) -> Result<usize> {
    let fork = semver::Version::parse(TOKIO_VERSION).context("parsing the fork's version")?;
    let mut found = 0;
    for (section, table) in dependency_tables(doc) {
        for (key, item) in table.iter() {
            let package = field(item, "package")
                .and_then(Value::as_str)
                .unwrap_or(key);
            if package != "tokio" {
                continue;
            }
            found += 1;
            let shown = format!("[{section}] {key}");
            if field(item, "workspace").and_then(Value::as_bool) == Some(true) {
                continue; // checked where [workspace.dependencies] declares it
            }
            for source in ["path", "git"] {
                if field(item, source).is_some() {
                    bail!(
                        "{shown} comes from a {source}, not the registry, so \
                         `[patch.crates-io]` would not apply to it. Point it at the \
                         registry first (for example `tokio = \"1\"`), then swap."
                    );
                }
            }
            let req = match item {
                Item::Value(Value::String(s)) => Some(s.value().as_str()),
                _ => field(item, "version").and_then(Value::as_str),
            };
            let Some(req) = req else {
                bail!("{shown} has no version requirement; give it one (for example \"1\")");
            };
            let parsed = semver::VersionReq::parse(req).with_context(|| {
                format!("{shown} = \"{req}\" is not a valid version requirement")
            })?;
            if !parsed.matches(&fork) {
                bail!(
                    "{shown} = \"{req}\" does not accept {TOKIO_VERSION}, the Tokio release \
                     the fork is built on, so cargo would not use the patch. Change the \
                     requirement to one that accepts it (for example \"1\" or \"1.54\"); \
                     if the project needs a newer Tokio, it cannot run on this fork until \
                     the fork moves to that release."
                );
            }
        }
    }
    Ok(found)
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

/// Edits a manifest's text for the swap; see the module docs. Pure: no file
/// system access, so it can be tested on strings.
///
/// # Examples
///
/// ```
/// use xtask::swap::{edit_manifest, Edit, Targets};
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
    let tokio_deps = check_tokio_requirements(&doc)?;
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
             {TOKIO_VERSION} (cargo warns \"patch `tokio` was not used\" otherwise)"
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
/// else; used by [`undo`] when the manifest was edited after the swap.
///
/// # Examples
///
/// ```
/// use xtask::swap::{edit_manifest, remove_entries, Edit, Targets};
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

/// `cargo xtask swap PATH`: see the module docs.
pub fn swap(paths: &Paths, project: &Path) -> Result<()> {
    ensure_fork(paths, false)?;
    swap_manifest(paths, project)
}

/// [`swap`] without making sure of the fork first.
pub fn swap_manifest(paths: &Paths, project: &Path) -> Result<()> {
    let dir = project_dir(project)?;
    require_workspace_root(&dir)?;
    require_no_config_patch(&dir)?;
    let targets = Targets::new(&paths.root.canonicalize()?)?;
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
    let targets = Targets::new(&paths.root.canonicalize()?)?;
    let current =
        fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
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

/// The published application that [`third_party`] swaps onto the fork:
/// Tokio's own teaching server.
pub const APP: (&str, &str) = ("mini-redis", "0.4.1");

/// A program written into the copy of the app: it runs the app's server
/// in-process (mini-redis is a library too) on a multi-thread runtime, drives
/// it from a separate runtime with the app's own client, and prints what the
/// server runtime's probes counted as `pulse-probe: key=value ...`.
const PROBE_PROGRAM: &str = r#"//! Written by `cargo xtask swap-test`. Runs mini-redis's server on the
//! swapped-in fork, loads it with mini-redis's client from another runtime,
//! and prints what the server runtime's probes counted.
use std::time::Instant;

const CLIENTS: usize = 8;
const ROUNDS: usize = 250;

fn main() -> mini_redis::Result<()> {
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let probes = tokio_pulse_rt::probes(server_rt.handle());
    let listener = server_rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let before = probes.snapshot();
    let server = server_rt.spawn(mini_redis::server::run(listener, async move {
        let _ = stop_rx.await;
    }));

    let client_rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let start = Instant::now();
    let answered: usize = client_rt.block_on(async move {
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            clients.push(tokio::spawn(async move {
                let mut client = mini_redis::client::connect(addr).await?;
                let mut right = 0usize;
                for i in 0..ROUNDS {
                    let key = format!("key-{}-{}", c, i);
                    let value = format!("value-{}", i);
                    client.set(&key, value.clone().into()).await?;
                    if client.get(&key).await?.as_deref() == Some(value.as_bytes()) {
                        right += 1;
                    }
                }
                Ok::<usize, mini_redis::Error>(right)
            }));
        }
        let mut right = 0;
        for client in clients {
            right += client.await??;
        }
        Ok::<usize, mini_redis::Error>(right)
    })?;
    let elapsed = start.elapsed();
    let _ = stop_tx.send(());
    server_rt.block_on(server)??;
    let change = probes.snapshot().delta(&before);
    let spawns_local: u64 = change.workers.iter().map(|w| w.spawns_local).sum();
    println!("{}", tokio_pulse_rt::report::WorkerTable::new(&change));
    println!(
        "pulse-probe: commands={} answered={} seconds={:.3} spawns_local={} spawns_remote={} polls={} wakes_remote={}",
        2 * CLIENTS * ROUNDS,
        answered,
        elapsed.as_secs_f64(),
        spawns_local,
        change.spawns_remote,
        change.polls(),
        change.wakes_remote,
    );
    Ok(())
}
"#;

/// Copies the directory tree `from` into `to` (which must not exist).
fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type()?.is_dir() {
            copy_dir(&src, &dst)?;
        } else {
            fs::copy(&src, &dst).with_context(|| format!("copying {}", src.display()))?;
        }
    }
    Ok(())
}

/// Gets the published app's source through cargo (a throwaway manifest and
/// `cargo fetch`, as for the pristine Tokio) and returns its directory in
/// cargo's registry sources.
fn fetch_app(scratch: &Path) -> Result<PathBuf> {
    let (name, version) = APP;
    let fetch = scratch.join("fetch");
    fs::create_dir_all(fetch.join("src"))?;
    fs::write(
        fetch.join("Cargo.toml"),
        format!(
            "# Written by `cargo xtask swap-test` to fetch {name}. Not part of the build.\n\
             [package]\nname = \"pulse-fetch-app\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[workspace]\n\n[dependencies]\n{name} = \"={version}\"\n"
        ),
    )?;
    fs::write(fetch.join("src").join("lib.rs"), "")?;
    let mut cmd = cargo_cmd();
    cmd.args(["fetch", "--quiet"]).current_dir(&fetch);
    process::stream(cmd).with_context(|| format!("cargo could not fetch {name} {version}"))?;
    let mut cmd = cargo_cmd();
    cmd.args(["metadata", "--format-version", "1"])
        .current_dir(&fetch);
    let meta: serde_json::Value = serde_json::from_str(&process::output(cmd)?)?;
    let manifest = meta["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name && p["version"] == version)
        .and_then(|p| p["manifest_path"].as_str())
        .ok_or_else(|| anyhow!("cargo metadata does not list {name} {version}"))?;
    Path::new(manifest)
        .parent()
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("{manifest} has no parent directory"))
}

/// Parses the `pulse-probe: key=value ...` line of the probe program.
fn probe_line(stdout: &str) -> Result<std::collections::BTreeMap<String, f64>> {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("pulse-probe: "))
        .ok_or_else(|| anyhow!("the probe program printed no `pulse-probe:` line:\n{stdout}"))?;
    line.split_whitespace()
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| anyhow!("bad pair {pair:?} in {line:?}"))?;
            let v: f64 = v
                .parse()
                .with_context(|| format!("bad value in {pair:?}"))?;
            Ok((k.to_owned(), v))
        })
        .collect()
}

/// Runs `program`, killing it after `limit`; returns its stdout.
fn run_bounded(program: &Path, limit: std::time::Duration) -> Result<String> {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(program)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{} did not finish within {limit:?}", program.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out)?;
    }
    if !status.success() {
        bail!("{} failed ({status}):\n{out}", program.display());
    }
    Ok(out)
}

/// `cargo xtask swap-test`: the swap on real code we did not write.
///
/// 1. Fetch [`APP`] through cargo and copy its source into
///    a directory under the system's temporary directory (removed on
///    success; the build cache stays in `target/pulse/swap-test/target`),
///    adding one file, `examples/pulse_probe.rs`
///    ([`PROBE_PROGRAM`]).
/// 2. `swap` it (twice: the second must change nothing), build the app's own
///    server binary and the probe program against the fork.
/// 3. Run the probe program (bounded to a minute): the app's server on a
///    loopback port under load from the app's client. Every answer must be
///    right, the server runtime must have counted spawns from its workers (a
///    task per connection) and at least one poll per spawned task (all of
///    them ran to completion).
/// 4. `swap --undo`; `Cargo.toml` and `Cargo.lock` must be byte-identical to
///    the originals.
pub fn third_party(paths: &Paths) -> Result<()> {
    use std::time::{Duration, Instant};
    ensure_fork(paths, false)?;
    let scratch = paths.scratch().join("swap-test");
    let source = fetch_app(&scratch)?;
    // Outside this checkout: under target/ cargo would take the copy for a
    // member of our workspace.
    let app = std::env::temp_dir()
        .join("tokio-pulse-swap-test")
        .join("app");
    crate::fs::remove_dir_if_exists(&app)?;
    copy_dir(&source, &app)?;
    fs::create_dir_all(app.join("examples"))?;
    fs::write(app.join("examples").join("pulse_probe.rs"), PROBE_PROGRAM)?;
    let manifest = app.join("Cargo.toml");
    let lock = app.join("Cargo.lock");
    let original_manifest = fs::read(&manifest)?;
    let original_lock = fs::read(&lock).ok();
    println!("swap-test: {} {} copied to {}", APP.0, APP.1, app.display());

    swap_manifest(paths, &app)?;
    let swapped = fs::read(&manifest)?;
    swap_manifest(paths, &app)?;
    if fs::read(&manifest)? != swapped {
        bail!(
            "a second swap changed {}: not idempotent",
            manifest.display()
        );
    }

    let target = scratch.join("target");
    let started = Instant::now();
    let mut build = cargo_cmd();
    build
        .args([
            "build",
            "--quiet",
            "--bin",
            "mini-redis-server",
            "--example",
            "pulse_probe",
        ])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(&app);
    process::stream(build).context("the swapped app does not build on the fork")?;
    println!(
        "swap-test: built the app's server and the probe program on the fork in {:.1?}",
        started.elapsed()
    );
    let out = run_bounded(
        &target.join("debug").join("examples").join("pulse_probe"),
        Duration::from_secs(60),
    )?;
    print!("{out}");
    let seen = probe_line(&out)?;
    let get = |k: &str| seen.get(k).copied().unwrap_or(-1.0);
    let commands = get("commands");
    if commands <= 0.0 || get("answered") != commands / 2.0 {
        bail!(
            "the app answered {} of {} GETs right",
            get("answered"),
            commands / 2.0
        );
    }
    if get("spawns_local") < 8.0 {
        bail!(
            "the probes counted {} local spawns; the server spawns one task per \
             connection from its accept loop, 8 at least",
            get("spawns_local")
        );
    }
    let spawns = get("spawns_local") + get("spawns_remote");
    if get("polls") < spawns {
        bail!(
            "the probes counted {} polls for {spawns} spawns; every spawned task ran to \
             completion, so each was polled at least once",
            get("polls")
        );
    }

    undo(paths, &app)?;
    if fs::read(&manifest)? != original_manifest {
        bail!(
            "after --undo, {} differs from the original",
            manifest.display()
        );
    }
    if fs::read(&lock).ok() != original_lock {
        bail!("after --undo, {} differs from the original", lock.display());
    }
    for left in [
        backup_of(&manifest),
        backup_of(&lock),
        no_lock_marker(&lock),
    ] {
        if fs::symlink_metadata(&left).is_ok() {
            bail!("after --undo, {} is still there", left.display());
        }
    }
    println!(
        "swap-test: passed; after --undo, Cargo.toml and Cargo.lock are byte-identical to the originals"
    );
    crate::fs::remove_dir_if_exists(&app)?;
    Ok(())
}

#[cfg(test)]
mod tests {
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

    const APP: &str = "# my app\n[package]\nname = \"app\"   # the name\nversion = \"0.1.0\"\n\n\
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

    fn project(dir: &Path, manifest: &str) {
        fs::create_dir_all(dir.join("src")).unwrap();
        fs::write(dir.join("Cargo.toml"), manifest).unwrap();
        fs::write(dir.join("src").join("lib.rs"), "").unwrap();
    }

    #[test]
    fn swap_and_undo_on_disk_restore_manifest_and_lock_exactly() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path().join("checkout"));
        fs::create_dir_all(&paths.root).unwrap();
        let app = tmp.path().join("app");
        project(&app, APP);
        fs::write(app.join("Cargo.lock"), "# lock before\n").unwrap();

        swap_manifest(&paths, &app).unwrap();
        let swapped = fs::read_to_string(app.join("Cargo.toml")).unwrap();
        let root = paths.root.canonicalize().unwrap();
        assert!(swapped.contains(&format!("{}", root.join("vendor/tokio").display())));
        assert_eq!(
            fs::read_to_string(app.join("Cargo.toml.pulse-backup")).unwrap(),
            APP
        );
        // A second swap changes nothing (and does not overwrite the backup).
        swap_manifest(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), swapped);
        // A build on the fork rewrites the lock file.
        fs::write(app.join("Cargo.lock"), "# lock after a build on the fork\n").unwrap();

        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), APP);
        assert_eq!(
            fs::read_to_string(app.join("Cargo.lock")).unwrap(),
            "# lock before\n"
        );
        assert!(!app.join("Cargo.toml.pulse-backup").exists());
        assert!(!app.join("Cargo.lock.pulse-backup").exists());
        // Again: nothing to do, and nothing changes.
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), APP);
        assert_eq!(
            fs::read_to_string(app.join("Cargo.lock")).unwrap(),
            "# lock before\n"
        );
    }

    #[test]
    fn undo_removes_a_lock_that_the_swap_build_created_and_keeps_later_edits() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        swap_manifest(&paths, &app).unwrap();
        fs::write(app.join("Cargo.lock"), "# written by a build\n").unwrap();
        let manifest = app.join("Cargo.toml");
        let edited = fs::read_to_string(&manifest)
            .unwrap()
            .replace("# my app", "# my app, edited");
        fs::write(&manifest, &edited).unwrap();

        undo(&paths, &app).unwrap();
        assert!(!app.join("Cargo.lock").exists());
        assert_eq!(
            fs::read_to_string(&manifest).unwrap().trim_end(),
            APP.replace("# my app", "# my app, edited").trim_end()
        );
        // The original is kept, and the swap's own files are gone.
        assert_eq!(
            fs::read_to_string(app.join("Cargo.toml.pulse-original")).unwrap(),
            APP
        );
        assert!(!app.join("Cargo.toml.pulse-backup").exists());
        assert!(!app.join("Cargo.lock.pulse-none").exists());
        // A lock written after the undo is the user's: a second undo keeps it.
        fs::write(app.join("Cargo.lock"), "# a build on stock tokio\n").unwrap();
        undo(&paths, &app).unwrap();
        assert!(app.join("Cargo.lock").exists());
    }

    #[test]
    fn undo_after_an_edit_keeps_the_lock_and_a_second_undo_and_a_new_swap_work() {
        // The issue's path: swap, edit, undo (backup kept), swap, undo, undo.
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        let (manifest, lock) = (app.join("Cargo.toml"), app.join("Cargo.lock"));
        fs::write(&lock, "# the user's lock\n").unwrap();

        swap_manifest(&paths, &app).unwrap();
        fs::write(&lock, "# written by a build on the fork\n").unwrap();
        let edited = fs::read_to_string(&manifest)
            .unwrap()
            .replace("serde = \"1\"", "serde = \"1.0.200\"");
        fs::write(&manifest, &edited).unwrap();
        let kept = APP.replace("serde = \"1\"", "serde = \"1.0.200\"");

        undo(&paths, &app).unwrap();
        assert_eq!(
            fs::read_to_string(&manifest).unwrap().trim_end(),
            kept.trim_end()
        );
        assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
        // The original manifest is kept, under a name that does not block a new swap.
        assert_eq!(
            fs::read_to_string(app.join("Cargo.toml.pulse-original")).unwrap(),
            APP
        );

        // A repeated --undo changes nothing and succeeds.
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
        assert_eq!(
            fs::read_to_string(&manifest).unwrap().trim_end(),
            kept.trim_end()
        );

        // A new swap works, and its undo gives back exactly what it started from.
        let before = fs::read_to_string(&manifest).unwrap();
        swap_manifest(&paths, &app).unwrap();
        assert_ne!(fs::read_to_string(&manifest).unwrap(), before);
        fs::write(&lock, "# fork lock again\n").unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), before);
        assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
        // Only the keepsake of the first cycle is left.
        let mut left: Vec<String> = fs::read_dir(&app)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("pulse"))
            .collect();
        left.sort();
        assert_eq!(left, ["Cargo.toml.pulse-original"]);
    }

    /// The files in `dir` whose names mention the swap, sorted.
    fn swap_files(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.contains("pulse"))
            .collect();
        names.sort();
        names
    }

    #[test]
    fn an_interrupted_swap_is_finished_by_swap_or_cleaned_up_by_undo() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        let (manifest, lock) = (app.join("Cargo.toml"), app.join("Cargo.lock"));
        fs::write(&lock, "# the user's lock\n").unwrap();

        // Stopped after the backup, before the lock record and the manifest.
        fs::write(app.join("Cargo.toml.pulse-backup"), APP).unwrap();
        swap_manifest(&paths, &app).unwrap();
        assert_ne!(fs::read_to_string(&manifest).unwrap(), APP);
        fs::write(&lock, "# fork lock\n").unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), APP);
        assert_eq!(fs::read_to_string(&lock).unwrap(), "# the user's lock\n");
        assert!(swap_files(&app).is_empty(), "{:?}", swap_files(&app));

        // Stopped after the backup and the lock record; then the user builds
        // on stock tokio (a new lock) and runs --undo: nothing of theirs goes.
        fs::remove_file(&lock).unwrap();
        fs::write(app.join("Cargo.toml.pulse-backup"), APP).unwrap();
        fs::write(app.join("Cargo.lock.pulse-none"), "").unwrap();
        fs::write(&lock, "# written by a build on stock tokio\n").unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), APP);
        assert_eq!(
            fs::read_to_string(&lock).unwrap(),
            "# written by a build on stock tokio\n"
        );
        assert!(swap_files(&app).is_empty(), "{:?}", swap_files(&app));
        undo(&paths, &app).unwrap();
        assert!(lock.exists());

        // The same state, then swap: it records the lock as it is now.
        fs::write(app.join("Cargo.toml.pulse-backup"), APP).unwrap();
        fs::write(app.join("Cargo.lock.pulse-none"), "").unwrap();
        swap_manifest(&paths, &app).unwrap();
        assert!(!app.join("Cargo.lock.pulse-none").exists());
        fs::write(&lock, "# fork lock\n").unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), APP);
        assert_eq!(
            fs::read_to_string(&lock).unwrap(),
            "# written by a build on stock tokio\n"
        );
        assert!(swap_files(&app).is_empty(), "{:?}", swap_files(&app));
    }

    #[test]
    fn an_interrupted_undo_is_finished_by_undo() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        let (manifest, lock) = (app.join("Cargo.toml"), app.join("Cargo.lock"));
        swap_manifest(&paths, &app).unwrap();
        fs::write(&lock, "# fork lock\n").unwrap();
        // Stopped after the lock step (the lock the build wrote is gone, and
        // so is the record), before the manifest was restored.
        fs::remove_file(&lock).unwrap();
        fs::remove_file(app.join("Cargo.lock.pulse-none")).unwrap();
        fs::write(&lock, "# the user's own lock, made since\n").unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), APP);
        assert_eq!(
            fs::read_to_string(&lock).unwrap(),
            "# the user's own lock, made since\n"
        );
        assert!(swap_files(&app).is_empty(), "{:?}", swap_files(&app));

        // Stopped after the manifest was restored, before the backup went.
        swap_manifest(&paths, &app).unwrap();
        fs::write(&manifest, APP).unwrap();
        fs::remove_file(app.join("Cargo.lock.pulse-backup")).unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), APP);
        assert!(lock.exists());
        assert!(swap_files(&app).is_empty(), "{:?}", swap_files(&app));
    }

    #[test]
    fn swap_twice_undo_twice_and_a_half_undone_manifest() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        let manifest = app.join("Cargo.toml");
        swap_manifest(&paths, &app).unwrap();
        let swapped = fs::read_to_string(&manifest).unwrap();
        swap_manifest(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), swapped);

        // The user takes one entry out by hand: swap refuses and says to
        // undo; undo then works, and so does the next swap.
        let half = remove_entries(&swapped, &targets_for(&paths))
            .unwrap()
            .replace("serde = \"1\"", "serde = \"1.0.1\"");
        let half = edit_manifest(&half, &targets_for(&paths)).unwrap();
        let Edit::Changed { text: half, .. } = half else {
            panic!()
        };
        let doc = half.parse::<DocumentMut>().unwrap();
        let mut doc = doc;
        doc.remove("patch");
        fs::write(&manifest, doc.to_string()).unwrap();
        let err = format!("{:#}", swap_manifest(&paths, &app).unwrap_err());
        assert!(err.contains("cargo xtask swap --undo"), "{err}");
        undo(&paths, &app).unwrap();
        let after = fs::read_to_string(&manifest).unwrap();
        assert!(
            !after.contains("tokio-pulse-rt") && after.contains("1.0.1"),
            "{after}"
        );
        swap_manifest(&paths, &app).unwrap();
        undo(&paths, &app).unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(fs::read_to_string(&manifest).unwrap(), after);
        assert_eq!(swap_files(&app), ["Cargo.toml.pulse-original"]);
        // A second keepsake does not overwrite the first.
        swap_manifest(&paths, &app).unwrap();
        let edited = fs::read_to_string(&manifest).unwrap() + "# more\n";
        fs::write(&manifest, edited).unwrap();
        undo(&paths, &app).unwrap();
        assert_eq!(
            swap_files(&app),
            ["Cargo.toml.pulse-original", "Cargo.toml.pulse-original.2"]
        );
        assert_eq!(
            fs::read_to_string(app.join("Cargo.toml.pulse-original")).unwrap(),
            APP
        );
    }

    fn targets_for(paths: &Paths) -> Targets {
        Targets::new(&paths.root.canonicalize().unwrap()).unwrap()
    }

    #[test]
    fn undo_without_a_backup_removes_only_the_entries_and_never_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        swap_manifest(&paths, &app).unwrap();
        fs::write(app.join("Cargo.lock"), "# fork lock\n").unwrap();
        for f in ["Cargo.toml.pulse-backup", "Cargo.lock.pulse-none"] {
            fs::remove_file(app.join(f)).unwrap();
        }
        undo(&paths, &app).unwrap();
        assert_eq!(
            fs::read_to_string(app.join("Cargo.toml"))
                .unwrap()
                .trim_end(),
            APP.trim_end()
        );
        assert!(app.join("Cargo.lock").exists());
    }

    #[test]
    fn an_unreadable_manifest_stops_undo_before_anything_changes() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        fs::write(app.join("Cargo.lock"), "# the user's lock\n").unwrap();
        swap_manifest(&paths, &app).unwrap();
        fs::write(app.join("Cargo.lock"), "# fork lock\n").unwrap();
        fs::write(app.join("Cargo.toml"), "[package\n").unwrap();
        let err = format!("{:#}", undo(&paths, &app).unwrap_err());
        assert!(err.contains("nothing was changed"), "{err}");
        assert_eq!(
            fs::read_to_string(app.join("Cargo.lock")).unwrap(),
            "# fork lock\n"
        );
        assert_eq!(
            swap_files(&app),
            ["Cargo.lock.pulse-backup", "Cargo.toml.pulse-backup"]
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symlinked_manifest_stays_a_symlink_and_keeps_its_mode() {
        use std::os::unix::fs::{symlink, PermissionsExt};
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let app = tmp.path().join("app");
        project(&app, APP);
        let shared = tmp.path().join("shared.toml");
        fs::rename(app.join("Cargo.toml"), &shared).unwrap();
        fs::set_permissions(&shared, fs::Permissions::from_mode(0o640)).unwrap();
        symlink(&shared, app.join("Cargo.toml")).unwrap();

        let check = |expect_swapped: bool| {
            let link = fs::symlink_metadata(app.join("Cargo.toml")).unwrap();
            assert!(
                link.file_type().is_symlink(),
                "Cargo.toml is no longer a symlink"
            );
            let meta = fs::metadata(&shared).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o640);
            let text = fs::read_to_string(&shared).unwrap();
            assert_eq!(text.contains("tokio-pulse-rt"), expect_swapped, "{text}");
            assert!(!tmp.path().join("shared.toml.pulse-tmp").exists());
        };
        swap_manifest(&paths, &app).unwrap();
        check(true);
        undo(&paths, &app).unwrap();
        check(false);
        assert_eq!(fs::read_to_string(&shared).unwrap(), APP);
        // The edited path (entries removed in place) keeps them too.
        swap_manifest(&paths, &app).unwrap();
        let edited = fs::read_to_string(&shared).unwrap() + "# edited\n";
        fs::write(&shared, edited).unwrap();
        undo(&paths, &app).unwrap();
        check(false);
    }

    #[test]
    fn refuses_a_workspace_member_and_names_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let root = tmp.path().join("ws");
        fs::create_dir_all(&root).unwrap();
        fs::write(
            root.join("Cargo.toml"),
            "[workspace]\nmembers = [\"app\"]\n",
        )
        .unwrap();
        project(&root.join("app"), APP);
        let err = format!(
            "{:#}",
            swap_manifest(&paths, &root.join("app")).unwrap_err()
        );
        let shown = root.canonicalize().unwrap();
        assert!(
            err.contains(&format!("member of the workspace at {}", shown.display())),
            "{err}"
        );
        assert!(
            err.contains(&format!("cargo xtask swap {}", shown.display())),
            "{err}"
        );
        assert!(!root.join("app").join("Cargo.toml.pulse-backup").exists());
        swap_manifest(&paths, &root).unwrap();
    }

    #[test]
    fn refuses_a_directory_without_a_manifest_and_a_config_patch() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let err = format!("{:#}", swap_manifest(&paths, tmp.path()).unwrap_err());
        assert!(err.contains("is not a cargo project"), "{err}");
        let missing = format!(
            "{:#}",
            swap_manifest(&paths, &tmp.path().join("nope")).unwrap_err()
        );
        assert!(missing.contains("does not exist"), "{missing}");

        let app = tmp.path().join("app");
        project(&app, APP);
        fs::create_dir_all(app.join(".cargo")).unwrap();
        fs::write(
            app.join(".cargo").join("config.toml"),
            "[patch.crates-io]\ntokio = { path = \"/x\" }\n",
        )
        .unwrap();
        let err = format!("{:#}", swap_manifest(&paths, &app).unwrap_err());
        assert!(err.contains("config.toml already patches tokio"), "{err}");
        assert_eq!(fs::read_to_string(app.join("Cargo.toml")).unwrap(), APP);
    }

    #[test]
    fn parses_the_probe_line() {
        let seen =
            probe_line("table\npulse-probe: commands=4000 polls=4100 seconds=0.5\n").unwrap();
        assert_eq!(seen["commands"], 4000.0);
        assert_eq!(seen["seconds"], 0.5);
        assert!(probe_line("nothing\n").is_err());
        assert!(probe_line("pulse-probe: polls\n").is_err());
    }
}
