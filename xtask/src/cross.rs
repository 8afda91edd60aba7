//! `cargo xtask check-targets`: the fork must build wherever Tokio does.
//!
//! For each of [`CHECK_TARGETS`]:
//!
//! 1. make sure `rustup` has the target's standard library (`rustup target
//!    add`, only for targets not yet installed). If it cannot, the target is
//!    a visible skip (a failure under `CI=true`), never a pass;
//! 2. write a throwaway crate, `target/cross/<triple>/`, that depends on
//!    `vendor/tokio` with the features that make sense on that target, and
//!    starts from the workspace's `Cargo.lock` (the same dependency versions
//!    as every other build);
//! 3. `cargo check -p tokio --target <triple>` there, with
//!    `CARGO_TARGET_DIR=target/cross/target`, so the host build in
//!    `target/debug` is not invalidated.
//!
//! (A throwaway crate because cargo takes no `--features` for a package that
//! is not a workspace member, and `vendor/tokio` must stay free of build
//! files: a new `Cargo.lock` there would count as uncommitted work.)
//!
//! Then the fork runs on wasm32-unknown-unknown, whose std has no clock
//! (`Instant::now()` panics, and a panic aborts): `wasm-check/` builds a
//! small library that runs tasks on the fork there, and `node` runs it
//! ([`run_wasm`]). Without `node` that step is a named skip (a failure under
//! `CI=true`).
//!
//! `cargo xtask test` runs the same steps ([`steps`]).

use std::fs;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::cargo::{cargo_cmd, inline, path_str, read_manifest, strings, ScratchManifest};
use crate::fork::ensure_fork;
use crate::process::{self, stream};
use crate::steps::{run_steps, Outcome, Skip, Step};
use crate::Paths;

/// A target that `vendor/tokio` must compile for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CheckTarget {
    /// The target triple.
    pub triple: &'static str,
    /// Tokio features to enable there.
    pub features: &'static [&'static str],
    /// Why this target is checked.
    pub why: &'static str,
}

/// The targets checked, with their features.
pub const CHECK_TARGETS: [CheckTarget; 2] = [
    CheckTarget {
        triple: "powerpc-unknown-linux-gnu",
        features: &["full"],
        why: "32-bit, without 64-bit atomics, like mips and armv5te",
    },
    CheckTarget {
        triple: "wasm32-unknown-unknown",
        // What Tokio supports there: no threads, no I/O driver.
        features: &["rt", "sync", "macros", "time"],
        why: "no threads, no clock at startup",
    },
];

/// The throwaway crate's manifest for `target` (see the module docs).
///
/// # Examples
///
/// ```
/// use xtask::cross::{check_manifest, CHECK_TARGETS};
///
/// let text = check_manifest(&CHECK_TARGETS[1], "/src/pulse/vendor/tokio".as_ref())
///     .unwrap()
///     .render();
/// assert!(text.contains(r#"features = ["rt", "sync", "macros", "time"]"#));
/// ```
pub fn check_manifest(target: &CheckTarget, vendor_tokio: &Path) -> Result<ScratchManifest> {
    Ok(ScratchManifest::package(
        "pulse-check-target",
        &format!(
            "Written by `cargo xtask check-targets`: checks the fork for {}.",
            target.triple
        ),
    )
    .set(
        "dependencies",
        "tokio",
        inline([
            ("path", path_str(vendor_tokio)?.into()),
            ("default-features", false.into()),
            ("features", strings(target.features)),
        ]),
    )
    .empty_lib())
}

/// The installed targets of the active toolchain, or why they are unknown.
fn installed_targets() -> Result<Vec<String>> {
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "list", "--installed"]);
    Ok(process::output(cmd)?
        .lines()
        .map(|l| l.trim().to_owned())
        .collect())
}

/// Makes sure `rustup` has `triple`; `Some(skip)` if it cannot.
fn ensure_target(triple: &str) -> Option<Skip> {
    let what = format!("check {triple}");
    match installed_targets() {
        Ok(installed) if installed.iter().any(|t| t == triple) => return None,
        Ok(_) => {}
        Err(e) => {
            return Some(Skip::new(
                what,
                format!("rustup is needed to add the target: {e:#}"),
            ))
        }
    }
    println!("check-targets: rustup target add {triple}");
    let mut cmd = Command::new("rustup");
    cmd.args(["target", "add", triple])
        .env("RUST_BACKTRACE", "0");
    match process::output(cmd) {
        Ok(_) => None,
        Err(e) => {
            // rustup's own `error:` line says it best; the rest is notes.
            let text = format!("{e:#}");
            let said = text
                .lines()
                .find(|l| l.starts_with("error:"))
                .unwrap_or_else(|| text.lines().next().unwrap_or_default());
            Some(Skip::new(
                what,
                format!("`rustup target add {triple}` failed: {}", said.trim()),
            ))
        }
    }
}

