//! The stall watchdog, driven by recorders on synthetic time: it trusts only
//! its own clock to decide a stall, keeps watching through shutdown until
//! the workers stop, rate-limits its events, survives a panicking listener,
//! and exits promptly whatever its period. Its own binary: the listener is
//! process-wide. Not under Miri: the watchdog samples on real time, which
//! Miri only emulates.
#![cfg(not(miri))]

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_pulse_probes::fork::{self, RuntimeWriter, WorkerRecorder};
use tokio_pulse_probes::{
    Clock, PulseConfig, PulseListener, PulseSettings, RuntimeProbes, SlowPoll, Stall, TaskInfo,
    EVENTS_PER_SECOND,
};

/// Every event of this binary. Events from a runtime whose name starts with
/// `panicky` are recorded, then the listener panics.
#[derive(Default)]
struct Capture {
    slow: Mutex<Vec<SlowPoll>>,
    stalls: Mutex<Vec<Stall>>,
}

struct Recorder(Arc<Capture>);

impl PulseListener for Recorder {
    fn slow_poll(&self, event: &SlowPoll) {
        self.0.slow.lock().unwrap().push(event.clone());
        if event.runtime.starts_with("panicky") {
            panic!("a listener that panics on a slow poll");
        }
    }
    fn stall(&self, event: &Stall) {
        self.0.stalls.lock().unwrap().push(event.clone());
        if event.runtime.starts_with("panicky") {
            panic!("a listener that panics on a stall");
        }
    }
}

fn capture() -> &'static Arc<Capture> {
    static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Arc::new(Capture::default());
        tokio_pulse_probes::set_listener(Box::new(Recorder(capture.clone())))
            .unwrap_or_else(|_| panic!("a listener was already installed"));
        capture
    })
}

/// The stall reports of the runtime `id`'s worker. Not its starved-driver
/// reports: a synthetic worker never parks, so its drivers go unturned from
/// the runtime's build on, and the watchdog says so once per episode
/// (`tokio-pulse-rt/tests/starved_driver.rs` tests those).
fn stalls_of(id: u64) -> Vec<Stall> {
    capture()
        .stalls
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.runtime_id == id && e.details.starved_driver.is_none())
        .cloned()
        .collect()
}

fn settings(stall: Duration, period: Duration) -> PulseSettings {
    PulseConfig::new()
        .stall_watchdog(stall)
        .watchdog_period(period)
        .resolve()
        .unwrap()
}

/// One worker on `Clock::instant` (one tick per nanosecond since a
/// process-wide origin), with a watchdog.
fn synthetic(
    name: &str,
    stall: Duration,
    period: Duration,
) -> (Arc<RuntimeProbes>, WorkerRecorder) {
    let (writer, recorder) = synthetic_writer(name, stall, period);
    (writer.probes().clone(), recorder)
}

/// Like [`synthetic`], keeping the runtime's writer.
fn synthetic_writer(
    name: &str,
    stall: Duration,
    period: Duration,
) -> (RuntimeWriter, WorkerRecorder) {
    let (writer, mut recorders) =
        fork::with_clock(Some(name), 1, &settings(stall, period), Clock::instant());
    assert!(writer.probes().watchdog_running());
    (writer, recorders.remove(0))
}

