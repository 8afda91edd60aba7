//! `TOKIO_PULSE_*` environment variables at runtime build.
//!
//! The environment is process-wide, and a configuration warning is reported
//! once per process, so every case runs in a process of its own: the tests
//! below re-run this binary with one `#[ignore]`d child test and the
//! environment of the case, then read what the child printed. Nothing here
//! sets a variable in the test process itself.

mod common;

use std::ffi::{OsStr, OsString};
use std::process::Command;
use std::time::Duration;

use tokio::runtime::Builder;
use tokio_pulse_rt::PulseConfig;

const VARS: [&str; 6] = [
    "TOKIO_PULSE_POLL_TIMING",
    "TOKIO_PULSE_SCHEDULE_LATENCY",
    "TOKIO_PULSE_SLOW_POLL",
    "TOKIO_PULSE_STALL",
    "TOKIO_PULSE_WATCHDOG_PERIOD",
    "TOKIO_PULSE_STEAL_MATRIX",
];

/// What a child printed.
struct Child {
    stdout: String,
    stderr: String,
}

impl Child {
    /// The settings line of the runtime built `as`.
    fn settings(&self, of: &str) -> &str {
        let prefix = format!("SETTINGS {of}: ");
        self.stdout
            .lines()
            .find_map(|line| line.split_once(&prefix).map(|(_, settings)| settings))
            .unwrap_or_else(|| panic!("no {prefix:?} line in\n{}", self.stdout))
    }

    /// How many stderr lines are configuration warnings about `setting`.
    fn warnings_about(&self, setting: &str) -> usize {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("Tokio-Pulse: ignoring ") && line.contains(setting))
            .count()
    }

    fn config_warnings(&self) -> usize {
        self.stderr
            .lines()
            .filter(|line| line.starts_with("Tokio-Pulse: "))
            .count()
    }
}

/// Runs the child test `test` in a new process whose only `TOKIO_PULSE_*`
/// variables are `env`, and requires it to pass.
fn run(test: &str, env: &[(&str, &OsStr)]) -> Child {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([
        "--ignored",
        "--exact",
        test,
        "--nocapture",
        "--test-threads=1",
    ]);
    for var in VARS {
        command.env_remove(var);
    }
    command.envs(env.iter().copied());
    let output = command.output().unwrap();
    let child = Child {
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        output.status.success() && child.stdout.contains("1 passed"),
        "{test} with {env:?} failed:\n{}\n{}",
        child.stdout,
        child.stderr
    );
    child
}

fn text(value: &str) -> &OsStr {
    OsStr::new(value)
}

/// The runtime's settings, and whether its watchdog runs, as one line.
fn describe(of: &str, handle: &tokio::runtime::Handle) {
    let probes = handle.pulse();
    let s = probes.settings();
    println!(
        "SETTINGS {of}: poll_timing={} slow_poll={:?} stall={:?} period={:?} steal_matrix={:?} watchdog={} schedule_latency={}",
        s.poll_timing,
        s.slow_poll,
        s.stall,
        s.watchdog_period,
        s.steal_matrix,
        probes.watchdog_running(),
        s.schedule_latency
    );
}

/// What `#[tokio::main]` expands to: `build().expect(..)`, so a build
/// error is a panic before `main`'s body runs.
#[tokio::main]
async fn tokio_main() {
    describe("main", &tokio::runtime::Handle::current());
}

