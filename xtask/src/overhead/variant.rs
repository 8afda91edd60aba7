//! The runtimes `cargo xtask overhead` compares, and the per-variant build of
//! the one workload source in `overhead/`.
//!
//! Each variant gets a generated package in `target/pulse/overhead/<name>/`
//! whose `[[bin]]` points at `overhead/src/main.rs` and whose
//! `[patch.crates-io]` points tokio at the pristine crate or at the fork. The
//! manifests differ in that one path only; the variant's runtime options are
//! cargo features of the workload (`--features`) and, for upstream's
//! unstable metrics, `RUSTFLAGS`. Variants with the same Tokio source and
//! flags share a target directory, so only the workload crate is rebuilt.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::cargo::{cargo_cmd, inline, path_dep, path_str, strings, ScratchManifest};
use crate::process;
use crate::Paths;

/// Which Tokio source a variant builds against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `vendor/tokio-<base>`, the crate as published.
    Pristine,
    /// `vendor/tokio`, the fork.
    Fork,
}

/// One runtime configuration to measure. To add one, add a line to
/// [`VARIANTS`] (and, if it needs new runtime options, a cargo feature in
/// [`manifest`] that `overhead/src/main.rs` reads).
#[derive(Debug, Clone, Copy)]
pub struct Variant {
    /// Name in tables, JSON and directory names.
    pub name: &'static str,
    /// The Tokio it builds against.
    pub source: Source,
    /// Cargo features of the workload package to enable.
    pub features: &'static [&'static str],
    /// `RUSTFLAGS` for the whole build (empty for none).
    pub rustflags: &'static str,
    /// A file under the Tokio source and a string it must contain for this
    /// variant to exist (for options the fork gains over time).
    pub requires: Option<(&'static str, &'static str)>,
    /// One line for the report.
    pub about: &'static str,
}

/// The variants, stock first (every ratio is against it).
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "stock",
        source: Source::Pristine,
        features: &[],
        rustflags: "",
        requires: None,
        about: "pristine tokio: the base's crate as published",
    },
    Variant {
        name: "fork",
        source: Source::Fork,
        features: &[],
        rustflags: "",
        requires: None,
        about: "the fork, always-on probes",
    },
    Variant {
        name: "fork+timing",
        source: Source::Fork,
        features: &["pulse_timing"],
        rustflags: "",
        requires: Some(("src/runtime/builder.rs", "pub fn pulse(")),
        about: "the fork with Builder::pulse(PulseConfig::new().poll_timing(true))",
    },
    Variant {
        name: "fork+timing-nostamp",
        source: Source::Fork,
        features: &["pulse_timing", "pulse_nostamp"],
        rustflags: "",
        requires: Some(("src/runtime/builder.rs", "pub fn pulse(")),
        about: "fork+timing with .schedule_latency(false): no schedule stamp, no schedule-latency histogram",
    },
    Variant {
        name: "upstream-hist",
        source: Source::Pristine,
        features: &["upstream_hist"],
        rustflags: "--cfg tokio_unstable",
        requires: None,
        about: "pristine, --cfg tokio_unstable + enable_metrics_poll_time_histogram()",
    },
    Variant {
        name: "upstream-sched",
        source: Source::Pristine,
        features: &["upstream_hist", "upstream_sched"],
        rustflags: "--cfg tokio_unstable",
        requires: Some(("Cargo.toml", "schedule-latency = []")),
        about: "pristine, --cfg tokio_unstable, feature schedule-latency + enable_metrics_poll_time_histogram() and enable_metrics_schedule_latency_histogram()",
    },
];

impl Variant {
    /// The Tokio source directory.
    pub fn tokio_dir(&self, paths: &Paths) -> PathBuf {
        match self.source {
            Source::Pristine => paths.pristine(),
            Source::Fork => paths.vendor_tokio(),
        }
    }

    /// Whether the Tokio source offers what this variant needs.
    pub fn available(&self, paths: &Paths) -> bool {
        match self.requires {
            None => true,
            Some((file, needle)) => fs::read_to_string(self.tokio_dir(paths).join(file))
                .is_ok_and(|text| text.contains(needle)),
        }
    }

    /// `target/pulse/overhead/<name>/`: the generated package.
    pub fn package_dir(&self, paths: &Paths) -> PathBuf {
        overhead_dir(paths).join(self.name)
    }

    /// The target directory, shared by variants with the same source and flags.
    pub fn target_dir(&self, paths: &Paths) -> PathBuf {
        let source = match self.source {
            Source::Pristine => "pristine",
            Source::Fork => "fork",
        };
        let flags = if self.rustflags.is_empty() {
            ""
        } else {
            "-unstable"
        };
        overhead_dir(paths).join(format!("target-{source}{flags}"))
    }

    /// Where the built binary is copied (so variants sharing a target
    /// directory don't overwrite each other's).
    pub fn binary(&self, paths: &Paths) -> PathBuf {
        self.package_dir(paths).join("pulse-overhead")
    }
}

