//! Per-runtime settings of the optional probes, from code or environment.
//!
//! 1. Code sets what it wants on a [`PulseConfig`] and hands it to the
//!    patched `tokio::runtime::Builder::pulse`.
//! 2. At runtime build, [`PulseConfig::resolve`] fills every setting the code
//!    left unset from the environment (`TOKIO_PULSE_POLL_TIMING`,
//!    `TOKIO_PULSE_SLOW_POLL`, `TOKIO_PULSE_STALL`,
//!    `TOKIO_PULSE_WATCHDOG_PERIOD`, `TOKIO_PULSE_STEAL_MATRIX`,
//!    `TOKIO_PULSE_SPAWN_SITES_TOP_K`), then from the defaults. What the code
//!    set always wins.
//! 3. Telemetry configuration never stops an application: the patched
//!    `Builder::build` calls [`PulseConfig::resolve_or_report`], which turns
//!    off the feature of a value it cannot use and reports it once
//!    ([`ConfigWarning`], on stderr and to the listener). An empty variable
//!    is the same as an unset one. [`PulseConfig::resolve`] is the strict
//!    form, for code that wants a hard error.
//!
//! The types, defaults and builder are here; the rest is in submodules:
//!
//! - `resolve`: [`PulseConfig::resolve`] and its lenient and reporting forms.
//! - `env`: reading and parsing one `TOKIO_PULSE_*` variable or code setting.
//! - `warnings`: [`ConfigWarning`] and its once-per-process reports.
//! - `stack`: [`StackSignal`] and its parser.

use std::time::Duration;

mod env;
mod resolve;
mod stack;
mod warnings;

pub use env::parse_duration;
pub use stack::StackSignal;
pub(crate) use warnings::deliver_config_warnings;
pub use warnings::{config_warnings, ConfigWarning};

/// Environment variable: `1`/`true`/`on` or `0`/`false`/`off`.
pub const ENV_POLL_TIMING: &str = "TOKIO_PULSE_POLL_TIMING";
/// Environment variable: the slow-poll threshold, a duration like `2ms`.
pub const ENV_SLOW_POLL: &str = "TOKIO_PULSE_SLOW_POLL";
/// Environment variable: the stall threshold (a duration; turns on the
/// watchdog and poll timing), or `off`.
pub const ENV_STALL: &str = "TOKIO_PULSE_STALL";
/// Environment variable: the watchdog's sampling period, a duration.
pub const ENV_WATCHDOG_PERIOD: &str = "TOKIO_PULSE_WATCHDOG_PERIOD";
/// Environment variable: `1`/`true`/`on` exports the full thief × victim
/// steal matrix whatever the worker count, `0`/`false`/`off` never does.
/// Unset: full up to [`FULL_STEAL_MATRIX_MAX_WORKERS`] workers.
pub const ENV_STEAL_MATRIX: &str = "TOKIO_PULSE_STEAL_MATRIX";
/// Environment variable: how many spawn sites exporters publish by name in
/// `tokio_pulse_poll_samples_total{location}` (a whole number, `0` for
/// none); the rest go to `location="other"`. See
/// [`PulseConfig::spawn_sites_top_k`].
pub const ENV_SPAWN_SITES_TOP_K: &str = "TOKIO_PULSE_SPAWN_SITES_TOP_K";
/// Environment variable: `1`/`true`/`on` (the default) or `0`/`false`/`off`:
/// whether the watchdog captures a stalled worker's stack (see
/// [`PulseConfig::stack_capture`]).
pub const ENV_STACKS: &str = "TOKIO_PULSE_STACKS";
/// Environment variable: `1`/`true`/`on` (the default) or `0`/`false`/`off`:
/// whether a runtime that times polls also stamps each schedule for the
/// schedule-latency histogram (see [`PulseConfig::schedule_latency`]).
pub const ENV_SCHEDULE_LATENCY: &str = "TOKIO_PULSE_SCHEDULE_LATENCY";
/// Environment variable: the real-time signal that interrupts a stalled
/// worker to capture its stack, as a number or `SIGRTMIN+n` (default
/// `SIGRTMIN+6`).
pub const ENV_STACK_SIGNAL: &str = "TOKIO_PULSE_STACK_SIGNAL";

/// Up to this many workers, exporters publish the full thief × victim steal
/// matrix (2·N·(N−1) series) unless told otherwise; above it, per-thief and
/// per-victim totals (2·N series).
pub const FULL_STEAL_MATRIX_MAX_WORKERS: usize = 16;

/// Default slow-poll threshold.
pub const DEFAULT_SLOW_POLL: Duration = Duration::from_millis(1);
/// Default stall threshold, when the watchdog is turned on without one.
pub const DEFAULT_STALL: Duration = Duration::from_millis(10);
/// Default watchdog sampling period.
pub const DEFAULT_WATCHDOG_PERIOD: Duration = Duration::from_millis(1);
/// Default number of spawn sites exported by name.
pub const DEFAULT_SPAWN_SITES_TOP_K: usize = 20;