/// Builds runtimes the way applications and libraries do, with whatever
/// environment the parent gave, then installs the `tracing` listener and
/// checks that it got every warning reported so far exactly once.
#[test]
#[ignore = "run by the tests below, in a process of its own"]
fn child_builds_runtimes() {
    tokio_main();
    let multi = Builder::new_multi_thread().enable_all().build().unwrap();
    describe("multi", multi.handle());
    let current = Builder::new_current_thread().enable_all().build().unwrap();
    describe("current", current.handle());
    let reported = tokio_pulse_probes::config_warnings();

    // The listener comes after the runtimes, as after `#[tokio::main]`.
    let buffer = common::Buffer::install_subscriber();
    assert!(tokio_pulse_rt::events::install());
    let again = Builder::new_current_thread().build().unwrap();
    drop(again);
    let traced = buffer.text();
    let traced: Vec<&str> = traced
        .lines()
        .filter(|line| line.contains("tokio_pulse::config"))
        .collect();
    assert_eq!(traced.len(), reported.len(), "{traced:#?} vs {reported:#?}");
    for warning in &reported {
        let lines = traced
            .iter()
            .filter(|line| line.contains(warning.setting) && line.contains(&warning.value))
            .count();
        assert_eq!(lines, 1, "{warning} in {traced:#?}");
        assert!(traced.iter().any(|line| line.contains("WARN")));
    }
    println!("WARNINGS {}", reported.len());
}

/// Code settings, against whatever environment the parent gave.
#[test]
#[ignore = "run by the tests below, in a process of its own"]
fn child_code_settings() {
    let built = Builder::new_multi_thread()
        .pulse(PulseConfig::new().slow_poll_threshold(Duration::from_micros(300)))
        .build()
        .unwrap();
    describe("slow_poll_in_code", built.handle());
    let built = Builder::new_multi_thread()
        .pulse(
            PulseConfig::new()
                .slow_poll_threshold(Duration::from_micros(300))
                .stall_watchdog(Duration::from_millis(25)),
        )
        .build()
        .unwrap();
    describe("stall_in_code", built.handle());
    let built = Builder::new_current_thread()
        .pulse(
            PulseConfig::new()
                .poll_timing(true)
                .slow_poll_threshold(Duration::ZERO)
                .stall_watchdog(Duration::from_millis(25))
                .watchdog_period(Duration::ZERO),
        )
        .build()
        .unwrap();
    describe("zero_in_code", built.handle());
    // The strict form still fails, naming the setting.
    let err = PulseConfig::new()
        .slow_poll_threshold(Duration::ZERO)
        .resolve()
        .unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("slow_poll_threshold"), "{err}");
}

/// The strict form against the parent's environment: prints its error.
#[test]
#[ignore = "run by the tests below, in a process of its own"]
fn child_strict() {
    match PulseConfig::new().resolve() {
        Ok(settings) => println!("STRICT ok {settings:?}"),
        Err(err) => println!("STRICT {:?}: {err}", err.kind()),
    }
}

#[test]
fn good_values_configure_every_runtime() {
    let child = run(
        "child_builds_runtimes",
        &[
            ("TOKIO_PULSE_POLL_TIMING", text("1")),
            ("TOKIO_PULSE_SLOW_POLL", text("2ms")),
            ("TOKIO_PULSE_STEAL_MATRIX", text("on")),
            ("TOKIO_PULSE_SCHEDULE_LATENCY", text("off")),
        ],
    );
    for of in ["main", "multi", "current"] {
        assert!(
            child.settings(of).starts_with(
                "poll_timing=true slow_poll=2ms stall=None period=1ms steal_matrix=Some(true) watchdog=false schedule_latency=false"
            ),
            "{}",
            child.settings(of)
        );
    }
    assert_eq!(child.config_warnings(), 0, "{}", child.stderr);

    let child = run(
        "child_builds_runtimes",
        &[("TOKIO_PULSE_STALL", text("25ms"))],
    );
    assert_eq!(
        child.settings("multi"),
        "poll_timing=true slow_poll=1ms stall=Some(25ms) period=1ms steal_matrix=None watchdog=true schedule_latency=true"
    );
}

#[test]
fn empty_values_mean_unset() {
    let env: Vec<(&str, &OsStr)> = VARS.iter().map(|&var| (var, text(""))).collect();
    let child = run("child_builds_runtimes", &env);
    for of in ["main", "multi", "current"] {
        assert_eq!(
            child.settings(of),
            "poll_timing=false slow_poll=1ms stall=None period=1ms steal_matrix=None watchdog=false schedule_latency=true"
        );
    }
    assert_eq!(child.config_warnings(), 0, "{}", child.stderr);
    assert!(child.stdout.contains("WARNINGS 0"));
}

