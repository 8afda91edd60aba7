//! `cargo xtask swap-test`: [`crate::swap`] on real code we did not write, a
//! published Tokio application; see [`run`].

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::cargo::{cargo_cmd, fetch_crate};
use crate::fork::ensure_fork;
use crate::fs::{copy_tree, remove_dir_if_exists};
use crate::process::{self, run_with_deadline};
use crate::swap::{backup_of, no_lock_marker, swap_manifest, undo};
use crate::Paths;

/// The published application that [`run`] swaps onto the fork:
/// Tokio's own teaching server.
pub const APP: (&str, &str) = ("mini-redis", "0.4.1");

/// A program written into the copy of the app (`xtask/assets/pulse_probe.rs`):
/// it runs the app's server in-process (mini-redis is a library too) on a
/// multi-thread runtime, drives it from a separate runtime with the app's own
/// client, and prints what the server runtime's probes counted as
/// `pulse-probe: key=value ...`.
pub const PROBE_PROGRAM: &str = include_str!("../assets/pulse_probe.rs");

/// Parses the `pulse-probe: key=value ...` line of the probe program.
fn probe_line(stdout: &str) -> Result<BTreeMap<String, f64>> {
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

/// Runs `program`, killing it after `limit`; returns its stdout (its
/// stderr goes to the terminal).
fn run_bounded(program: &Path, limit: Duration) -> Result<String> {
    let done = run_with_deadline(Command::new(program), limit)?;
    match done.status {
        None => bail!("{} did not finish within {limit:?}", program.display()),
        Some(status) if !status.success() => {
            bail!("{} failed ({status}):\n{}", program.display(), done.stdout)
        }
        Some(_) => Ok(done.stdout),
    }
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
///
/// On a base other than the default (`--tokio 1.53.3`), the copy's tokio
/// requirements are first pinned to that base's line (`~1.53`, as an LTS user
/// writes it, see [`pin_tokio`]), and `swap` must pick that base by itself.
pub fn run(paths: &Paths) -> Result<()> {
    ensure_fork(paths, false)?;
    crate::workspace::ensure(paths)?;
    let scratch = if paths.is_default_base() {
        paths.scratch().join("swap-test")
    } else {
        paths.scratch().join(format!("swap-test-{}", paths.tokio))
    };
    let (name, version) = APP;
    let source = fetch_crate(&scratch.join("fetch"), name, version)?.dir;
    // Outside this checkout: under target/ cargo would take the copy for a
    // member of our workspace.
    let app = std::env::temp_dir()
        .join("tokio-pulse-swap-test")
        .join("app");
    remove_dir_if_exists(&app)?;
    copy_tree(&source, &app, &[])?;
    fs::create_dir_all(app.join("examples"))?;
    fs::write(app.join("examples").join("pulse_probe.rs"), PROBE_PROGRAM)?;
    let manifest = app.join("Cargo.toml");
    let lock = app.join("Cargo.lock");
    if !paths.is_default_base() {
        let version = semver::Version::parse(paths.tokio)?;
        let req = format!("~{}.{}", version.major, version.minor);
        let text = fs::read_to_string(&manifest)?;
        fs::write(&manifest, pin_tokio(&text, &req)?)?;
        let picked = crate::swap::choose_base(&Paths::new(&paths.root), None, &app)?;
        if picked.tokio != paths.tokio {
            bail!(
                "with tokio = \"{req}\", swap picked the {} base, not {}",
                picked.tokio,
                paths.tokio
            );
        }
        println!(
            "swap-test: pinned the app to tokio \"{req}\"; swap picks the {} base",
            picked.tokio
        );
    }
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
    remove_dir_if_exists(&app)?;
    Ok(())
}

/// Sets the version requirement of every direct `tokio` dependency in the
/// manifest `text` to `req` (keeping its features), as a user pinned to an
/// LTS line would write it.
///
/// ```
/// let app = "[package]\nname = \"a\"\n[dependencies.tokio]\nversion = \"1.0\"\nfeatures = [\"full\"]\n";
/// let pinned = xtask::swap_test::pin_tokio(app, "~1.53").unwrap();
/// assert!(pinned.contains("version = \"~1.53\"") && pinned.contains("full"));
/// ```
pub fn pin_tokio(text: &str, req: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("Cargo.toml is not valid TOML")?;
    let mut pinned = 0;
    for table in ["dependencies", "dev-dependencies"] {
        let Some(deps) = doc.get_mut(table).and_then(|t| t.as_table_like_mut()) else {
            continue;
        };
        let Some(tokio) = deps.get_mut("tokio") else {
            continue;
        };
        if tokio.is_str() {
            *tokio = toml_edit::value(req);
        } else if let Some(t) = tokio.as_table_like_mut() {
            t.insert("version", toml_edit::value(req));
        } else {
            bail!("[{table}] tokio is neither a string nor a table");
        }
        pinned += 1;
    }
    if pinned == 0 {
        bail!("the manifest has no direct tokio dependency to pin");
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_every_direct_tokio_dependency_and_keeps_the_rest() {
        let app = "[package]\nname = \"app\"\n\n[dependencies]\ntokio = \"1\"\nbytes = \"1\"\n\n\
                   [dev-dependencies.tokio]\nversion = \"1.0\"\nfeatures = [\"test-util\"]\n";
        let pinned = pin_tokio(app, "~1.53").unwrap();
        assert_eq!(
            pinned,
            "[package]\nname = \"app\"\n\n[dependencies]\ntokio = \"~1.53\"\nbytes = \"1\"\n\n\
             [dev-dependencies.tokio]\nversion = \"~1.53\"\nfeatures = [\"test-util\"]\n"
        );
        assert_eq!(crate::swap::base::pick_base(&pinned).unwrap(), "1.53.3");
        assert!(pin_tokio("[package]\nname = \"x\"\n", "~1.53").is_err());
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
