//! The cheapest monotonic clock available, in ticks.
//!
//! 1. On x86_64 with an invariant TSC (CPUID leaf `0x8000_0007`, EDX bit 8)
//!    that, on Linux, the kernel also trusts (its clocksource,
//!    `/sys/devices/system/clocksource/clocksource0/current_clocksource`, is
//!    `tsc`), a tick is one TSC cycle, read with `rdtsc` (about 10 ns here,
//!    against 24 ns for `Instant::now()`). The TSC's rate is calibrated once
//!    per process against `Instant` over [`CALIBRATION`]. The kernel drops
//!    the TSC as its clocksource when it finds it unsynchronized across CPUs
//!    or unstable (as it often does under a hypervisor), and a CPUID bit
//!    cannot tell that.
//! 2. Everywhere else (other targets, no invariant TSC, a kernel on another
//!    clocksource, Miri), a tick is one nanosecond of `Instant` since a
//!    process-wide origin. When the CPU has an invariant TSC that the
//!    kernel does not use, [`Clock::global`] says so once on stderr.
//!
//! No reading of this clock decides a stall: the watchdog decides on its own
//! `Instant` readings (see `watchdog.rs`), so a TSC that still differs
//! across CPUs can at worst skew a poll's duration, never raise a stall.
//! 3. Ticks convert to nanoseconds and to microseconds with a 64-bit fixed
//!    point multiply; the microsecond conversion is what picks a poll-time
//!    tier, so tier boundaries are exact powers of two of a microsecond, up to
//!    the calibration error (see the `clock` tests, which print it).

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the TSC is timed against `Instant` to find its rate.
pub const CALIBRATION: Duration = Duration::from_millis(20);

/// Fixed-point shift of the tick conversions.
const SHIFT: u32 = 32;

/// A calibrated monotonic clock. Cheap to copy; read with [`Clock::now`].
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::Clock;
///
/// let clock = Clock::global();
/// let start = clock.now();
/// std::thread::sleep(std::time::Duration::from_millis(2));
/// let ns = clock.ticks_to_ns(clock.now() - start);
/// assert!(ns >= 1_000_000, "{ns} ns");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    source: Source,
    /// Nanoseconds per tick, shifted left by [`SHIFT`].
    ns_per_tick: u64,
    /// Half-microseconds per tick, shifted left by 64: the high word of its
    /// product with a tick count is twice the microseconds, rounded down.
    half_us_per_tick: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    Tsc,
    Instant,
}

/// [`Clock::now`] on [`Clock::instant`], out of line: the TSC is the
/// clock of the hot paths, and a worker's check for "poll timing on" (the
/// recorder's `Option<Timing>` keeps its tag in the clock's source byte)
/// then tests for "off" before the clock's source.
#[cold]
#[inline(never)]
fn instant_ticks() -> u64 {
    origin().elapsed().as_nanos() as u64
}

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

impl Clock {
    /// The process-wide clock: a calibrated TSC where it can be trusted,
    /// else `Instant`. The first call calibrates (about 20 ms, once).
    ///
    /// # Examples
    ///
    /// See [`Clock`].
    pub fn global() -> Clock {
        static GLOBAL: OnceLock<Clock> = OnceLock::new();
        *GLOBAL.get_or_init(|| {
            if let Err(Refusal::Kernel(why)) = this_machines_verdict() {
                eprintln!(
                    "tokio-pulse: not timing polls with the TSC: {why}; using \
                     std::time::Instant instead (slower to read)"
                );
            }
            Clock::calibrated_tsc().unwrap_or_else(Clock::instant)
        })
    }

    /// A clock on `Instant`: one tick per nanosecond.
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = tokio_pulse_probes::Clock::instant();
    /// assert!(!clock.is_tsc());
    /// assert_eq!(clock.ticks_to_ns(1_500), 1_500);
    /// ```
    pub fn instant() -> Clock {
        // Reads no clock: the origin is taken at the first `now`.
        Clock::from_rate(Source::Instant, 1, 1)
    }

