//! What a runtime's recorders and its watchdog share.

use std::sync::OnceLock;

/// What a runtime's recorders and its watchdog share: how many recorders
/// (workers) are still alive, and the watchdog thread, which the last
/// recorder's drop (and the probes' drop) wakes so that it finishes
/// promptly whatever its period.
#[derive(Debug)]
pub(crate) struct Lifecycle {
    live_workers: std::sync::atomic::AtomicUsize,
    watchdog: OnceLock<std::thread::Thread>,
    watchdog_alive: std::sync::atomic::AtomicBool,
}

impl Lifecycle {
    pub(crate) fn new(workers: usize) -> Lifecycle {
        Lifecycle {
            live_workers: std::sync::atomic::AtomicUsize::new(workers),
            watchdog: OnceLock::new(),
            watchdog_alive: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// A recorder was dropped: its worker will not poll again. Once per
    /// recorder, never on a hot path. The `Release` half publishes the
    /// worker's last writes to whoever sees the count reach zero.
    pub(crate) fn recorder_dropped(&self) {
        if self
            .live_workers
            .fetch_sub(1, std::sync::atomic::Ordering::AcqRel)
            == 1
        {
            self.wake_watchdog();
        }
    }

    /// Whether every recorder has been dropped; the `Acquire` load makes
    /// the workers' last writes visible to the caller.
    pub(crate) fn workers_stopped(&self) -> bool {
        self.live_workers.load(std::sync::atomic::Ordering::Acquire) == 0
    }

    pub(crate) fn wake_watchdog(&self) {
        if let Some(thread) = self.watchdog.get() {
            thread.unpark();
        }
    }

    pub(crate) fn set_watchdog(&self, thread: std::thread::Thread) {
        let _ = self.watchdog.set(thread);
    }

    pub(crate) fn set_watchdog_alive(&self, alive: bool) {
        self.watchdog_alive
            .store(alive, std::sync::atomic::Ordering::Release);
    }

    pub(crate) fn watchdog_alive(&self) -> bool {
        self.watchdog_alive
            .load(std::sync::atomic::Ordering::Acquire)
    }
}
