//! Whatever a target answers, `top` draws a frame or names the problem; it
//! never panics: documents with odd shapes and values, wrong versions, and
//! answers that are not documents.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_pulse_top::model::Document;
use tokio_pulse_top::state::Process;
use tokio_pulse_top::view::{text_frame, App, Sort};

fn frame(docs: &[serde_json::Value]) -> String {
    frame_at(docs, 100)
}

fn frame_at(docs: &[serde_json::Value], width: u16) -> String {
    let mut process = Process::new("odd");
    let t0 = Instant::now();
    for (i, doc) in docs.iter().enumerate() {
        let doc = Document::from_value(doc.clone()).expect("parses");
        process.update(t0 + Duration::from_secs(i as u64), Ok(doc));
    }
    let mut app = App::new(["odd"]);
    app.processes = vec![process];
    text_frame(&app, width)
}

#[test]
fn odd_documents_draw_without_panicking() {
    // Counters that go backwards, a worker index far out of range, more
    // steal cells than workers, one tier or seventy, an event on a worker
    // that does not exist.
    let worker = |index: u64, polls: u64, tiers: Vec<u64>| {
        json!({
            "index": index, "polls": polls, "polls_lifo": polls * 2,
            "steals_from": [{"tasks": 5}, {"tasks": 7}, {"tasks": 9}],
            "poll_time": {"tiers": tiers, "busy_seconds": -3.0, "current_poll_seconds": 1e300},
            "recent_events": [{"seq": 1, "kind": "stall", "ended": false, "duration_seconds": 1e9,
                               "stack": ["frame a", "frame b"], "cpu_share": 0.97, "state": "R"}]
        })
    };
    let doc = |polls: u64, uptime: f64, tiers: Vec<u64>| {
        json!({
            "version": 1, "pid": 1,
            "poll_time_tier_upper_bounds_us": [1, null],
            "runtimes": [{"id": 1, "name": "odd", "uptime_seconds": uptime,
                          "settings": {"poll_timing": true, "stall_seconds": 0.01},
                          "workers": [worker(0, polls, tiers.clone()), worker(u64::from(u32::MAX), polls, tiers)]}]
        })
    };
    let frame_text = frame(&[
        doc(100, 5.0, vec![u64::MAX; 70]),
        doc(10, 4.0, vec![1]),
        doc(20, 4.0, vec![]),
        doc(30, 6.0, vec![u64::MAX; 70]),
    ]);
    assert!(frame_text.contains("runtime \"odd\""), "{frame_text}");
    // The reserved stall fields, when present, are shown.
    assert!(
        frame_text.contains("frame a") && frame_text.contains("cpu 97%"),
        "{frame_text}"
    );

    // A huge worker count is drawn within bounds.
    let many: Vec<_> = (0..5000).map(|i| json!({"index": i})).collect();
    let big = json!({"version": 1, "runtimes": [{"id": 1, "workers": many}]});
    assert!(!frame(&[big.clone(), big]).is_empty());

    // No runtime at all.
    assert!(frame(&[json!({"version": 1})]).contains("no live runtime"));
}