fn task(id: u64) -> impl FnOnce() -> TaskInfo {
    move || TaskInfo {
        id,
        spawned_at: None,
    }
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fn stalls_counted(rt: &RuntimeProbes) -> u64 {
    rt.snapshot().workers[0].poll_time.as_ref().unwrap().stalls
}

/// A worker's clock reading that is far behind the watchdog's, as a TSC
/// read on a CPU whose counter lags another's would be: a 5 ms poll whose
/// start mark looks ancient must not be called a stall.
#[test]
fn a_clock_that_looks_far_behind_never_raises_a_stall() {
    capture();
    let (rt, mut worker) = synthetic(
        "skewed-behind",
        Duration::from_millis(10),
        Duration::from_millis(1),
    );
    let clock = rt.clock();
    // The start mark is the clock's origin: at least 100 ms before the
    // watchdog's reading, ten times the threshold.
    while clock.now() < 100_000_000 {
        std::thread::sleep(Duration::from_millis(5));
    }
    worker.busy_started_at(0);
    worker.poll_started(task(1));
    std::thread::sleep(Duration::from_millis(5));
    worker.poll_ended_at(clock.now());
    // Time for a few more samples.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(stalls_counted(&rt), 0, "{:?}", stalls_of(rt.id()));
    assert!(stalls_of(rt.id()).is_empty());
}

/// A worker's clock that looks far ahead of the watchdog's: the start mark
/// is in the watchdog's future, so the mark alone says the poll has not
/// even begun. The watchdog still sees the worker stuck, by its own clock,
/// and reports durations it can vouch for.
#[test]
fn a_clock_that_looks_far_ahead_still_reports_a_real_stall() {
    capture();
    let (rt, mut worker) = synthetic(
        "skewed-ahead",
        Duration::from_millis(10),
        Duration::from_millis(1),
    );
    let clock = rt.clock();
    let ahead = clock.now() + 10_000_000_000; // 10 s in the future
    let held = Instant::now();
    worker.busy_started_at(ahead);
    worker.poll_started(task(2));
    wait_until("the stall", || stalls_counted(&rt) == 1);
    std::thread::sleep(Duration::from_millis(20));
    worker.poll_ended_at(clock.now());
    let held = held.elapsed();
    wait_until("the end of the stall", || stalls_of(rt.id()).len() == 2);
    let events = stalls_of(rt.id());
    let (live, done) = (&events[0], &events[1]);
    assert!(!live.ended && done.ended, "{events:?}");
    assert_eq!((live.task.id, done.task.id), (2, 2));
    assert!(live.duration >= Duration::from_millis(10), "{live:?}");
    assert!(live.duration < Duration::from_secs(1), "{live:?}");
    assert!(done.duration >= Duration::from_millis(20), "{done:?}");
    // Not the 10 s the marks would make of it: at most what the test held
    // the poll for, plus the 1 % the watchdog allows a clock.
    assert!(
        done.duration <= held + held / 100,
        "{done:?} vs held {held:?}"
    );
    drop(worker);
    wait_until("the watchdog to exit", || !rt.watchdog_running());
}

/// A real stall with a sane clock: reported while it lasts, then its exact
/// duration from the worker's own record.
#[test]
fn a_stall_is_reported_while_it_lasts_and_with_the_workers_duration() {
    capture();
    let (rt, mut worker) = synthetic("sane", Duration::from_millis(10), Duration::from_millis(1));
    let clock = rt.clock();
    worker.busy_started_at(clock.now());
    worker.poll_started(task(3));
    let start = rt.worker(0).unwrap().current_poll().unwrap().started;
    wait_until("the stall", || stalls_counted(&rt) == 1);
    std::thread::sleep(Duration::from_millis(20));
    let end = clock.now();
    worker.poll_ended_at(end);
    wait_until("the end of the stall", || stalls_of(rt.id()).len() == 2);
    let events = stalls_of(rt.id());
    assert!(!events[0].ended && events[1].ended, "{events:?}");
    assert!(events[0].duration >= Duration::from_millis(10));
    assert_eq!(events[1].duration, Duration::from_nanos(end - start));
}

/// A worker that went into a poll without ever parking has never turned
/// the drivers: the runtime's build is their last turn, so once the stall
/// threshold has passed the watchdog reports them starved, once per
/// episode, and a park ends the episode.
#[test]
fn drivers_unturned_since_the_build_are_reported_starved() {
    capture();
    let threshold = Duration::from_millis(10);
    let (rt, mut worker) = synthetic("never-turned", threshold, Duration::from_millis(1));
    let starved = || {
        capture()
            .stalls
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.runtime_id == rt.id())
            .filter_map(|e| e.details.starved_driver)
            .collect::<Vec<_>>()
    };
    let clock = rt.clock();
    worker.busy_started_at(clock.now());
    worker.poll_started(task(9));
    wait_until("the starved-driver report", || !starved().is_empty());
    std::thread::sleep(Duration::from_millis(20));
    let reports = starved();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(reports[0].driver, "io");
    assert!(reports[0].not_turned_for >= threshold, "{reports:?}");
    let age = rt.driver_last_turn_age().expect("poll timing is on");
    assert!(age >= threshold + Duration::from_millis(20), "{age:?}");
    worker.poll_ended_at(clock.now());
    worker.parked();
    assert_eq!(rt.driver_last_turn_age(), Some(Duration::ZERO));
}