/// What code asks of the optional probes; unset fields come from the
/// environment at runtime build.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio_pulse_probes::PulseConfig;
///
/// let config = PulseConfig::new()
///     .poll_timing(true)
///     .slow_poll_threshold(Duration::from_micros(500))
///     .stall_watchdog(Duration::from_millis(20));
/// let settings = config.resolve().unwrap();
/// assert!(settings.poll_timing);
/// assert_eq!(settings.stall, Some(Duration::from_millis(20)));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PulseConfig {
    poll_timing: Option<bool>,
    schedule_latency: Option<bool>,
    slow_poll: Option<Duration>,
    stall: Option<Option<Duration>>,
    watchdog_period: Option<Duration>,
    steal_matrix: Option<bool>,
    spawn_sites_top_k: Option<usize>,
    stack_capture: Option<bool>,
    stack_signal: Option<StackSignal>,
}

/// The settings a runtime is built with, after [`PulseConfig::resolve`].
///
/// # Examples
///
/// ```
/// let settings = tokio_pulse_probes::PulseSettings::default();
/// assert!(!settings.poll_timing);
/// assert_eq!(settings.stall, None);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PulseSettings {
    /// Time every poll: tiers, poll-time sum, busy time, slow polls, and the
    /// published current-poll state that the watchdog and
    /// `current_poll_seconds` read.
    pub poll_timing: bool,
    /// With poll timing on, stamp every schedule (spawn or wake: one clock
    /// read) and record each polled task's wait, by source, in the
    /// schedule-latency histogram. On by default; no effect without poll
    /// timing.
    pub schedule_latency: bool,
    /// Polls at least this long count as slow and raise an event;
    /// `Duration::MAX` (what an unusable value turns into) means never.
    pub slow_poll: Duration,
    /// Run the stall watchdog with this threshold.
    pub stall: Option<Duration>,
    /// How often the watchdog samples the workers.
    pub watchdog_period: Duration,
    /// Whether exporters publish the full thief × victim steal matrix:
    /// `Some(true)` always, `Some(false)` never (per-thief and per-victim
    /// totals instead), `None` for the default, see
    /// [`PulseSettings::full_steal_matrix`]. Snapshots always hold the full
    /// matrix.
    pub steal_matrix: Option<bool>,
    /// How many spawn sites the CPU-by-spawn-site sampler names in exports
    /// (the `K` of its top K); the samples of every other site are
    /// exported as `location="other"`. Snapshots always hold every site.
    pub spawn_sites_top_k: usize,
    /// Whether the watchdog captures a stalled worker's stack (by signalling
    /// it), reads its CPU clock and its `/proc` state. On by default; has
    /// effect only with the watchdog, and only on Linux x86_64 and AArch64.
    pub stack_capture: bool,
    /// The real-time signal for stack capture; `None` for the default,
    /// `SIGRTMIN+6`.
    pub stack_signal: Option<StackSignal>,
}

impl PulseSettings {
    /// Whether exporters publish the full steal matrix for a runtime with
    /// `workers` workers: as set, or by default only up to
    /// [`FULL_STEAL_MATRIX_MAX_WORKERS`] workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let settings = tokio_pulse_probes::PulseSettings::default();
    /// assert!(settings.full_steal_matrix(16));
    /// assert!(!settings.full_steal_matrix(17));
    /// ```
    pub fn full_steal_matrix(&self, workers: usize) -> bool {
        self.steal_matrix
            .unwrap_or(workers <= FULL_STEAL_MATRIX_MAX_WORKERS)
    }
}

impl Default for PulseSettings {
    fn default() -> PulseSettings {
        PulseSettings {
            poll_timing: false,
            schedule_latency: true,
            slow_poll: DEFAULT_SLOW_POLL,
            stall: None,
            watchdog_period: DEFAULT_WATCHDOG_PERIOD,
            steal_matrix: None,
            spawn_sites_top_k: DEFAULT_SPAWN_SITES_TOP_K,
            stack_capture: true,
            stack_signal: None,
        }
    }
}

impl PulseConfig {
    /// Nothing set: everything comes from the environment or the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tokio_pulse_probes::PulseConfig::new(), Default::default());
    /// ```
    pub fn new() -> PulseConfig {
        PulseConfig::default()
    }

    /// Turns poll timing on or off.
    ///
    /// # Examples
    ///
    /// ```
    /// let off = tokio_pulse_probes::PulseConfig::new().poll_timing(false);
    /// assert!(!off.resolve().unwrap().poll_timing);
    /// ```
    pub fn poll_timing(mut self, on: bool) -> PulseConfig {
        self.poll_timing = Some(on);
        self
    }