    /// A TSC clock calibrated against `Instant`, or `None` where the TSC is
    /// missing, not invariant, not the kernel's clocksource (Linux), or not
    /// readable (Miri).
    ///
    /// # Examples
    ///
    /// ```
    /// if let Some(tsc) = tokio_pulse_probes::Clock::calibrated_tsc() {
    ///     assert!(tsc.is_tsc());
    /// }
    /// ```
    pub fn calibrated_tsc() -> Option<Clock> {
        this_machines_verdict().ok()?;
        let (i0, t0) = tsc::paired_read();
        // Sleep rather than spin: calibration runs at runtime build.
        std::thread::sleep(CALIBRATION);
        let (i1, t1) = tsc::paired_read();
        let ticks = t1.checked_sub(t0).filter(|&t| t > 0)?;
        let ns = u64::try_from((i1 - i0).as_nanos()).ok()?;
        Some(Clock::from_rate(Source::Tsc, ns, ticks))
    }

    /// `ns` nanoseconds took `ticks` ticks.
    fn from_rate(source: Source, ns: u64, ticks: u64) -> Clock {
        // Round the multipliers up, so that a whole number of microseconds
        // converts back to at least itself: tier boundaries stay exact when
        // the rate is exact, and are biased by under 2^-32 otherwise.
        let ns_per_tick = div_ceil(u128::from(ns) << SHIFT, u128::from(ticks)) as u64;
        let half_us_per_tick = div_ceil(u128::from(ns) << 65, 1000 * u128::from(ticks))
            .min(u128::from(u64::MAX)) as u64;
        Clock {
            source,
            ns_per_tick,
            half_us_per_tick,
        }
    }

    /// Whether this clock reads the TSC.
    ///
    /// # Examples
    ///
    /// See [`Clock::instant`].
    pub fn is_tsc(&self) -> bool {
        self.source == Source::Tsc
    }

    /// The current time in ticks.
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = tokio_pulse_probes::Clock::global();
    /// let (a, b) = (clock.now(), clock.now());
    /// assert!(b >= a);
    /// ```
    #[inline(always)]
    pub fn now(&self) -> u64 {
        match self.source {
            Source::Tsc => tsc::read(),
            Source::Instant => instant_ticks(),
        }
    }

    /// Converts a tick count to nanoseconds.
    ///
    /// # Examples
    ///
    /// See [`Clock`].
    #[inline]
    pub fn ticks_to_ns(&self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.ns_per_tick)) >> SHIFT) as u64
    }

    /// Converts a tick count to whole microseconds (rounded down).
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = tokio_pulse_probes::Clock::instant();
    /// assert_eq!(clock.ticks_to_us(2_999), 2);
    /// ```
    #[inline(always)]
    pub fn ticks_to_us(&self, ticks: u64) -> u64 {
        self.twice_us(ticks) >> 1
    }

    /// Twice the whole microseconds in `ticks`, plus the next bit: the high
    /// word of one 64×64-bit multiply.
    #[inline(always)]
    fn twice_us(&self, ticks: u64) -> u64 {
        ((u128::from(ticks) * u128::from(self.half_us_per_tick)) >> 64) as u64
    }

    /// The slot of [`TimingProbes::slots`](crate::timing::TimingProbes) for
    /// a poll of `ticks`: the bit length of its duration in whole
    /// microseconds, so slot `k` is tier `k` up to the last tier. With its
    /// low bit set, twice the microseconds (plus the next bit) has that bit
    /// length as its base-2 logarithm, and is never zero: one multiply, an
    /// `or` and a `bsr`, with no branch and no clamp (the result is below
    /// 64).
    #[inline(always)]
    pub(crate) fn slot(&self, ticks: u64) -> usize {
        (self.twice_us(ticks) | 1).ilog2() as usize
    }

    /// Converts nanoseconds to ticks (rounded down), for thresholds.
    ///
    /// # Examples
    ///
    /// ```
    /// let clock = tokio_pulse_probes::Clock::instant();
    /// assert_eq!(clock.ns_to_ticks(1_000), 1_000);
    /// ```
    pub fn ns_to_ticks(&self, ns: u64) -> u64 {
        if self.ns_per_tick == 0 {
            return u64::MAX;
        }
        ((u128::from(ns) << SHIFT) / u128::from(self.ns_per_tick)).min(u128::from(u64::MAX)) as u64
    }
}

/// Why the TSC is not used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// No invariant TSC (or not x86_64): nothing worth saying.
    Cpu,
    /// The CPU has one but the kernel does not vouch for it: said once.
    Kernel(String),
}

