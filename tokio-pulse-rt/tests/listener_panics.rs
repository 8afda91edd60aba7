//! A `tracing` subscriber that panics on every event, behind the installed
//! `TracingListener`: the workers and the watchdog carry on, and each panic
//! is counted. Its own binary: the listener and the subscriber are
//! process-wide.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use tokio::runtime::Builder;
use tokio_pulse_rt::PulseConfig;

mod common;
use common::wait_until;

/// Panics on every event; counts the events first.
struct Panicking;

static EVENTS: AtomicU64 = AtomicU64::new(0);

impl tracing::Subscriber for Panicking {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        if event.metadata().target().starts_with("tokio_pulse") {
            EVENTS.fetch_add(1, Ordering::SeqCst);
            panic!(
                "a tracing layer that panics on {}",
                event.metadata().target()
            );
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_panicking_tracing_layer_is_counted_and_survived() {
    tracing::subscriber::set_global_default(Panicking).unwrap();
    assert!(tokio_pulse_rt::events::install());
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        // A slow-poll threshold far above any poll but the blocking one, so
        // a loaded machine cannot add a slow poll to the count.
        .pulse(
            PulseConfig::new()
                .slow_poll_threshold(Duration::from_millis(30))
                .stall_watchdog(Duration::from_millis(20)),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse().clone();
    let timing = || {
        let snap = probes.snapshot();
        let sum = |field: fn(&tokio_pulse_rt::PollTimeSnapshot) -> u64| -> u64 {
            snap.workers
                .iter()
                .map(|w| field(w.poll_time.as_ref().unwrap()))
                .sum()
        };
        (
            sum(|t| t.slow_polls),
            sum(|t| t.stalls),
            sum(|t| t.listener_panics),
        )
    };
    for round in 1..=2u64 {
        let (done_tx, done_rx) = mpsc::channel();
        rt.spawn(async move {
            std::thread::sleep(Duration::from_millis(60));
            done_tx.send(()).unwrap();
        });
        done_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the blocking task finished");
        // A slow poll, a stall and its end: three events, three panics.
        wait_until("the events of this round", Duration::from_secs(10), || {
            EVENTS.load(Ordering::SeqCst) == 3 * round && timing().2 == 3 * round
        });
    }
    // The runtime still runs tasks, and the watchdog still watches.
    let (tx, rx) = mpsc::channel();
    rt.spawn(async move { tx.send(7).unwrap() });
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(7));
    assert!(probes.watchdog_running());
    let (slow, stalls, panics) = timing();
    assert_eq!((slow, stalls), (2, 2));
    assert_eq!(panics, 6);
    assert_eq!(EVENTS.load(Ordering::SeqCst), 6);
}
