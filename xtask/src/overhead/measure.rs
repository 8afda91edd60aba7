//! Running the workload binary: wall-time runs, callgrind runs, the memory
//! run, and parsing what they print.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};

use crate::process;

/// What one `pulse-overhead run` printed.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutput {
    /// The unit of work ("spawn", "poll", ...).
    pub unit: String,
    /// Units of work per iteration.
    pub units: u64,
    /// Nanoseconds of each measured iteration.
    pub ns: Vec<f64>,
    /// Peak RSS of the process, KiB.
    pub vmhwm_kib: u64,
}

/// Parses `pulse-overhead run` output (`key value...` lines).
pub fn parse_run(text: &str) -> Result<RunOutput> {
    let mut unit = None;
    let mut units = None;
    let mut ns = None;
    let mut vmhwm = None;
    for line in text.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        match key {
            "unit" => unit = Some(value.to_string()),
            "units" => units = Some(parse_num::<u64>(key, value)?),
            "ns" => {
                ns = Some(
                    value
                        .split_whitespace()
                        .map(|v| parse_num::<f64>(key, v))
                        .collect::<Result<Vec<_>>>()?,
                )
            }
            "vmhwm_kib" => vmhwm = Some(parse_num::<u64>(key, value)?),
            _ => {}
        }
    }
    let missing = |key: &str| anyhow!("the workload printed no `{key}` line:\n{text}");
    let out = RunOutput {
        unit: unit.ok_or_else(|| missing("unit"))?,
        units: units.ok_or_else(|| missing("units"))?,
        ns: ns.ok_or_else(|| missing("ns"))?,
        vmhwm_kib: vmhwm.ok_or_else(|| missing("vmhwm_kib"))?,
    };
    if out.units == 0 || out.ns.is_empty() {
        bail!("the workload printed no work or no durations:\n{text}");
    }
    Ok(out)
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T> {
    value
        .trim()
        .parse()
        .map_err(|_| anyhow!("the workload printed a bad `{key}` value {value:?}"))
}

/// A workload run's arguments.
#[derive(Debug, Clone, Copy)]
pub struct RunArgs {
    /// Worker threads.
    pub workers: usize,
    /// Unmeasured iterations first.
    pub warmup: usize,
    /// Measured iterations.
    pub iters: usize,
}

/// The command that runs `workload` with `args` on `binary`, with a clean
/// `TOKIO_PULSE_*` environment.
pub fn run_command(binary: &Path, workload: &str, args: RunArgs) -> Command {
    let mut cmd = Command::new(binary);
    cmd.args(["run", workload])
        .args(["--workers", &args.workers.to_string()])
        .args(["--warmup", &args.warmup.to_string()])
        .args(["--iters", &args.iters.to_string()]);
    clean_env(&mut cmd);
    cmd
}

/// Removes every `TOKIO_PULSE_*` variable so that only the variant decides.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("TOKIO_PULSE_") {
            cmd.env_remove(key);
        }
    }
}

/// Runs one wall-time measurement.
pub fn wall(binary: &Path, workload: &str, args: RunArgs) -> Result<RunOutput> {
    parse_run(&process::output(run_command(binary, workload, args))?)
        .with_context(|| format!("{} run {workload}", binary.display()))
}

/// Runs `workload` under callgrind and returns its total instruction count.
/// The profile is kept at `out` for `callgrind_annotate`.
pub fn callgrind(binary: &Path, workload: &str, args: RunArgs, out: &Path) -> Result<u64> {
    let inner = run_command(binary, workload, args);
    let mut cmd = Command::new("valgrind");
    cmd.arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(inner.get_program())
        .args(inner.get_args());
    clean_env(&mut cmd);
    process::output(cmd).with_context(|| {
        "callgrind failed (is valgrind installed? `apt-get install valgrind`)".to_string()
    })?;
    let text =
        std::fs::read_to_string(out).with_context(|| format!("reading {}", out.display()))?;
    callgrind_total(&text).with_context(|| format!("in {}", out.display()))
}

/// The total Ir from a callgrind output file (`totals:` or `summary:`).
pub fn callgrind_total(text: &str) -> Result<u64> {
    text.lines()
        .rev()
        .find_map(|line| {
            line.strip_prefix("totals:")
                .or_else(|| line.strip_prefix("summary:"))
        })
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow!("no `totals:` or `summary:` line"))
}

/// Runs the memory measurement: net heap bytes per live pending task.
pub fn bytes_per_task(binary: &Path, workers: usize, tasks: usize) -> Result<f64> {
    let mut cmd = Command::new(binary);
    cmd.args(["mem", "--workers", &workers.to_string()])
        .args(["--tasks", &tasks.to_string()]);
    clean_env(&mut cmd);
    let text = process::output(cmd)?;
    text.lines()
        .find_map(|l| l.strip_prefix("bytes_per_task "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            anyhow!(
                "`{} mem` printed no bytes_per_task:\n{text}",
                binary.display()
            )
        })
}

/// The workloads the binary knows, in its order.
pub fn list(binary: &Path) -> Result<Vec<String>> {
    let mut cmd = Command::new(binary);
    cmd.arg("list");
    Ok(process::output(cmd)?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect())
}

/// Where a callgrind profile goes.
pub fn profile_path(
    dir: &Path,
    variant: &str,
    workload: &str,
    iters: usize,
    rep: usize,
) -> PathBuf {
    dir.join(variant)
        .join(format!("{workload}.iters{iters}.rep{rep}.out"))
}

/// Median of a non-empty sample (mean of the middle two for even sizes).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_run_output() {
        let out = parse_run("unit poll\nunits 20020\nns 10 30 20\nvmhwm_kib 8800\n").unwrap();
        assert_eq!(
            out,
            RunOutput {
                unit: "poll".into(),
                units: 20020,
                ns: vec![10.0, 30.0, 20.0],
                vmhwm_kib: 8800
            }
        );
        let err = parse_run("unit poll\nunits 1\nvmhwm_kib 1\n").unwrap_err();
        assert!(err.to_string().contains("`ns`"), "{err}");
        let err = parse_run("unit poll\nunits x\n").unwrap_err();
        assert!(err.to_string().contains("`units`"), "{err}");
        assert!(parse_run("unit poll\nunits 0\nns 1\nvmhwm_kib 1\n").is_err());
    }

    #[test]
    fn reads_callgrind_totals() {
        let text = "events: Ir\nsummary: 15598251\nfn=x\n1 2\ntotals: 15598252\n";
        assert_eq!(callgrind_total(text).unwrap(), 15598252);
        assert_eq!(callgrind_total("summary: 7\n").unwrap(), 7);
        assert!(callgrind_total("events: Ir\n").is_err());
    }

    #[test]
    fn median_of_odd_and_even_samples() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(&[]).is_nan());
    }
}
