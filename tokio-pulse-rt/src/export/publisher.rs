//! The interval publisher, for recorders that do not pull, and the stop
//! signal it shares with the Prometheus server.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::select::{select, Limits, DEFAULT_MAX_RUNTIMES, DEFAULT_MIN_RUNTIME_AGE};
use super::{describe, publish_selection, publish_snapshots, ExportError, Publish};
use crate::RuntimeSnapshot;

/// The default interval of [`publisher()`].
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(1);

/// Starts building an interval publisher, for recorders that do not pull
/// (StatsD, OpenTelemetry, a `DebuggingRecorder`...). For Prometheus use
/// [`prometheus()`](crate::prometheus()) instead, which reads at scrape time.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// let publisher = tokio_pulse_rt::export::publisher()
///     .interval(Duration::from_millis(500))
///     .spawn()
///     .unwrap();
/// publisher.stop();
/// ```
pub fn publisher() -> PublisherBuilder {
    PublisherBuilder {
        interval: DEFAULT_INTERVAL,
        limits: Limits {
            max_runtimes: DEFAULT_MAX_RUNTIMES,
            min_age: DEFAULT_MIN_RUNTIME_AGE,
        },
    }
}

/// Settings of an interval publisher; see [`publisher()`].
///
/// # Examples
///
/// See [`publisher()`].
#[derive(Clone, Debug)]
#[must_use]
pub struct PublisherBuilder {
    interval: Duration,
    limits: Limits,
}

impl PublisherBuilder {
    /// Sets the time between two publications (default 1 s).
    ///
    /// # Examples
    ///
    /// ```
    /// let zero = tokio_pulse_rt::export::publisher().interval(std::time::Duration::ZERO);
    /// assert!(zero.spawn().is_err());
    /// ```
    pub fn interval(mut self, interval: Duration) -> PublisherBuilder {
        self.interval = interval;
        self
    }

    /// Publishes at most this many runtimes at once, the oldest live ones
    /// (default [`DEFAULT_MAX_RUNTIMES`]); the others are counted in
    /// `tokio_pulse_runtimes_omitted`. Zero is rejected by
    /// [`spawn`](PublisherBuilder::spawn).
    ///
    /// # Examples
    ///
    /// ```
    /// let none = tokio_pulse_rt::export::publisher().max_runtimes(0);
    /// assert!(none.spawn().unwrap_err().to_string().contains("max_runtimes(0)"));
    /// ```
    pub fn max_runtimes(mut self, max: usize) -> PublisherBuilder {
        self.limits.max_runtimes = max;
        self
    }

    /// Publishes only runtimes at least this old (default
    /// [`DEFAULT_MIN_RUNTIME_AGE`]), so that runtimes built for one
    /// request never add series to the recorder, which could not forget
    /// them. `Duration::ZERO` publishes every runtime it sees.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let publisher = tokio_pulse_rt::export::publisher()
    ///     .min_runtime_age(Duration::from_secs(10))
    ///     .spawn()
    ///     .unwrap();
    /// publisher.stop();
    /// ```
    pub fn min_runtime_age(mut self, age: Duration) -> PublisherBuilder {
        self.limits.min_age = age;
        self
    }

