//! Tools that tests need from outside cargo, and tests that report a skip.
//!
//! `cargo xtask test` makes sure of `promtool` and `prometheus` (the
//! Prometheus end-to-end test needs both) before it runs the workspace's
//! tests ([`ensure_prometheus`]): when they are missing and it runs as root
//! on a machine with `apt-get`, it installs the Debian package `prometheus`,
//! saying so. Otherwise it says why it cannot, and the test skips.
//!
//! A test that skips cannot make `cargo test` say so: it reports `ok`. So
//! xtask sets [`SKIP_LOG_ENV`] to a file, a test that skips appends one line
//! `what<TAB>fix` to it, and xtask reads the file back ([`read_skip_log`])
//! into its summary line.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::process;
use crate::steps::Skip;

/// The environment variable naming the file a skipping test appends to.
pub const SKIP_LOG_ENV: &str = "TOKIO_PULSE_SKIP_LOG";

/// The tools the Prometheus end-to-end test runs.
pub const PROMETHEUS_TOOLS: [&str; 2] = ["promtool", "prometheus"];

/// Reads the skips that tests appended to `log` (one `what<TAB>fix` line
/// each; a line without a tab is all `what`), without duplicates, in order.
/// A missing file means no skips.
///
/// # Examples
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let log = dir.path().join("skips");
/// std::fs::write(&log, "prometheus e2e\tinstall prometheus\n").unwrap();
/// let skips = xtask::tools::read_skip_log(&log).unwrap();
/// assert_eq!(skips[0].to_string(), "prometheus e2e (install prometheus)");
/// ```
pub fn read_skip_log(log: &Path) -> Result<Vec<Skip>> {
    let text = match fs::read_to_string(log) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", log.display())),
    };
    let mut skips: Vec<Skip> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (what, fix) = line
            .split_once('\t')
            .unwrap_or((line, "see the test's output"));
        let skip = Skip::new(what.trim(), fix.trim());
        if !skips.contains(&skip) {
            skips.push(skip);
        }
    }
    Ok(skips)
}

/// Where and how [`ensure_prometheus`] looks for and installs the tools.
#[derive(Debug, Clone)]
pub struct Installer {
    /// The search path for the tools and `apt-get` (`$PATH`).
    pub path: OsString,
    /// Whether this process runs as root (`apt-get install` needs it).
    pub root: bool,
    /// Debian's `policy-rc.d`: while it exits 101, package scripts start no
    /// services (the package would otherwise start a Prometheus server that
    /// nothing here wants). Created for the install if it does not exist,
    /// and removed afterwards only then.
    pub policy_rc_d: PathBuf,
}

impl Installer {
    /// This machine: `$PATH`, root if `id -u` says 0, `/usr/sbin/policy-rc.d`.
    pub fn system() -> Self {
        let root = process::output({
            let mut cmd = Command::new("id");
            cmd.arg("-u");
            cmd
        })
        .is_ok_and(|uid| uid.trim() == "0");
        Self {
            path: std::env::var_os("PATH").unwrap_or_default(),
            root,
            policy_rc_d: PathBuf::from("/usr/sbin/policy-rc.d"),
        }
    }

    /// `tool` as an executable file on [`Installer::path`].
    pub fn find(&self, tool: &str) -> Option<PathBuf> {
        std::env::split_paths(&self.path)
            .map(|dir| dir.join(tool))
            .find(|file| is_executable(file))
    }

    fn missing(&self) -> Vec<&'static str> {
        PROMETHEUS_TOOLS
            .into_iter()
            .filter(|tool| self.find(tool).is_none())
            .collect()
    }
}

fn is_executable(file: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::metadata(file).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        file.is_file()
    }
}

/// What [`ensure_prometheus`] found or did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tools {
    /// Both were there.
    Present,
    /// They were missing; `apt-get` installed them.
    Installed,
    /// Missing, and not installed, for the reason given.
    Missing(String),
}

