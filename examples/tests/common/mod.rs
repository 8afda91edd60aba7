//! What the end-to-end tests share: child-process and temp-dir guards, the
//! example binaries next to the test, loopback HTTP, and how a test that
//! cannot run says so (a failure under `CI=true`, a named skip elsewhere).

#![allow(dead_code)] // Each test binary uses its own part of this module.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// A child process that is stopped when the guard drops.
pub struct Guard {
    /// Named in the line printed when it is stopped.
    pub name: String,
    /// The process.
    pub child: Child,
    /// Send SIGTERM first (for `timeout`, which passes it on to its child).
    pub terminate: bool,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        if self.terminate {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        eprintln!("e2e: stopped {}", self.name);
    }
}

/// A temporary directory removed when the guard drops.
pub struct TempDir(pub PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn tool_present(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// An example next to this test's executable (`target/<profile>/deps/<test>`
/// → `target/<profile>/examples/<name>`), and not older than its source.
pub fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let hint = "`cargo test` builds it; with a target filter, run \
                `cargo build -p tokio-pulse-examples --examples` first";
    let built = std::fs::metadata(&binary)
        .and_then(|m| m.modified())
        .unwrap_or_else(|_| panic!("{} is missing: {hint}", binary.display()));
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("{name}.rs"));
    let changed = std::fs::metadata(&source)
        .and_then(|m| m.modified())
        .unwrap_or(SystemTime::UNIX_EPOCH);
    assert!(
        built >= changed,
        "{} is older than {}: {hint}",
        binary.display(),
        source.display()
    );
    binary
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

/// An HTTP/1.0 GET (so no chunked answers); the status and the body.
pub fn get(addr: SocketAddr, target: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "GET {target} HTTP/1.0\r\nHost: {addr}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_string()))
}

pub fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Whether `promtool` and `prometheus` are installed. When they are not,
/// this fails the test under `CI=true`; elsewhere it prints `SKIPPED` and
/// reports the skip as `what` to `cargo xtask test` (see [`report_skip`]).
pub fn prometheus_tools_or_skip(what: &str) -> bool {
    let missing: Vec<&str> = ["promtool", "prometheus"]
        .into_iter()
        .filter(|tool| !tool_present(tool))
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{missing:?} not installed; CI=true needs them (apt-get install prometheus)"
    );
    eprintln!(
        "SKIPPED: {missing:?} not installed (apt-get install prometheus); {what} did not run"
    );
    report_skip(what, "install prometheus");
    false
}

/// Tells `cargo xtask test` that this test skipped, since `cargo test` reports
/// a skipped test as `ok`: appends `what<TAB>fix` to the file that xtask names
/// in `TOKIO_PULSE_SKIP_LOG` (not set outside xtask: then only the
/// `SKIPPED` line says so).
pub fn report_skip(what: &str, fix: &str) {
    let Some(log) = std::env::var_os("TOKIO_PULSE_SKIP_LOG") else {
        return;
    };
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log)
        .and_then(|mut file| writeln!(file, "{what}\t{fix}"));
    if let Err(e) = written {
        panic!(
            "could not report the skip to {}: {e}",
            Path::new(&log).display()
        );
    }
}

/// Starts `prometheus` (under `timeout`, so it stops by itself after
/// `seconds`) with `config` as its configuration and its data in `dir`, on a
/// free loopback port; returns it once `/-/ready` answers, with its API
/// address.
pub fn start_prometheus(
    dir: &Path,
    config: &Path,
    seconds: &str,
    deadline: Instant,
) -> (Guard, SocketAddr) {
    let api: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let child = Command::new("timeout")
        .args(["-s", "TERM", "-k", "5", seconds, "prometheus"])
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address={api}"))
        .arg("--log.level=warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start prometheus");
    let mut guard = Guard {
        name: "prometheus".into(),
        child,
        terminate: true,
    };
    loop {
        if let Ok((200, _)) = get(api, "/-/ready") {
            return (guard, api);
        }
        if let Ok(Some(status)) = guard.child.try_wait() {
            panic!("prometheus exited early: {status}");
        }
        assert!(Instant::now() < deadline, "prometheus never became ready");
        std::thread::sleep(Duration::from_millis(200));
    }
}
