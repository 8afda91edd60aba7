//! Poll timing, slow polls, attribution and the stall watchdog, on the real
//! runtime. Durations here are blocking sleeps of tens of milliseconds, so
//! the assertions hold on a loaded machine; nothing asserts how fast the
//! probes are (that is `cargo xtask overhead`'s job).

use std::panic::Location;
use std::time::{Duration, Instant};

use tokio::runtime::Builder;
use tokio_pulse_rt::{tier, Clock, PulseConfig, SlowPoll, Stall};

mod common;
use common::{capture, pulse_multi_thread as timed_runtime, settle};

#[test]
fn tier_boundaries_are_exact_for_synthetic_durations() {
    // On `Clock::instant` one tick is one nanosecond exactly, so every
    // boundary can be hit on the nose.
    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) =
        tokio_pulse_rt::RuntimeProbes::with_clock(None, 1, &settings, Clock::instant());
    let recorder = &mut recorders[0];
    // (duration in ns, expected tier): tier k holds [2^(k-1), 2^k) µs.
    let cases = [
        (0, 0),
        (999, 0),
        (1_000, 1),
        (1_999, 1),
        (2_000, 2),
        (3_999, 2),
        (4_000, 3),
        (1_023_999, 10),
        (1_024_000, 11),
        (1_048_575_999, 20),
        (1_048_576_000, 21),
        (3_600_000_000_000, 21),
    ];
    let mut now = 1_000_000u64;
    recorder.busy_started_at(now);
    let mut expected = [0u64; tier::TIERS];
    for (ns, tier) in cases {
        recorder.poll_started(|| tokio_pulse_rt::TaskInfo {
            id: 1,
            spawned_at: None,
        });
        now += ns;
        recorder.poll_ended_at(now);
        expected[tier] += 1;
    }
    let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.tiers, expected);
    for k in 0..tier::TIERS - 1 {
        assert_eq!(tier::upper_bound_us(k), Some(1 << k));
        assert_eq!(tier::of_us((1 << k) - 1), k, "just under the bound");
        assert_eq!(tier::of_us(1 << k), k + 1, "at the bound");
    }
}

#[test]
fn a_20ms_blocking_poll_is_slow_with_its_spawn_location() {
    let capture = capture();
    let rt = timed_runtime(2, PulseConfig::new().poll_timing(true));
    let probes = rt.handle().pulse();
    let mut spawned_at: Option<&'static Location<'static>> = None;
    rt.block_on(async {
        spawned_at = Some(Location::caller());
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(20)) })
            .await
            .unwrap();
    });
    let spawned_at = spawned_at.unwrap();
    let snap = settle(&probes);
    let slow: u64 = snap
        .workers
        .iter()
        .map(|w| w.poll_time.as_ref().unwrap().slow_polls)
        .sum();
    assert_eq!(slow, 1, "exactly the blocking poll is slow");
    let events: Vec<SlowPoll> = capture.slow_of(probes.id());
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert!(event.duration >= Duration::from_millis(20), "{event:?}");
    let at = event.task.spawned_at.expect("spawn location recorded");
    assert_eq!(at.file(), spawned_at.file());
    // `Location::caller()` above is one line before the `tokio::spawn`.
    assert_eq!(at.line(), spawned_at.line() + 1, "{at} vs {spawned_at}");
    assert!(event.task.id > 0);
}

#[test]
fn the_watchdog_reports_a_50ms_block_while_it_lasts_and_once() {
    let capture = capture();
    let rt = timed_runtime(
        2,
        // No stacks: this test times the events, and the first stack a test
        // build symbolizes can take longer than the 50 ms block
        // (tests/stall_stacks.rs covers stacks).
        PulseConfig::new()
            .stall_watchdog(Duration::from_millis(10))
            .stack_capture(false),
    );
    let probes = rt.handle().pulse();
    assert!(probes.watchdog_running());
    let (started, ended) = rt.block_on(async {
        tokio::spawn(async {
            let started = Instant::now();
            std::thread::sleep(Duration::from_millis(50));
            (started, Instant::now())
        })
        .await
        .unwrap()
    });
    // Let the watchdog see the end of the stall.
    std::thread::sleep(Duration::from_millis(30));
    let events: Vec<(Instant, Stall)> = capture.timed_stalls_of(probes.id());
    let ongoing: Vec<_> = events.iter().filter(|(_, e)| !e.ended).collect();
    let over: Vec<_> = events.iter().filter(|(_, e)| e.ended).collect();
    assert_eq!(ongoing.len(), 1, "one report while stuck: {events:?}");
    assert_eq!(over.len(), 1, "one report at the end: {events:?}");
    let (seen_at, live) = ongoing[0];
    assert!(*seen_at < ended, "reported after the block ended");
    assert!(*seen_at >= started);
    assert!(live.duration >= Duration::from_millis(10));
    assert!(live.task.spawned_at.is_some());
    let (_, done) = over[0];
    assert_eq!(done.worker, live.worker);
    assert_eq!(done.task, live.task);
    assert!(done.duration >= Duration::from_millis(50), "{done:?}");
    // The final duration is the worker's own timing of that poll, the same
    // number its slow-poll event carries, not the watchdog's estimate.
    let slow: Vec<SlowPoll> = capture
        .slow_of(probes.id())
        .into_iter()
        .filter(|e| e.task == live.task)
        .collect();
    assert_eq!(slow.len(), 1, "{slow:?}");
    assert_eq!(done.duration, slow[0].duration);
    let stalls: u64 = settle(&probes)
        .workers
        .iter()
        .map(|w| w.poll_time.as_ref().unwrap().stalls)
        .sum();
    assert_eq!(stalls, 1);
    drop(rt);
    std::thread::sleep(Duration::from_millis(20));
    assert!(!probes.watchdog_running(), "watchdog outlived the runtime");
}

