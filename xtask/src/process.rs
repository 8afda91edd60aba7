//! Running programs: capture their output, or stream it, and say which
//! command failed and where.

use std::io::Read;
use std::process::{Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// A readable one-line rendering of a command, for error messages.
pub fn display(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    let mut args = cmd.get_args();
    while let Some(arg) = args.next() {
        if arg == "-c" {
            args.next(); // keep messages short: pinned `-c` options are noise
            continue;
        }
        s.push(' ');
        s.push_str(&arg.to_string_lossy());
    }
    if let Some(dir) = cmd.get_current_dir() {
        s.push_str(&format!("  (in {})", dir.display()));
    }
    s
}

/// Runs `cmd` with captured output; returns stdout, or fails naming the
/// command and showing its stderr.
pub fn output(mut cmd: Command) -> Result<String> {
    let shown = display(&cmd);
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start `{shown}` (is it installed and on PATH?)"))?;
    if !out.status.success() {
        let said: Vec<String> = [&out.stderr, &out.stdout]
            .iter()
            .map(|bytes| String::from_utf8_lossy(bytes).trim_end().to_owned())
            .filter(|text| !text.is_empty())
            .collect();
        bail!("`{shown}` failed ({}):\n{}", out.status, said.join("\n"));
    }
    String::from_utf8(out.stdout).with_context(|| format!("`{shown}` printed invalid UTF-8"))
}

/// Runs `cmd` with inherited stdio (output streams to the terminal); fails
/// naming the command if it cannot start or exits non-zero.
pub fn stream(mut cmd: Command) -> Result<()> {
    let shown = display(&cmd);
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{shown}` (is it installed and on PATH?)"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// What [`run_with_deadline`] saw.
#[derive(Debug)]
pub struct Finished {
    /// The exit status; `None` if the program was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Everything it printed on stdout.
    pub stdout: String,
    /// Everything it printed on stderr, if the caller piped stderr (else
    /// empty: it went where the caller sent it).
    pub stderr: String,
    /// How long it ran.
    pub elapsed: Duration,
}

/// Runs `cmd` with stdin closed and stdout captured, killing it once it has
/// run for `limit`. Stderr is captured too if the caller set
/// `cmd.stderr(Stdio::piped())`. Both pipes are read on their own threads,
/// so a chatty program never blocks on a full pipe. Only failing to start is
/// an error; a non-zero exit or the deadline is in the [`Finished`].
///
/// # Examples
///
/// ```
/// use std::process::Command;
/// use std::time::Duration;
///
/// let mut sleeper = Command::new("sleep");
/// sleeper.arg("10");
/// let done = xtask::process::run_with_deadline(sleeper, Duration::from_millis(100)).unwrap();
/// assert!(done.status.is_none(), "killed at the deadline");
///
/// let mut echo = Command::new("echo");
/// echo.arg("hi");
/// let done = xtask::process::run_with_deadline(echo, Duration::from_secs(10)).unwrap();
/// assert_eq!(done.stdout, "hi\n");
/// ```
pub fn run_with_deadline(mut cmd: Command, limit: Duration) -> Result<Finished> {
    let shown = display(&cmd);
    let start = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("could not start `{shown}`"))?;
    let readers = [
        child.stdout.take().map(drain),
        child.stderr.take().map(drain),
    ];
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .with_context(|| format!("waiting for `{shown}`"))?
        {
            break Some(status);
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let [stdout, stderr] = readers.map(|r| r.and_then(|h| h.join().ok()).unwrap_or_default());
    Ok(Finished {
        status,
        stdout,
        stderr,
        elapsed: start.elapsed(),
    })
}

/// Collects a pipe on a thread, so a chatty child never blocks on it.
fn drain<R: Read + Send + 'static>(mut pipe: R) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}