    /// Describes the families to the global recorder and starts a thread
    /// named `tokio-pulse-publish` that publishes at once and then every
    /// interval, until [`Publisher::stop`]. Dropping the [`Publisher`]
    /// detaches the thread: it keeps publishing for the life of the
    /// process.
    ///
    /// Each publication sets every series of the runtimes the limits admit
    /// (see [`max_runtimes`](PublisherBuilder::max_runtimes) and
    /// [`min_runtime_age`](PublisherBuilder::min_runtime_age)), and sets
    /// the gauges of every runtime it published before and no longer
    /// exports to 0, once; see the
    /// [module docs](super#which-runtimes-and-what-happens-to-a-runtime-that-is-gone).
    ///
    /// # Errors
    ///
    /// [`ExportError::Interval`] for a zero interval,
    /// [`ExportError::Setting`] for `max_runtimes(0)`,
    /// [`ExportError::Thread`] if the thread cannot be started.
    ///
    /// # Examples
    ///
    /// See [`publisher()`].
    pub fn spawn(self) -> Result<Publisher, ExportError> {
        if self.interval.is_zero() {
            return Err(ExportError::Interval(self.interval));
        }
        if self.limits.max_runtimes == 0 {
            return Err(ExportError::Setting {
                setting: "max_runtimes",
                value: "0".to_string(),
                reason: "a publisher that may publish no runtime publishes nothing",
            });
        }
        let interval = self.interval;
        let limits = self.limits;
        let stop = Arc::new(StopSignal::default());
        describe();
        let thread = {
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("tokio-pulse-publish".into())
                .spawn(move || {
                    let mut published = Published::default();
                    loop {
                        published.publish(limits);
                        if stop.wait(interval) {
                            return;
                        }
                    }
                })
                .map_err(ExportError::Thread)?
        };
        Ok(Publisher {
            stop,
            thread: Some(thread),
        })
    }
}

/// What a publisher published last, by runtime id: enough to find the
/// gauges of a runtime once it is gone.
#[derive(Debug, Default)]
struct Published {
    runtimes: HashMap<u64, (RuntimeSnapshot, bool)>,
}

impl Published {
    fn publish(&mut self, limits: Limits) {
        let selection = select(limits);
        publish_selection(&selection);
        let gone_ids: Vec<u64> = self
            .runtimes
            .keys()
            .filter(|id| !selection.snapshots.iter().any(|s| s.id == **id))
            .copied()
            .collect();
        let gone: Vec<(RuntimeSnapshot, bool)> = gone_ids
            .iter()
            .filter_map(|id| self.runtimes.remove(id))
            .collect();
        if !gone.is_empty() {
            let (snapshots, full): (Vec<_>, Vec<_>) = gone.into_iter().unzip();
            publish_snapshots(&snapshots, &full, Publish::RetireGauges);
        }
        for (snapshot, full) in selection.snapshots.iter().zip(&selection.full_matrix) {
            // Only the gauges' keys are needed later: drop the matrix.
            let mut kept = snapshot.clone();
            for worker in &mut kept.workers {
                worker.steals_from = Vec::new();
            }
            self.runtimes.insert(snapshot.id, (kept, *full));
        }
    }
}

/// Says "stop" to a background thread and wakes it at once, however long
/// it was going to wait. A thread that is never told keeps running: that is
/// what dropping a [`Publisher`] or a
/// [`Server`](crate::prometheus::Server) means.
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    /// Tells every waiter to stop.
    pub(crate) fn stop(&self) {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner) = true;
        self.changed.notify_all();
    }

    /// Whether [`stop`](Self::stop) was called.
    pub(crate) fn is_stopped(&self) -> bool {
        *self.stopped.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits up to `timeout` for [`stop`](Self::stop); true if it came.
    pub(crate) fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now().checked_add(timeout);
        let mut stopped = self.stopped.lock().unwrap_or_else(PoisonError::into_inner);
        while !*stopped {
            let left = match deadline {
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return false;
            }
            stopped = self
                .changed
                .wait_timeout(stopped, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }
}

/// A running interval publisher; see [`publisher()`].
///
/// Dropping it detaches the publishing thread, which then runs for the
/// life of the process; [`stop`](Publisher::stop) ends it.
///
/// # Examples
///
/// See [`publisher()`].
#[derive(Debug)]
pub struct Publisher {
    stop: Arc<StopSignal>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    /// Stops publishing and waits for the thread to finish its current
    /// publication. It does not wait for the interval.
    ///
    /// # Examples
    ///
    /// See [`publisher()`].
    pub fn stop(mut self) {
        self.stop.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