    /// Sets the slow-poll threshold (default 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tokio_pulse_probes::PulseConfig::new()
    ///     .slow_poll_threshold(Duration::from_millis(5));
    /// assert_eq!(config.resolve().unwrap().slow_poll, Duration::from_millis(5));
    /// ```
    pub fn slow_poll_threshold(mut self, threshold: Duration) -> PulseConfig {
        self.slow_poll = Some(threshold);
        self
    }

    /// Runs the stall watchdog: a worker inside one poll for longer than
    /// `threshold` is reported while it is still stuck. Implies poll timing
    /// unless the code turns it off with [`poll_timing(false)`](Self::poll_timing);
    /// `TOKIO_PULSE_POLL_TIMING` cannot.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tokio_pulse_probes::PulseConfig::new()
    ///     .stall_watchdog(Duration::from_millis(10));
    /// let settings = config.resolve().unwrap();
    /// assert!(settings.poll_timing);
    /// ```
    pub fn stall_watchdog(mut self, threshold: Duration) -> PulseConfig {
        self.stall = Some(Some(threshold));
        self
    }

    /// Turns the stall watchdog off, whatever the environment says.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tokio_pulse_probes::PulseConfig::new().no_stall_watchdog();
    /// assert_eq!(config.resolve().unwrap().stall, None);
    /// ```
    pub fn no_stall_watchdog(mut self) -> PulseConfig {
        self.stall = Some(None);
        self
    }

    /// Sets how often the watchdog samples the workers (default 1 ms).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = tokio_pulse_probes::PulseConfig::new()
    ///     .watchdog_period(Duration::from_millis(5));
    /// assert_eq!(config.resolve().unwrap().watchdog_period, Duration::from_millis(5));
    /// ```
    pub fn watchdog_period(mut self, period: Duration) -> PulseConfig {
        self.watchdog_period = Some(period);
        self
    }

    /// Exports the full thief × victim steal matrix (`true`) or only
    /// per-thief and per-victim totals (`false`), whatever the worker count.
    /// Unset, the matrix is full up to
    /// [`FULL_STEAL_MATRIX_MAX_WORKERS`] workers.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tokio_pulse_probes::PulseConfig::new().full_steal_matrix(true);
    /// assert!(config.resolve().unwrap().full_steal_matrix(128));
    /// ```
    pub fn full_steal_matrix(mut self, full: bool) -> PulseConfig {
        self.steal_matrix = Some(full);
        self
    }

    /// Sets how many spawn sites exporters publish by name in
    /// `tokio_pulse_poll_samples_total{location}` (default 20): the sites
    /// with the most samples, the rest summed as `location="other"`, so
    /// that the series stay bounded. `0` exports only `other`. Snapshots
    /// always hold the full table.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tokio_pulse_probes::PulseConfig::new().spawn_sites_top_k(5);
    /// assert_eq!(config.resolve().unwrap().spawn_sites_top_k, 5);
    /// ```
    pub fn spawn_sites_top_k(mut self, k: usize) -> PulseConfig {
        self.spawn_sites_top_k = Some(k);
        self
    }

    /// Turns stack capture on (the default) or off. With the watchdog on
    /// (see [`stall_watchdog`](Self::stall_watchdog)), a stall report then
    /// carries the stuck thread's stack, captured by interrupting it with one
    /// real-time signal, its CPU time during the stall and its kernel state.
    /// Linux on x86_64 and AArch64 only; elsewhere it is off and said once.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tokio_pulse_probes::PulseConfig::new().stack_capture(false);
    /// assert!(!config.resolve().unwrap().stack_capture);
    /// ```
    pub fn stack_capture(mut self, on: bool) -> PulseConfig {
        self.stack_capture = Some(on);
        self
    }

    /// Turns the schedule-latency histogram on (the default) or off. It has
    /// an effect only with poll timing on: each schedule (spawn or wake) then
    /// reads the clock once and keeps the reading in the task, and each poll
    /// start records the task's wait since. Off, schedules read no clock and
    /// snapshots have no `schedule_latency`; poll timing is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// let config = tokio_pulse_probes::PulseConfig::new()
    ///     .poll_timing(true)
    ///     .schedule_latency(false);
    /// let settings = config.resolve().unwrap();
    /// assert!(settings.poll_timing && !settings.schedule_latency);
    /// ```
    pub fn schedule_latency(mut self, on: bool) -> PulseConfig {
        self.schedule_latency = Some(on);
        self
    }

    /// The real-time signal stack capture interrupts a stuck worker with
    /// (default `SIGRTMIN+6`). The handler is installed once per process, on
    /// the first runtime's signal, and never over one the application
    /// installed.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{PulseConfig, StackSignal};
    /// let config = PulseConfig::new().stack_signal(StackSignal::RtMinPlus(2));
    /// assert_eq!(config.resolve().unwrap().stack_signal, Some(StackSignal::RtMinPlus(2)));
    /// ```
    pub fn stack_signal(mut self, signal: StackSignal) -> PulseConfig {
        self.stack_signal = Some(signal);
        self
    }
}

#[cfg(test)]
mod tests;
