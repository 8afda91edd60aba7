//! `cargo xtask overhead`: what the probes cost, against stock Tokio.
//!
//! One workload source (`overhead/src/`) is built once per [`variant`]
//! (stock Tokio 1.54.1, the fork, the fork with poll timing when the fork
//! offers it, stock with upstream's `tokio_unstable` poll-time histogram),
//! with the same flags, so that only the runtime differs. Then:
//!
//! 1. **Memory.** Each variant's binary spawns 10,000 pending tasks from a
//!    worker; a counting global allocator gives net heap bytes per task.
//! 2. **Wall time.** For each workload, `rounds` rounds; in each round every
//!    variant's binary runs once (warm-up iterations, then measured ones), the
//!    order alternating between rounds (A B C, C B A, ...). Every measured
//!    iteration is a sample: min, median, max per variant. The wall ratio to
//!    stock is paired by round: the median over rounds of (this variant's
//!    median in the round / stock's median in the same round), so that load
//!    that comes and goes between rounds cancels; its min and max over the
//!    rounds are its spread.
//! 3. **Instructions.** Each workload runs under `valgrind --tool=callgrind`
//!    with 1 iteration and with N+1; `(Ir(N+1) - Ir(1)) / (N * units)` is
//!    the instruction count per unit of work, start-up and shutdown
//!    cancelled. Callgrind serializes threads, and with two workers who
//!    steals what varies from run to run (±3 % per iteration here), so these
//!    runs use one worker, which makes them repeat to within 0.01 %;
//!    `work_stealing` needs a thief and uses two (its figure is noisier).
//! 4. A table of ratios to stock, the budget verdicts of DESIGN.md, and
//!    `target/pulse/overhead.json`.
//!
//! The fork is measured as it is in `vendor/tokio`, uncommitted work
//! included (its HEAD and dirtiness are recorded); it is materialized only
//! when missing.

pub mod measure;
pub mod report;
pub mod variant;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use crate::git::Git;
use crate::{fork, pristine, Paths};
use measure::RunArgs;
use variant::{Variant, VARIANTS};

/// Options of `cargo xtask overhead`.
#[derive(Debug, Clone, clap::Args)]
pub struct Args {
    /// A CI-sized run: fewer rounds, iterations and callgrind repetitions.
    #[arg(long)]
    pub quick: bool,
    /// Only these workloads (comma-separated; see `overhead/src/workloads.rs`).
    #[arg(long, value_delimiter = ',')]
    pub workloads: Vec<String>,
    /// Only these variants (comma-separated; `stock` is always included).
    #[arg(long, value_delimiter = ',')]
    pub variants: Vec<String>,
    /// Skip the callgrind instruction counts.
    #[arg(long)]
    pub no_ir: bool,
    /// Wall-time rounds (default 3 with --quick, else 10).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Callgrind runs at once (they count instructions, so running two at
    /// once does not change the counts).
    #[arg(long, default_value_t = 2)]
    pub jobs: usize,
}

/// Sizes of a run.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Wall-time rounds.
    pub rounds: usize,
    /// Workers in wall-time runs.
    pub workers: usize,
    /// Warm-up iterations per wall-time process.
    pub warmup: usize,
    /// Measured iterations per wall-time process.
    pub iters: usize,
    /// N in `Ir(N+1) - Ir(1)`.
    pub ir_n: usize,
    /// Callgrind pairs per workload and variant (median taken).
    pub ir_reps: usize,
    /// Pending tasks in the memory measurement.
    pub mem_tasks: usize,
}

impl Plan {
    /// The plan for `args`.
    pub fn new(args: &Args) -> Result<Plan> {
        let mut plan = if args.quick {
            Plan {
                rounds: 3,
                workers: 2,
                warmup: 1,
                iters: 3,
                ir_n: 2,
                ir_reps: 1,
                mem_tasks: 10_000,
            }
        } else {
            Plan {
                rounds: 10,
                workers: 2,
                warmup: 2,
                iters: 5,
                ir_n: 4,
                ir_reps: 3,
                mem_tasks: 10_000,
            }
        };
        if let Some(rounds) = args.rounds {
            if rounds == 0 {
                bail!("--rounds must be at least 1");
            }
            plan.rounds = rounds;
        }
        if args.jobs == 0 {
            bail!("--jobs must be at least 1");
        }
        Ok(plan)
    }