/// Makes sure `promtool` and `prometheus` are on the path: installs the
/// Debian package `prometheus` with `apt-get` when they are missing and
/// `installer` runs as root with `apt-get` available. Says what it does.
/// An install that fails is reported as [`Tools::Missing`] with apt-get's
/// error: the end-to-end test then skips (or, under `CI=true`, fails).
pub fn ensure_prometheus(installer: &Installer) -> Tools {
    let missing = installer.missing();
    if missing.is_empty() {
        println!("tools: promtool and prometheus found");
        return Tools::Present;
    }
    let why = if !installer.root {
        Some("not running as root".to_owned())
    } else if installer.find("apt-get").is_none() {
        Some("no apt-get on PATH".to_owned())
    } else {
        None
    };
    if let Some(why) = why {
        println!(
            "tools: {} not installed, and xtask cannot install them ({why}); the \
             Prometheus end-to-end test will be skipped. Install the Debian package \
             `prometheus` (or Prometheus's release binaries) to run it.",
            missing.join(" and ")
        );
        return Tools::Missing(why);
    }
    println!(
        "tools: {} not installed; installing the Debian package `prometheus` with apt-get \
         (running as root) for the Prometheus end-to-end test",
        missing.join(" and ")
    );
    match apt_install(installer) {
        Ok(()) => match installer.missing() {
            still if still.is_empty() => {
                println!("tools: installed promtool and prometheus");
                Tools::Installed
            }
            still => {
                let why = format!(
                    "apt-get installed `prometheus`, but {} is still not on PATH",
                    still.join(" and ")
                );
                println!("tools: {why}");
                Tools::Missing(why)
            }
        },
        Err(e) => {
            println!("tools: installing prometheus failed: {e:#}");
            Tools::Missing(format!("apt-get failed: {e:#}"))
        }
    }
}

/// `apt-get update` and `apt-get install prometheus`, with a
/// `policy-rc.d` that keeps the package from starting its service.
fn apt_install(installer: &Installer) -> Result<()> {
    let apt_get = installer.find("apt-get").context("no apt-get on PATH")?;
    let ours = !installer.policy_rc_d.exists();
    if ours {
        write_policy(&installer.policy_rc_d)?;
    }
    let apt = |args: &[&str]| {
        let mut cmd = Command::new(&apt_get);
        cmd.args(args)
            .env("PATH", &installer.path)
            .env("DEBIAN_FRONTEND", "noninteractive");
        process::output(cmd)
    };
    let result = apt(&["update", "-qq"]).and_then(|_| {
        apt(&[
            "install",
            "-y",
            "-qq",
            "--no-install-recommends",
            "prometheus",
        ])
    });
    if ours {
        fs::remove_file(&installer.policy_rc_d)
            .with_context(|| format!("removing {}", installer.policy_rc_d.display()))?;
    }
    result.map(|_| ())
}

