//! CPU by spawn site: the watchdog's samples of what each worker is
//! polling, counted by where the polled task was spawned, on the real
//! runtime.

use std::panic::Location;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Builder;
use tokio::task::JoinHandle;
use tokio_pulse_probes::PulseConfig;
use tokio_pulse_rt::SpawnSiteTable;

/// Spins for 150 to 450 µs, drawn from the task's own generator, so that
/// the polls do not keep step with the watchdog's period.
fn burn(state: &mut u64) {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let spin = Duration::from_micros(150 + *state % 300);
    let start = Instant::now();
    while start.elapsed() < spin {
        std::hint::spin_loop();
    }
}

/// Burns in short polls until `until`, adding the wall time of its burns
/// (nanoseconds) to `spent`.
async fn burner(until: Instant, mut state: u64, spent: Arc<AtomicU64>) {
    while Instant::now() < until {
        let start = Instant::now();
        burn(&mut state);
        spent.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        tokio::task::yield_now().await;
    }
}

/// `tokio::spawn`, with the location Tokio records for the task.
#[track_caller]
fn spawn(
    task: impl std::future::Future<Output = ()> + Send + 'static,
) -> (JoinHandle<()>, &'static Location<'static>) {
    (tokio::spawn(task), Location::caller())
}

/// Three burners from site A and one from site B, until `until`, adding
/// their burn time to `spent[0]` and `spent[1]`; and a task that only
/// waits, from a third site. Returns the tasks and the three sites.
fn spawn_all(
    until: Instant,
    spent: &[Arc<AtomicU64>; 2],
) -> (Vec<JoinHandle<()>>, [&'static Location<'static>; 3]) {
    let mut tasks = Vec::new();
    let mut a = None;
    for seed in 1..=3u64 {
        let (task, site) = spawn(burner(until, seed * 0x9E37_79B9, spent[0].clone()));
        tasks.push(task);
        a = Some(site);
    }
    let (task, b) = spawn(burner(until, 0xDEAD_BEEF, spent[1].clone()));
    tasks.push(task);
    // Only waits: inside a poll for a few microseconds every 50 ms.
    let (task, wait) = spawn(async move {
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    tasks.push(task);
    (tasks, [a.unwrap(), b, wait])
}

fn samples(table: &SpawnSiteTable, site: &Location<'_>) -> u64 {
    table.samples_at(site.file(), site.line())
}

#[test]
fn samples_follow_the_cpu_each_spawn_site_burns() {
    // One worker: four burners share it round-robin, three from site A and
    // one from site B, so A gets three times B's CPU.
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_secs(10))
                .watchdog_period(Duration::from_millis(1)),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse().clone();
    assert!(probes.watchdog_running());
    let before = probes.snapshot();
    let spent: [Arc<AtomicU64>; 2] = Default::default();
    let [site_a, site_b, site_wait] = rt.block_on(async {
        let (tasks, sites) = spawn_all(Instant::now() + Duration::from_millis(2500), &spent);
        for task in tasks {
            task.await.unwrap();
        }
        sites
    });
    let table: SpawnSiteTable = probes.snapshot().delta(&before).sampled.spawn_sites;
    let (a, b) = (samples(&table, site_a), samples(&table, site_b));
    assert!(a + b > 500, "too few samples to judge: {table:#?}");
    eprintln!(
        "site A: {a} samples, site B: {b}, waiting site: {}; burn time A:B = {:.2}",
        samples(&table, site_wait),
        spent[0].load(Ordering::Relaxed) as f64 / spent[1].load(Ordering::Relaxed) as f64
    );
    // The burners' own account of their time: 3:1 by construction, as
    // round-robin on one worker shares it, but a loaded machine that
    // preempts the worker mid-poll stretches some polls, and the samples
    // (wall clock, like the watchdog's) must follow what really happened.
    let spent_a = spent[0].load(Ordering::Relaxed) as f64;
    let spent_b = spent[1].load(Ordering::Relaxed) as f64;
    let truth = spent_a / spent_b;
    assert!((2.0..=4.5).contains(&truth), "burn time A:B = {truth:.2}");
    let ratio = a as f64 / b as f64;
    assert!(
        (truth * 0.85..=truth * 1.15).contains(&ratio),
        "samples A:B = {a}:{b} = {ratio:.2}, burn time A:B = {truth:.2}, expected within 15 %: {table:#?}"
    );
    // A task that only waits is inside a poll only for the microseconds
    // its polls take: next to nothing (expected well under one sample).
    assert!(samples(&table, site_wait) * 100 <= a + b, "{table:#?}");

    // The export names the sites, and the counts add up.
    let mut text = String::new();
    tokio_pulse_rt::prometheus::render_families(&mut text, &[probes.snapshot()]);
    let label = format!("location=\"{}:{}:", site_a.file(), site_a.line());
    let line = text
        .lines()
        .find(|line| line.starts_with("tokio_pulse_poll_samples_total{") && line.contains(&label))
        .unwrap_or_else(|| panic!("no series for site A:\n{text}"));
    let exported: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(exported > 0 && exported <= a, "{line}");
    assert!(text.contains("tokio_pulse_poll_samples_total{runtime="));
    assert!(text.contains("location=\"other\"}"), "{text}");
}

#[test]
fn the_top_k_bounds_the_series_and_the_rest_is_other() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .enable_time()
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_secs(10))
                .watchdog_period(Duration::from_millis(1))
                .spawn_sites_top_k(1),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse().clone();
    let spent: [Arc<AtomicU64>; 2] = Default::default();
    rt.block_on(async {
        let (tasks, _) = spawn_all(Instant::now() + Duration::from_millis(600), &spent);
        for task in tasks {
            task.await.unwrap();
        }
    });
    let snap = probes.snapshot();
    let table = &snap.sampled.spawn_sites;
    assert_eq!(
        table.sites.iter().filter(|s| s.top).count(),
        1,
        "{table:#?}"
    );
    let exported: u64 = table.sites.iter().map(|s| s.exported).sum();
    assert_eq!(exported + table.other, table.samples());
    let mut text = String::new();
    tokio_pulse_rt::prometheus::render_families(&mut text, &[snap]);
    let series = text
        .lines()
        .filter(|line| line.starts_with("tokio_pulse_poll_samples_total{"))
        .count();
    assert_eq!(series, 2, "one site by name, and other:\n{text}");
}
