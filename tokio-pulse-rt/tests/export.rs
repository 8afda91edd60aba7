//! The facade mapping, checked with `metrics-util`'s `DebuggingRecorder`:
//! known workloads on the real runtime give known published values, every
//! snapshot field lands in its family, and shut-down runtimes disappear.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics::Unit;
use metrics_util::debugging::{DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use tokio::runtime::Runtime;
use tokio_pulse_probes::PulseConfig;
use tokio_pulse_rt::export::{self, FamilyKind, FAMILIES};
use tokio_pulse_rt::RuntimeSnapshot;

mod common;
use common::{facade, named_multi_thread, named_pulse_multi_thread};

type Labels = BTreeMap<String, String>;

/// One published series: its name and labels, and its value.
#[derive(Debug, Default)]
struct Published {
    values: HashMap<(String, Labels), f64>,
    kinds: HashMap<String, MetricKind>,
    units: HashMap<String, Option<Unit>>,
    help: HashMap<String, Option<String>>,
}

impl Published {
    fn read(snapshotter: &Snapshotter) -> Published {
        let mut out = Published::default();
        for (key, unit, help, value) in snapshotter.snapshot().into_vec() {
            let name = key.key().name().to_string();
            let labels: Labels = facade::labels(key.key());
            let value = facade::value(key.key(), value);
            out.kinds.insert(name.clone(), key.kind());
            out.units.insert(name.clone(), unit);
            out.help.insert(name.clone(), help.map(|h| h.to_string()));
            out.values.insert((name, labels), value);
        }
        out
    }

    /// The series of runtime `id`.
    fn of(&self, id: u64) -> impl Iterator<Item = (&String, &Labels, f64)> {
        let id = id.to_string();
        self.values
            .iter()
            .filter(move |((_, labels), _)| labels.get("runtime_id") == Some(&id))
            .map(|((name, labels), value)| (name, labels, *value))
    }

    /// The value of the series `name` of runtime `id` with exactly `extra`
    /// besides `runtime` and `runtime_id`.
    fn get(&self, id: u64, name: &str, extra: &[(&str, &str)]) -> Option<f64> {
        self.of(id)
            .find(|(n, labels, _)| {
                *n == name
                    && labels.len() == 2 + extra.len()
                    && extra
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(.., value)| value)
    }

    /// The sum of every series `name` of runtime `id` whose labels include
    /// `extra`.
    fn sum(&self, id: u64, name: &str, extra: &[(&str, &str)]) -> f64 {
        self.of(id)
            .filter(|(n, labels, _)| {
                *n == name
                    && extra
                        .iter()
                        .all(|(k, v)| labels.get(*k).map(String::as_str) == Some(*v))
            })
            .map(|(.., value)| value)
            .sum()
    }
}

fn publish_to(recorder: &DebuggingRecorder, snapshot: &RuntimeSnapshot) {
    metrics::with_local_recorder(recorder, || export::publish_snapshot(snapshot));
}

fn wait_for(done: &AtomicUsize, target: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while done.load(SeqCst) < target {
        assert!(Instant::now() < deadline, "workload did not finish");
        std::thread::sleep(Duration::from_millis(1));
    }
}

const REMOTE: usize = 300;
const LOCAL: usize = 200;
const YIELDS: usize = 50;

/// Spawns `REMOTE` tasks from a plain thread, then one more remote task that
/// spawns `LOCAL` children on its worker and yields `YIELDS` times.
fn known_workload(rt: &Runtime) {
    let done = Arc::new(AtomicUsize::new(0));
    let handle = rt.handle().clone();
    let counter = done.clone();
    std::thread::spawn(move || {
        for _ in 0..REMOTE {
            let counter = counter.clone();
            handle.spawn(async move {
                counter.fetch_add(1, SeqCst);
            });
        }
        let counter = counter.clone();
        handle.spawn(async move {
            let children: Vec<_> = (0..LOCAL).map(|_| tokio::spawn(async {})).collect();
            for child in children {
                child.await.unwrap();
            }
            for _ in 0..YIELDS {
                tokio::task::yield_now().await;
            }
            counter.fetch_add(1, SeqCst);
        });
    })
    .join()
    .unwrap();
    wait_for(&done, REMOTE + 1);
}

#[test]
fn a_known_workload_publishes_known_values() {
    let rt = named_multi_thread("export-known", 2);
    known_workload(&rt);
    let probes = rt.handle().pulse();
    let snapshot = probes.snapshot();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    publish_to(&recorder, &snapshot);
    let published = Published::read(&snapshotter);
    let id = snapshot.id;

    let remote = [("origin", "remote"), ("worker", "external")];
    assert_eq!(
        published.get(id, export::SPAWNS, &remote),
        Some((REMOTE + 1) as f64)
    );
    assert_eq!(
        published.sum(id, export::SPAWNS, &[("origin", "local")]),
        LOCAL as f64
    );
    assert_eq!(
        published.sum(id, export::YIELDS, &[("reason", "yield_now")]),
        YIELDS as f64
    );
    // Every task polled at least once; the spawner once per yield more.
    assert!(
        published.sum(id, export::POLLS, &[]) >= (REMOTE + 1 + LOCAL + YIELDS) as f64,
        "{published:?}"
    );
    assert_eq!(published.get(id, export::WORKERS, &[]), Some(2.0));
    drop(rt);
}

/// Every field of a snapshot lands in its family with its exact value.
#[test]
fn every_snapshot_field_is_published_exactly() {
    let rt = named_multi_thread("export-fields", 3);
    known_workload(&rt);
    let snapshot = rt.handle().pulse().snapshot();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    publish_to(&recorder, &snapshot);
    let p = Published::read(&snapshotter);
    let id = snapshot.id;
    let ext = ("worker", "external");

    let exact = |name: &str, extra: &[(&str, &str)], want: u64| {
        assert_eq!(
            p.get(id, name, extra),
            Some(want as f64),
            "{name} {extra:?}"
        );
    };
    exact(
        export::SPAWNS,
        &[("origin", "remote"), ext],
        snapshot.spawns_remote,
    );
    exact(
        export::WAKES,
        &[("path", "remote"), ext],
        snapshot.wakes_remote,
    );
    exact(
        export::YIELDS,
        &[("reason", "self_wake"), ext],
        snapshot.self_wakes_remote,
    );
    exact(export::OVERFLOW_PUSHES, &[], snapshot.overflows_single);
    exact(export::WORKERS, &[], snapshot.workers.len() as u64);
    match snapshot.global_queue_depth {
        Some(depth) => exact(export::GLOBAL_QUEUE_DEPTH, &[], depth),
        None => assert_eq!(p.get(id, export::GLOBAL_QUEUE_DEPTH, &[]), None),
    }
    match snapshot.alive_tasks {
        Some(alive) => exact(export::ALIVE_TASKS, &[], alive),
        None => assert_eq!(p.get(id, export::ALIVE_TASKS, &[]), None),
    }
    for w in &snapshot.workers {
        let i = w.index.to_string();
        let me = ("worker", i.as_str());
        exact(export::POLLS, &[me], w.polls);
        exact(export::LIFO_POLLS, &[me], w.polls_lifo);
        exact(export::STEAL_ATTEMPTS, &[me], w.steal_attempts);
        exact(export::PARKS, &[me], w.parks);
        exact(export::UNPARKS, &[me], w.unparks);
        exact(export::OVERFLOWS, &[me], w.overflows_batch);
        exact(export::LIFO_CAPPED, &[me], w.lifo_capped);
        exact(export::SPAWNS, &[("origin", "local"), me], w.spawns_local);
        exact(export::WAKES, &[("path", "lifo"), me], w.wakes_lifo);
        exact(
            export::WAKES,
            &[("path", "local_queue"), me],
            w.wakes_local_queue,
        );
        exact(
            export::YIELDS,
            &[("reason", "yield_now"), me],
            w.yields_yield_now,
        );
        exact(export::YIELDS, &[("reason", "budget"), me], w.yields_budget);
        exact(
            export::YIELDS,
            &[("reason", "self_wake"), me],
            w.self_wakes_local,
        );
        match w.local_queue_depth {
            Some(depth) => exact(export::LOCAL_QUEUE_DEPTH, &[me], depth),
            None => assert_eq!(p.get(id, export::LOCAL_QUEUE_DEPTH, &[me]), None),
        }
        match &w.poll_time {
            Some(timing) => {
                exact(export::SLOW_POLLS, &[me], timing.slow_polls);
                exact(export::STALLS, &[me], timing.stalls);
            }
            None => {
                assert_eq!(p.get(id, export::SLOW_POLLS, &[me]), None);
                assert_eq!(p.get(id, export::STALLS, &[me]), None);
            }
        }
        for (victim, cell) in w.steals_from.iter().enumerate() {
            let v = victim.to_string();
            let labels = [me, ("victim", v.as_str())];
            if victim == w.index {
                assert_eq!(p.get(id, export::STEAL_OPERATIONS, &labels), None);
                assert_eq!(p.get(id, export::STOLEN_TASKS, &labels), None);
            } else {
                exact(export::STEAL_OPERATIONS, &labels, cell.operations);
                exact(export::STOLEN_TASKS, &labels, cell.tasks);
            }
        }
    }
    // Nothing else: 5 runtime-wide series, 13 per worker, the off-diagonal
    // steal matrix twice (3 workers: full), the 4 steal totals per worker,
    // the gauges the runtime could read (queue ages too), and 2 per worker
    // that times its polls.
    let n = snapshot.workers.len();
    let sampled = &snapshot.sampled;
    let gauges = usize::from(snapshot.global_queue_depth.is_some())
        + usize::from(sampled.inject_oldest.is_some())
        + sampled.local_oldest.iter().flatten().count()
        + usize::from(snapshot.alive_tasks.is_some())
        + snapshot
            .workers
            .iter()
            .filter(|w| w.local_queue_depth.is_some())
            .count()
        + 2 * snapshot
            .workers
            .iter()
            .filter(|w| w.poll_time.is_some())
            .count();
    let expected = 5 + n * (7 + 6) + 2 * n * (n - 1) + 4 * n + gauges;
    assert_eq!(p.of(id).count(), expected);
    drop(rt);
}

#[test]
fn labels_are_bounded_and_name_the_runtime() {
    let workers = 4;
    let rt = named_multi_thread("export-labels", workers);
    let snapshot = rt.handle().pulse().snapshot();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    publish_to(&recorder, &snapshot);
    let p = Published::read(&snapshotter);
    let allowed_workers: Vec<String> = (0..workers)
        .map(|i| i.to_string())
        .chain(["external".to_string()])
        .collect();
    let mut steal_series = 0;
    for (name, labels, _) in p.of(snapshot.id) {
        assert_eq!(labels["runtime"], "export-labels");
        let family = FAMILIES
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{name} is not in FAMILIES"));
        let mut keys: Vec<&str> = labels.keys().map(String::as_str).collect();
        keys.retain(|k| *k != "runtime" && *k != "runtime_id");
        let mut want: Vec<&str> = family.labels.to_vec();
        keys.sort_unstable();
        want.sort_unstable();
        assert_eq!(keys, want, "{name}");
        if let Some(worker) = labels.get("worker") {
            assert!(allowed_workers.contains(worker), "{name} {labels:?}");
        }
        if let Some(victim) = labels.get("victim") {
            assert_ne!(labels.get("worker"), Some(victim), "{name} {labels:?}");
            steal_series += 1;
        }
    }
    assert_eq!(steal_series, 2 * workers * (workers - 1));
    drop(rt);
}

#[test]
fn families_describe_themselves_with_units() {
    let rt = named_multi_thread("export-describe", 2);
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        export::describe();
        export::publish_snapshot(&rt.handle().pulse().snapshot());
    });
    let p = Published::read(&snapshotter);
    for family in FAMILIES {
        let Some(kind) = p.kinds.get(family.name) else {
            // Gauges the runtime could not read, and families of poll
            // timing (off here) are absent; every other family must be
            // there.
            assert!(
                family.kind == FamilyKind::Gauge || family.poll_timing,
                "{} missing",
                family.name
            );
            continue;
        };
        let want = match family.kind {
            FamilyKind::Counter => MetricKind::Counter,
            FamilyKind::Gauge => MetricKind::Gauge,
            FamilyKind::Histogram => MetricKind::Histogram,
        };
        assert_eq!(*kind, want, "{}", family.name);
        assert_eq!(p.units[family.name], Some(family.unit), "{}", family.name);
        assert_eq!(
            p.help[family.name].as_deref(),
            Some(family.help),
            "{}",
            family.name
        );
    }
    drop(rt);
}

