//! Builds and runs runtimes of the fork on wasm32-unknown-unknown, where
//! `Instant::now()` panics and a panic aborts (a `RuntimeError:
//! unreachable` in the host): `run` returning at all shows that a runtime
//! that does not time polls reads no clock, and that asking for poll timing
//! there is refused, not fatal.
//!
//! ```text
//! cargo build --release --target wasm32-unknown-unknown \
//!     --manifest-path wasm-check/Cargo.toml --target-dir target/cross
//! node wasm-check/run.mjs target/cross/wasm32-unknown-unknown/release/tokio_pulse_wasm_check.wasm
//! ```

use tokio_pulse_probes::PulseConfig;

/// Runs ten tasks on a current-thread runtime and returns the polls its
/// probes counted; traps on any failure.
#[no_mangle]
pub extern "C" fn run() -> u64 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let sum = rt.block_on(async {
        let tasks: Vec<_> = (0..10u64)
            .map(|i| {
                tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    i
                })
            })
            .collect();
        let mut sum = 0;
        for task in tasks {
            sum += task.await.unwrap();
        }
        sum
    });
    assert_eq!(sum, 45);
    let probes = rt.handle().pulse();
    assert!(probes.created().is_none());
    let snapshot = probes.snapshot();
    assert!(snapshot.uptime.is_zero());

    // Poll timing needs a clock: asked for here, it is reported and off.
    let timed = tokio::runtime::Builder::new_current_thread()
        .pulse(PulseConfig::new().poll_timing(true))
        .build()
        .unwrap();
    assert!(!timed.handle().pulse().settings().poll_timing);
    timed.block_on(async { tokio::spawn(async {}).await.unwrap() });
    assert_eq!(tokio_pulse_probes::config_warnings().len(), 1);

    snapshot.polls()
}
