//! A stall that no `tracing` subscriber takes is said once on stderr, with
//! the hint that lets the events through. Runs itself as a child process
//! (stderr is the thing under test), with no subscriber installed.

use std::process::Command;
use std::time::Duration;

use tokio::runtime::Builder;
use tokio_pulse_rt::PulseConfig;

const CHILD: &str = "TOKIO_PULSE_TEST_UNHEARD_CHILD";

/// In the child: two stalls, with the `tracing` listener and no subscriber.
fn stall_twice_unheard() {
    tokio_pulse_rt::events::install();
    let rt = Builder::new_multi_thread()
        .worker_threads(1)
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_millis(10))
                .stack_capture(false),
        )
        .build()
        .unwrap();
    let probes = rt.handle().pulse();
    for _ in 0..2 {
        rt.block_on(async {
            tokio::spawn(async { std::thread::sleep(Duration::from_millis(60)) })
                .await
                .unwrap()
        });
    }
    std::thread::sleep(Duration::from_millis(100));
    let stalls = probes.snapshot().workers[0]
        .poll_time
        .as_ref()
        .unwrap()
        .stalls;
    assert_eq!(stalls, 2);
}

#[test]
fn an_unheard_stall_says_once_how_to_let_the_events_through() {
    if std::env::var_os(CHILD).is_some() {
        stall_twice_unheard();
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "an_unheard_stall_says_once_how_to_let_the_events_through",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run the child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let hints = stderr.matches("RUST_LOG=tokio_pulse=warn").count();
    assert_eq!(hints, 1, "the hint once, for two stalls:\n{stderr}");
    assert!(stderr.contains("tokio_pulse::stall"), "{stderr}");
}
