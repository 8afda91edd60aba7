//! Slow polls and stalls reach `tracing` with the documented targets and
//! fields, the spawn location among them. Its own binary: the listener and
//! the subscriber are process-wide.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::runtime::Builder;
use tokio_pulse_rt::PulseConfig;

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn slow_polls_and_stalls_become_tracing_events() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_target(true)
        .init();
    assert!(tokio_pulse_rt::events::install());

    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .name("traced")
        .pulse(PulseConfig::new().stall_watchdog(Duration::from_millis(10)))
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

    let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
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
