//! [`PulseConfig`]'s resolution: code, then the environment, then the
//! defaults, strictly or reporting what it could not use.

use std::io;
use std::time::Duration;

use crate::sync;

use super::env::{parse_count, parse_positive, parse_stall, parse_switch, Resolver, Var};
use super::warnings::report;
use super::*;

impl PulseConfig {
    /// Fills unset fields from the process environment, then the defaults,
    /// strictly: any value it cannot use is an error. Tokio's
    /// `Builder::build` uses [`resolve_or_report`](Self::resolve_or_report)
    /// instead, which never fails; call this for a hard error.
    ///
    /// A variable is read only for a setting the code left unset. An empty
    /// value is the same as an unset one.
    ///
    /// # Errors
    ///
    /// `InvalidInput`, naming the variable (or the `PulseConfig` setting)
    /// and its value, when a variable is malformed or not UTF-8, or a
    /// duration is zero.
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
    /// # Errors
    ///
    /// As [`resolve`](Self::resolve): the first value it cannot use.
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
        let (settings, warnings) = self.resolve_lenient_with(env);
        match warnings.into_iter().next() {
            None => Ok(settings),
            Some(warning) => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                warning.invalid_value(),
            )),
        }
    }

    /// Fills unset fields from the process environment, then the defaults,
    /// and never fails: what Tokio's `Builder::build` uses, because
    /// telemetry configuration must never stop an application.
    ///
    /// A value it cannot use (a malformed or non-UTF-8 variable, a zero
    /// duration set in code) turns the feature it belongs to off, and is
    /// reported once per process per setting and value: on stderr at once,
    /// and to the [`PulseListener`](crate::PulseListener)'s
    /// [`config_warning`](crate::PulseListener::config_warning), also when
    /// the listener is installed later (see [`config_warnings`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use tokio_pulse_probes::PulseConfig;
    ///
    /// let config = PulseConfig::new().poll_timing(true).watchdog_period(Duration::ZERO);
    /// assert!(config.resolve().is_err());
    /// // A zero period cannot run a watchdog: it is off, and reported.
    /// let settings = config.stall_watchdog(Duration::from_millis(5)).resolve_or_report();
    /// assert!(settings.poll_timing);
    /// assert_eq!(settings.stall, None);
    /// ```
    pub fn resolve_or_report(&self) -> PulseSettings {
        let (settings, warnings) = self.resolve_lenient_with(|name| std::env::var_os(name));
        for warning in warnings {
            report(warning);
        }
        settings
    }

    /// The resolution both [`resolve_with`](Self::resolve_with) and
    /// [`resolve_or_report`](Self::resolve_or_report) use: the settings,
    /// with every value it could not use turned off, and one
    /// [`ConfigWarning`] per such value, in the order read. Reports nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::PulseConfig;
    ///
    /// let env = |name: &str| match name {
    ///     "TOKIO_PULSE_STALL" => Some("on".into()),
    ///     "TOKIO_PULSE_SLOW_POLL" => Some("5".into()),
    ///     _ => None,
    /// };
    /// let (settings, warnings) = PulseConfig::new().resolve_lenient_with(env);
    /// assert_eq!(settings.stall, Some(tokio_pulse_probes::DEFAULT_STALL));
    /// assert_eq!(settings.slow_poll, std::time::Duration::MAX); // no slow-poll events
    /// assert_eq!(warnings.len(), 1);
    /// assert_eq!(warnings[0].setting, "TOKIO_PULSE_SLOW_POLL");
    /// ```
    pub fn resolve_lenient_with(
        &self,
        env: impl Fn(&str) -> Option<std::ffi::OsString>,
    ) -> (PulseSettings, Vec<ConfigWarning>) {
        const NO_SLOW_POLLS: &str = "no slow-poll events (poll timing unchanged)";
        const NO_WATCHDOG: &str = "no stall watchdog";

        let mut from = Resolver {
            env,
            warnings: Vec::new(),
        };

        let slow_poll = match self.slow_poll {
            Some(set) => from
                .positive_code("PulseConfig::slow_poll_threshold", set, NO_SLOW_POLLS)
                .unwrap_or(Duration::MAX),
            None => match from.var(ENV_SLOW_POLL, parse_positive, NO_SLOW_POLLS) {
                Var::Unset => DEFAULT_SLOW_POLL,
                Var::Set(threshold) => threshold,
                Var::Bad => Duration::MAX,
            },
        };

        // `code_stall`: the code itself asked for a watchdog.
        let (mut stall, code_stall) = match self.stall {
            Some(Some(set)) => {
                let stall = from.positive_code("PulseConfig::stall_watchdog", set, NO_WATCHDOG);
                (stall, stall.is_some())
            }
            Some(None) => (None, false),
            None => match from.var(ENV_STALL, parse_stall, NO_WATCHDOG) {
                Var::Set(stall) => (stall, false),
                Var::Unset | Var::Bad => (None, false),
            },
        };

        let watchdog_period = match self.watchdog_period {
            Some(set) => from.positive_code("PulseConfig::watchdog_period", set, NO_WATCHDOG),
            None => match from.var(ENV_WATCHDOG_PERIOD, parse_positive, NO_WATCHDOG) {
                Var::Unset => Some(DEFAULT_WATCHDOG_PERIOD),
                Var::Set(period) => Some(period),
                Var::Bad => None,
            },
        };
        let watchdog_period = watchdog_period.unwrap_or_else(|| {
            stall = None;
            DEFAULT_WATCHDOG_PERIOD
        });

        let steal_matrix = match self.steal_matrix {
            Some(set) => Some(set),
            None => match from.var(
                ENV_STEAL_MATRIX,
                parse_switch,
                "per-thief and per-victim steal totals, not the full matrix",
            ) {
                Var::Unset => None,
                Var::Set(full) => Some(full),
                Var::Bad => Some(false),
            },
        };

        let spawn_sites_top_k = match self.spawn_sites_top_k {
            Some(set) => set,
            None => match from.var(
                ENV_SPAWN_SITES_TOP_K,
                parse_count,
                "the default, 20 spawn sites by name",
            ) {
                Var::Set(k) => k,
                Var::Unset | Var::Bad => DEFAULT_SPAWN_SITES_TOP_K,
            },
        };
        let stack_capture = match self.stack_capture {
            Some(set) => set,
            None => match from.var(ENV_STACKS, parse_switch, "no stall stacks") {
                Var::Unset => true,
                Var::Set(on) => on,
                Var::Bad => false,
            },
        };
        let schedule_latency = match self.schedule_latency {
            Some(set) => set,
            None => match from.var(
                ENV_SCHEDULE_LATENCY,
                parse_switch,
                "no schedule-latency histogram (poll timing unchanged)",
            ) {
                Var::Unset => true,
                Var::Set(on) => on,
                Var::Bad => false,
            },
        };
        let stack_signal = match self.stack_signal {
            Some(set) => Some(set),
            None => match from.var(
                ENV_STACK_SIGNAL,
                |text| text.parse::<StackSignal>(),
                "the default signal, SIGRTMIN+6",
            ) {
                Var::Unset | Var::Bad => None,
                Var::Set(signal) => Some(signal),
            },
        };

        // Code wins over the environment, and a watchdog needs timing: one
        // the code asked for turns timing on (the environment is not even
        // read), one from the environment does unless the environment turns
        // timing off too. Only code can turn timing off under its own
        // watchdog.
        // With where the answer came from, for the warning below.
        let (poll_timing, from_setting) = match self.poll_timing {
            Some(set) => (set, "PulseConfig::poll_timing"),
            None if code_stall && stall.is_some() => (true, "PulseConfig::stall_watchdog"),
            None => match from.var(
                ENV_POLL_TIMING,
                parse_switch,
                "poll timing off (and with it the stall watchdog)",
            ) {
                Var::Unset => (stall.is_some(), ENV_STALL),
                Var::Set(on) => (on, ENV_POLL_TIMING),
                Var::Bad => (false, ENV_POLL_TIMING),
            },
        };
        // Timing reads a clock, and some targets have none.
        let poll_timing = if poll_timing && !sync::HAS_CLOCK {
            from.warnings.push(ConfigWarning {
                setting: from_setting,
                value: "on".to_owned(),
                problem: "poll timing needs a clock, and this target has none",
                used_instead: "poll timing off",
            });
            false
        } else {
            poll_timing
        };

        let settings = PulseSettings {
            poll_timing,
            schedule_latency,
            slow_poll,
            stall: stall.filter(|_| poll_timing),
            watchdog_period,
            steal_matrix,
            spawn_sites_top_k,
            stack_capture,
            stack_signal,
        };
        (settings, from.warnings)
    }
}
