//! Whatever a target answers, `top` draws a frame or names the problem; it
//! never panics: documents with odd shapes and values, wrong versions, and
//! answers that are not documents.

use std::time::{Duration, Instant};

use serde_json::json;
use tokio_pulse_top::model::Document;
use tokio_pulse_top::state::Process;
use tokio_pulse_top::view::{text_frame, App};

fn frame(docs: &[serde_json::Value]) -> String {
    let mut process = Process::new("odd");
    let t0 = Instant::now();
    for (i, doc) in docs.iter().enumerate() {
        let doc = Document::from_value(doc.clone()).expect("parses");
        process.update(t0 + Duration::from_secs(i as u64), Ok(doc));
    }
    let mut app = App::new(["odd"]);
    app.processes = vec![process];
    text_frame(&app, 100)
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
