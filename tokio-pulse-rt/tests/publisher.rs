//! The interval publisher's life: `stop()` ends it at once, whatever the
//! interval, and dropping the `Publisher` detaches it, which keeps
//! publishing.
//!
//! One test binary of its own: it installs a global `DebuggingRecorder`,
//! and a detached publisher keeps publishing into it until the process
//! ends.

use std::time::{Duration, Instant};

use metrics_util::debugging::{DebuggingRecorder, Snapshotter};
use tokio::runtime::{Builder, Runtime};
use tokio_pulse_rt::export;

fn runtime(name: &str) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(1)
        .name(name)
        .build()
        .expect("build runtime")
}

fn published(snapshotter: &Snapshotter, id: u64) -> bool {
    let id = id.to_string();
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .any(|(key, ..)| {
            key.key()
                .labels()
                .any(|l| l.key() == "runtime_id" && l.value() == id)
        })
}

fn wait_until_published(snapshotter: &Snapshotter, id: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !published(snapshotter, id) {
        assert!(Instant::now() < deadline, "runtime {id} never published");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn stop_ends_a_publisher_and_drop_detaches_it() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install().expect("the only global recorder here");

    // stop() does not wait for the interval.
    let slow = export::publisher()
        .interval(Duration::from_secs(3600))
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    slow.stop();
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // A stopped publisher publishes nothing more.
    let first = runtime("publisher-first");
    let publisher = export::publisher()
        .interval(Duration::from_millis(10))
        .min_runtime_age(Duration::ZERO)
        .spawn()
        .expect("spawn");
    wait_until_published(&snapshotter, first.handle().pulse().id());
    publisher.stop();
    let after_stop = runtime("publisher-after-stop");
    std::thread::sleep(Duration::from_millis(200));
    assert!(!published(&snapshotter, after_stop.handle().pulse().id()));

    // A dropped publisher goes on publishing: a runtime built after the
    // drop shows up.
    let detached = export::publisher()
        .interval(Duration::from_millis(10))
        .min_runtime_age(Duration::ZERO)
        .spawn()
        .expect("spawn");
    drop(detached);
    let after_drop = runtime("publisher-after-drop");
    wait_until_published(&snapshotter, after_drop.handle().pulse().id());
    drop((first, after_stop, after_drop));
}

#[test]
fn a_publisher_cap_of_zero_is_an_error_naming_the_value() {
    let err = export::publisher().max_runtimes(0).spawn().unwrap_err();
    assert!(
        matches!(err, tokio_pulse_rt::ExportError::Setting { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("max_runtimes(0)"), "{err}");
}