    /// Workers for the callgrind runs of `workload` (see the module docs).
    pub fn ir_workers(&self, workload: &str) -> usize {
        if workload == "work_stealing" {
            self.workers.max(2)
        } else {
            1
        }
    }
}

/// Wall-time samples of one workload on one variant.
#[derive(Debug, Clone, Default)]
pub struct Wall {
    /// Nanoseconds per iteration, every measured iteration of every round.
    pub ns: Vec<f64>,
    /// The median of each round's iterations, in round order.
    pub round_medians: Vec<f64>,
    /// Peak RSS of each process, KiB.
    pub vmhwm_kib: Vec<u64>,
}

/// Instruction counts of one workload on one variant.
#[derive(Debug, Clone, Default)]
pub struct Ir {
    /// `(Ir(1), Ir(N+1))` per repetition.
    pub pairs: Vec<(u64, u64)>,
}

/// Everything measured for one workload.
#[derive(Debug, Clone, Default)]
pub struct WorkloadResult {
    /// Unit of work.
    pub unit: String,
    /// Units per iteration.
    pub units: u64,
    /// Per variant name.
    pub wall: BTreeMap<String, Wall>,
    /// Per variant name.
    pub ir: BTreeMap<String, Ir>,
}

/// The whole run, as the report and the JSON see it.
#[derive(Debug, Clone)]
pub struct Results {
    /// The sizes used.
    pub plan: Plan,
    /// Variant names, stock first.
    pub variants: Vec<&'static Variant>,
    /// Variants not available in this fork, and why.
    pub skipped: Vec<String>,
    /// Workload names in order, with results.
    pub workloads: Vec<(String, WorkloadResult)>,
    /// Net heap bytes per pending task, per variant.
    pub bytes_per_task: BTreeMap<String, f64>,
    /// `vendor/tokio` HEAD, with `-dirty` if it has uncommitted changes.
    pub fork_revision: String,
    /// Seconds spent building, and in total.
    pub build_secs: f64,
    /// Seconds for the whole command.
    pub total_secs: f64,
    /// Whether instruction counts were taken.
    pub ir_measured: bool,
    /// The command line, for the record.
    pub command: String,
    /// The Tokio release (base) measured.
    pub tokio: String,
}

/// `cargo xtask overhead`: see the module docs.
pub fn run(paths: &Paths, args: &Args) -> Result<()> {
    let started = Instant::now();
    let plan = Plan::new(args)?;
    ensure_sources(paths)?;
    let fork_revision = fork_revision(paths);

    let (variants, skipped) = select_variants(paths, &args.variants)?;
    if !args.no_ir {
        which_valgrind()?;
    }

    let mut binaries = Vec::new();
    for v in &variants {
        eprintln!("overhead: building {} ({})", v.name, v.about);
        binaries.push(variant::build(paths, v)?);
    }
    let build_secs = started.elapsed().as_secs_f64();
    eprintln!(
        "overhead: built {} variants in {build_secs:.0} s",
        variants.len()
    );

    let known = measure::list(&binaries[0])?;
    let names = select_workloads(&known, &args.workloads)?;

    let mut bytes_per_task = BTreeMap::new();
    for (v, bin) in variants.iter().zip(&binaries) {
        let samples = (0..3)
            .map(|_| measure::bytes_per_task(bin, plan.workers, plan.mem_tasks))
            .collect::<Result<Vec<_>>>()?;
        bytes_per_task.insert(v.name.to_string(), measure::median(&samples));
    }

    let mut workloads: Vec<(String, WorkloadResult)> = Vec::new();
    for name in &names {
        eprintln!("overhead: wall time, {name}");
        let mut result = WorkloadResult::default();
        let args = RunArgs {
            workers: plan.workers,
            warmup: plan.warmup,
            iters: plan.iters,
        };
        for round in 0..plan.rounds {
            for i in round_order(variants.len(), round) {
                let out = measure::wall(&binaries[i], name, args)?;
                result.unit = out.unit;
                result.units = out.units;
                let wall = result.wall.entry(variants[i].name.to_string()).or_default();
                wall.round_medians.push(measure::median(&out.ns));
                wall.ns.extend(out.ns);
                wall.vmhwm_kib.push(out.vmhwm_kib);
            }
        }
        workloads.push((name.clone(), result));
    }

    if !args.no_ir {
        instructions(
            paths,
            &plan,
            &variants,
            &binaries,
            &mut workloads,
            args.jobs,
        )?;
    }

    let results = Results {
        plan,
        variants,
        skipped,
        workloads,
        bytes_per_task,
        fork_revision,
        build_secs,
        total_secs: started.elapsed().as_secs_f64(),
        ir_measured: !args.no_ir,
        tokio: paths.tokio.to_owned(),
        command: std::iter::once("cargo xtask overhead".to_string())
            .chain(std::env::args().skip(2))
            .collect::<Vec<_>>()
            .join(" "),
    };
    print!("{}", report::table(&results));
    let json_path = if paths.is_default_base() {
        paths.scratch().join("overhead.json")
    } else {
        paths
            .scratch()
            .join(format!("overhead-{}.json", paths.tokio))
    };
    let json = serde_json::to_string_pretty(&report::json(&results))?;
    std::fs::write(&json_path, json + "\n")
        .with_context(|| format!("writing {}", json_path.display()))?;
    println!("wrote {}", json_path.display());
    Ok(())
}

