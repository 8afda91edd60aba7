//! The resolution rules of `TOKIO_PULSE_*` variables, through the strict
//! `resolve_with` (an explicit environment, so no process state).

use std::cell::RefCell;
use std::ffi::OsString;
use std::time::Duration;

use super::*;

/// An environment of `vars` that records every name read.
fn env<'a>(
    vars: &'a [(&'a str, &'a str)],
    read: &'a RefCell<Vec<String>>,
) -> impl Fn(&str) -> Option<OsString> + 'a {
    move |name| {
        read.borrow_mut().push(name.to_owned());
        vars.iter()
            .find(|(var, _)| *var == name)
            .map(|(_, value)| value.into())
    }
}

fn strict(config: &PulseConfig, vars: &[(&str, &str)]) -> std::io::Result<PulseSettings> {
    let read = RefCell::default();
    config.resolve_with(env(vars, &read))
}

#[test]
fn empty_values_are_unset() {
    for var in [
        ENV_POLL_TIMING,
        ENV_SLOW_POLL,
        ENV_STALL,
        ENV_WATCHDOG_PERIOD,
        ENV_STEAL_MATRIX,
        ENV_SPAWN_SITES_TOP_K,
        ENV_SCHEDULE_LATENCY,
    ] {
        for empty in ["", " "] {
            let settings = strict(&PulseConfig::new(), &[(var, empty)]);
            assert_eq!(
                settings.unwrap(),
                PulseSettings::default(),
                "{var}={empty:?}"
            );
        }
    }
}

#[test]
fn stall_switches_mean_the_default_threshold() {
    for on in ["1", "on", "true", "TRUE"] {
        let settings = strict(&PulseConfig::new(), &[(ENV_STALL, on)]).unwrap();
        assert_eq!(settings.stall, Some(DEFAULT_STALL), "{on}");
        assert!(settings.poll_timing);
    }
    for off in ["0", "off", "false"] {
        let settings = strict(&PulseConfig::new(), &[(ENV_STALL, off)]).unwrap();
        assert_eq!(settings.stall, None, "{off}");
    }
}

#[test]
fn code_settings_are_never_read_from_the_environment() {
    let config = PulseConfig::new()
        .poll_timing(true)
        .slow_poll_threshold(Duration::from_millis(3))
        .stall_watchdog(Duration::from_millis(20))
        .watchdog_period(Duration::from_millis(2))
        .full_steal_matrix(true)
        .spawn_sites_top_k(4)
        .stack_capture(true)
        .stack_signal(StackSignal::RtMinPlus(1))
        .schedule_latency(true);
    let vars = [
        (ENV_POLL_TIMING, "maybe"),
        (ENV_SLOW_POLL, "fast"),
        (ENV_STALL, "soon"),
        (ENV_WATCHDOG_PERIOD, "often"),
        (ENV_STEAL_MATRIX, "some"),
        (ENV_SPAWN_SITES_TOP_K, "many"),
        (ENV_STACKS, "perhaps"),
        (ENV_STACK_SIGNAL, "SIGUSR1"),
        (ENV_SCHEDULE_LATENCY, "later"),
    ];
    let read = RefCell::default();
    let settings = config.resolve_with(env(&vars, &read)).unwrap();
    assert!(read.borrow().is_empty(), "read {:?}", read.borrow());
    assert_eq!(settings.slow_poll, Duration::from_millis(3));
    assert_eq!(settings.stall, Some(Duration::from_millis(20)));
}

#[test]
fn the_environment_never_cancels_a_watchdog_the_code_asked_for() {
    let config = PulseConfig::new().stall_watchdog(Duration::from_millis(20));
    for off in ["0", "off", "false"] {
        let settings = strict(&config, &[(ENV_POLL_TIMING, off)]).unwrap();
        assert!(settings.poll_timing, "{off}");
        assert_eq!(settings.stall, Some(Duration::from_millis(20)), "{off}");
    }
    // Code can, and so can the environment for its own watchdog.
    let off = config.clone().poll_timing(false);
    assert_eq!(strict(&off, &[]).unwrap().stall, None);
    let env_only = strict(
        &PulseConfig::new(),
        &[(ENV_STALL, "20ms"), (ENV_POLL_TIMING, "0")],
    );
    assert_eq!(env_only.unwrap().stall, None);
}

