//! The catalog (`export::FAMILIES`) is what both writers write: the
//! Prometheus text has exactly the catalog's families, in catalog order and
//! of the catalog's type, and the facade exactly its non-text-only ones.

use std::collections::BTreeSet;

use metrics_util::debugging::DebuggingRecorder;
use tokio::runtime::Runtime;
use tokio_pulse_probes::PulseConfig;
use tokio_pulse_rt::export::{self, FamilyKind, FAMILIES};

mod common;
use common::named_pulse_multi_thread;

/// A timed 2-worker runtime that has run some tasks, so that every family
/// has samples (the queue gauges when the runtime can read them).
fn timed_runtime() -> Runtime {
    let rt = named_pulse_multi_thread("catalog", 2, PulseConfig::new().poll_timing(true));
    rt.block_on(async {
        tokio::spawn(async {
            let children: Vec<_> = (0..50).map(|_| tokio::spawn(async {})).collect();
            for child in children {
                child.await.unwrap();
            }
        })
        .await
        .unwrap();
    });
    rt
}

/// Families the runtime may be unable to read, which are then absent (the
/// watchdog's samples need the watchdog, which this runtime does not run).
fn may_be_absent(name: &str) -> bool {
    name.ends_with("_depth")
        || name.ends_with("alive_tasks")
        || [export::POLL_SAMPLES, export::PRESSURE_SECONDS].contains(&name)
}

#[test]
fn the_text_writes_exactly_the_catalog_in_order() {
    let rt = timed_runtime();
    let mut text = String::new();
    tokio_pulse_rt::prometheus::render_families(&mut text, &[rt.handle().pulse().snapshot()]);
    let written: Vec<(&str, &str)> = text
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .map(|rest| rest.split_once(' ').expect("# TYPE name kind"))
        .collect();
    let names: BTreeSet<&str> = written.iter().map(|(name, _)| *name).collect();
    let expected: Vec<(&str, &str)> = FAMILIES
        .iter()
        .filter(|f| names.contains(f.name) || !may_be_absent(f.name))
        .map(|f| (f.name, f.kind.as_str()))
        .collect();
    assert_eq!(written, expected, "\n{text}");
    assert!(written.contains(&("tokio_pulse_poll_duration_seconds", "histogram")));
    drop(rt);
}

#[test]
fn the_facade_publishes_exactly_the_catalog_families_that_are_not_text_only() {
    let rt = timed_runtime();
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    metrics::with_local_recorder(&recorder, || {
        export::publish_snapshot(&rt.handle().pulse().snapshot())
    });
    let published: BTreeSet<String> = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, ..)| key.key().name().to_string())
        .collect();
    let expected: BTreeSet<String> = FAMILIES
        .iter()
        .filter(|f| !f.text_only)
        .filter(|f| published.contains(f.name) || !may_be_absent(f.name))
        .map(|f| f.name.to_string())
        .collect();
    assert_eq!(published, expected);
    for family in FAMILIES.iter().filter(|f| f.text_only) {
        assert!(
            family.kind == FamilyKind::Histogram || family.unit == metrics::Unit::Seconds,
            "{} is text-only but neither a histogram nor seconds",
            family.name
        );
    }
    drop(rt);
}