/// The path Linux publishes its current clocksource at.
const CLOCKSOURCE: &str = "/sys/devices/system/clocksource/clocksource0/current_clocksource";

/// What the kernel says its clocksource is: `Some(Err(..))` if the file
/// cannot be read, `None` where there is no such file to read (not Linux),
/// so nothing to check.
fn kernel_clocksource() -> Option<Result<String, String>> {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return None;
    }
    Some(std::fs::read_to_string(CLOCKSOURCE).map_err(|error| error.to_string()))
}

/// [`tsc_verdict`] on this machine; the kernel's file is read only when the
/// CPU has an invariant TSC.
fn this_machines_verdict() -> Result<(), Refusal> {
    let invariant = tsc::invariant();
    // Not `kernel_clocksource().filter(..)`: that would read the file
    // (which Miri's isolation refuses) even for a CPU without the TSC.
    let clocksource = if invariant {
        kernel_clocksource()
    } else {
        None
    };
    tsc_verdict(invariant, clocksource)
}

/// Whether to time with the TSC, from the CPU's invariant-TSC bit and the
/// kernel's clocksource file (its content, or why it could not be read;
/// `None` where the OS has no such file). The TSC is used only if both
/// vouch for it.
pub(crate) fn tsc_verdict(
    invariant: bool,
    clocksource: Option<Result<String, String>>,
) -> Result<(), Refusal> {
    if !invariant {
        return Err(Refusal::Cpu);
    }
    match clocksource {
        None => Ok(()),
        Some(Ok(source)) if source.trim() == "tsc" => Ok(()),
        Some(Ok(source)) => Err(Refusal::Kernel(format!(
            "the kernel's clocksource is {:?}, not \"tsc\" ({CLOCKSOURCE})",
            source.trim()
        ))),
        Some(Err(error)) => Err(Refusal::Kernel(format!(
            "cannot read the kernel's clocksource from {CLOCKSOURCE}: {error}"
        ))),
    }
}

/// A raw TSC read, for callers that already know the clock is a TSC (see
/// [`Clock::is_tsc`]).
#[inline(always)]
pub(crate) fn tsc_now() -> u64 {
    tsc::read()
}

#[cfg(all(target_arch = "x86_64", not(miri)))]
#[allow(unsafe_code)]
mod tsc {
    use std::arch::x86_64::{__cpuid, _rdtsc};
    use std::time::Instant;

    /// Whether the CPU advertises an invariant TSC: constant rate in all
    /// power states, so ticks are time.
    pub(super) fn invariant() -> bool {
        // SAFETY: `cpuid` is available on every x86_64 CPU, and leaf
        // 0x8000_0007 is queried only when 0x8000_0000 says it exists.
        // (`__cpuid` is a safe function on recent compilers and an unsafe
        // one on the oldest we support, hence the allow.)
        #[allow(unused_unsafe)]
        unsafe {
            let max_extended = __cpuid(0x8000_0000).eax;
            max_extended >= 0x8000_0007 && __cpuid(0x8000_0007).edx & (1 << 8) != 0
        }
    }

    #[inline(always)]
    pub(super) fn read() -> u64 {
        // SAFETY: `rdtsc` is available on every x86_64 CPU and has no
        // memory effects.
        unsafe { _rdtsc() }
    }

    /// An `Instant` and a TSC read taken as close together as possible: the
    /// pair with the shortest bracket out of a few tries, so that a
    /// preemption between the two reads does not skew calibration.
    pub(super) fn paired_read() -> (Instant, u64) {
        let mut best = (Instant::now(), read(), u64::MAX);
        for _ in 0..8 {
            let before = read();
            let instant = Instant::now();
            let after = read();
            let bracket = after.wrapping_sub(before);
            if bracket < best.2 {
                best = (instant, before + bracket / 2, bracket);
            }
        }
        (best.0, best.1)
    }
}

#[cfg(not(all(target_arch = "x86_64", not(miri))))]
mod tsc {
    use std::time::Instant;

    pub(super) fn invariant() -> bool {
        false
    }

    pub(super) fn read() -> u64 {
        0
    }

    pub(super) fn paired_read() -> (Instant, u64) {
        (Instant::now(), 0)
    }
}

