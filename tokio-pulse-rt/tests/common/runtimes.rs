//! The runtimes the tests build: all with the I/O and time drivers on.

use tokio::runtime::{Builder, Runtime};
use tokio_pulse_rt::PulseConfig;

/// A multi-thread runtime of `workers` workers, Tokio-Pulse's defaults.
pub fn multi_thread(workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build multi-thread runtime")
}

/// A multi-thread runtime of `workers` workers named `name`, which is the
/// `runtime` label of its exported families.
pub fn named_multi_thread(name: &str, workers: usize) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .name(name)
        .enable_all()
        .build()
        .expect("build runtime")
}

/// A current-thread runtime, Tokio-Pulse's defaults.
pub fn current_thread() -> Runtime {
    Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("build current-thread runtime")
}

/// A multi-thread runtime of `workers` workers with the Tokio-Pulse
/// settings `config`.
pub fn pulse_multi_thread(workers: usize, config: PulseConfig) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .pulse(config)
        .enable_all()
        .build()
        .expect("build multi-thread runtime")
}

/// A current-thread runtime with the Tokio-Pulse settings `config`.
pub fn pulse_current_thread(config: PulseConfig) -> Runtime {
    Builder::new_current_thread()
        .pulse(config)
        .enable_all()
        .build()
        .expect("build current-thread runtime")
}

/// A multi-thread runtime of `workers` workers named `name`, with the
/// Tokio-Pulse settings `config` and neither the I/O nor the time driver.
pub fn named_pulse_multi_thread(name: &str, workers: usize, config: PulseConfig) -> Runtime {
    Builder::new_multi_thread()
        .worker_threads(workers)
        .name(name)
        .pulse(config)
        .build()
        .expect("build runtime")
}