#[test]
fn the_strict_form_rejects_what_the_lenient_one_reports() {
    let cases = [
        (ENV_POLL_TIMING, "maybe"),
        (ENV_SLOW_POLL, "2"),
        (ENV_SLOW_POLL, "0ms"),
        (ENV_STALL, "-5ms"),
        (ENV_WATCHDOG_PERIOD, "1h"),
        (ENV_STEAL_MATRIX, "full"),
        (ENV_SPAWN_SITES_TOP_K, "-1"),
        (ENV_SPAWN_SITES_TOP_K, "twenty"),
    ];
    for (var, value) in cases {
        let err = strict(&PulseConfig::new(), &[(var, value)]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let message = err.to_string();
        assert!(
            message.contains(var) && message.contains(value),
            "{message}"
        );
    }
    let zero = PulseConfig::new().slow_poll_threshold(Duration::ZERO);
    assert!(strict(&zero, &[]).is_err());
}

#[test]
fn spawn_sites_top_k_from_code_environment_or_default() {
    let default = strict(&PulseConfig::new(), &[]).unwrap();
    assert_eq!(default.spawn_sites_top_k, DEFAULT_SPAWN_SITES_TOP_K);
    let from_env = strict(&PulseConfig::new(), &[(ENV_SPAWN_SITES_TOP_K, " 3 ")]).unwrap();
    assert_eq!(from_env.spawn_sites_top_k, 3);
    let none = strict(&PulseConfig::new(), &[(ENV_SPAWN_SITES_TOP_K, "0")]).unwrap();
    assert_eq!(none.spawn_sites_top_k, 0);
    let code = PulseConfig::new().spawn_sites_top_k(7);
    let code_wins = strict(&code, &[(ENV_SPAWN_SITES_TOP_K, "bad")]).unwrap();
    assert_eq!(code_wins.spawn_sites_top_k, 7);
    // A bad value is reported, naming the variable, and the default used.
    let env = |name: &str| (name == ENV_SPAWN_SITES_TOP_K).then(|| "lots".into());
    let (settings, warnings) = PulseConfig::new().resolve_lenient_with(env);
    assert_eq!(settings.spawn_sites_top_k, DEFAULT_SPAWN_SITES_TOP_K);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].setting, ENV_SPAWN_SITES_TOP_K);
}

#[test]
fn stack_capture_is_on_by_default_and_the_environment_can_turn_it_off() {
    assert!(strict(&PulseConfig::new(), &[]).unwrap().stack_capture);
    let off = strict(&PulseConfig::new(), &[(ENV_STACKS, "off")]).unwrap();
    assert!(!off.stack_capture);
    let signal = strict(&PulseConfig::new(), &[(ENV_STACK_SIGNAL, "SIGRTMIN+2")]).unwrap();
    assert_eq!(signal.stack_signal, Some(StackSignal::RtMinPlus(2)));
}

#[test]
fn a_bad_stack_setting_is_named_and_turns_only_that_off() {
    let (settings, warnings) = PulseConfig::new()
        .resolve_lenient_with(|name| (name == ENV_STACKS).then(|| "sometimes".into()));
    assert!(!settings.stack_capture);
    assert_eq!(warnings[0].setting, ENV_STACKS);
    let (settings, warnings) = PulseConfig::new()
        .resolve_lenient_with(|name| (name == ENV_STACK_SIGNAL).then(|| "SIGUSR1".into()));
    assert!(settings.stack_capture);
    assert_eq!(settings.stack_signal, None);
    assert_eq!(warnings[0].setting, ENV_STACK_SIGNAL);
    assert_eq!(warnings[0].value, "SIGUSR1");
}

#[test]
fn schedule_latency_is_on_by_default_and_the_environment_can_turn_it_off() {
    assert!(strict(&PulseConfig::new(), &[]).unwrap().schedule_latency);
    for off in ["0", "off", "false", "No"] {
        let settings = strict(&PulseConfig::new(), &[(ENV_SCHEDULE_LATENCY, off)]).unwrap();
        assert!(!settings.schedule_latency, "{off}");
    }
    for on in ["1", "on", "TRUE"] {
        let settings = strict(&PulseConfig::new(), &[(ENV_SCHEDULE_LATENCY, on)]).unwrap();
        assert!(settings.schedule_latency, "{on}");
    }
    // Code wins over the environment.
    let code = PulseConfig::new().schedule_latency(true);
    assert!(
        strict(&code, &[(ENV_SCHEDULE_LATENCY, "off")])
            .unwrap()
            .schedule_latency
    );
    let code = PulseConfig::new().schedule_latency(false);
    assert!(!strict(&code, &[]).unwrap().schedule_latency);
}

#[test]
fn a_bad_schedule_latency_setting_is_named_and_turns_only_that_off() {
    let env = |name: &str| match name {
        ENV_SCHEDULE_LATENCY => Some("sometimes".into()),
        ENV_POLL_TIMING => Some("on".into()),
        _ => None,
    };
    let (settings, warnings) = PulseConfig::new().resolve_lenient_with(env);
    assert!(!settings.schedule_latency);
    assert!(settings.poll_timing);
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].setting, ENV_SCHEDULE_LATENCY);
    assert_eq!(warnings[0].value, "sometimes");
    // The strict resolution refuses it, naming the variable.
    let err = strict(&PulseConfig::new(), &[(ENV_SCHEDULE_LATENCY, "sometimes")]).unwrap_err();
    assert!(err.to_string().contains(ENV_SCHEDULE_LATENCY), "{err}");
}