/// Checks `vendor/tokio` for `target` (the module docs' steps).
pub fn check_target(paths: &Paths, target: &CheckTarget) -> Result<Outcome> {
    if let Some(skip) = ensure_target(target.triple) {
        return Ok(Outcome::Skipped(skip));
    }
    let cross = paths.build_dir("cross");
    let dir = cross.join(target.triple);
    check_manifest(target, &paths.vendor_tokio())?.write(&dir)?;
    let lock = paths.root.join("Cargo.lock");
    if lock.exists() {
        fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {}", lock.display()))?;
    }
    let mut cmd = cargo_cmd();
    cmd.args(["check", "-p", "tokio", "--target", target.triple])
        .current_dir(&dir)
        .env("CARGO_TARGET_DIR", cross.join("target"));
    stream(cmd).with_context(|| {
        format!(
            "tokio does not compile for {} ({}) with features {:?}",
            target.triple, target.why, target.features
        )
    })?;
    Ok(Outcome::passed())
}

/// Builds `wasm-check/` for wasm32-unknown-unknown and runs it under
/// `node` (see the module docs).
pub fn run_wasm(paths: &Paths) -> Result<Outcome> {
    const TRIPLE: &str = "wasm32-unknown-unknown";
    if let Some(skip) = ensure_target(TRIPLE) {
        return Ok(Outcome::Skipped(skip));
    }
    let has_node = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|out| out.status.success());
    if !has_node {
        return Ok(Outcome::Skipped(Skip::new(
            "run on wasm32",
            "install node (apt-get install nodejs)",
        )));
    }
    let target_dir = paths.target.join("cross").join("target");
    let mut build = cargo_cmd();
    build
        .args(["build", "--release", "--target", TRIPLE, "--manifest-path"])
        .arg(paths.root.join("wasm-check").join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", &target_dir);
    stream(build).context("building wasm-check for wasm32-unknown-unknown")?;
    let wasm = target_dir
        .join(TRIPLE)
        .join("release")
        .join("tokio_pulse_wasm_check.wasm");
    let mut run = Command::new("node");
    run.arg(paths.root.join("wasm-check").join("run.mjs"))
        .arg(&wasm);
    stream(run).context("the fork failed on wasm32-unknown-unknown (under node)")?;
    Ok(Outcome::passed())
}

/// `cargo xtask check-targets`: ensure the fork, then the steps of
/// this module.
pub fn check_targets(paths: &Paths) -> Result<()> {
    let mut steps = vec![Step::fatal("fork", || ensure_fork(paths, false))];
    steps.extend(self::steps(paths));
    run_steps("xtask check-targets", steps)
}

/// The `rust-version` of the crate whose manifest is `manifest` (Tokio's
/// MSRV for the base, e.g. 1.71 for 1.53.x).
pub fn rust_version(manifest: &Path) -> Result<String> {
    let doc = read_manifest(manifest)?;
    doc.get("package")
        .and_then(|p| p.get("rust-version"))
        .and_then(|v| v.as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("{} has no package.rust-version", manifest.display()))
}

