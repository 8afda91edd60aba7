//! Configuration warnings: reported once each, on stderr and to the
//! listener, and kept for [`config_warnings`].

use std::fmt;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::events;

/// A `TOKIO_PULSE_*` variable, or a [`PulseConfig`](crate::PulseConfig) setting, that a runtime
/// could not use, and what it used instead. See
/// [`PulseConfig::resolve_or_report`](crate::PulseConfig::resolve_or_report).
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::PulseConfig;
///
/// let env = |name: &str| (name == "TOKIO_PULSE_POLL_TIMING").then(|| "maybe".into());
/// let (settings, warnings) = PulseConfig::new().resolve_lenient_with(env);
/// assert!(!settings.poll_timing);
/// let text = warnings[0].to_string();
/// assert!(text.contains("TOKIO_PULSE_POLL_TIMING=\"maybe\""), "{text}");
/// assert!(text.contains("poll timing off"), "{text}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConfigWarning {
    /// The environment variable (`TOKIO_PULSE_...`) or the `PulseConfig`
    /// method (`PulseConfig::...`).
    pub setting: &'static str,
    /// The value as given; a non-UTF-8 value with its invalid bytes
    /// replaced by U+FFFD.
    pub value: String,
    /// Why it could not be used.
    pub problem: &'static str,
    /// What the runtime uses instead.
    pub used_instead: &'static str,
}

impl ConfigWarning {
    /// The strict error's message: the setting, the value and the problem.
    pub(super) fn invalid_value(&self) -> String {
        let what = if self.setting.starts_with("TOKIO_PULSE_") {
            "environment variable "
        } else {
            ""
        };
        format!(
            "invalid value {:?} for {what}{}: {}",
            self.value, self.setting, self.problem
        )
    }
}

impl fmt::Display for ConfigWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Tokio-Pulse: ignoring {}={:?} ({}); using {} instead",
            self.setting, self.value, self.problem, self.used_instead
        )
    }
}

/// At most this many distinct warnings are kept (and reported) per process.
const MAX_WARNINGS: usize = 32;

struct Reported {
    /// Each warning, and whether the listener has had it.
    warnings: Vec<(ConfigWarning, bool)>,
    /// Whether a warning was dropped because the list was full.
    full: bool,
}

static REPORTED: Mutex<Reported> = Mutex::new(Reported {
    warnings: Vec::new(),
    full: false,
});

fn reported() -> MutexGuard<'static, Reported> {
    REPORTED.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Reports `warning` on stderr and to the listener, unless this process
/// already has.
pub(super) fn report(warning: ConfigWarning) {
    let line = {
        let mut reported = reported();
        let seen = reported
            .warnings
            .iter()
            .any(|(seen, _)| seen.setting == warning.setting && seen.value == warning.value);
        if seen {
            None
        } else if reported.warnings.len() < MAX_WARNINGS {
            let line = warning.to_string();
            reported.warnings.push((warning, false));
            Some(line)
        } else if !reported.full {
            reported.full = true;
            Some(format!(
                "Tokio-Pulse: more than {MAX_WARNINGS} configuration warnings; reporting no more"
            ))
        } else {
            None
        }
    };
    if let Some(line) = line {
        // Never panics, unlike `eprintln!` on a failed write.
        let _ = writeln!(io::stderr(), "{line}");
    }
    deliver_config_warnings();
}

/// Hands the listener, if one is installed, every reported warning it has
/// not had yet: each exactly once, whichever thread gets here first.
pub(crate) fn deliver_config_warnings() {
    let Some(listener) = events::listener() else {
        return;
    };
    let pending: Vec<ConfigWarning> = reported()
        .warnings
        .iter_mut()
        .filter(|(_, delivered)| !*delivered)
        .map(|(warning, delivered)| {
            *delivered = true;
            warning.clone()
        })
        .collect();
    for warning in pending {
        // A panicking listener must not fail a runtime build.
        let _ = panic::catch_unwind(AssertUnwindSafe(|| listener.config_warning(&warning)));
    }
}

/// Every configuration warning this process has reported (at most 32), in
/// order: what [`PulseConfig::resolve_or_report`](crate::PulseConfig::resolve_or_report) printed on stderr and
/// handed to the listener.
///
/// # Examples
///
/// ```
/// // Nothing was misconfigured in this doctest.
/// assert!(tokio_pulse_probes::config_warnings().is_empty());
/// ```
pub fn config_warnings() -> Vec<ConfigWarning> {
    reported()
        .warnings
        .iter()
        .map(|(warning, _)| warning.clone())
        .collect()
}
