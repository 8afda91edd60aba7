//! A manifest's direct tokio dependencies and the bases of the fork their
//! requirements accept: [`pick_base`] picks one for `cargo xtask swap`
//! without `--tokio`, and the swap's edit checks its base with
//! `check_tokio_requirements`. Pure functions of the manifest, like
//! [`super::manifest`].

use anyhow::{bail, Context, Result};
use toml_edit::{DocumentMut, Item, Table, Value};

use super::manifest::field;
use crate::BASES;

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

/// The manifest's direct tokio dependencies, renamed ones included, in every
/// dependency table (see [`dependency_tables`]): the table's TOML path, the
/// entry's key and the entry.
fn tokio_dependencies(doc: &DocumentMut) -> impl Iterator<Item = (String, &str, &Item)> {
    dependency_tables(doc)
        .into_iter()
        .flat_map(|(section, table)| {
            table.iter().filter_map(move |(key, item)| {
                let package = field(item, "package")
                    .and_then(Value::as_str)
                    .unwrap_or(key);
                (package == "tokio").then(|| (section.clone(), key, item))
            })
        })
}

/// A dependency's version requirement: the entry itself when it is a
/// string, else its `version` field.
fn requirement(item: &Item) -> Option<&str> {
    match item {
        Item::Value(Value::String(s)) => Some(s.value().as_str()),
        _ => field(item, "version").and_then(Value::as_str),
    }
}

/// Checks every direct tokio dependency: from the registry, with a
/// requirement that accepts the fork's version. Returns how many there are.
pub(super) fn check_tokio_requirements(doc: &DocumentMut, base: &str) -> Result<usize> {
    let fork = semver::Version::parse(base).context("parsing the fork's version")?;
    let mut found = 0;
    for (section, key, item) in tokio_dependencies(doc) {
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
        let Some(req) = requirement(item) else {
            bail!("{shown} has no version requirement; give it one (for example \"1\")");
        };
        let parsed = semver::VersionReq::parse(req)
            .with_context(|| format!("{shown} = \"{req}\" is not a valid version requirement"))?;
        if !parsed.matches(&fork) {
            bail!(
                "{shown} = \"{req}\" does not accept {base}, the Tokio release \
                 of this base of the fork, so cargo would not use the patch. Change the \
                 requirement to one that accepts it (for example \"1\"), or pick \
                 another base with --tokio (supported: {}); if the project needs a \
                 newer Tokio, it cannot run on this fork until the fork moves to that \
                 release.",
                crate::bases_list()
            );
        }
    }
    Ok(found)
}

/// The newest supported base that every direct tokio requirement of the
/// manifest `text` accepts (the default base when it has none). Refuses,
/// listing the supported bases, when none fits.
///
/// ```
/// use xtask::swap::base::pick_base;
/// let app = |req: &str| format!("[package]\nname = \"a\"\n[dependencies]\ntokio = \"{req}\"\n");
/// assert_eq!(pick_base(&app("1")).unwrap(), "1.54.1");
/// assert_eq!(pick_base(&app("~1.53")).unwrap(), "1.53.3");
/// assert!(pick_base(&app("1.60")).is_err());
/// ```
pub fn pick_base(text: &str) -> Result<&'static str> {
    let doc: DocumentMut = text.parse().context("Cargo.toml is not valid TOML")?;
    let mut reqs = Vec::new();
    for (section, key, item) in tokio_dependencies(&doc) {
        if let Some(req) = requirement(item) {
            let parsed = semver::VersionReq::parse(req).with_context(|| {
                format!("[{section}] {key} = \"{req}\" is not a valid version requirement")
            })?;
            reqs.push((format!("[{section}] {key} = \"{req}\""), parsed));
        }
    }
    for base in BASES {
        let version = semver::Version::parse(base).context("parsing a base's version")?;
        if reqs.iter().all(|(_, r)| r.matches(&version)) {
            return Ok(base);
        }
    }
    let shown: Vec<&str> = reqs.iter().map(|(s, _)| s.as_str()).collect();
    bail!(
        "no supported base of the fork is accepted by {}; supported: {}",
        shown.join(", "),
        crate::bases_list()
    )
}

#[cfg(test)]
mod tests {
    use super::pick_base;

    #[test]
    fn every_tokio_dependency_table_constrains_the_base() {
        let renamed = "[package]\nname = \"a\"\n[dependencies]\ntokio = \"1\"\n\
                       [target.'cfg(unix)'.dev-dependencies]\nrt = { package = \"tokio\", version = \"~1.53\" }\n";
        assert_eq!(pick_base(renamed).unwrap(), "1.53.3");
        let err = format!(
            "{:#}",
            pick_base("[workspace.dependencies]\ntokio = \"1.60\"\n").unwrap_err()
        );
        assert!(
            err.contains("accepted by [workspace.dependencies] tokio = \"1.60\""),
            "{err}"
        );
        let inherited = "[package]\nname = \"a\"\n[dependencies]\ntokio = { workspace = true }\n";
        assert_eq!(pick_base(inherited).unwrap(), "1.54.1");
    }
}
