//! Slow polls and stalls reach `tracing` with the documented targets and
//! fields, the spawn location among them. Its own binary: the listener and
//! the subscriber are process-wide.

use std::time::Duration;

use tokio::runtime::Builder;
use tokio_pulse_rt::PulseConfig;

mod common;

use common::Buffer;

#[test]
fn slow_polls_and_stalls_become_tracing_events() {
    let buffer = Buffer::install_subscriber();
    assert!(tokio_pulse_rt::events::install());

    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .name("traced")
        // No stacks: the first stack a test build symbolizes can take
        // longer than the 40 ms block (tests/stall_stacks.rs covers them).
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_millis(10))
                .stack_capture(false),
        )
        .build()
        .unwrap();
    let line = rt.block_on(async {
        let line = line!() + 1;
        tokio::spawn(async { std::thread::sleep(Duration::from_millis(40)) })
            .await
            .unwrap();
        line
    });
    // Let the watchdog see the stall end.
    std::thread::sleep(Duration::from_millis(30));
    drop(rt);

    let text = buffer.text();
    let here = format!("{}:{line}:", file!());
    let slow: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("tokio_pulse::slow_poll"))
        .collect();
    assert_eq!(slow.len(), 1, "{text}");
    assert!(slow[0].contains(" WARN "), "{}", slow[0]);
    assert!(slow[0].contains("runtime=traced"), "{}", slow[0]);
    assert!(
        slow[0].contains(&format!("spawned_at={here}")),
        "{}",
        slow[0]
    );
    let stalls: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("tokio_pulse::stall"))
        .collect();
    assert_eq!(stalls.len(), 2, "one while stuck, one at the end:\n{text}");
    assert!(stalls[0].contains("ended=false") && stalls[1].contains("ended=true"));
    assert!(stalls.iter().all(|l| l.contains(&here)), "{text}");
}
