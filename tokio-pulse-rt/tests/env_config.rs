//! `TOKIO_PULSE_*` environment variables at runtime build. One test, run in
//! its own binary, because the environment is process-wide.

use std::io::ErrorKind;
use std::time::Duration;

use tokio::runtime::Builder;
use tokio_pulse_rt::PulseConfig;

const VARS: [&str; 4] = [
    "TOKIO_PULSE_POLL_TIMING",
    "TOKIO_PULSE_SLOW_POLL",
    "TOKIO_PULSE_STALL",
    "TOKIO_PULSE_WATCHDOG_PERIOD",
];

fn with_env(vars: &[(&str, &str)], check: impl FnOnce()) {
    for var in VARS {
        std::env::remove_var(var);
    }
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    check();
    for var in VARS {
        std::env::remove_var(var);
    }
}

fn build_error(builder: &mut Builder) -> std::io::Error {
    match builder.build() {
        Ok(_) => panic!("the runtime built despite a bad variable"),
        Err(err) => err,
    }
}

#[test]
fn environment_configures_runtimes_and_bad_values_fail_the_build() {
    // Good values turn the probes on for both flavors.
    with_env(
        &[
            ("TOKIO_PULSE_POLL_TIMING", "1"),
            ("TOKIO_PULSE_SLOW_POLL", "2ms"),
        ],
        || {
            for mut builder in [Builder::new_multi_thread(), Builder::new_current_thread()] {
                let rt = builder.build().unwrap();
                let settings = rt.handle().pulse().settings().clone();
                assert!(settings.poll_timing);
                assert_eq!(settings.slow_poll, Duration::from_millis(2));
                assert_eq!(settings.stall, None);
            }
        },
    );

    // A stall threshold turns on the watchdog, and poll timing with it.
    with_env(&[("TOKIO_PULSE_STALL", "25ms")], || {
        let rt = Builder::new_multi_thread().build().unwrap();
        let probes = rt.handle().pulse();
        assert!(probes.settings().poll_timing);
        assert_eq!(probes.settings().stall, Some(Duration::from_millis(25)));
        assert!(probes.watchdog_running());
    });

    // Explicit builder settings win over the environment.
    with_env(
        &[
            ("TOKIO_PULSE_POLL_TIMING", "1"),
            ("TOKIO_PULSE_SLOW_POLL", "2ms"),
        ],
        || {
            let rt = Builder::new_multi_thread()
                .pulse(
                    PulseConfig::new()
                        .poll_timing(false)
                        .slow_poll_threshold(Duration::from_micros(300)),
                )
                .build()
                .unwrap();
            let settings = rt.handle().pulse().settings().clone();
            assert!(!settings.poll_timing);
            assert_eq!(settings.slow_poll, Duration::from_micros(300));
        },
    );

    // Malformed values fail the build, naming the variable and the value.
    let bad = [
        ("TOKIO_PULSE_POLL_TIMING", "maybe"),
        ("TOKIO_PULSE_SLOW_POLL", "2"),
        ("TOKIO_PULSE_SLOW_POLL", "fast"),
        ("TOKIO_PULSE_SLOW_POLL", "2 parsecs"),
        ("TOKIO_PULSE_STALL", "-5ms"),
        ("TOKIO_PULSE_WATCHDOG_PERIOD", "1h"),
    ];
    for (name, value) in bad {
        with_env(&[(name, value)], || {
            for mut builder in [Builder::new_multi_thread(), Builder::new_current_thread()] {
                let err = build_error(&mut builder);
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{name}={value}");
                let message = err.to_string();
                assert!(message.contains(name), "{message}");
                assert!(message.contains(value), "{message}");
            }
        });
    }

    // Zero durations are rejected too.
    with_env(&[("TOKIO_PULSE_SLOW_POLL", "0ms")], || {
        let err = build_error(&mut Builder::new_multi_thread());
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("TOKIO_PULSE_SLOW_POLL"), "{err}");
    });
}