/// `cargo +MSRV check` of a throwaway crate that depends on this base's fork
/// (features `full`) and the probes, where MSRV is the base's own
/// `rust-version`: the probes must not raise Tokio's MSRV. The lock file is
/// resolved by the current cargo to versions that MSRV supports
/// (`CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback`) and written in the
/// version-3 format that old cargo reads. A missing toolchain is a named
/// skip (so a failure under `CI=true`).
pub fn check_msrv(paths: &Paths) -> Result<Outcome> {
    let vendor = paths.vendor_tokio();
    let msrv = rust_version(&vendor.join("Cargo.toml"))?;
    let what = format!(
        "cargo +{msrv} check (tokio {}'s MSRV) of the fork and the probes",
        paths.tokio
    );
    let has = Command::new("rustup")
        .args(["run", &msrv, "rustc", "--version"])
        .env_remove("RUSTUP_TOOLCHAIN")
        .output()
        .is_ok_and(|out| out.status.success());
    if !has {
        println!("!! Rust {msrv} is not installed: the MSRV check does NOT run");
        return Ok(Outcome::Skipped(Skip::new(
            what,
            format!("rustup toolchain install {msrv} --profile minimal"),
        )));
    }
    let dir = paths.build_dir("msrv");
    let krate = dir.join("crate");
    ScratchManifest::package(
        "pulse-msrv-check",
        &format!(
            "Written by `cargo xtask check-targets`: the fork of tokio {} and the probes on Rust {msrv}.",
            paths.tokio
        ),
    )
    .set("package", "rust-version", msrv.as_str())
    .set(
        "dependencies",
        "tokio",
        inline([
            ("path", path_str(&vendor)?.into()),
            ("features", strings(&["full"])),
        ]),
    )
    .set(
        "dependencies",
        "tokio-pulse-probes",
        inline([("path", path_str(&paths.root.join("probes"))?.into())]),
    )
    .empty_lib()
    .write(&krate)?;
    let mut lock = cargo_cmd();
    lock.args(["generate-lockfile"])
        .current_dir(&krate)
        .env("CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS", "fallback");
    stream(lock).context("resolving the MSRV check's dependencies")?;
    let lock_file = krate.join("Cargo.lock");
    let text = fs::read_to_string(&lock_file)
        .with_context(|| format!("reading {}", lock_file.display()))?;
    fs::write(
        &lock_file,
        text.replacen("\nversion = 4\n", "\nversion = 3\n", 1),
    )
    .with_context(|| format!("writing {}", lock_file.display()))?;
    let mut cmd = Command::new("rustup");
    cmd.args(["run", &msrv, "cargo", "check", "--locked"])
        .current_dir(&krate)
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env("CARGO_TARGET_DIR", dir.join("target"));
    stream(cmd).with_context(|| {
        format!(
            "the fork of tokio {} or the probes need a Rust newer than {msrv}",
            paths.tokio
        )
    })?;
    Ok(Outcome::passed())
}

/// One step per target in [`CHECK_TARGETS`], then [`run_wasm`] (default base
/// only: `wasm-check/` builds `vendor/tokio`), then [`check_msrv`] (other
/// bases only).
pub fn steps(paths: &Paths) -> Vec<Step<'_>> {
    let mut steps: Vec<Step<'_>> = CHECK_TARGETS
        .iter()
        .map(|target| {
            Step::reporting(
                format!(
                    "check-targets: cargo check -p tokio --target {} --features {}",
                    target.triple,
                    target.features.join(",")
                ),
                move || check_target(paths, target),
            )
        })
        .collect();
    if paths.is_default_base() {
        steps.push(Step::reporting(
            "check-targets: run the fork on wasm32-unknown-unknown (wasm-check/, under node)",
            move || run_wasm(paths),
        ));
    }
    if !paths.is_default_base() {
        // The default base's MSRV (1.85 for 1.54.1) is the workspace's own;
        // an older base's is lower, and the probes must not raise it.
        steps.push(Step::reporting(
            "check-targets: cargo +MSRV check of the fork and the probes",
            move || check_msrv(paths),
        ));
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_rustup_cannot_add_is_a_named_skip_not_a_pass() {
        let tmp = tempfile::tempdir().unwrap();
        let paths = Paths::new(tmp.path());
        let bogus = CheckTarget {
            triple: "pulse-no-such-target",
            features: &["rt"],
            why: "a test",
        };
        let Outcome::Skipped(skip) = check_target(&paths, &bogus).unwrap() else {
            panic!("a target that cannot be added passed")
        };
        assert_eq!(skip.what, "check pulse-no-such-target");
        // rustup's error (or, on a machine without rustup, that it is needed).
        assert!(skip.fix.contains("rustup"), "{skip}");
        if Command::new("rustup").arg("--version").output().is_ok() {
            assert!(
                skip.fix
                    .starts_with("`rustup target add pulse-no-such-target` failed: error:"),
                "{skip}"
            );
        }
        assert!(!paths.target.join("cross").exists());
    }

    #[test]
    fn the_manifest_enables_the_target_features_only() {
        let text = check_manifest(&CHECK_TARGETS[0], "/p/vendor/tokio".as_ref())
            .unwrap()
            .render();
        let doc: toml_edit::DocumentMut = text.parse().unwrap();
        let tokio = &doc["dependencies"]["tokio"];
        assert_eq!(tokio["path"].as_str(), Some("/p/vendor/tokio"));
        assert_eq!(tokio["default-features"].as_bool(), Some(false));
        assert_eq!(
            tokio["features"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect::<Vec<_>>(),
            ["full"]
        );
        assert!(doc.get("workspace").is_some(), "must be its own workspace");
    }
}