#[test]
fn poll_timing_families_follow_the_runtime_setting() {
    let timed = named_pulse_multi_thread("export-timed", 2, PulseConfig::new().poll_timing(true));
    let untimed =
        named_pulse_multi_thread("export-untimed", 2, PulseConfig::new().poll_timing(false));
    timed.block_on(async {
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(30)) })
            .await
            .unwrap();
    });
    let (timed_snap, untimed_snap) = (
        timed.handle().pulse().snapshot(),
        untimed.handle().pulse().snapshot(),
    );
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    publish_to(&recorder, &timed_snap);
    publish_to(&recorder, &untimed_snap);
    let p = Published::read(&snapshotter);
    let slow: u64 = timed_snap
        .workers
        .iter()
        .map(|w| w.poll_time.as_ref().expect("poll timing on").slow_polls)
        .sum();
    assert_eq!(p.sum(timed_snap.id, export::SLOW_POLLS, &[]), slow as f64);
    assert_eq!(
        p.of(timed_snap.id)
            .filter(|(name, ..)| *name == export::STALLS)
            .count(),
        2
    );
    assert!(p
        .of(untimed_snap.id)
        .all(|(name, ..)| *name != export::SLOW_POLLS && *name != export::STALLS));
    drop((timed, untimed));
}

#[test]
fn runtimes_sharing_a_name_stay_apart() {
    let a = named_multi_thread("export-twin", 1);
    let b = named_multi_thread("export-twin", 2);
    let (id_a, id_b) = (a.handle().pulse().id(), b.handle().pulse().id());
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, export::publish);
    let p = Published::read(&snapshotter);
    assert_eq!(p.get(id_a, export::WORKERS, &[]), Some(1.0));
    assert_eq!(p.get(id_b, export::WORKERS, &[]), Some(2.0));
    for id in [id_a, id_b] {
        assert!(p
            .of(id)
            .all(|(_, labels, _)| labels["runtime"] == "export-twin"));
    }
    drop((a, b));
}