#[test]
fn stall_switch_values_mean_the_default_threshold() {
    for value in ["1", "on", "true", "ON"] {
        let child = run(
            "child_builds_runtimes",
            &[("TOKIO_PULSE_STALL", text(value))],
        );
        for of in ["main", "multi", "current"] {
            assert_eq!(
                child.settings(of),
                "poll_timing=true slow_poll=1ms stall=Some(10ms) period=1ms steal_matrix=None watchdog=true schedule_latency=true",
                "TOKIO_PULSE_STALL={value}"
            );
        }
        assert_eq!(child.config_warnings(), 0, "{}", child.stderr);
    }
    let child = run(
        "child_builds_runtimes",
        &[("TOKIO_PULSE_STALL", text("off"))],
    );
    assert!(child.settings("multi").contains("stall=None"));
}

/// Every malformed value: the runtimes build (`#[tokio::main]` too), the
/// setting is off, and the warning names the variable, the value and what
/// was used instead, once on stderr and once through `tracing` although
/// four runtimes were built.
#[test]
fn bad_values_are_reported_once_and_turn_their_setting_off() {
    let cases: [(&str, &str, &str, &str); 10] = [
        (
            "TOKIO_PULSE_POLL_TIMING",
            "maybe",
            "poll timing off",
            "poll_timing=false slow_poll=1ms stall=None",
        ),
        (
            "TOKIO_PULSE_SLOW_POLL",
            "2",
            "no slow-poll events",
            "poll_timing=false slow_poll=18446744073709551615.999999999s",
        ),
        (
            "TOKIO_PULSE_SLOW_POLL",
            "2 parsecs",
            "no slow-poll events",
            "slow_poll=18446744073709551615.999999999s",
        ),
        (
            "TOKIO_PULSE_SLOW_POLL",
            "0ms",
            "no slow-poll events",
            "slow_poll=18446744073709551615.999999999s",
        ),
        (
            "TOKIO_PULSE_STALL",
            "-5ms",
            "no stall watchdog",
            "poll_timing=false slow_poll=1ms stall=None",
        ),
        (
            "TOKIO_PULSE_STALL",
            "yes please",
            "no stall watchdog",
            "stall=None",
        ),
        (
            "TOKIO_PULSE_WATCHDOG_PERIOD",
            "1h",
            "no stall watchdog",
            "stall=None period=1ms",
        ),
        (
            "TOKIO_PULSE_STEAL_MATRIX",
            "full",
            "steal totals",
            "steal_matrix=Some(false)",
        ),
        (
            "TOKIO_PULSE_SCHEDULE_LATENCY",
            "sometimes",
            "no schedule-latency histogram",
            "schedule_latency=false",
        ),
        ("TOKIO_PULSE_POLL_TIMING", "0 ", "", "poll_timing=false"),
    ];
    for (var, value, instead, settings) in cases {
        let child = run("child_builds_runtimes", &[(var, text(value))]);
        for of in ["main", "multi", "current"] {
            assert!(
                child.settings(of).contains(settings),
                "{var}={value:?}: {}",
                child.settings(of)
            );
        }
        if instead.is_empty() {
            // `0 ` is `0`: whitespace around a value is fine.
            assert_eq!(child.config_warnings(), 0, "{}", child.stderr);
            continue;
        }
        assert_eq!(
            child.warnings_about(var),
            1,
            "{var}={value:?}:\n{}",
            child.stderr
        );
        let line = child
            .stderr
            .lines()
            .find(|line| line.contains(var))
            .unwrap();
        assert!(line.contains(&format!("{value:?}")), "{line}");
        assert!(line.contains(instead), "{line}");
        assert!(child.stdout.contains("WARNINGS 1"), "{}", child.stdout);
    }

    // A bad stall and a bad period together: two warnings, each once.
    let child = run(
        "child_builds_runtimes",
        &[
            ("TOKIO_PULSE_STALL", text("1 minute")),
            ("TOKIO_PULSE_WATCHDOG_PERIOD", text("fast")),
        ],
    );
    assert_eq!(child.config_warnings(), 2, "{}", child.stderr);
    assert!(child.stdout.contains("WARNINGS 2"));
}

