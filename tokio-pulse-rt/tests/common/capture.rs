//! A process-wide `PulseListener` that records every slow-poll and stall
//! event with the time it arrived. The listener can be set once per
//! process, so a test binary that uses it installs it through
//! [`capture`] and shares it between its tests, each reading the events of
//! its own runtime (by runtime id).

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use tokio_pulse_rt::{PulseListener, SlowPoll, Stall};

/// Every event of this test binary, with the time it arrived.
#[derive(Default)]
pub struct Capture {
    slow: Mutex<Vec<(Instant, SlowPoll)>>,
    stalls: Mutex<Vec<(Instant, Stall)>>,
}

struct Recorder(Arc<Capture>);

impl PulseListener for Recorder {
    fn slow_poll(&self, event: &SlowPoll) {
        let now = Instant::now();
        self.0.slow.lock().unwrap().push((now, event.clone()));
    }
    fn stall(&self, event: &Stall) {
        let now = Instant::now();
        self.0.stalls.lock().unwrap().push((now, event.clone()));
    }
}

/// The binary's capture; installs the listener on first use, and fails
/// the test if another listener was installed first.
pub fn capture() -> &'static Arc<Capture> {
    static CAPTURE: OnceLock<Arc<Capture>> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture = Arc::new(Capture::default());
        tokio_pulse_probes::set_listener(Box::new(Recorder(capture.clone())))
            .unwrap_or_else(|_| panic!("a listener was already installed"));
        capture
    })
}

impl Capture {
    /// Every slow-poll event so far, of any runtime, in arrival order.
    pub fn slow(&self) -> Vec<SlowPoll> {
        let slow = self.slow.lock().unwrap();
        slow.iter().map(|(_, e)| e.clone()).collect()
    }
    /// Every stall event so far, of any runtime, in arrival order.
    pub fn stalls(&self) -> Vec<Stall> {
        let stalls = self.stalls.lock().unwrap();
        stalls.iter().map(|(_, e)| e.clone()).collect()
    }
    /// The slow-poll events of the runtime `runtime_id`.
    pub fn slow_of(&self, runtime_id: u64) -> Vec<SlowPoll> {
        let slow = self.slow.lock().unwrap();
        slow.iter()
            .filter(|(_, e)| e.runtime_id == runtime_id)
            .map(|(_, e)| e.clone())
            .collect()
    }
    /// The stall events of the runtime `runtime_id`.
    pub fn stalls_of(&self, runtime_id: u64) -> Vec<Stall> {
        self.timed_stalls_of(runtime_id)
            .into_iter()
            .map(|(_, e)| e)
            .collect()
    }
    /// The stall events of the runtime `runtime_id`, each with the time it
    /// arrived.
    pub fn timed_stalls_of(&self, runtime_id: u64) -> Vec<(Instant, Stall)> {
        let stalls = self.stalls.lock().unwrap();
        stalls
            .iter()
            .filter(|(_, e)| e.runtime_id == runtime_id)
            .cloned()
            .collect()
    }
}
