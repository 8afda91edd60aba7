//! `tokio-pulse top` as a person sees it: in a tmux pane, read with
//! `capture-pane`, against the real demo and `slow_poll` example.
//!
//! 1. The demo (poll timing on) serves on a free loopback port; `top` runs
//!    in a pane of a private tmux server (its own `-L` socket) with the demo
//!    and a second URL where `slow_poll` will serve: a fleet of two.
//! 2. The pane shows the demo's worker rows with a non-zero polls/s.
//! 3. `slow_poll` starts, blocking a worker for [`BLOCK_MS`]; after `Tab`
//!    the pane shows its stall, with the spawn location the example prints.
//! 4. The demo is killed: the pane says it is disconnected, retrying; the
//!    demo comes back on the same port: it is connected again, with rows.
//! 5. `q`: the pane leaves the alternate screen, the cursor is shown and the
//!    tty is back in canonical mode (`stty -a` after `top` exits).
//!
//! A second test runs the demo itself in a pane: on a terminal it draws the
//! same view of its own runtime in-process (with the schedule latency, the
//! workers' time in states and the CPU by spawn site), says how to stop it
//! and where `/metrics` is, and Ctrl-C ends it with the terminal restored.
//!
//! It needs `tmux` and the example binaries (`cargo xtask test` builds them
//! and runs this with `--ignored`). Without `tmux` it fails under
//! `CI=true`, and elsewhere prints `SKIPPED` and returns. Every process it
//! starts is stopped by a guard, also when it fails.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `slow_poll`'s blocking task holds its worker.
const BLOCK_MS: &str = "12000";

/// How long the test waits for any one thing on the screen.
const PATIENCE: Duration = Duration::from_secs(40);

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The private tmux server, killed on drop.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]);
        cmd
    }

    fn run(&self, args: &[&str]) -> String {
        let out = self.cmd().args(args).output().expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "top"])
    }

    fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", "top", keys]);
    }

    /// Waits until `done` holds for the screen; fails with the screen.
    fn wait_for(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(
                Instant::now() < deadline,
                "no {what} within {PATIENCE:?}; the pane:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").stderr(Stdio::null()).status();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An example binary in `target/<profile>/examples`, next to this test's
/// `target/<profile>/deps`.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .unwrap()
        .join("examples");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: `cargo build -p tokio-pulse-examples --examples` first (cargo xtask test does)",
        path.display()
    );
    path
}

/// Waits for the line a demo or example prints once it serves.
fn wait_serving(stderr: ChildStderr, who: &str) {
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + PATIENCE;
    for line in lines.by_ref() {
        let line = line.expect("read stderr");
        if line.contains("serving http://") {
            // Keep draining, so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return;
        }
        assert!(Instant::now() < deadline, "{who} did not start serving");
    }
    panic!("{who} exited before serving");
}