fn write_policy(file: &Path) -> Result<()> {
    fs::write(
        file,
        "#!/bin/sh\n# Written by `cargo xtask test` for the length of an apt-get install.\nexit 101\n",
    )
    .with_context(|| format!("writing {}", file.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(file, fs::Permissions::from_mode(0o755))
            .with_context(|| format!("making {} executable", file.display()))?;
    }
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(file: &Path, body: &str) {
        fs::write(file, format!("#!/bin/sh\n{body}")).unwrap();
        fs::set_permissions(file, fs::Permissions::from_mode(0o755)).unwrap();
    }

    fn chmod() -> &'static str {
        ["/bin/chmod", "/usr/bin/chmod"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("chmod")
    }

    /// A bin directory with a fake `apt-get` that logs its arguments and
    /// whether policy-rc.d was in place, and on `install` writes fake tools.
    fn fake_apt(dir: &Path, policy: &Path, works: bool) -> PathBuf {
        let bin = dir.join("bin");
        fs::create_dir_all(&bin).unwrap();
        let log = dir.join("apt.log");
        let install = if works {
            format!(
                "for t in promtool prometheus; do printf '#!/bin/sh\\n' > {bin}/$t; {chmod} +x {bin}/$t; done",
                bin = bin.display(),
                chmod = chmod()
            )
        } else {
            "echo 'E: Unable to locate package prometheus' >&2; exit 100".to_owned()
        };
        script(
            &bin.join("apt-get"),
            &format!(
                "if [ -x {policy} ]; then p=policy; else p=no-policy; fi\n\
                 echo \"$DEBIAN_FRONTEND $p $*\" >> {log}\n\
                 case \"$1\" in install) {install};; esac\n",
                policy = policy.display(),
                log = log.display(),
            ),
        );
        bin
    }

    #[test]
    fn installs_prometheus_as_root_with_services_held_off() {
        let tmp = tempfile::tempdir().unwrap();
        let policy = tmp.path().join("policy-rc.d");
        let bin = fake_apt(tmp.path(), &policy, true);
        let installer = Installer {
            path: bin.clone().into_os_string(),
            root: true,
            policy_rc_d: policy.clone(),
        };
        assert_eq!(ensure_prometheus(&installer), Tools::Installed);
        let log = fs::read_to_string(tmp.path().join("apt.log")).unwrap();
        assert_eq!(
            log,
            "noninteractive policy update -qq\n\
             noninteractive policy install -y -qq --no-install-recommends prometheus\n"
        );
        assert!(!policy.exists(), "the policy-rc.d that xtask wrote is left");
        // Present now: nothing more runs.
        assert_eq!(ensure_prometheus(&installer), Tools::Present);
        assert_eq!(fs::read_to_string(tmp.path().join("apt.log")).unwrap(), log);
    }

    #[test]
    fn keeps_an_existing_policy_rc_d() {
        let tmp = tempfile::tempdir().unwrap();
        let policy = tmp.path().join("policy-rc.d");
        script(&policy, "exit 0\n");
        let bin = fake_apt(tmp.path(), &policy, true);
        let installer = Installer {
            path: bin.into_os_string(),
            root: true,
            policy_rc_d: policy.clone(),
        };
        assert_eq!(ensure_prometheus(&installer), Tools::Installed);
        assert_eq!(fs::read_to_string(&policy).unwrap(), "#!/bin/sh\nexit 0\n");
    }

    #[test]
    fn says_why_it_cannot_install() {
        let tmp = tempfile::tempdir().unwrap();
        let policy = tmp.path().join("policy-rc.d");
        let bin = fake_apt(tmp.path(), &policy, false);
        let mut installer = Installer {
            path: bin.into_os_string(),
            root: false,
            policy_rc_d: policy.clone(),
        };
        assert_eq!(
            ensure_prometheus(&installer),
            Tools::Missing("not running as root".into())
        );
        assert!(
            !tmp.path().join("apt.log").exists(),
            "apt-get ran without root"
        );
        installer.root = true;
        let Tools::Missing(why) = ensure_prometheus(&installer) else {
            panic!("a failed install is not an install")
        };
        assert!(why.contains("Unable to locate package prometheus"), "{why}");
        assert!(!policy.exists());
        installer.path = tmp.path().join("empty").into_os_string();
        assert_eq!(
            ensure_prometheus(&installer),
            Tools::Missing("no apt-get on PATH".into())
        );
    }

    #[test]
    fn reads_skips_once_each() {
        let tmp = tempfile::tempdir().unwrap();
        let log = tmp.path().join("skips");
        assert!(read_skip_log(&log).unwrap().is_empty());
        fs::write(&log, "a\tfix a\nb\n\na\tfix a\n").unwrap();
        let skips = read_skip_log(&log).unwrap();
        assert_eq!(
            skips,
            [
                Skip::new("a", "fix a"),
                Skip::new("b", "see the test's output")
            ]
        );
    }
}