#[test]
fn answers_that_are_not_documents_are_named() {
    assert!(Document::parse("not json")
        .unwrap_err()
        .contains("not a /pulse.json document"));
    assert!(Document::parse(r#"{"version": 7}"#)
        .unwrap_err()
        .contains("version 7"));
    assert!(Document::parse(r#"{"version": 1, "pid": -1}"#).is_err());
    assert!(Document::parse(r#"[1, 2]"#).is_err());
}

/// A runtime document with the sampler's findings, one worker's schedule
/// latency and states, built from the counters given.
fn timed_doc(uptime: f64, scale: u64) -> serde_json::Value {
    let s = scale as f64;
    // Tier 3 (< 8 µs) and tier 10 (< 1024 µs): 98 and 2 waits a step.
    let mut tiers = vec![0u64; 22];
    tiers[3] = 98 * scale;
    tiers[10] = 2 * scale;
    json!({
        "version": 1, "pid": 2,
        "poll_time_tier_upper_bounds_us": [1, 2, 4, 8, null],
        "runtimes": [{
            "id": 1, "name": "timed", "uptime_seconds": uptime,
            "settings": {"poll_timing": true},
            "sampled": {
                "samples": 100 * scale,
                "spawn_sites": [
                    {"location": "src/hot.rs:10:5", "samples": 30 * scale},
                    {"location": "src/warm.rs:20:9", "samples": 10 * scale},
                    {"location": null, "samples": 0}
                ],
                "spawn_sites_other": 10 * scale,
                "inject_oldest_seconds": 0.25,
                "local_oldest_seconds": [0.003],
                "pressure_some_seconds": 0.5 * s,
                "pressure_full_seconds": 0.125 * s
            },
            "workers": [{
                "index": 0, "polls": 100 * scale,
                "poll_time": {"tiers": tiers.clone(), "busy_seconds": 0.5 * s},
                "schedule_latency": {
                    "lifo": {"tiers": tiers.clone(), "total_seconds": 0.002 * s},
                    "local": {"tiers": [], "total_seconds": 0.0}
                },
                "states": {
                    "seconds": {"poll": 0.5 * s, "search": 0.125 * s, "park": 0.375 * s,
                                "driver": 0.0, "maintenance": 0.0, "blocking": 0.0},
                    "wall_seconds": s,
                    "current": "search"
                }
            }]
        }]
    })
}

#[test]
fn states_schedule_latency_queue_ages_pressure_and_spawn_sites_are_shown() {
    // One second apart, every counter grows by its one-step amount.
    let docs = [timed_doc(10.0, 10), timed_doc(11.0, 11)];
    let text = frame_at(&docs, 200);
    let row = text
        .lines()
        .find(|l| l.starts_with("│0 "))
        .unwrap_or_else(|| panic!("no worker row:\n{text}"));
    // States over the interval, the state now, the schedule latency's
    // p50/p99 (98 waits under 8 µs, 2 under 1024 µs, shown as 1ms), the local queue's
    // oldest task.
    assert!(row.contains("poll 50% srch 12% park 38%"), "{row}");
    assert!(row.contains(" srch "), "{row}");
    assert_eq!(
        row.matches("<8µs").count(),
        2,
        "poll and schedule p50:\n{row}"
    );
    assert_eq!(
        row.matches("<1ms").count(),
        2,
        "poll and schedule p99:\n{row}"
    );
    assert!(row.contains(" 3ms "), "local queue oldest:\n{row}");
    // The header: mean schedule latency 0.002 s / 100 waits, the inject
    // queue's oldest task, pressure as shares of the second.
    assert!(
        text.contains(
            "schedule latency mean 20µs  inject queue oldest 250ms  pressure some 50% full 12%"
        ),
        "{text}"
    );
    // CPU by spawn site over the interval: 3, 1 and 1 (other) of 5.
    let panel: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.contains("CPU by spawn site"))
        .take(6)
        .collect();
    assert!(
        panel
            .iter()
            .any(|l| l.contains("60%") && l.contains("src/hot.rs:10:5")),
        "{panel:#?}"
    );
    assert!(
        panel
            .iter()
            .any(|l| l.contains("20%") && l.contains("src/warm.rs:20:9")),
        "{panel:#?}"
    );
    assert!(
        panel
            .iter()
            .any(|l| l.contains("20%") && l.contains("(other sites)")),
        "{panel:#?}"
    );

    // On a 100-column terminal the table drops its least useful columns
    // but keeps the states, the state now and the schedule p99.
    let text = frame_at(&docs, 100);
    let row = text
        .lines()
        .find(|l| l.starts_with("│0 "))
        .unwrap_or_else(|| panic!("no worker row:\n{text}"));
    assert!(row.contains("poll 50% srch 12% park 38%"), "{row}");
    assert!(row.contains(" srch ") && row.contains("<1ms"), "{row}");
    assert!(row.chars().count() <= 100, "{row}");
}

#[test]
fn older_documents_without_the_new_fields_show_dashes() {
    let old = |polls: u64, uptime: f64| {
        json!({"version": 1, "pid": 3, "runtimes": [{"id": 1, "name": "old", "uptime_seconds": uptime,
               "settings": {"poll_timing": true},
               "workers": [{"index": 0, "polls": polls, "poll_time": {"tiers": [polls]}}]}]})
    };
    let text = frame(&[old(10, 1.0), old(20, 2.0)]);
    assert!(
        text.contains("schedule latency mean -  inject queue oldest -  pressure some - full -"),
        "{text}"
    );
    assert!(text.contains("CPU by spawn site"), "{text}");
    // Sampler fields that are there but null, empty or of the wrong length,
    // and states and latency that are half there: no panic, dashes.
    let odd = |uptime: f64| {
        json!({"version": 1, "pid": 3, "runtimes": [{"id": 1, "uptime_seconds": uptime,
               "sampled": {"local_oldest_seconds": [], "inject_oldest_seconds": null},
               "workers": [
                   {"index": 0, "states": {"seconds": {}, "wall_seconds": -1.0, "current": null},
                    "schedule_latency": {}},
                   {"index": 1, "states": {"seconds": {"poll": 1e308, "park": 1e308}, "wall_seconds": 1e308,
                                           "current": "a-state-from-the-future"},
                    "schedule_latency": {"inject": {"tiers": vec![u64::MAX; 80], "total_seconds": -5.0}}}]}]})
    };
    let text = frame(&[odd(1.0), odd(2.0), odd(0.5)]);
    assert!(text.contains("runtime \"\""), "{text}");
    assert!(text.contains("a-sta"), "the unknown state, short:\n{text}");
}

#[test]
fn s_sorts_the_workers_by_schedule_p99() {
    // Worker 0's tasks wait under 8 µs, worker 1's under 1024 µs.
    let doc = |uptime: f64, scale: u64| {
        let worker = |index: u64, tier: usize| {
            let mut tiers = vec![0u64; 22];
            tiers[tier] = 10 * scale;
            json!({"index": index, "schedule_latency": {"local": {"tiers": tiers, "total_seconds": 0.0}}})
        };
        json!({"version": 1, "pid": 4, "runtimes": [{"id": 1, "uptime_seconds": uptime,
               "workers": [worker(0, 3), worker(1, 10)]}]})
    };
    let mut process = Process::new("sorted");
    let t0 = Instant::now();
    process.update(t0, Ok(Document::from_value(doc(1.0, 1)).unwrap()));
    process.update(
        t0 + Duration::from_secs(1),
        Ok(Document::from_value(doc(2.0, 2)).unwrap()),
    );
    let mut app = App::new(["sorted"]);
    app.processes = vec![process];
    let order = |app: &App| -> Vec<char> {
        text_frame(app, 200)
            .lines()
            .filter_map(|l| l.strip_prefix('│'))
            .filter_map(|l| {
                let c = l.chars().next()?;
                (c.is_ascii_digit() && l[1..].starts_with(' ')).then_some(c)
            })
            .collect()
    };
    assert_eq!(order(&app), ['0', '1']);
    while app.sort != Sort::SchedP99 {
        app.next_sort();
    }
    let text = text_frame(&app, 200);
    assert!(text.contains("sorted by sch p99"), "{text}");
    assert_eq!(order(&app), ['1', '0'], "{text}");
}
