//! The README's table of metric families is generated from the catalog
//! (`export::markdown_table`). This test fails with a diff when the README
//! is stale; `UPDATE_README=1 cargo test -p tokio-pulse-rt --test readme`
//! rewrites the table in place.

use std::path::PathBuf;

/// The header row that starts the table in the README.
const TABLE_START: &str = "| family | type | labels | meaning |";

fn readme_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../README.md")
}

/// The byte range of the family table: from its header row to the end of
/// its last row, in the "Metric families" section.
fn table_range(readme: &str) -> std::ops::Range<usize> {
    let section = readme
        .find("### Metric families")
        .expect("README.md has a \"### Metric families\" section");
    let start = section
        + readme[section..]
            .find(TABLE_START)
            .expect("the \"Metric families\" section has the family table");
    let mut end = start;
    for line in readme[start..].split_inclusive('\n') {
        if !line.starts_with('|') {
            break;
        }
        end += line.len();
    }
    start..end
}

/// A line diff of `old` and `new` (longest common subsequence), `-` for
/// lines only in `old`, `+` for lines only in `new`.
fn diff(old: &str, new: &str) -> String {
    let a: Vec<&str> = old.lines().collect();
    let b: Vec<&str> = new.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            i += 1;
            j += 1;
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out.push_str(&format!("+{}\n", b[j]));
            j += 1;
        } else {
            out.push_str(&format!("-{}\n", a[i]));
            i += 1;
        }
    }
    out
}

#[test]
fn the_readme_family_table_is_generated_from_the_catalog() {
    let path = readme_path();
    let readme = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    let range = table_range(&readme);
    let current = &readme[range.clone()];
    let generated = tokio_pulse_rt::export::markdown_table();
    if current == generated {
        return;
    }
    if std::env::var_os("UPDATE_README").is_some_and(|v| v == "1") {
        let mut updated = readme.clone();
        updated.replace_range(range, &generated);
        std::fs::write(&path, updated)
            .unwrap_or_else(|err| panic!("cannot write {}: {err}", path.display()));
        eprintln!("updated the family table in {}", path.display());
        return;
    }
    panic!(
        "the family table in {} is stale; rerun with UPDATE_README=1 to rewrite it.\n{}",
        path.display(),
        diff(current, &generated)
    );
}

#[test]
fn every_family_is_in_the_generated_table() {
    let table = tokio_pulse_rt::export::markdown_table();
    for family in tokio_pulse_rt::export::FAMILIES {
        let short = family.name.trim_start_matches("tokio_pulse_");
        assert!(
            table.contains(&format!("| `{short}` | {} |", family.kind.as_str())),
            "{} missing from\n{table}",
            family.name
        );
    }
    assert!(table.contains("| `runtimes_omitted` | gauge | none at all |"));
}