/// Materializes the pristine crate and the fork if they are missing; a
/// present fork is used as it is.
fn ensure_sources(paths: &Paths) -> Result<()> {
    if !paths.vendor_tokio().join("Cargo.toml").is_file() {
        fork::ensure_fork(paths, false)?;
    }
    if !paths.pristine().join("Cargo.toml").is_file() {
        pristine::ensure(paths)?;
    }
    Ok(())
}

fn fork_revision(paths: &Paths) -> String {
    let git = Git::new(paths.vendor_tokio());
    let head = git
        .run(["rev-parse", "--short", "HEAD"])
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string());
    match git.uncommitted() {
        Ok(dirty) if !dirty.is_empty() => format!("{head}-dirty"),
        _ => head,
    }
}

/// The variants to run (stock first) and the ones skipped, with why.
fn select_variants(
    paths: &Paths,
    wanted: &[String],
) -> Result<(Vec<&'static Variant>, Vec<String>)> {
    for name in wanted {
        if !VARIANTS.iter().any(|v| v.name == name) {
            let known: Vec<_> = VARIANTS.iter().map(|v| v.name).collect();
            bail!("unknown variant {name:?}; known: {}", known.join(", "));
        }
    }
    let mut chosen = Vec::new();
    let mut skipped = Vec::new();
    for v in VARIANTS {
        let asked = wanted.is_empty() || v.name == "stock" || wanted.iter().any(|w| w == v.name);
        if !asked {
            continue;
        }
        if v.available(paths) {
            chosen.push(v);
        } else if let Some((file, needle)) = v.requires {
            let why = format!("{}: {file} has no `{needle}` yet", v.name);
            if wanted.iter().any(|w| w == v.name) {
                bail!("variant {why}");
            }
            eprintln!("overhead: skipping variant {why}");
            skipped.push(why);
        }
    }
    Ok((chosen, skipped))
}

/// `wanted` checked against `known`, in `known`'s order (all if empty).
fn select_workloads(known: &[String], wanted: &[String]) -> Result<Vec<String>> {
    if let Some(bad) = wanted.iter().find(|w| !known.contains(w)) {
        bail!("unknown workload {bad:?}; known: {}", known.join(", "));
    }
    Ok(known
        .iter()
        .filter(|k| wanted.is_empty() || wanted.contains(k))
        .cloned()
        .collect())
}

/// Variant indices for round `round`: forward on even rounds, backward on
/// odd ones, so no variant always runs first or last.
pub fn round_order(variants: usize, round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..variants).collect();
    if round % 2 == 1 {
        order.reverse();
    }
    order
}

fn which_valgrind() -> Result<()> {
    let mut cmd = std::process::Command::new("valgrind");
    cmd.arg("--version");
    crate::process::output(cmd).map(|_| ()).context(
        "instruction counts need valgrind (`apt-get install valgrind`); \
         or pass --no-ir for wall time only",
    )
}

