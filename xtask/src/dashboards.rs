//! The Prometheus rules in `dashboards/`, checked with the real `promtool`:
//!
//! 1. `promtool check rules dashboards/tokio-pulse.rules.yml`: the file
//!    parses, every expression is valid PromQL, every template renders.
//! 2. `promtool test rules dashboards/tests/*.yml`: the unit tests on
//!    synthetic series (each alert firing and not firing, each recording
//!    rule's value).
//!
//! Without `promtool` (Debian package `prometheus`) this fails under
//! `CI=true`, and elsewhere prints `SKIPPED` and reports a named skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};

use crate::process::stream;
use crate::steps::{Outcome, Skip};
use crate::Paths;

/// The rules file, relative to the repository root.
pub const RULES: &str = "dashboards/tokio-pulse.rules.yml";

/// The directory of `promtool test rules` files, relative to the root.
pub const RULE_TESTS: &str = "dashboards/tests";

/// Runs `promtool check rules` and `promtool test rules` (see the module
/// docs).
pub fn check_rules(paths: &Paths) -> Result<Outcome> {
    let rules = paths.root.join(RULES);
    if !rules.is_file() {
        bail!("{} is missing", rules.display());
    }
    let tests = rule_tests(&paths.root.join(RULE_TESTS))?;
    if !promtool_present() {
        if std::env::var("CI").as_deref() == Ok("true") {
            bail!("promtool is not installed and CI=true needs it (apt-get install prometheus)");
        }
        eprintln!(
            "SKIPPED: promtool is not installed (apt-get install prometheus); \
             {RULES} was not checked"
        );
        return Ok(Outcome::Skipped(Skip::new(
            "promtool rules",
            "install prometheus",
        )));
    }
    let mut check = Command::new("promtool");
    check
        .args(["check", "rules"])
        .arg(&rules)
        .current_dir(&paths.root);
    stream(check)?;
    let mut test = Command::new("promtool");
    test.args(["test", "rules"])
        .args(&tests)
        .current_dir(&paths.root);
    stream(test)?;
    Ok(Outcome::passed())
}

/// The `*.yml` files directly in `dir`, sorted; an error naming `dir` if it
/// cannot be read or holds none.
pub fn rule_tests(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries =
        std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read {}", dir.display()))?
            .path();
        if path.is_file() && path.extension().is_some_and(|ext| ext == "yml") {
            files.push(path);
        }
    }
    if files.is_empty() {
        bail!("{} holds no promtool rule tests (*.yml)", dir.display());
    }
    files.sort();
    Ok(files)
}

fn promtool_present() -> bool {
    Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_tests_are_the_yml_files_sorted() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.yml", "a.yml", "notes.md", "c.yaml"] {
            std::fs::write(dir.path().join(name), "").unwrap();
        }
        let files = rule_tests(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap())
            .collect();
        assert_eq!(names, ["a.yml", "b.yml"]);
    }

    #[test]
    fn no_rule_tests_is_an_error_naming_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        let err = rule_tests(dir.path()).unwrap_err().to_string();
        assert!(err.contains(&dir.path().display().to_string()), "{err}");
        let missing = dir.path().join("missing");
        let err = rule_tests(&missing).unwrap_err().to_string();
        assert!(err.contains("missing"), "{err}");
    }

    #[test]
    fn the_repository_has_rule_tests() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        assert!(root.join(RULES).is_file());
        assert!(!rule_tests(&root.join(RULE_TESTS)).unwrap().is_empty());
    }

    /// The step itself, on the repository's rules (a visible skip without
    /// promtool, outside CI).
    #[test]
    fn the_rules_pass_promtool() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        check_rules(&Paths::new(root)).unwrap();
    }
}