/// Shutdown begins while a worker is stuck: the watchdog keeps reporting,
/// and once the worker stops (its recorder dropped) it closes the stall
/// with its final duration and exits.
#[test]
fn a_stall_open_when_the_workers_stop_is_closed_with_its_duration() {
    capture();
    let (writer, mut worker) = synthetic_writer(
        "stopping",
        Duration::from_millis(10),
        Duration::from_millis(1),
    );
    let rt = writer.probes().clone();
    let clock = rt.clock();
    writer.mark_shut_down();
    assert!(!rt.workers_stopped());
    worker.busy_started_at(clock.now());
    worker.poll_started(task(4));
    let held = Instant::now();
    wait_until("the stall after shutdown began", || {
        stalls_counted(&rt) == 1
    });
    assert!(rt.watchdog_running(), "the watchdog stopped at shutdown");
    std::thread::sleep(Duration::from_millis(20));
    // The worker stops without ending its poll.
    drop(worker);
    let held = held.elapsed();
    assert!(rt.workers_stopped());
    wait_until("the watchdog to exit", || !rt.watchdog_running());
    let events = stalls_of(rt.id());
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(!events[0].ended && events[1].ended, "{events:?}");
    assert!(
        events[1].duration >= Duration::from_millis(20),
        "{events:?}"
    );
    assert!(events[1].duration <= held + held / 100 + Duration::from_millis(5));
}

/// More stalls in a second than the limit allows: the limit's worth go out,
/// each with its end, and the rest are counted, neither of their events
/// sent; the next one after the window says how many were dropped.
#[test]
fn a_burst_of_stalls_is_limited_and_counted() {
    capture();
    const BURST: u64 = EVENTS_PER_SECOND as u64 + 5;
    let created = Instant::now();
    let (rt, mut worker) = synthetic(
        "bursty",
        Duration::from_millis(2),
        Duration::from_micros(200),
    );
    let clock = rt.clock();
    worker.busy_started_at(clock.now());
    for id in 1..=BURST {
        worker.poll_started(task(id));
        wait_until("a stall", || stalls_counted(&rt) == id);
        worker.poll_ended_at(clock.now());
    }
    let burst_took = created.elapsed();
    wait_until("the watchdog to see the last end", || {
        rt.worker(0).unwrap().current_poll().is_none()
            && stalls_of(rt.id()).iter().filter(|e| e.ended).count()
                == stalls_of(rt.id()).iter().filter(|e| !e.ended).count()
    });
    std::thread::sleep(Duration::from_millis(5));
    let events = stalls_of(rt.id());
    let starts: Vec<u64> = events
        .iter()
        .filter(|e| !e.ended)
        .map(|e| e.task.id)
        .collect();
    let ends: Vec<u64> = events
        .iter()
        .filter(|e| e.ended)
        .map(|e| e.task.id)
        .collect();
    assert_eq!(starts, ends, "every stall sent is closed, none other");
    let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.stalls, BURST);
    assert_eq!(
        starts.len() as u64 + timing.stall_events_dropped,
        BURST,
        "{events:?}"
    );
    if burst_took < Duration::from_millis(900) {
        // All in the first second of the watchdog: one window.
        assert_eq!(
            starts,
            (1..=u64::from(EVENTS_PER_SECOND)).collect::<Vec<_>>()
        );
        assert_eq!(timing.stall_events_dropped, 5);
        // The next window lets a stall through again, and it tells of the
        // ones dropped before it.
        std::thread::sleep(Duration::from_secs(1).saturating_sub(created.elapsed()));
        worker.poll_started(task(100));
        wait_until("a stall", || stalls_counted(&rt) == BURST + 1);
        worker.poll_ended_at(clock.now());
        wait_until("its events", || {
            stalls_of(rt.id())
                .iter()
                .filter(|e| e.task.id == 100)
                .count()
                == 2
        });
        let next = stalls_of(rt.id());
        let next = next.iter().find(|e| e.task.id == 100).unwrap();
        assert_eq!(next.dropped_before, 5, "{next:?}");
    } else {
        eprintln!("the burst took {burst_took:?}, more than one window: checked the sums only");
        assert!(starts.len() >= EVENTS_PER_SECOND as usize);
    }
}