#[test]
fn shut_down_runtimes_are_not_published() {
    let rt = named_multi_thread("export-gone", 2);
    let probes = rt.handle().pulse();
    let id = probes.id();
    assert!(export::live_snapshots().iter().any(|s| s.id == id));
    rt.shutdown_timeout(Duration::from_secs(5));
    // The probes are still alive (we hold them) but the runtime is gone.
    assert!(probes.is_shut_down());
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, export::publish);
    let p = Published::read(&snapshotter);
    assert_eq!(p.of(id).count(), 0);
    // Its last values stay readable from the probes.
    assert_eq!(probes.snapshot().workers.len(), 2);
}

#[test]
fn published_counters_never_go_back() {
    let rt = named_multi_thread("export-monotonic", 2);
    let probes = rt.handle().pulse();
    known_workload(&rt);
    let early = probes.snapshot();
    known_workload(&rt);
    let late = probes.snapshot();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    let polls =
        |snapshotter: &Snapshotter| Published::read(snapshotter).sum(early.id, export::POLLS, &[]);
    // The later snapshot first, then a stale one: `absolute` keeps the
    // larger value, as Prometheus needs.
    publish_to(&recorder, &late);
    publish_to(&recorder, &early);
    assert_eq!(polls(&snapshotter), late.polls() as f64);
    assert!(late.polls() > early.polls());
    drop(rt);
}

