//! Reading the `TOKIO_PULSE_*` variables, and the text formats they share.

use std::time::Duration;

use super::{ConfigWarning, DEFAULT_STALL};

/// What the environment says about one setting.
pub(super) enum Var<T> {
    /// Not set, or empty.
    Unset,
    Set(T),
    /// Set to something unusable, already recorded as a warning.
    Bad,
}

pub(super) struct Resolver<E> {
    pub(super) env: E,
    pub(super) warnings: Vec<ConfigWarning>,
}

impl<E: Fn(&str) -> Option<std::ffi::OsString>> Resolver<E> {
    /// Reads and parses `name`; `instead` says what an unusable value turns
    /// into.
    pub(super) fn var<T>(
        &mut self,
        name: &'static str,
        parse: fn(&str) -> Result<T, &'static str>,
        instead: &'static str,
    ) -> Var<T> {
        let Some(raw) = (self.env)(name) else {
            return Var::Unset;
        };
        let (value, problem) = match raw.to_str() {
            Some(text) if text.trim().is_empty() => return Var::Unset,
            Some(text) => match parse(text) {
                Ok(value) => return Var::Set(value),
                Err(problem) => (text.to_owned(), problem),
            },
            None => (raw.to_string_lossy().into_owned(), "it is not UTF-8"),
        };
        self.warnings.push(ConfigWarning {
            setting: name,
            value,
            problem,
            used_instead: instead,
        });
        Var::Bad
    }

    /// A duration set in code, `None` (and a warning) if it is zero.
    pub(super) fn positive_code(
        &mut self,
        setting: &'static str,
        value: Duration,
        instead: &'static str,
    ) -> Option<Duration> {
        if !value.is_zero() {
            return Some(value);
        }
        self.warnings.push(ConfigWarning {
            setting,
            value: format!("{value:?}"),
            problem: "the duration must be greater than zero",
            used_instead: instead,
        });
        None
    }
}

/// `on`/`1`/`true` mean the default threshold, `off`/`0`/`false` no
/// watchdog; anything else must be a positive duration.
pub(super) fn parse_stall(text: &str) -> Result<Option<Duration>, &'static str> {
    match parse_bool(text) {
        Some(true) => Ok(Some(DEFAULT_STALL)),
        Some(false) => Ok(None),
        None => parse_positive(text)
            .map(Some)
            .map_err(|_| "expected a duration such as 10ms, or on or off"),
    }
}

pub(super) fn parse_switch(text: &str) -> Result<bool, &'static str> {
    parse_bool(text).ok_or("expected 1, 0, true, false, on or off")
}

pub(super) fn parse_positive(text: &str) -> Result<Duration, &'static str> {
    match parse_duration(text)? {
        zero if zero.is_zero() => Err("the duration must be greater than zero"),
        duration => Ok(duration),
    }
}

/// A whole number, `0` included.
pub(super) fn parse_count(text: &str) -> Result<usize, &'static str> {
    text.trim()
        .parse()
        .map_err(|_| "expected a whole number such as 20")
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
