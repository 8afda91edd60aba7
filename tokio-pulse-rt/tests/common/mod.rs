//! Shared by the test binaries: the runtimes they build (`runtimes`), a
//! process-wide slow-poll and stall listener (`capture`), workloads more
//! than one binary runs (`workloads`), a `tracing` capture buffer, and
//! waiting for a condition or for a runtime to settle.

// Each test binary uses its own part of this module.
#![allow(dead_code, unused_imports)]

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
pub struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Buffer {
    /// Installs a global `fmt` subscriber (targets on, no colours) that
    /// writes here, and returns the buffer. Once per test binary.
    pub fn install_subscriber() -> Buffer {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_target(true)
            .init();
        buffer
    }

    /// Everything written so far.
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Waits until no task is alive and no worker is inside a poll, and returns
/// that snapshot. A task's `JoinHandle` completes from inside the task's
/// last poll, so the poll's end is recorded a moment after `block_on`
/// returns.
pub fn settle(probes: &tokio_pulse_rt::RuntimeProbes) -> tokio_pulse_rt::RuntimeSnapshot {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let snap = probes.snapshot();
        let polling = snap.workers.iter().any(|w| {
            w.poll_time
                .as_ref()
                .is_some_and(|t| t.current_poll.is_some())
        });
        if !polling && snap.alive_tasks == Some(0) {
            return snap;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runtime did not settle: {snap:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

mod capture;
pub mod facade;
mod runtimes;
mod workloads;

pub use capture::{capture, Capture};
pub use runtimes::{
    current_thread, multi_thread, named_multi_thread, named_pulse_multi_thread,
    pulse_current_thread, pulse_multi_thread,
};
pub use workloads::poll_fn_select_drain;

/// Waits, for at most `within`, until `done` holds; fails the test naming
/// `what` when it does not.
pub fn wait_until(what: &str, within: std::time::Duration, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + within;
    while !done() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The minor version of the Tokio this test binary is built against: the
/// `"=1.MINOR.PATCH"` pin of this package's manifest, which `cargo xtask
/// test --tokio VERSION` rewrites for another base (in its twin workspace,
/// `target/pulse/base-VERSION/`). For the few checks where Tokio's own
/// behaviour differs between the bases.
pub fn tokio_minor() -> u64 {
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let text = std::fs::read_to_string(manifest).expect("reading this package's Cargo.toml");
    let pin = text
        .lines()
        .filter(|line| line.trim_start().starts_with("tokio ="))
        .find_map(|line| line.split("\"=1.").nth(1))
        .unwrap_or_else(|| panic!("no tokio = \"=1.x.y\" pin in {manifest}"));
    pin.split('.')
        .next()
        .and_then(|minor| minor.parse().ok())
        .unwrap_or_else(|| panic!("unreadable tokio pin in {manifest}: {pin}"))
}