#[test]
fn the_interval_publisher_feeds_the_global_recorder() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("no other global recorder in this test binary");
    let rt = named_multi_thread("export-interval", 2);
    known_workload(&rt);
    let id = rt.handle().pulse().id();
    let publisher = export::publisher()
        .interval(Duration::from_millis(20))
        .spawn()
        .expect("start the publisher");
    let deadline = Instant::now() + Duration::from_secs(30);
    let spawns = loop {
        let p = Published::read(&snapshotter);
        // A read may fall between a series' registration and its first
        // value; wait for a value.
        if let Some(v) = p.get(
            id,
            export::SPAWNS,
            &[("origin", "remote"), ("worker", "external")],
        ) {
            if v > 0.0 {
                break v;
            }
        }
        assert!(Instant::now() < deadline, "nothing published");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(spawns, (REMOTE + 1) as f64);
    publisher.stop();
    drop(rt);
}

#[test]
fn a_zero_interval_is_an_error() {
    let err = export::publisher()
        .interval(Duration::ZERO)
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("interval"), "{err}");
}

/// The steal totals are the sums of the matrix, by thief and by victim.
#[test]
fn steal_totals_sum_the_matrix() {
    let rt = named_multi_thread("export-steal-totals", 3);
    for _ in 0..5 {
        known_workload(&rt);
    }
    let snapshot = rt.handle().pulse().snapshot();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    publish_to(&recorder, &snapshot);
    let p = Published::read(&snapshotter);
    let id = snapshot.id;
    for w in 0..3 {
        let me = w.to_string();
        let worker = [("worker", me.as_str())];
        let victim = [("victim", me.as_str())];
        let pairs = [
            (
                export::THIEF_STEAL_OPERATIONS,
                export::STEAL_OPERATIONS,
                &worker,
            ),
            (export::THIEF_STOLEN_TASKS, export::STOLEN_TASKS, &worker),
            (
                export::VICTIM_STEAL_OPERATIONS,
                export::STEAL_OPERATIONS,
                &victim,
            ),
            (export::VICTIM_STOLEN_TASKS, export::STOLEN_TASKS, &victim),
        ];
        for (total, matrix, by) in pairs {
            assert_eq!(
                p.get(id, total, &[("worker", me.as_str())]),
                Some(p.sum(id, matrix, by)),
                "{total} of worker {w}"
            );
        }
    }
    drop(rt);
}