#[test]
fn a_stuck_worker_shows_its_current_poll_time_live() {
    let rt = timed_runtime(2, PulseConfig::new().poll_timing(true));
    let probes = rt.handle().pulse();
    let (tx, rx) = std::sync::mpsc::channel();
    let blocker = rt.spawn(async move {
        tx.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(80));
    });
    rx.recv().unwrap();
    std::thread::sleep(Duration::from_millis(40));
    let during = probes.snapshot();
    let longest = during
        .workers
        .iter()
        .filter_map(|w| w.poll_time.as_ref().unwrap().current_poll)
        .max()
        .expect("a worker is inside a poll");
    assert!(longest >= Duration::from_millis(30), "{longest:?}");
    // The same state is on the scrape, while the worker is still stuck.
    let mut text = String::new();
    tokio_pulse_rt::prometheus::render_exact_families(&mut text, &[during]);
    let stuck = text
        .lines()
        .filter(|line| line.starts_with("tokio_pulse_current_poll_seconds{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .fold(0.0, f64::max);
    assert!(stuck >= 0.030, "{text}");
    rt.block_on(blocker).unwrap();
}

#[test]
fn busy_and_poll_time_cover_a_known_block() {
    const BLOCK: Duration = Duration::from_millis(100);
    let rt = timed_runtime(1, PulseConfig::new().poll_timing(true));
    let probes = rt.handle().pulse();
    let started = Instant::now();
    let before = probes.snapshot();
    rt.block_on(async {
        tokio::spawn(async { std::thread::sleep(BLOCK) })
            .await
            .unwrap();
    });
    let change = settle(&probes).delta(&before);
    // Everything the worker did here happened within this wall time.
    let wall = started.elapsed();
    let timing = change.workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.polls(), change.workers[0].polls, "{change:?}");
    // The one slow poll is in the tier of its own duration: tier 17,
    // [2^16, 2^17) µs, for 100 ms; a later one if a loaded machine held the
    // thread past 131 ms.
    let tier = tier::of_us(u64::try_from(timing.poll_time.as_micros()).unwrap());
    assert!(tier >= 17, "{timing:?}");
    assert_eq!(timing.tiers[tier], 1, "{timing:?}\n{change:?}");
    assert!(timing.poll_time >= BLOCK);
    assert!(timing.poll_time <= wall, "{timing:?} in {wall:?}");
    assert!(timing.busy_time >= BLOCK, "{:?}", timing.busy_time);
    assert!(timing.busy_time <= wall, "{timing:?} in {wall:?}");
}

#[test]
fn without_poll_timing_there_is_no_timing_data() {
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .build()
        .unwrap();
    let probes = rt.handle().pulse();
    rt.block_on(async { tokio::spawn(async {}).await.unwrap() });
    assert!(!probes.settings().poll_timing);
    assert!(probes.snapshot().workers[0].poll_time.is_none());
}

#[test]
fn current_thread_times_polls_too() {
    let rt = Builder::new_current_thread()
        .pulse(PulseConfig::new().poll_timing(true))
        .build()
        .unwrap();
    let probes = rt.handle().pulse();
    rt.block_on(async {
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(5)) })
            .await
            .unwrap();
    });
    let timing = settle(&probes).workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.polls(), 1);
    assert_eq!(timing.slow_polls, 1);
    assert!(timing.poll_time >= Duration::from_millis(5));
}