/// Poll-time tiers: a fixed log-scale histogram of poll durations.
///
/// Tier 0 holds polls under 1 µs; tier `k` for `1 <= k < TIERS - 1` holds
/// polls in `[2^(k-1), 2^k)` µs; the last tier holds everything from
/// `2^(TIERS-2)` µs (about 1.05 s) up.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::tier;
///
/// assert_eq!(tier::of_us(0), 0);
/// assert_eq!(tier::of_us(1), 1);
/// assert_eq!(tier::of_us(3), 2);
/// assert_eq!(tier::of_us(1_000), 10);
/// assert_eq!(tier::upper_bound_us(10), Some(1024));
/// assert_eq!(tier::of_us(u64::MAX), tier::TIERS - 1);
/// ```
pub mod tier {
    /// Number of tiers.
    pub const TIERS: usize = 22;

    /// The tier of a poll that took `us` microseconds, computed without a
    /// branch: the bit length of `us`, clamped to the last tier.
    #[inline(always)]
    pub fn of_us(us: u64) -> usize {
        ((u64::BITS - us.leading_zeros()) as usize).min(TIERS - 1)
    }

    /// The exclusive upper bound of tier `k` in microseconds, `None` for the
    /// last (unbounded) tier or past it.
    pub fn upper_bound_us(k: usize) -> Option<u64> {
        (k < TIERS - 1).then(|| 1u64 << k)
    }
}

/// `a / b` rounded up (`u128::div_ceil` is Rust 1.73; the probes build with
/// 1.71, the MSRV of Tokio's 1.53.x LTS line). `b` is never zero here.
const fn div_ceil(a: u128, b: u128) -> u128 {
    a / b + (a % b != 0) as u128
}

#[cfg(test)]
mod tests {
    use super::{tier, tsc_verdict, Clock, Refusal};

    #[test]
    fn the_tsc_needs_the_cpu_and_the_kernel_to_vouch_for_it() {
        let file = |text: &str| Some(Ok(text.to_owned()));
        assert_eq!(tsc_verdict(true, file("tsc\n")), Ok(()));
        assert_eq!(tsc_verdict(true, None), Ok(()), "no file to check");
        assert_eq!(tsc_verdict(false, file("tsc\n")), Err(Refusal::Cpu));
        for other in ["hpet\n", "kvm-clock\n", "acpi_pm\n", "", "tsc-early\n"] {
            match tsc_verdict(true, file(other)) {
                Err(Refusal::Kernel(why)) => {
                    assert!(
                        why.contains(other.trim()) && why.contains("clocksource"),
                        "{why}"
                    )
                }
                verdict => panic!("{other:?}: {verdict:?}"),
            }
        }
        match tsc_verdict(true, Some(Err("permission denied".to_owned()))) {
            Err(Refusal::Kernel(why)) => assert!(why.contains("permission denied"), "{why}"),
            verdict => panic!("{verdict:?}"),
        }
    }

    /// The hot path's slot, clamped to the last tier, is exactly the tier of
    /// the whole microseconds the ticks convert to.
    fn slot_agrees_with_tier(clock: Clock) {
        let mut cases: Vec<u64> = vec![0, 1, 2, 3, u64::MAX >> 2];
        for k in 0..tier::TIERS as u32 + 2 {
            let bound = clock.ns_to_ticks(1_000u64 << k);
            cases.extend([bound.saturating_sub(1), bound, bound + 1]);
        }
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..if cfg!(miri) { 100 } else { 100_000 } {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases.push(x >> (x % 40 + 23));
        }
        for ticks in cases {
            let slot = clock.slot(ticks);
            assert!(slot < 64);
            assert_eq!(
                slot.min(tier::TIERS - 1),
                tier::of_us(clock.ticks_to_us(ticks)),
                "{ticks} ticks"
            );
        }
    }

    #[test]
    fn slots_match_tiers_on_an_instant_clock() {
        slot_agrees_with_tier(Clock::instant());
    }

    #[test]
    #[cfg_attr(miri, ignore = "calibration sleeps and reads the TSC")]
    fn slots_match_tiers_on_a_tsc_clock() {
        if let Some(tsc) = Clock::calibrated_tsc() {
            slot_agrees_with_tier(tsc);
        }
    }
}
