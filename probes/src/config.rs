//! Per-runtime settings of the optional probes, from code or environment.
//!
//! 1. Code sets what it wants on a [`PulseConfig`] and hands it to the
//!    patched `tokio::runtime::Builder::pulse`.
//! 2. At runtime build, [`PulseConfig::resolve`] fills every setting the code
//!    left unset from the environment (`TOKIO_PULSE_POLL_TIMING`,
//!    `TOKIO_PULSE_SLOW_POLL`, `TOKIO_PULSE_STALL`,
//!    `TOKIO_PULSE_WATCHDOG_PERIOD`), then from the defaults. What the code
//!    set always wins.
//! 3. A malformed variable fails the build with `InvalidInput`, naming the
//!    variable and its value. It is never ignored.

use std::io;
use std::time::Duration;

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
    slow_poll: Option<Duration>,
    stall: Option<Option<Duration>>,
    watchdog_period: Option<Duration>,
    steal_matrix: Option<bool>,
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
    /// Polls at least this long count as slow and raise an event.
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
            slow_poll: DEFAULT_SLOW_POLL,
            stall: None,
            watchdog_period: DEFAULT_WATCHDOG_PERIOD,
            steal_matrix: None,
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
    /// unless it was turned off explicitly.
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

    /// Fills unset fields from the process environment, then the defaults.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, naming the variable and its value, when a variable
    /// is malformed or a duration is zero.
    ///
    /// # Examples
    ///
    /// ```
    /// let settings = tokio_pulse_probes::PulseConfig::new()
    ///     .poll_timing(true)
    ///     .resolve()
    ///     .unwrap();
    /// assert!(settings.poll_timing);
    /// ```
    pub fn resolve(&self) -> io::Result<PulseSettings> {
        self.resolve_with(|name| std::env::var_os(name))
    }

    /// [`resolve`](Self::resolve) with an explicit environment, for tests
    /// and embedders.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::PulseConfig;
    ///
    /// let env = |name: &str| (name == "TOKIO_PULSE_SLOW_POLL").then(|| "2ms".into());
    /// let settings = PulseConfig::new().resolve_with(env).unwrap();
    /// assert_eq!(settings.slow_poll, std::time::Duration::from_millis(2));
    ///
    /// let bad = |name: &str| (name == "TOKIO_PULSE_SLOW_POLL").then(|| "2 parsecs".into());
    /// let err = PulseConfig::new().resolve_with(bad).unwrap_err();
    /// assert!(err.to_string().contains("TOKIO_PULSE_SLOW_POLL"));
    /// ```
    pub fn resolve_with(
        &self,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> io::Result<PulseSettings> {
        let read = |name: &str| -> io::Result<Option<String>> {
            match env(name) {
                None => Ok(None),
                Some(value) => match value.into_string() {
                    Ok(text) => Ok(Some(text)),
                    Err(raw) => Err(invalid(name, &raw.to_string_lossy(), "it is not UTF-8")),
                },
            }
        };
        let poll_timing_env = match read(ENV_POLL_TIMING)? {
            None => None,
            Some(text) => Some(parse_bool(&text).ok_or_else(|| {
                invalid(
                    ENV_POLL_TIMING,
                    &text,
                    "expected 1, 0, true, false, on or off",
                )
            })?),
        };
        let slow_poll = match self.slow_poll {
            Some(set) => set,
            None => match read(ENV_SLOW_POLL)? {
                None => DEFAULT_SLOW_POLL,
                Some(text) => {
                    parse_positive(&text).map_err(|why| invalid(ENV_SLOW_POLL, &text, why))?
                }
            },
        };
        let stall = match self.stall {
            Some(set) => set,
            None => match read(ENV_STALL)? {
                None => None,
                Some(text) if parse_bool(&text) == Some(false) => None,
                Some(text) => {
                    Some(parse_positive(&text).map_err(|why| invalid(ENV_STALL, &text, why))?)
                }
            },
        };
        let watchdog_period = match self.watchdog_period {
            Some(set) => set,
            None => match read(ENV_WATCHDOG_PERIOD)? {
                None => DEFAULT_WATCHDOG_PERIOD,
                Some(text) => {
                    parse_positive(&text).map_err(|why| invalid(ENV_WATCHDOG_PERIOD, &text, why))?
                }
            },
        };
        let steal_matrix = match self.steal_matrix {
            Some(set) => Some(set),
            None => match read(ENV_STEAL_MATRIX)? {
                None => None,
                Some(text) => Some(parse_bool(&text).ok_or_else(|| {
                    invalid(
                        ENV_STEAL_MATRIX,
                        &text,
                        "expected 1, 0, true, false, on or off",
                    )
                })?),
            },
        };
        for (what, value) in [
            ("slow-poll threshold", slow_poll),
            ("watchdog period", watchdog_period),
        ] {
            if value.is_zero() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("Tokio-Pulse {what} must be greater than zero"),
                ));
            }
        }
        if stall.is_some_and(|d| d.is_zero()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "Tokio-Pulse stall threshold must be greater than zero",
            ));
        }
        // Code wins over environment; the watchdog needs timing, so it turns
        // timing on unless timing was turned off explicitly.
        let poll_timing = self
            .poll_timing
            .or(poll_timing_env)
            .unwrap_or(stall.is_some());
        Ok(PulseSettings {
            poll_timing,
            slow_poll,
            stall: stall.filter(|_| poll_timing),
            watchdog_period,
            steal_matrix,
        })
    }
}

fn invalid(variable: &str, value: &str, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("invalid value {value:?} for environment variable {variable}: {why}"),
    )
}

fn parse_positive(text: &str) -> Result<Duration, &'static str> {
    match parse_duration(text)? {
        zero if zero.is_zero() => Err("the duration must be greater than zero"),
        duration => Ok(duration),
    }
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// Parses `<number><unit>` with unit `ns`, `us` (or `µs`), `ms` or `s`; the
/// number may have a fraction (`1.5ms`).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio_pulse_probes::parse_duration;
///
/// assert_eq!(parse_duration("250us"), Ok(Duration::from_micros(250)));
/// assert_eq!(parse_duration("1.5ms"), Ok(Duration::from_micros(1500)));
/// assert!(parse_duration("10").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, &'static str> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .ok_or("expected a unit: ns, us, ms or s (for example 2ms)")?;
    let (number, unit) = text.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| "expected a number followed by ns, us, ms or s")?;
    let scale = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "s" => 1.0,
        _ => return Err("unknown unit; use ns, us, ms or s"),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|_| "duration out of range")
}