/// Runs every callgrind measurement, `jobs` at a time, into `workloads`.
fn instructions(
    paths: &Paths,
    plan: &Plan,
    variants: &[&'static Variant],
    binaries: &[PathBuf],
    workloads: &mut [(String, WorkloadResult)],
    jobs: usize,
) -> Result<()> {
    let dir = variant::overhead_dir(paths).join("callgrind");
    for v in variants {
        std::fs::create_dir_all(dir.join(v.name))
            .with_context(|| format!("creating {}", dir.join(v.name).display()))?;
    }
    // (workload index, variant index, repetition, iterations)
    let mut queue = Vec::new();
    for w in 0..workloads.len() {
        for rep in 0..plan.ir_reps {
            for v in 0..variants.len() {
                for iters in [1, plan.ir_n + 1] {
                    queue.push((w, v, rep, iters));
                }
            }
        }
    }
    let total = queue.len();
    eprintln!("overhead: {total} callgrind runs, {jobs} at a time");
    let queue = Mutex::new(queue.into_iter());
    let counts = Mutex::new(BTreeMap::new());
    let names: Vec<String> = workloads.iter().map(|(n, _)| n.clone()).collect();
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        let next = queue.lock().map_err(|_| anyhow!("poisoned"))?.next();
                        let Some((w, v, rep, iters)) = next else {
                            return Ok(());
                        };
                        let name = &names[w];
                        let args = RunArgs {
                            workers: plan.ir_workers(name),
                            warmup: 0,
                            iters,
                        };
                        let out = measure::profile_path(&dir, variants[v].name, name, iters, rep);
                        let ir = measure::callgrind(&binaries[v], name, args, &out)?;
                        let mut counts = counts.lock().map_err(|_| anyhow!("poisoned"))?;
                        counts.insert((w, v, rep, iters), ir);
                        if counts.len() % 20 == 0 {
                            eprintln!("overhead: callgrind {}/{total}", counts.len());
                        }
                    }
                })
            })
            .collect();
        for worker in workers {
            worker
                .join()
                .map_err(|_| anyhow!("a callgrind thread panicked"))??;
        }
        Ok(())
    })?;
    let counts = counts.into_inner().map_err(|_| anyhow!("poisoned"))?;
    for (w, (_, result)) in workloads.iter_mut().enumerate() {
        for (v, variant) in variants.iter().enumerate() {
            let pairs = (0..plan.ir_reps)
                .filter_map(|rep| {
                    Some((
                        *counts.get(&(w, v, rep, 1))?,
                        *counts.get(&(w, v, rep, plan.ir_n + 1))?,
                    ))
                })
                .collect();
            result.ir.insert(variant.name.to_string(), Ir { pairs });
        }
    }
    Ok(())
}

/// Instructions per unit from one `(Ir(1), Ir(N+1))` pair.
pub fn ir_per_unit(pair: (u64, u64), n: usize, units: u64) -> f64 {
    (pair.1 as f64 - pair.0 as f64) / (n as f64 * units as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_alternate_direction() {
        assert_eq!(round_order(3, 0), vec![0, 1, 2]);
        assert_eq!(round_order(3, 1), vec![2, 1, 0]);
        assert_eq!(round_order(3, 2), vec![0, 1, 2]);
    }

    #[test]
    fn instructions_per_unit_cancel_start_up() {
        // Start-up 1,000,000 Ir, 650 Ir per unit, 20 units per iteration.
        let one = 1_000_000 + 650 * 20;
        let three = 1_000_000 + 3 * 650 * 20;
        assert_eq!(ir_per_unit((one, three), 2, 20), 650.0);
    }

    #[test]
    fn unknown_names_are_named() {
        let known = vec!["a".to_string(), "b".to_string()];
        assert_eq!(select_workloads(&known, &[]).unwrap(), known);
        assert_eq!(
            select_workloads(&known, &["b".into()]).unwrap(),
            vec!["b".to_string()]
        );
        let err = select_workloads(&known, &["zz".into()]).unwrap_err();
        assert!(err.to_string().contains("\"zz\""), "{err}");
        let err = select_variants(&Paths::new("/nonexistent"), &["nope".into()]).unwrap_err();
        assert!(err.to_string().contains("\"nope\""), "{err}");
    }

    #[test]
    fn plans_reject_zero() {
        let args = Args {
            quick: true,
            workloads: vec![],
            variants: vec![],
            no_ir: false,
            rounds: Some(0),
            jobs: 2,
        };
        assert!(Plan::new(&args).is_err());
        let ok = Plan::new(&Args {
            rounds: None,
            ..args.clone()
        })
        .unwrap();
        assert_eq!(ok.rounds, 3);
        assert!(Plan::new(&Args { jobs: 0, ..args }).is_err());
    }
}
