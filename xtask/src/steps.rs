//! The steps of a composite command (`test`, `check-targets`): each runs,
//! says how it ended, and counts towards the one summary line, in which
//! anything that did not run is named, never counted as passed.

use std::time::Instant;

use anyhow::Result;

/// Something that did not run, and what would make it run: shown as
/// `what (fix)` in the summary line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    /// What did not run (`prometheus e2e`).
    pub what: String,
    /// What would make it run (`install prometheus`).
    pub fix: String,
}

impl Skip {
    /// A skip of `what`, which `fix` would make run.
    pub fn new(what: impl Into<String>, fix: impl Into<String>) -> Self {
        Self {
            what: what.into(),
            fix: fix.into(),
        }
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.what, self.fix)
    }
}

/// How a step that did not fail ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// It ran; `skipped` lists the parts of it that did not (each counts as
    /// one skip in the summary, besides the step's own pass).
    Passed {
        /// Parts that did not run.
        skipped: Vec<Skip>,
    },
    /// It did not run at all (counts as a skip, not a pass).
    Skipped(Skip),
}

impl Outcome {
    /// Ran, all of it.
    pub fn passed() -> Self {
        Outcome::Passed {
            skipped: Vec::new(),
        }
    }
}

/// One named step of a composite command.
pub struct Step<'a> {
    /// Shown in progress and summary lines.
    pub name: String,
    /// If it fails, skip the steps after it.
    pub fatal: bool,
    /// The work.
    pub run: Box<dyn FnOnce() -> Result<Outcome> + 'a>,
}

impl<'a> Step<'a> {
    /// A step whose failure does not stop the others.
    pub fn new(name: impl Into<String>, run: impl FnOnce() -> Result<()> + 'a) -> Self {
        Self::reporting(name, move || run().map(|()| Outcome::passed()))
    }

    /// A step that says what of it did not run.
    pub fn reporting(name: impl Into<String>, run: impl FnOnce() -> Result<Outcome> + 'a) -> Self {
        Self {
            name: name.into(),
            fatal: false,
            run: Box::new(run),
        }
    }

    /// A step that the later steps depend on.
    pub fn fatal(name: impl Into<String>, run: impl FnOnce() -> Result<()> + 'a) -> Self {
        Self {
            fatal: true,
            ..Self::new(name, run)
        }
    }
}

/// What [`run_steps`] counted.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Steps that ran and passed.
    pub passed: Vec<String>,
    /// Steps that failed.
    pub failed: Vec<String>,
    /// Steps, or parts of steps, that did not run.
    pub skipped: Vec<Skip>,
}

impl Tally {
    /// The summary line: `<title>: N passed, N failed[, N skipped: a (fix),
    /// b (fix)]`.
    ///
    /// # Examples
    ///
    /// ```
    /// use xtask::steps::{Skip, Tally};
    ///
    /// let tally = Tally {
    ///     passed: vec!["fork".into(); 6],
    ///     failed: vec![],
    ///     skipped: vec![Skip::new("prometheus e2e", "install prometheus")],
    /// };
    /// assert_eq!(
    ///     tally.summary("xtask test"),
    ///     "xtask test: 6 passed, 0 failed, 1 skipped: prometheus e2e (install prometheus)"
    /// );
    /// ```
    pub fn summary(&self, title: &str) -> String {
        let mut line = format!(
            "{title}: {} passed, {} failed",
            self.passed.len(),
            self.failed.len()
        );
        if !self.skipped.is_empty() {
            let names: Vec<String> = self.skipped.iter().map(Skip::to_string).collect();
            line.push_str(&format!(
                ", {} skipped: {}",
                self.skipped.len(),
                names.join(", ")
            ));
        }
        line
    }
}

