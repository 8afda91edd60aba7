//! The clock: calibration error against `Instant`, conversions, tiers.

use std::time::{Duration, Instant};

use tokio_pulse_probes::{tier, Clock};

/// How far the clock's idea of a span is from `Instant`'s, as a fraction.
fn error_over(clock: Clock, span: Duration) -> f64 {
    let (i0, t0) = (Instant::now(), clock.now());
    std::thread::sleep(span);
    let (t1, i1) = (clock.now(), Instant::now());
    let by_clock = clock.ticks_to_ns(t1 - t0) as f64;
    let by_instant = (i1 - i0).as_nanos() as f64;
    (by_clock - by_instant).abs() / by_instant
}

#[test]
#[cfg_attr(
    miri,
    ignore = "Miri's clock is emulated: there is no real time to calibrate against"
)]
fn calibration_error_is_reported_and_small() {
    let clock = Clock::global();
    // Take the best of a few spans: a preemption between the paired reads
    // above would otherwise be counted as clock error.
    let error = (0..5)
        .map(|_| error_over(clock, Duration::from_millis(100)))
        .fold(f64::INFINITY, f64::min);
    println!(
        "clock: {} source, calibration error over 100 ms: {:.4} % ({:.0} ns)",
        if clock.is_tsc() { "TSC" } else { "Instant" },
        error * 100.0,
        error * 1e8
    );
    assert!(error < 0.005, "calibration error {:.3} %", error * 100.0);
}

#[test]
fn instant_clock_converts_exactly() {
    let clock = Clock::instant();
    for ns in [0, 1, 999, 1_000, 123_456_789, 3_600_000_000_000u64] {
        assert_eq!(clock.ticks_to_ns(ns), ns);
        assert_eq!(clock.ticks_to_us(ns), ns / 1_000);
        assert_eq!(clock.ns_to_ticks(ns), ns);
    }
}

#[test]
fn global_clock_is_monotonic_across_threads() {
    let clock = Clock::global();
    let start = clock.now();
    let later = std::thread::spawn(move || clock.now()).join().unwrap();
    assert!(later >= start);
}

#[test]
fn tier_bounds_cover_one_microsecond_to_a_second() {
    assert_eq!(tier::upper_bound_us(0), Some(1));
    assert_eq!(tier::upper_bound_us(tier::TIERS - 2), Some(1 << 20));
    assert!(tier::upper_bound_us(tier::TIERS - 2).unwrap() >= 1_000_000);
    assert_eq!(tier::upper_bound_us(tier::TIERS - 1), None);
    for us in [0u64, 1, 2, 3, 1023, 1024, 1_000_000, u64::MAX] {
        let k = tier::of_us(us);
        if let Some(bound) = tier::upper_bound_us(k) {
            assert!(us < bound);
        }
        if k > 0 {
            assert!(us >= tier::upper_bound_us(k - 1).unwrap());
        }
    }
}

/// The process-wide clock is the TSC only where the kernel times with it
/// too (and the CPU says it is invariant, which the kernel's choice of
/// `tsc` implies on Linux).
#[test]
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[cfg_attr(miri, ignore = "Miri reads no TSC and no /sys")]
fn the_global_clock_is_the_tsc_only_if_the_kernel_uses_it() {
    let source =
        std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource");
    let kernel_uses_tsc = source.as_deref().is_ok_and(|s| s.trim() == "tsc");
    println!("kernel clocksource: {source:?}");
    if !kernel_uses_tsc {
        assert!(!Clock::global().is_tsc());
        assert!(Clock::calibrated_tsc().is_none());
    }
    if let Some(tsc) = Clock::calibrated_tsc() {
        assert!(kernel_uses_tsc && tsc.is_tsc());
    }
}