fn start_demo(port: u16) -> Guard {
    let mut child = Command::new(example("demo"))
        .args([
            "--workers",
            "4",
            "--duration",
            "120",
            "--addr",
            &format!("127.0.0.1:{port}"),
        ])
        .env("TOKIO_PULSE_POLL_TIMING", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the demo");
    let stderr = child.stderr.take().unwrap();
    let guard = Guard(child);
    wait_serving(stderr, "the demo");
    guard
}

/// The polls/s of the worker rows on the screen (`│<index> <polls/s> ...`).
fn worker_polls(screen: &str) -> Vec<(usize, f64)> {
    screen
        .lines()
        .filter_map(|line| {
            let mut words = line.trim_start_matches('│').split_whitespace();
            let index = words.next()?.parse().ok()?;
            let polls = words.next()?.parse().ok()?;
            // A worker row has its sparkline next.
            words
                .next()?
                .chars()
                .all(|c| ('▁'..='█').contains(&c))
                .then_some((index, polls))
        })
        .collect()
}

fn tmux_or_skip(what: &str) -> bool {
    let present = Command::new("tmux")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if present {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "tmux is not installed; CI=true needs it (apt-get install tmux)"
    );
    eprintln!("SKIPPED: tmux is not installed (apt-get install tmux); {what} did not run");
    if let Some(log) = std::env::var_os("TOKIO_PULSE_SKIP_LOG") {
        if let Ok(mut file) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
        {
            let _ = writeln!(file, "{what}\tinstall tmux");
        }
    }
    false
}

#[test]
#[ignore = "needs tmux and the example binaries: cargo xtask test runs it"]
fn top_in_tmux_shows_workers_stalls_disconnects_and_restores_the_terminal() {
    if !tmux_or_skip("tokio-pulse top under tmux") {
        return;
    }
    let top = env!("CARGO_BIN_EXE_tokio-pulse");
    let (demo_port, slow_port) = (free_port(), free_port());
    let demo_url = format!("http://127.0.0.1:{demo_port}");
    let slow_url = format!("http://127.0.0.1:{slow_port}");
    let mut demo = Some(start_demo(demo_port));

    let tmux = Tmux {
        socket: format!("tokio-pulse-test-{}", std::process::id()),
    };
    // After top exits, the shell says so and shows the tty's mode.
    let script = format!(
        "{top} top {demo_url} {slow_url} --interval 0.5; echo TOP-EXITED $?; stty -a | tr ' ' '\\n' | grep -x -- '-\\?icanon'; sleep 120"
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "200",
        "-y",
        "60",
        "sh",
        "-c",
        &script,
    ]);

    // 2. The demo's worker rows, busy.
    tmux.wait_for("demo worker rows with polls/s > 0", |screen| {
        let rows = worker_polls(screen);
        rows.len() == 4 && rows.iter().any(|&(_, polls)| polls > 0.0)
    });
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "top", "#{alternate_on}"])
            .trim(),
        "1"
    );

    // 3. slow_poll's stall, with the spawn location it prints.
    let mut child = Command::new(example("slow_poll"))
        .args([
            "--block-ms",
            BLOCK_MS,
            "--stall-ms",
            "10",
            "--addr",
            &format!("127.0.0.1:{slow_port}"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start slow_poll");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _slow = Guard(child);
    wait_serving(stderr, "slow_poll");
    // "blocker spawned at examples/slow_poll.rs:86, spinner at ...", after
    // what it prints first (how long loading the symbols for stacks took).
    let mut first = String::new();
    let mut stdout = BufReader::new(stdout);
    while !first.starts_with("blocker spawned at ") {
        first.clear();
        if stdout.read_line(&mut first).unwrap() == 0 {
            break;
        }
    }
    let blocker_at = first
        .strip_prefix("blocker spawned at ")
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| panic!("slow_poll's first line: {first:?}"))
        .to_string();
    tmux.keys("Tab");
    tmux.wait_for("slow_poll's stall with its spawn location", |screen| {
        screen.contains("slow-poll-example")
            && screen
                .lines()
                .any(|l| l.contains("STALL") && l.contains(&format!("{blocker_at}:")))
    });
    // Its stack, captured while it was stuck, names the blocking function
    // (Linux x86_64 and AArch64, where the watchdog captures stacks).
    if cfg!(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )) {
        tmux.wait_for("the stall's stack names slow_poll::blocker", |screen| {
            screen
                .lines()
                .any(|l| l.contains("slow_poll::blocker at") && l.contains("slow_poll.rs:"))
        });
    }

    // 4. The demo goes away, and comes back.
    drop(demo.take());
    tmux.wait_for("the demo disconnected", |screen| {
        screen
            .lines()
            .any(|l| l.contains(&demo_url) && l.contains("disconnected, retrying"))
    });
    demo = Some(start_demo(demo_port));
    tmux.wait_for("the demo connected again", |screen| {
        screen.lines().any(|l| {
            l.contains(&demo_url) && l.contains("connected") && !l.contains("disconnected")
        })
    });
    tmux.keys("Tab");
    tmux.wait_for("the new demo's worker rows with polls/s > 0", |screen| {
        screen.contains(&format!("tokio-pulse top {demo_url}"))
            && worker_polls(screen).iter().any(|&(_, polls)| polls > 0.0)
    });

    // 5. q restores the terminal.
    tmux.keys("q");
    let screen = tmux.wait_for("top's exit", |screen| screen.contains("TOP-EXITED"));
    assert!(screen.contains("TOP-EXITED 0"), "{screen}");
    assert!(
        worker_polls(&screen).is_empty(),
        "the view is gone:\n{screen}"
    );
    let screen = tmux.wait_for("the tty's mode", |s| {
        s.lines().any(|l| l.trim().ends_with("icanon"))
    });
    assert!(
        screen.lines().any(|l| l.trim() == "icanon"),
        "canonical mode is back (not raw):\n{screen}"
    );
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "top", "#{alternate_on}"])
            .trim(),
        "0"
    );
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "top", "#{cursor_flag}"])
            .trim(),
        "1"
    );
    drop(demo);
}

