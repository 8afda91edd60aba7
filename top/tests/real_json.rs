//! `top` reads the JSON the exporter really writes (`tokio_pulse_rt::json`,
//! a dev-dependency): every runtime, worker, tier and event arrives, the
//! rates come out of two documents, and the text frame shows them.

use std::time::{Duration, Instant};

use tokio_pulse_rt::PulseConfig;
use tokio_pulse_top::model::Document;
use tokio_pulse_top::state::Process;
use tokio_pulse_top::view::{text_frame, App};

#[test]
fn top_reads_the_exporters_json_and_draws_it() {
    const THRESHOLD: Duration = Duration::from_millis(15);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(3)
        .name("top-json")
        .pulse(
            PulseConfig::new()
                .slow_poll_threshold(THRESHOLD)
                .stall_watchdog(THRESHOLD),
        )
        .build()
        .unwrap();
    let probes = tokio_pulse_rt::probes(rt.handle());
    let first = Document::from_value(tokio_pulse_rt::json::value()).expect("a v1 document");
    let t0 = Instant::now();

    let spawned_line = line!() + 2;
    rt.block_on(async {
        tokio::spawn(async { std::thread::sleep(THRESHOLD * 4) })
            .await
            .unwrap();
        for _ in 0..100 {
            tokio::spawn(async { tokio::task::yield_now().await })
                .await
                .unwrap();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio_pulse_rt::recent_events(probes.id()).len() < 3 {
        assert!(Instant::now() < deadline, "events not recorded");
        std::thread::sleep(Duration::from_millis(5));
    }
    // From text, as `top` gets it over HTTP.
    let text = serde_json::to_string(&tokio_pulse_rt::json::value()).unwrap();
    let second = Document::parse(&text).expect("a v1 document");
    let snapshot = probes.snapshot();

    let mine = second
        .runtimes
        .iter()
        .find(|r| r.id == probes.id())
        .expect("the runtime is listed");
    assert_eq!(mine.name, "top-json");
    assert_eq!(mine.workers.len(), 3);
    assert_eq!(
        second.poll_time_tier_upper_bounds_us.len(),
        tokio_pulse_rt::tier::TIERS
    );
    let polls: u64 = mine.workers.iter().map(|w| w.polls).sum();
    assert!(polls >= 101 && polls <= snapshot.polls(), "{polls}");
    for w in &mine.workers {
        assert_eq!(w.steals_from.len(), 3);
        let timing = w.poll_time.as_ref().expect("poll timing is on");
        assert_eq!(timing.tiers.len(), tokio_pulse_rt::tier::TIERS);
        // Schedule latency by source and time per state, with poll timing.
        let latency = w.schedule_latency.as_ref().expect("schedule latency");
        let sources: Vec<&str> = latency.keys().map(String::as_str).collect();
        assert_eq!(sources, ["inject", "lifo", "local", "stolen"]);
        for source in latency.values() {
            assert_eq!(source.tiers.len(), tokio_pulse_rt::tier::TIERS);
        }
        let states = w.states.as_ref().expect("worker states");
        for name in tokio_pulse_top::state::STATES {
            assert!(states.seconds.contains_key(name), "{name}: {states:?}");
        }
        let sum: f64 = states.seconds.values().sum();
        assert!(states.wall_seconds > 0.0, "{states:?}");
        assert!(
            (sum - states.wall_seconds).abs() <= 1e-3 * states.wall_seconds.max(1.0),
            "{states:?}"
        );
        assert!(
            states.current.is_some(),
            "a running worker has a state: {states:?}"
        );
    }
    // Every task polled waited first: the waits count the polls, less the
    // ones still being counted.
    let waits: u64 = mine
        .workers
        .iter()
        .flat_map(|w| w.schedule_latency.as_ref().unwrap().values())
        .map(|l| l.tiers.iter().sum::<u64>())
        .sum();
    assert!(
        waits >= 101 && waits <= polls + 3,
        "{waits} waits, {polls} polls"
    );
    // The sampler: a queue age per worker, pressure, and the blocking
    // task's spawn site among the sampled polls.
    let sampled = mine.sampled.as_ref().expect("the sampler's findings");
    assert!(sampled.samples > 0, "{sampled:?}");
    assert_eq!(sampled.local_oldest_seconds.len(), 3, "{sampled:?}");
    assert!(sampled.pressure_some_seconds.is_some() && sampled.pressure_full_seconds.is_some());
    let blocker_at = format!("{}:{spawned_line}:", file!());
    assert!(
        sampled.spawn_sites.iter().any(|s| s
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(&blocker_at))
            && s.samples > 0),
        "{sampled:?}"
    );
    let settings = mine.settings.as_ref().unwrap();
    assert_eq!(settings.stall_seconds, Some(THRESHOLD.as_secs_f64()));
    let events: Vec<_> = mine.workers.iter().flat_map(|w| &w.recent_events).collect();
    let at = format!("{}:{spawned_line}:", file!());
    assert!(
        events.iter().any(|e| e.kind == "stall"
            && e.ended == Some(false)
            && e.spawned_at.as_deref().is_some_and(|s| s.starts_with(&at))),
        "{events:?}"
    );

    // Two documents give rates and a frame.
    let mut process = Process::new("in-process");
    process.update(t0, Ok(first));
    process.update(Instant::now(), Ok(second));
    let view = process
        .runtimes()
        .into_iter()
        .find(|r| r.id == probes.id())
        .unwrap();
    assert!(view.polls_per_sec > 0.0);
    assert!(view.stalls >= 1 && view.slow_polls >= 1);
    // The tiers trail the poll count by at most one poll per worker.
    let timed = view.tiers.iter().sum::<u64>();
    assert!(timed <= polls && timed + 3 >= polls, "{timed} of {polls}");
    // Over the interval: every worker's state shares, its schedule latency,
    // the runtime's mean schedule latency and pressure; the blocker's spawn
    // site has the most CPU samples (60 ms of the little work there was).
    for w in &view.workers {
        let states = w.states.as_ref().expect("state shares");
        let sum: f64 = states.iter().map(|(_, share)| share).sum();
        assert!(sum > 0.9 && sum <= 1.0 + 1e-9, "{states:?}");
        assert!(w.state_now.is_some(), "{w:?}");
    }
    assert!(
        view.workers.iter().any(|w| w.sched_p99.is_some()),
        "{:?}",
        view.workers
    );
    assert!(
        view.sched_mean.is_some_and(|s| s > 0.0),
        "{:?}",
        view.sched_mean
    );
    assert!(view.pressure_some.is_some() && view.pressure_full.is_some());
    let sites = view
        .spawn_sites
        .as_ref()
        .expect("spawn sites over the interval");
    assert!(
        sites[0]
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with(&blocker_at)),
        "{sites:?}"
    );

    let mut app = App::new(["in-process"]);
    app.processes = vec![process];
    app.runtime = app.processes[0]
        .latest()
        .unwrap()
        .runtimes
        .iter()
        .position(|r| r.id == probes.id())
        .unwrap();
    let frame = text_frame(&app, 160);
    assert!(frame.contains("runtime \"top-json\""), "{frame}");
    for worker in 0..3 {
        assert!(
            frame
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("│{worker} "))
                    || l.contains(&format!("│{worker}     "))),
            "worker row {worker}:\n{frame}"
        );
    }
    assert!(frame.contains("STALL"), "{frame}");
    assert!(frame.contains(&at), "{frame}");
    // The new parts of the frame: the header line, the table's columns, a
    // state share in each worker row, the spawn-site panel with the
    // blocker's site first.
    assert!(frame.contains("schedule latency mean "), "{frame}");
    assert!(frame.contains("inject queue oldest "), "{frame}");
    assert!(
        frame.contains("sch p99") && frame.contains("time in states"),
        "{frame}"
    );
    for worker in 0..3 {
        let row = frame
            .lines()
            .find(|l| l.starts_with(&format!("│{worker} ")))
            .unwrap_or_else(|| panic!("worker row {worker}:\n{frame}"));
        assert!(
            row.contains('%') && (row.contains("park ") || row.contains("poll ")),
            "{row}"
        );
    }
    let panel: Vec<&str> = frame
        .lines()
        .skip_while(|l| !l.contains("CPU by spawn site"))
        .collect();
    assert!(
        panel.get(2).is_some_and(|l| l.contains(&blocker_at)),
        "the blocker's site first:\n{frame}"
    );
}
