//! Series churn from short-lived runtimes: an application that builds a
//! runtime per request must not grow the recorder without bound, and the
//! gauges of a runtime that is gone must not keep their last values.
//!
//! One test binary of its own: it installs a global `DebuggingRecorder`,
//! and nothing else may publish into it.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebuggingRecorder, Snapshotter};

mod common;
use common::{facade, named_multi_thread};

/// Series by (name, labels), with their values.
type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

/// Every series in the recorder.
fn series(snapshotter: &Snapshotter) -> Series {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let key = key.key();
            let value = facade::value(key, value);
            ((key.name().to_string(), facade::labels(key)), value)
        })
        .collect()
}

fn runtime_ids(series: &Series) -> HashSet<String> {
    series
        .keys()
        .flat_map(|(_, labels)| labels.iter())
        .filter(|(k, _)| k == "runtime_id")
        .map(|(_, v)| v.clone())
        .collect()
}

#[test]
fn a_hundred_dropped_runtimes_leave_the_recorder_bounded() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only global recorder here");

    let stays = named_multi_thread("churn-stays", 2);
    let stays_id = stays.handle().pulse().id().to_string();
    let publisher = tokio_pulse_rt::export::publisher()
        .interval(Duration::from_millis(10))
        .spawn()
        .expect("start the publisher");

    // A runtime that lives long enough to be published, then goes.
    let medium = named_multi_thread("churn-medium", 2);
    let medium_id = medium.handle().pulse().id().to_string();
    medium.block_on(async {
        tokio::spawn(async {}).await.unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !runtime_ids(&series(&snapshotter)).contains(&medium_id) {
        assert!(
            Instant::now() < deadline,
            "the medium runtime was never published"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // A `DebuggingRecorder` read takes the values (it swaps in 0): let the
    // publisher set them again before the runtime goes.
    std::thread::sleep(Duration::from_millis(100));
    drop(medium);

    // A runtime per request: each lives for several publish intervals.
    let mut dropped = HashSet::new();
    for i in 0..100 {
        let rt = named_multi_thread(&format!("churn-{i}"), 2);
        dropped.insert(rt.handle().pulse().id().to_string());
        rt.block_on(async {
            tokio::spawn(async {}).await.unwrap();
            tokio::time::sleep(Duration::from_millis(30)).await;
        });
        drop(rt);
    }
    // Let the publisher see that the medium runtime is gone.
    std::thread::sleep(Duration::from_millis(200));
    publisher.stop();

    let all = series(&snapshotter);
    let ids = runtime_ids(&all);
    let leaked: Vec<_> = ids.intersection(&dropped).collect();
    assert!(
        leaked.is_empty(),
        "{} of 100 short-lived runtimes reached the recorder",
        leaked.len()
    );
    assert!(ids.contains(&stays_id), "{ids:?}");
    assert!(ids.len() <= 2, "{ids:?}");

    // The medium runtime's gauges read 0; its counters keep their values.
    let of_medium = |name: &str| -> Vec<f64> {
        all.iter()
            .filter(|((n, labels), _)| {
                n == name
                    && labels
                        .iter()
                        .any(|(k, v)| k == "runtime_id" && *v == medium_id)
            })
            .map(|(_, v)| *v)
            .collect()
    };
    for gauge in [
        tokio_pulse_rt::export::WORKERS,
        tokio_pulse_rt::export::ALIVE_TASKS,
        tokio_pulse_rt::export::GLOBAL_QUEUE_DEPTH,
        tokio_pulse_rt::export::LOCAL_QUEUE_DEPTH,
    ] {
        let values = of_medium(gauge);
        assert!(!values.is_empty(), "{gauge} was published");
        assert!(values.iter().all(|v| *v == 0.0), "{gauge}: {values:?}");
    }
    let polls: f64 = of_medium(tokio_pulse_rt::export::POLLS).iter().sum();
    assert!(polls >= 1.0, "the counters keep their final values");

    // The scrape, too, carries no runtime that is gone.
    let text = tokio_pulse_rt::prometheus()
        .with_global_recorder(false)
        .build()
        .expect("renderer")
        .render();
    for id in &dropped {
        assert!(!text.contains(&format!("runtime_id=\"{id}\"")));
    }
    drop(stays);
}
