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
    }
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
}
