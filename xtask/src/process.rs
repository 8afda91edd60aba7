//! Running programs: capture their output, or stream it, and say which
//! command failed and where.

use std::process::{Command, Output, Stdio};

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
