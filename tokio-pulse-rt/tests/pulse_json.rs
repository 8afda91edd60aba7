//! `/pulse.json` on the exporter's server, over a real socket: its shape
//! follows the snapshot field for field, its values agree with snapshots
//! taken around the request, and it carries a slow poll and a stall of the
//! runtime with the task's spawn location, with no listener installed.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::runtime::Builder;
use tokio_pulse_rt::{PulseConfig, RuntimeSnapshot};

fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the exporter");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("an answer");
    let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
    (head.to_string(), body.to_string())
}

/// The field names of a struct from its `Debug` output (top level only).
fn debug_fields(debug: &str) -> BTreeSet<String> {
    let inner = &debug[debug.find('{').unwrap() + 1..debug.rfind('}').unwrap()];
    let mut fields = BTreeSet::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth == 0 => {
                fields.insert(name_of(&inner[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        fields.insert(name_of(&inner[start..]));
    }
    fields
}

fn name_of(entry: &str) -> String {
    entry.split(':').next().unwrap().trim().to_string()
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

/// The JSON names of a struct's fields, from its `Debug` output: the
/// `durations` carry their unit (`busy_time` is `busy_seconds`).
fn json_names(debug: &str, durations: &[&str]) -> BTreeSet<String> {
    debug_fields(debug)
        .into_iter()
        .map(|field| match field.as_str() {
            "busy_time" => "busy_seconds".to_string(),
            f if durations.contains(&f) => format!("{f}_seconds"),
            _ => field,
        })
        .collect()
}

fn u(value: &Value, key: &str) -> u64 {
    value[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} is a number in {value}"))
}

#[test]
fn pulse_json_follows_the_snapshot_and_lists_recent_events() {
    const THRESHOLD: Duration = Duration::from_millis(20);
    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .pulse(
            PulseConfig::new()
                .slow_poll_threshold(THRESHOLD)
                .stall_watchdog(THRESHOLD)
                .watchdog_period(Duration::from_millis(5)),
        )
        .enable_all()
        .build()
        .unwrap();
    let probes = tokio_pulse_rt::probes(rt.handle());
    let server = tokio_pulse_rt::prometheus()
        .listen("127.0.0.1:0")
        .with_global_recorder(false)
        .install()
        .unwrap();

    // The first symbolization of a test build reads its debug info for up to
    // a second; wait for it, so the stall below gets its stack.
    tokio_pulse_rt::preload_symbols();
    let spawn_line = line!() + 2;
    rt.block_on(async {
        tokio::spawn(async { std::thread::sleep(THRESHOLD * 4) })
            .await
            .unwrap();
    });
    // The stall's end event and the slow poll follow the poll's end; the
    // worker keeps the end report as its last stall right after the ring.
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio_pulse_rt::recent_events(probes.id()).len() < 3
        || !probes.stalls().iter().any(|stall| stall.ended)
    {
        assert!(Instant::now() < deadline, "the events were not recorded");
        std::thread::sleep(Duration::from_millis(5));
    }

    let before: RuntimeSnapshot = probes.snapshot();
    let (head, body) = get(server.local_addr(), "/pulse.json");
    let after: RuntimeSnapshot = probes.snapshot();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(head.contains("Content-Type: application/json"), "{head}");
    let doc: Value = serde_json::from_str(&body).expect("valid JSON");

    assert_eq!(doc["version"], 1);
    assert_eq!(u(&doc, "pid"), u64::from(std::process::id()));
    assert_eq!(u(&doc, "recent_capacity"), 64);
    let bounds = doc["poll_time_tier_upper_bounds_us"].as_array().unwrap();
    assert_eq!(bounds.len(), tokio_pulse_rt::tier::TIERS);
    assert_eq!(bounds[10], 1024);
    assert!(bounds.last().unwrap().is_null());

    let runtime = doc["runtimes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == probes.id())
        .expect("the runtime is in the document");

    // Every snapshot field is there, under its name (durations in
    // seconds), plus the settings.
    let mut expected: BTreeSet<String> =
        json_names(&format!("{before:?}"), &["uptime", "driver_last_turn_age"]);
    expected.insert("settings".to_string());
    assert_eq!(keys(runtime), expected);
    assert_eq!(runtime["name"], &*before.name);

    let settings = &runtime["settings"];
    assert_eq!(settings["poll_timing"], true);
    assert_eq!(settings["slow_poll_seconds"], THRESHOLD.as_secs_f64());
    assert_eq!(settings["stall_seconds"], THRESHOLD.as_secs_f64());
    assert_eq!(settings["watchdog_period_seconds"], 0.005);
    assert_eq!(settings["full_steal_matrix"], true);
    assert_eq!(settings["schedule_latency"], true);
    assert_eq!(settings["spawn_sites_top_k"], 20);
    assert_eq!(settings["stack_capture"], true);
    // Every setting but the stack signal (a number only meaningful inside
    // the process), under its name; the steal matrix twice, as configured
    // and as published.
    let mut settings_expected: BTreeSet<String> = json_names(
        &format!(
            "{:?}",
            tokio_pulse_rt::PulseConfig::new().resolve().unwrap()
        ),
        &["slow_poll", "stall", "watchdog_period"],
    );
    settings_expected.remove("stack_signal");
    settings_expected.insert("full_steal_matrix".to_string());
    assert_eq!(keys(settings), settings_expected);

    let workers = runtime["workers"].as_array().unwrap();
    assert_eq!(workers.len(), before.workers.len());
    let mut events = Vec::new();
    for ((json, b), a) in workers.iter().zip(&before.workers).zip(&after.workers) {
        let mut expected: BTreeSet<String> = json_names(&format!("{b:?}"), &[]);
        expected.insert("recent_events".to_string());
        assert_eq!(keys(json), expected);
        assert_eq!(u(json, "index"), b.index as u64);
        // Counters read between the two snapshots.
        for (key, lo, hi) in [
            ("polls", b.polls, a.polls),
            ("spawns_local", b.spawns_local, a.spawns_local),
            ("parks", b.parks, a.parks),
            ("unparks", b.unparks, a.unparks),
            ("steal_attempts", b.steal_attempts, a.steal_attempts),
            ("stolen_tasks", b.stolen_tasks, a.stolen_tasks),
        ] {
            let got = u(json, key);
            assert!(lo <= got && got <= hi, "{key}: {lo} <= {got} <= {hi}");
        }
        let steals = json["steals_from"].as_array().unwrap();
        assert_eq!(steals.len(), b.steals_from.len());
        for cell in steals {
            assert_eq!(keys(cell), debug_fields(&format!("{:?}", b.steals_from[0])));
        }
        let timing = &json["poll_time"];
        let bt = b.poll_time.as_ref().expect("poll timing is on");
        let at = a.poll_time.as_ref().unwrap();
        let expected: BTreeSet<String> =
            json_names(&format!("{bt:?}"), &["poll_time", "current_poll"]);
        assert_eq!(keys(timing), expected);
        let tiers: Vec<u64> = timing["tiers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap())
            .collect();
        assert_eq!(tiers.len(), bt.tiers.len());
        let polls: u64 = tiers.iter().sum();
        assert!(bt.polls() <= polls && polls <= at.polls());
        let slow = u(timing, "slow_polls");
        assert!(bt.slow_polls <= slow && slow <= at.slow_polls);
        events.extend(json["recent_events"].as_array().unwrap().iter().cloned());
    }

    // The slow poll and the stall (raised and ended), with the spawn site.
    let at = format!("{}:{spawn_line}:", file!());
    let of = |kind: &str| {
        events
            .iter()
            .filter(|e| e["kind"] == kind)
            .cloned()
            .collect::<Vec<_>>()
    };
    let slow = of("slow_poll");
    assert_eq!(slow.len(), 1, "{events:?}");
    let stalls = of("stall");
    assert_eq!(stalls.len(), 2, "{events:?}");
    assert_eq!(stalls[0]["ended"], false);
    assert_eq!(stalls[1]["ended"], true);
    for event in slow.iter().chain(&stalls) {
        let spawned_at = event["spawned_at"].as_str().unwrap();
        assert!(spawned_at.starts_with(&at), "{spawned_at} is {at}...");
        assert_eq!(event["block_on"], false);
        assert!(event["task_id"].as_u64().unwrap() > 0);
        assert!(event["at_unix_ms"].as_u64().unwrap() > 0);
    }
    // A slow poll carries no stall details.
    for details in ["stack", "top_frame", "cpu_share", "state", "syscall"] {
        assert!(slow[0].get(details).is_none(), "{}", slow[0]);
    }
    // The raised stall says why it is stuck, where the platform can: the
    // sleeping closure of this test at the top of the application's frames,
    // asleep (state S) in the kernel's sleep, nearly never on a CPU.
    if cfg!(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )) {
        let raised = &stalls[0];
        let top = raised["top_frame"]
            .as_str()
            .unwrap_or_else(|| panic!("{raised}"));
        assert!(
            top.contains("pulse_json_follows_the_snapshot") && top.contains(file!()),
            "{top}"
        );
        assert!(raised["stack"].as_array().unwrap().len() > 1, "{raised}");
        assert_eq!(raised["state"], "S", "{raised}");
        assert!(
            raised["syscall"].as_str().unwrap().contains("sleep"),
            "{raised}"
        );
        assert!(raised["busy_share"].as_f64().unwrap() < 0.5, "{raised}");
        // The worker keeps the report as its last stall.
        assert!(
            workers
                .iter()
                .any(|w| w["last_stall"]["task_id"] == raised["task_id"]
                    && w["last_stall"]["top_frame"] == raised["top_frame"]),
            "{workers:?}"
        );
    }
    assert!(slow[0]["duration_seconds"].as_f64().unwrap() >= THRESHOLD.as_secs_f64() * 4.0);
    assert!(stalls[0]["seq"].as_u64() < stalls[1]["seq"].as_u64());
    // The worker's last stall is the ended report, as the ring has it: the
    // same seq and time, so a reader can match the two.
    let last: Vec<_> = workers
        .iter()
        .map(|w| &w["last_stall"])
        .filter(|stall| !stall.is_null())
        .collect();
    assert_eq!(last, [&stalls[1]], "{workers:?}");

    // The 404 points at both paths.
    let (_, body) = get(server.local_addr(), "/nope");
    assert!(body.contains("/pulse.json"), "{body}");
    server.stop();
}