/// `target/pulse/overhead/` (`overhead-<version>/` on a base other than the
/// default).
pub fn overhead_dir(paths: &Paths) -> PathBuf {
    if paths.is_default_base() {
        paths.scratch().join("overhead")
    } else {
        paths.scratch().join(format!("overhead-{}", paths.tokio))
    }
}

/// The generated manifest: the same for every variant but the tokio path.
/// `probes_dir` is the probes crate, an optional dependency that only the
/// `pulse_timing` feature (a fork variant) turns on, for `PulseConfig`.
pub fn manifest(
    main_rs: &Path,
    tokio_dir: &Path,
    tokio_version: &str,
    probes_dir: &Path,
) -> Result<ScratchManifest> {
    Ok(ScratchManifest::package(
        "pulse-overhead",
        "Generated by `cargo xtask overhead`; edit xtask/src/overhead/variant.rs instead.",
    )
    .push(
        "bin",
        [
            ("name", "pulse-overhead".into()),
            ("path", path_str(main_rs)?.into()),
        ],
    )
    .set(
        "dependencies",
        "tokio",
        inline([
            ("version", format!("={tokio_version}").into()),
            (
                "features",
                strings(&["rt-multi-thread", "sync", "time", "net"]),
            ),
        ]),
    )
    .set("dependencies", "parking_lot", "=0.12.5")
    .set(
        "dependencies",
        "tokio-pulse-probes",
        inline([
            ("path", path_str(probes_dir)?.into()),
            ("optional", true.into()),
        ]),
    )
    .set("features", "upstream_hist", strings::<&str>(&[]))
    .set(
        "features",
        "upstream_sched",
        strings(&["tokio/schedule-latency"]),
    )
    .set(
        "features",
        "pulse_timing",
        strings(&["dep:tokio-pulse-probes"]),
    )
    .set("features", "pulse_nostamp", strings(&["pulse_timing"]))
    .set("patch.crates-io", "tokio", path_dep(tokio_dir)?)
    .set("profile.release", "debug", "line-tables-only"))
}

/// Writes the variant's package and builds it in release mode; returns the
/// binary's path.
pub fn build(paths: &Paths, variant: &Variant) -> Result<PathBuf> {
    let tokio_dir = variant.tokio_dir(paths);
    if !tokio_dir.join("Cargo.toml").is_file() {
        bail!(
            "{} has no Cargo.toml; run `cargo xtask fork` to materialize it",
            tokio_dir.display()
        );
    }
    let manifest_path = manifest(
        &paths.root.join("overhead/src/main.rs"),
        &tokio_dir,
        paths.tokio,
        &paths.root.join("probes"),
    )?
    .write(&variant.package_dir(paths))?;
    let target_dir = variant.target_dir(paths);
    let mut cmd = cargo_cmd();
    cmd.args(["build", "--release", "--quiet", "--manifest-path"])
        .arg(&manifest_path)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTFLAGS", variant.rustflags)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_RUSTFLAGS");
    if !variant.features.is_empty() {
        cmd.arg("--features").arg(variant.features.join(","));
    }
    process::stream(cmd).with_context(|| format!("building variant {}", variant.name))?;
    let built = target_dir.join("release").join("pulse-overhead");
    let binary = variant.binary(paths);
    fs::copy(&built, &binary)
        .with_context(|| format!("copying {} to {}", built.display(), binary.display()))?;
    Ok(binary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_differ_only_in_the_tokio_path() {
        let main = Path::new("/r/overhead/src/main.rs");
        let probes = Path::new("/r/probes");
        let a = manifest(main, Path::new("/r/vendor/tokio-1.54.1"), "1.54.1", probes)
            .unwrap()
            .render();
        let b = manifest(main, Path::new("/r/vendor/tokio"), "1.54.1", probes)
            .unwrap()
            .render();
        let differing: Vec<_> = a.lines().zip(b.lines()).filter(|(x, y)| x != y).collect();
        assert_eq!(
            differing,
            vec![(
                "tokio = { path = \"/r/vendor/tokio-1.54.1\" }",
                "tokio = { path = \"/r/vendor/tokio\" }"
            )]
        );
        assert!(a.contains("path = \"/r/overhead/src/main.rs\""));
    }

    #[test]
    fn every_feature_a_variant_uses_is_declared() {
        let text = manifest(Path::new("m.rs"), Path::new("t"), "1.54.1", Path::new("p"))
            .unwrap()
            .render();
        for variant in VARIANTS {
            for feature in variant.features {
                assert!(text.contains(&format!("\n{feature} = [")), "{feature}");
            }
        }
        assert_eq!(VARIANTS[0].name, "stock");
    }

    #[test]
    fn variants_that_share_a_target_dir_share_source_and_flags() {
        let paths = Paths::new("/r");
        for a in VARIANTS {
            for b in VARIANTS {
                if a.target_dir(&paths) == b.target_dir(&paths) {
                    assert_eq!((a.source, a.rustflags), (b.source, b.rustflags));
                }
            }
        }
    }
}