/// A listener that panics on every event: the worker and the watchdog
/// carry on, and every panic is counted.
#[test]
fn a_panicking_listener_is_counted_and_survived() {
    capture();
    let settings = PulseConfig::new()
        .slow_poll_threshold(Duration::from_millis(1))
        .stall_watchdog(Duration::from_millis(10))
        .watchdog_period(Duration::from_millis(1))
        .resolve()
        .unwrap();
    let (rt, mut recorders) =
        RuntimeProbes::with_clock(Some("panicky-probes"), 1, &settings, Clock::instant());
    let worker = &mut recorders[0];
    let clock = rt.clock();
    worker.busy_started_at(clock.now());
    for id in 1..=2 {
        worker.poll_started(task(id));
        wait_until("a stall", || stalls_counted(&rt) == id);
        // A slow poll (and the end of a stall): the listener panics on the
        // worker's thread, here.
        worker.poll_ended_at(clock.now());
        // The listener records each event before it panics; the panic is
        // counted once it has unwound.
        wait_until("the end of the stall, and three panics", || {
            stalls_of(rt.id()).iter().filter(|e| e.ended).count() == id as usize
                && rt.snapshot().workers[0]
                    .poll_time
                    .as_ref()
                    .is_some_and(|t| t.listener_panics == 3 * id)
        });
    }
    let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.slow_polls, 2);
    assert_eq!(timing.stalls, 2, "the watchdog kept going");
    assert!(rt.watchdog_running());
    // Two slow polls, two stalls with two events each: six panics.
    assert_eq!(timing.listener_panics, 6, "{timing:?}");
    assert_eq!(rt.snapshot().workers[0].polls, 2);
}

/// The slow-poll side of the same limit, on synthetic time: ten events a
/// second per worker, the rest counted, and the next event sent says how
/// many were dropped before it.
#[test]
fn a_burst_of_slow_polls_is_limited_and_counted() {
    capture();
    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) =
        RuntimeProbes::with_clock(Some("slow-burst"), 1, &settings, Clock::instant());
    let worker = &mut recorders[0];
    let mut now = 1_000_000_000u64;
    worker.busy_started_at(now);
    for id in 1..=25 {
        worker.poll_started(task(id));
        now += 2_000_000; // 2 ms: slow
        worker.poll_ended_at(now);
    }
    now += 1_000_000_000; // the next window
    worker.busy_started_at(now);
    worker.poll_started(task(26));
    worker.poll_ended_at(now + 2_000_000);
    let slow: Vec<SlowPoll> = capture()
        .slow
        .lock()
        .unwrap()
        .iter()
        .filter(|e| e.runtime_id == rt.id())
        .cloned()
        .collect();
    let ids: Vec<u64> = slow.iter().map(|e| e.task.id).collect();
    let mut expected: Vec<u64> = (1..=u64::from(EVENTS_PER_SECOND)).collect();
    expected.push(26);
    assert_eq!(ids, expected);
    assert_eq!(slow.last().unwrap().dropped_before, 15);
    let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.slow_polls, 26);
    assert_eq!(timing.slow_poll_events_dropped, 15);
}