#[cfg(unix)]
#[test]
fn non_utf8_values_are_reported_not_fatal() {
    use std::os::unix::ffi::OsStringExt;

    let value = OsString::from_vec(vec![b'2', 0xff, b'm', b's']);
    let child = run(
        "child_builds_runtimes",
        &[("TOKIO_PULSE_SLOW_POLL", value.as_os_str())],
    );
    assert!(child
        .settings("main")
        .contains("slow_poll=18446744073709551615.999999999s"));
    assert_eq!(child.warnings_about("TOKIO_PULSE_SLOW_POLL"), 1);
    assert!(child.stderr.contains("not UTF-8"), "{}", child.stderr);

    let child = run(
        "child_strict",
        &[("TOKIO_PULSE_SLOW_POLL", value.as_os_str())],
    );
    assert!(
        child.stdout.contains("STRICT InvalidInput"),
        "{}",
        child.stdout
    );
}

#[test]
fn variables_are_not_read_for_what_the_code_set() {
    let child = run(
        "child_code_settings",
        &[
            ("TOKIO_PULSE_SLOW_POLL", text("garbage")),
            ("TOKIO_PULSE_POLL_TIMING", text("0")),
        ],
    );
    // Set in code: the malformed variable is never read, so never reported.
    assert!(
        child
            .settings("slow_poll_in_code")
            .starts_with("poll_timing=false slow_poll=300µs"),
        "{}",
        child.settings("slow_poll_in_code")
    );
    assert_eq!(
        child.warnings_about("TOKIO_PULSE_SLOW_POLL"),
        0,
        "{}",
        child.stderr
    );
    // `TOKIO_PULSE_POLL_TIMING=0` does not cancel the code's watchdog.
    assert!(
        child
            .settings("stall_in_code")
            .starts_with("poll_timing=true slow_poll=300µs stall=Some(25ms)"),
        "{}",
        child.settings("stall_in_code")
    );
    assert!(child
        .settings("stall_in_code")
        .ends_with("watchdog=true schedule_latency=true"));
    // Zero durations in code: the build goes on with those features off.
    assert_eq!(
        child.settings("zero_in_code"),
        "poll_timing=true slow_poll=18446744073709551615.999999999s stall=None period=1ms steal_matrix=None watchdog=false schedule_latency=true"
    );
    assert_eq!(child.warnings_about("PulseConfig::slow_poll_threshold"), 1);
    assert_eq!(child.warnings_about("PulseConfig::watchdog_period"), 1);
}

#[test]
fn the_strict_form_still_fails() {
    for (var, value) in [
        ("TOKIO_PULSE_POLL_TIMING", "maybe"),
        ("TOKIO_PULSE_SLOW_POLL", "fast"),
        ("TOKIO_PULSE_STALL", "-5ms"),
        ("TOKIO_PULSE_WATCHDOG_PERIOD", "0s"),
        ("TOKIO_PULSE_STEAL_MATRIX", "all"),
    ] {
        let child = run("child_strict", &[(var, text(value))]);
        let line = child
            .stdout
            .lines()
            .find_map(|line| line.split_once("STRICT ").map(|(_, result)| result))
            .unwrap();
        assert!(line.starts_with("InvalidInput"), "{line}");
        assert!(line.contains(var) && line.contains(value), "{line}");
        // The strict form reports nothing by itself.
        assert_eq!(child.config_warnings(), 0, "{}", child.stderr);
    }
    let child = run("child_strict", &[("TOKIO_PULSE_STALL", text("on"))]);
    assert!(child.stdout.contains("STRICT ok"), "{}", child.stdout);
}