/// The number of series a 128-worker runtime publishes: the steal totals
/// by default, the full thief × victim matrix only when asked for, and the
/// snapshot keeps the matrix either way.
#[test]
fn a_128_worker_runtime_publishes_totals_unless_the_matrix_is_asked_for() {
    const N: usize = 128;
    let count = |config: PulseConfig| -> (usize, usize, usize) {
        let rt = named_pulse_multi_thread("export-128", N, config);
        let snapshot = rt.handle().pulse().snapshot();
        assert!(snapshot.workers.iter().all(|w| w.steals_from.len() == N));
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        publish_to(&recorder, &snapshot);
        let p = Published::read(&snapshotter);
        let facade = p.of(snapshot.id).count();
        let matrix = p
            .of(snapshot.id)
            .filter(|(_, labels, _)| labels.contains_key("victim"))
            .count();
        // The scrape writes the same series.
        let mut text = String::new();
        tokio_pulse_rt::prometheus::render_families(&mut text, std::slice::from_ref(&snapshot));
        let scraped = text
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .count();
        drop(rt);
        (facade, matrix, scraped)
    };
    // 5 runtime-wide, 13 counters and 1 queue depth per worker, 2
    // runtime gauges, 4 steal totals per worker, the N + 1 queue ages.
    let base = 5 + 13 * N + N + 2 + 4 * N + N + 1;
    let (facade, matrix, scraped) = count(PulseConfig::new());
    assert_eq!(matrix, 0);
    assert_eq!(facade, base);
    assert_eq!(scraped, base);
    assert_eq!(base, 2440);

    let (facade, matrix, scraped) = count(PulseConfig::new().full_steal_matrix(true));
    assert_eq!(matrix, 2 * N * (N - 1));
    assert_eq!(matrix, 32_512);
    assert_eq!(facade, base + 32_512);
    assert_eq!(scraped, base + 32_512);
}

/// What the README says of `metrics-exporter-prometheus`: with an idle
/// timeout, a runtime that is gone leaves the recorder's scrape once it has
/// not been published for that long, and a live one stays.
#[test]
fn a_prometheus_recorder_with_an_idle_timeout_forgets_a_gone_runtime() {
    use metrics_exporter_prometheus::PrometheusBuilder;
    use metrics_util::MetricKindMask;

    let recorder = PrometheusBuilder::new()
        .idle_timeout(MetricKindMask::ALL, Some(Duration::from_millis(300)))
        .build_recorder();
    let handle = recorder.handle();
    let stays = named_multi_thread("export-idle-stays", 1);
    let goes = named_multi_thread("export-idle-goes", 1);
    metrics::with_local_recorder(&recorder, export::publish);
    let text = handle.render();
    assert!(text.contains("runtime=\"export-idle-goes\""), "{text}");
    drop(goes);
    std::thread::sleep(Duration::from_millis(500));
    metrics::with_local_recorder(&recorder, export::publish);
    let text = handle.render();
    assert!(!text.contains("runtime=\"export-idle-goes\""), "{text}");
    assert!(text.contains("runtime=\"export-idle-stays\""), "{text}");
    drop(stays);
}