/// `cargo xtask demo` on a terminal: the same view of its own runtime,
/// drawn in-process, with how to stop it and where `/metrics` is; Ctrl-C
/// stops it, restores the terminal and prints the totals.
#[test]
#[ignore = "needs tmux and the example binaries: cargo xtask test runs it"]
fn the_demo_on_a_terminal_draws_the_top_view_of_itself() {
    if !tmux_or_skip("the demo's own view under tmux") {
        return;
    }
    let demo = example("demo");
    let tmux = Tmux {
        socket: format!("tokio-pulse-demo-test-{}", std::process::id()),
    };
    let script = format!(
        "{} --workers 3 --duration 60 --addr 127.0.0.1:0 2>/dev/null; echo DEMO-EXITED $?; sleep 120",
        demo.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "top",
        "-x",
        "200",
        "-y",
        "60",
        "sh",
        "-c",
        &script,
    ]);
    let screen = tmux.wait_for("the demo's own view with busy workers", |screen| {
        let rows = worker_polls(screen);
        screen.contains("demo (in-process, pid ")
            && rows.len() == 3
            && rows.iter().any(|&(_, polls)| polls > 0.0)
    });
    assert!(screen.contains("runtime \"demo\""), "{screen}");
    assert!(screen.contains("q or Ctrl-C stops it"), "{screen}");
    // Where delay and time go: the schedule latency and pressure line, the
    // workers' time in states, the CPU by spawn site in the demo's file.
    let screen = tmux.wait_for("states, schedule latency and spawn sites", |screen| {
        screen.contains("schedule latency mean ")
            && screen.contains("pressure some ")
            && screen.contains("time in states")
            && screen
                .lines()
                .filter(|l| l.trim_start_matches('│').starts_with(char::is_numeric))
                .any(|l| l.contains("park ") && l.contains('%'))
            && screen
                .lines()
                .skip_while(|l| !l.contains("CPU by spawn site"))
                .any(|l| l.contains('%') && l.contains("examples/demo.rs:"))
    });
    assert!(!screen.contains("schedule latency mean -"), "{screen}");
    assert!(
        screen
            .lines()
            .any(|l| l.contains("Prometheus: http://127.0.0.1:") && l.contains("/metrics")),
        "{screen}"
    );
    tmux.keys("C-c");
    let screen = tmux.wait_for("the demo's exit", |screen| screen.contains("DEMO-EXITED"));
    assert!(screen.contains("DEMO-EXITED 0"), "{screen}");
    assert!(screen.contains("tasks stolen"), "the totals:\n{screen}");
    assert!(
        worker_polls(&screen).is_empty(),
        "the view is gone:\n{screen}"
    );
    assert_eq!(
        tmux.run(&["display", "-p", "-t", "top", "#{alternate_on}"])
            .trim(),
        "0"
    );
}