/// Whether skips are failures: under `CI=true`, nothing may quietly not run.
pub fn skips_fail() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// Runs `steps` in order, reporting each, and returns the tally. With
/// `skips_fail`, a step that skipped anything counts as failed.
pub fn tally_steps(steps: Vec<Step<'_>>, title: &str, skips_fail: bool) -> Tally {
    let mut tally = Tally::default();
    let mut steps = steps.into_iter();
    for step in steps.by_ref() {
        eprintln!("==> {title}: {}", step.name);
        let start = Instant::now();
        let result = (step.run)().and_then(|outcome| {
            let skipped = match &outcome {
                Outcome::Passed { skipped } => skipped.clone(),
                Outcome::Skipped(skip) => vec![skip.clone()],
            };
            if skips_fail && !skipped.is_empty() {
                let names: Vec<String> = skipped.iter().map(Skip::to_string).collect();
                anyhow::bail!(
                    "CI=true, where nothing may be skipped, and this did not run: {}",
                    names.join(", ")
                );
            }
            Ok(outcome)
        });
        let took = start.elapsed();
        match result {
            Ok(Outcome::Passed { skipped }) => {
                if skipped.is_empty() {
                    eprintln!("<== {} passed ({took:.1?})", step.name);
                } else {
                    let names: Vec<String> = skipped.iter().map(Skip::to_string).collect();
                    eprintln!(
                        "<== {} passed ({took:.1?}), but did not run: {}",
                        step.name,
                        names.join(", ")
                    );
                }
                tally.passed.push(step.name);
                tally.skipped.extend(skipped);
            }
            Ok(Outcome::Skipped(skip)) => {
                eprintln!("<== {} SKIPPED ({took:.1?}): {skip}", step.name);
                tally.skipped.push(skip);
            }
            Err(e) => {
                eprintln!("<== {} FAILED ({took:.1?}): {e:#}", step.name);
                tally.failed.push(step.name);
                if step.fatal {
                    break;
                }
            }
        }
    }
    for step in steps {
        let after = tally.failed.last().cloned().unwrap_or_default();
        tally
            .skipped
            .push(Skip::new(step.name, format!("after `{after}` failed")));
    }
    tally
}

/// Runs `steps` in order, reporting each; prints `<title>: N passed, N
/// failed[, N skipped: what (fix), ...]` last and fails if any step failed.
/// Under `CI=true` a skip is a failure.
pub fn run_steps(title: &str, steps: Vec<Step<'_>>) -> Result<()> {
    let tally = tally_steps(steps, title, skips_fail());
    if !tally.failed.is_empty() {
        eprintln!("failed steps: {}", tally.failed.join(", "));
    }
    println!("{}", tally.summary(title));
    if tally.failed.is_empty() {
        Ok(())
    } else {
        Err(Reported.into())
    }
}

/// An error whose message has already been printed (the summary line of
/// [`run_steps`]); `main` exits non-zero without printing it again, so the
/// summary stays the last line.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed (reported above)")
    }
}

impl std::error::Error for Reported {}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps<'a>() -> Vec<Step<'a>> {
        vec![
            Step::new("one", || Ok(())),
            Step::reporting("workspace", || {
                Ok(Outcome::Passed {
                    skipped: vec![Skip::new("prometheus e2e", "install prometheus")],
                })
            }),
            Step::reporting("check wasm32", || {
                Ok(Outcome::Skipped(Skip::new(
                    "check wasm32",
                    "rustup target add failed",
                )))
            }),
            Step::new("broken", || anyhow::bail!("it broke")),
        ]
    }

    #[test]
    fn a_skipped_test_or_step_is_named_in_the_summary_not_counted_as_passed() {
        let tally = tally_steps(steps(), "t", false);
        assert_eq!(
            tally.summary("t"),
            "t: 2 passed, 1 failed, 2 skipped: prometheus e2e (install prometheus), \
             check wasm32 (rustup target add failed)"
        );
    }

    #[test]
    fn under_ci_a_skip_is_a_failure() {
        let tally = tally_steps(steps(), "t", true);
        assert_eq!(tally.summary("t"), "t: 1 passed, 3 failed");
        assert_eq!(tally.failed, ["workspace", "check wasm32", "broken"]);
    }

    #[test]
    fn steps_after_a_fatal_failure_are_skipped_by_name() {
        let mut list = vec![Step::fatal("fork", || anyhow::bail!("no"))];
        list.extend(steps());
        let tally = tally_steps(list, "t", false);
        assert_eq!(tally.passed.len() + tally.failed.len(), 1);
        assert_eq!(tally.skipped.len(), 4);
        assert!(
            tally
                .summary("t")
                .starts_with("t: 0 passed, 1 failed, 4 skipped: one (after `fork` failed), "),
            "{}",
            tally.summary("t")
        );
    }
}
