//! What a run of Tokio's test binaries gave: libtest's lines read back, one
//! line per binary while it runs, and the sorted results file.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

/// The outcome of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It passed.
    Ok,
    /// It failed (or its binary crashed or timed out after it started).
    Failed,
    /// `#[ignore]`d upstream.
    Ignored,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Failed => "FAILED",
            Outcome::Ignored => "ignored",
        }
    }
}

/// Reads libtest's per-test lines (`test <name> ... ok`) from its output.
///
/// # Examples
///
/// ```
/// use xtask::upstream::results::{parse_libtest, Outcome};
///
/// let out = "running 2 tests\ntest a::b ... ok\ntest c ... ignored, slow\n";
/// let got = parse_libtest(out);
/// assert_eq!(got, vec![("a::b".to_string(), Outcome::Ok), ("c".to_string(), Outcome::Ignored)]);
/// ```
pub fn parse_libtest(stdout: &str) -> Vec<(String, Outcome)> {
    let mut results = Vec::new();
    for line in stdout.lines() {
        let Some(rest) = line.strip_prefix("test ") else {
            continue;
        };
        let Some((name, outcome)) = rest.split_once(" ... ") else {
            continue;
        };
        let outcome = match outcome.trim() {
            "ok" => Outcome::Ok,
            "FAILED" => Outcome::Failed,
            o if o.starts_with("ignored") => Outcome::Ignored,
            _ => continue,
        };
        results.push((name.to_owned(), outcome));
    }
    results
}

/// One test binary's run.
#[derive(Debug)]
pub(super) struct BinaryRun {
    pub(super) name: String,
    pub(super) tests: Vec<(String, Outcome)>,
    /// Why the binary itself failed beyond its tests (crash, time limit).
    pub(super) broken: Option<String>,
    pub(super) elapsed: Duration,
}

impl BinaryRun {
    pub(super) fn count(&self, outcome: Outcome) -> usize {
        self.tests.iter().filter(|(_, o)| *o == outcome).count()
    }

    pub(super) fn failed(&self) -> bool {
        self.broken.is_some() || self.count(Outcome::Failed) > 0
    }
}

/// Step 6's line for one binary.
pub(super) fn report_binary(run: &BinaryRun) {
    let mut line = format!(
        "  {:<40} {:>4} passed, {} failed, {} ignored ({:.1?})",
        run.name,
        run.count(Outcome::Ok),
        run.count(Outcome::Failed),
        run.count(Outcome::Ignored),
        run.elapsed
    );
    if let Some(why) = &run.broken {
        let _ = write!(line, " BROKEN: {why}");
    }
    eprintln!("{line}");
}

/// Step 7: one `binary::test outcome` line per test, sorted.
pub(super) fn render_results(runs: &[BinaryRun]) -> String {
    let mut lines: Vec<String> = runs
        .iter()
        .flat_map(|r| {
            let mut lines: Vec<String> = r
                .tests
                .iter()
                .map(|(t, o)| format!("{}::{t} {}", r.name, o.as_str()))
                .collect();
            if let Some(why) = &r.broken {
                lines.push(format!("{} BROKEN ({why})", r.name));
            }
            lines
        })
        .collect();
    lines.sort();
    lines.join("\n") + "\n"
}

/// The tests present in both result files whose outcomes differ.
///
/// # Examples
///
/// ```
/// let fork = "a::x ok\na::y FAILED\n";
/// let pristine = "a::x ok\na::y ok\n";
/// let d = xtask::upstream::results::compare(fork, pristine, "fork", "pristine");
/// assert_eq!(d, vec!["a::y: fork FAILED, pristine ok".to_string()]);
/// ```
pub fn compare(mine: &str, theirs: &str, my_name: &str, their_name: &str) -> Vec<String> {
    let parse = |text: &str| -> BTreeMap<String, String> {
        text.lines()
            .filter_map(|l| l.rsplit_once(' '))
            .map(|(t, o)| (t.to_owned(), o.to_owned()))
            .collect()
    };
    let (mine, theirs) = (parse(mine), parse(theirs));
    mine.iter()
        .filter_map(|(test, outcome)| {
            let other = theirs.get(test)?;
            (other != outcome).then(|| format!("{test}: {my_name} {outcome}, {their_name} {other}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtest_lines_are_read_and_noise_is_not() {
        let out = "\nrunning 3 tests\ntest a ... ok\ntest b ... FAILED\n\
                   test c ... ignored\ntest result: FAILED. 1 passed; 1 failed\n\
                   test d has been running for over 60 seconds\n";
        let got = parse_libtest(out);
        assert_eq!(
            got,
            vec![
                ("a".to_owned(), Outcome::Ok),
                ("b".to_owned(), Outcome::Failed),
                ("c".to_owned(), Outcome::Ignored)
            ]
        );
    }

    #[test]
    fn results_render_sorted_with_broken_binaries() {
        let runs = vec![BinaryRun {
            name: "z".into(),
            tests: vec![("b".into(), Outcome::Ok), ("a".into(), Outcome::Ignored)],
            broken: Some("killed".into()),
            elapsed: Duration::ZERO,
        }];
        assert_eq!(
            render_results(&runs),
            "z BROKEN (killed)\nz::a ignored\nz::b ok\n"
        );
    }
}
