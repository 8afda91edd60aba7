//! `upstream-tests/excluded.toml`: the tests of Tokio's suite that are not
//! run on the fork, each with its reason.

use anyhow::{anyhow, bail, Context, Result};

/// One entry of `upstream-tests/excluded.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exclusion {
    /// The binary (`rt_metrics`, or `lib`).
    pub binary: String,
    /// One test in it (`path::to::test`), or `None` for the whole binary.
    pub test: Option<String>,
    /// Why it cannot run here.
    pub reason: String,
}

/// The checked-in exclusion list.
#[derive(Debug, Clone, Default)]
pub struct Exclusions(pub Vec<Exclusion>);

impl Exclusions {
    /// Parses the exclusion file. Format:
    ///
    /// ```toml
    /// [[exclude]]
    /// test = "binary"             # or "binary::path::to::test"
    /// reason = "why it cannot pass on this machine"
    /// ```
    ///
    /// `origin` names the file in error messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self> {
        let doc: toml_edit::DocumentMut = text
            .parse()
            .with_context(|| format!("{origin} is not valid TOML"))?;
        let mut list = Vec::new();
        let Some(item) = doc.get("exclude") else {
            return Ok(Self(list));
        };
        let tables = item.as_array_of_tables().ok_or_else(|| {
            anyhow!("{origin}: `exclude` must be an array of tables ([[exclude]])")
        })?;
        for (i, table) in tables.iter().enumerate() {
            let field = |key: &str| -> Result<String> {
                let value = table
                    .get(key)
                    .and_then(|v| v.as_str())
                    .map(str::trim)
                    .filter(|v| !v.is_empty());
                value.map(str::to_owned).ok_or_else(|| {
                    anyhow!("{origin}: entry {} needs a non-empty string `{key}`", i + 1)
                })
            };
            let name = field("test")?;
            let reason = field("reason")?;
            if let Some(key) = table
                .iter()
                .map(|(k, _)| k)
                .find(|k| *k != "test" && *k != "reason")
            {
                bail!(
                    "{origin}: entry {} (`{name}`) has an unknown key `{key}`",
                    i + 1
                );
            }
            let (binary, test) = match name.split_once("::") {
                Some((binary, test)) => (binary.to_owned(), Some(test.to_owned())),
                None => (name.clone(), None),
            };
            list.push(Exclusion {
                binary,
                test,
                reason,
            });
        }
        Ok(Self(list))
    }

    pub(super) fn whole_binary(&self, binary: &str) -> bool {
        self.0
            .iter()
            .any(|e| e.binary == binary && e.test.is_none())
    }

    pub(super) fn tests_in(&self, binary: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|e| e.binary == binary)
            .filter_map(|e| e.test.as_deref())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    #[test]
    fn exclusions_parse_binaries_and_single_tests() {
        let text = r#"
[[exclude]]
test = "signal_ctrl_c"
reason = "sends SIGINT to the process group"

[[exclude]]
test = "rt_common::threaded::slow"
reason = "timing"
"#;
        let ex = Exclusions::parse(text, "x.toml").unwrap();
        assert!(ex.whole_binary("signal_ctrl_c"));
        assert!(!ex.whole_binary("rt_common"));
        assert_eq!(ex.tests_in("rt_common"), vec!["threaded::slow"]);
    }

    #[test]
    fn the_checked_in_exclusions_parse_and_each_has_a_reason() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../upstream-tests/excluded.toml");
        let text = fs::read_to_string(&path).unwrap();
        let ex = Exclusions::parse(&text, "excluded.toml").unwrap();
        assert!(ex.0.iter().all(|e| e.reason.len() > 20), "{ex:?}");
    }

    #[test]
    fn exclusions_need_a_reason() {
        let err = Exclusions::parse("[[exclude]]\ntest = \"a\"\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("`reason`"), "{err}");
        let err =
            Exclusions::parse("[[exclude]]\ntest = \"a\"\nreason = \" \"\n", "x.toml").unwrap_err();
        assert!(err.to_string().contains("entry 1"), "{err}");
    }

    #[test]
    fn exclusions_reject_unknown_keys_and_bad_toml() {
        let err = Exclusions::parse(
            "[[exclude]]\ntest = \"a\"\nreason = \"r\"\nwhy = 1\n",
            "x.toml",
        )
        .unwrap_err();
        assert!(err.to_string().contains("`why`"), "{err}");
        assert!(Exclusions::parse("[[exclude]\n", "x.toml").is_err());
        assert!(Exclusions::parse("exclude = 3\n", "x.toml").is_err());
    }
}
