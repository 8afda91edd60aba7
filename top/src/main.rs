//! `tokio-pulse`: tools for processes running the Tokio-Pulse fork. One
//! subcommand so far, `top`.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_pulse_top::{fetch::DEFAULT_URL, Options, Source};

/// Tools for processes running the Tokio-Pulse fork of Tokio.
#[derive(Debug, Parser)]
#[command(name = "tokio-pulse", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A live view of the scheduler of running processes, read from their
    /// exporter's /pulse.json.
    Top {
        /// The processes' exporters: `http://host:port` (several for a fleet
        /// view).
        #[arg(default_value = DEFAULT_URL)]
        urls: Vec<String>,
        /// Time between refreshes: seconds (`1`, `0.5`) or `500ms`, `2s`;
        /// at least 100 ms.
        #[arg(long, default_value = "1s", value_parser = parse_interval)]
        interval: Duration,
        /// Print one plain-text frame (two samples `--interval` apart) and
        /// exit: for scripts and terminals that are not one. Exits 1 if a
        /// process did not answer.
        #[arg(long)]
        once: bool,
        /// The width of a `--once` frame (default: the terminal's, else 132).
        #[arg(long)]
        width: Option<u16>,
    },
}

/// Parses an interval: seconds as a number, or a number with `ms` or `s`.
fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || format!("{text:?} is not an interval like 1, 0.5, 500ms or 2s");
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 1e-3)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else {
        (text, 1.0)
    };
    let value: f64 = number.trim().parse().map_err(|_| bad())?;
    let secs = value * scale;
    if !secs.is_finite() || !(0.1..=3600.0).contains(&secs) {
        return Err(format!("interval {text:?} must be from 100ms to 3600s"));
    }
    Ok(Duration::from_secs_f64(secs))
}

fn main() -> ExitCode {
    let Command::Top {
        urls,
        interval,
        once,
        width,
    } = Cli::parse().command;
    let mut sources = Vec::new();
    for url in &urls {
        match Source::http(url) {
            Ok(source) => sources.push(source),
            Err(err) => {
                eprintln!("tokio-pulse top: {err}");
                return ExitCode::from(2);
            }
        }
    }
    if once || !std::io::stdout().is_terminal() {
        let width = width
            .or_else(|| crossterm::terminal::size().ok().map(|(w, _)| w))
            .unwrap_or(132)
            .max(60);
        let frame = tokio_pulse_top::once(sources, interval, width);
        print!("{frame}");
        return if tokio_pulse_top::frame_ok(&frame) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let options = Options {
        interval,
        ..Options::default()
    };
    match tokio_pulse_top::run(sources, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("tokio-pulse top: terminal: {err}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_interval;
    use std::time::Duration;

    #[test]
    fn intervals_parse_or_name_the_input() {
        assert_eq!(parse_interval("1"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_interval("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_interval("2s"), Ok(Duration::from_secs(2)));
        assert!(parse_interval("fast").unwrap_err().contains("\"fast\""));
        assert!(parse_interval("1ms").unwrap_err().contains("\"1ms\""));
    }
}
