//! The single-writer counter every probe records into.

use std::fmt;

use crate::sync::{AtomicU64, Ordering::Relaxed, U64_IS_LOCKED};

/// A monotonic `u64` with one writer and any number of readers.
///
/// The writer adds with a `Relaxed` load followed by a `Relaxed` store. That
/// is two plain `mov`s on x86_64 and AArch64, never a locked read-modify-write,
/// which is what makes a probe cost well under a nanosecond on an owned cache
/// line. (On targets without 64-bit atomics, such as 32-bit powerpc, mips
/// and armv5te, the `u64` sits behind a mutex instead: each add and each read
/// is one uncontended lock and unlock, two atomic read-modify-writes on a
/// 32-bit word, and a counter takes 16 bytes instead of 8.) The price is a
/// contract the type system does not check for `&self`
/// methods: **only one thread may call `Counter::add` at a time** (so `add` is private to this crate). Two
/// concurrent writers lose increments (they never corrupt memory). The probes
/// uphold the contract by giving every counter exactly one owner: a worker's
/// counters are written only through its [`WorkerRecorder`], which Tokio keeps
/// inside the worker's core, and the runtime-wide remote counters are written
/// only while the inject queue's lock is held.
///
/// Readers call [`Counter::get`] from any thread at any time. Because every
/// store writes a value at least as large as the one before it, and a single
/// location is always seen in one coherent order, a reader never sees a
/// counter go backwards.
///
/// [`WorkerRecorder`]: crate::fork::WorkerRecorder
///
/// Outside this crate a counter can only be read:
///
/// ```compile_fail
/// let polls = tokio_pulse_probes::Counter::new();
/// polls.add(1); // `add` is private: a second writer could lose counts
/// ```
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::Counter;
///
/// let polls = Counter::new();
/// assert_eq!(polls.get(), 0);
/// ```
#[derive(Default)]
#[repr(transparent)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Creates a counter at zero.
    ///
    /// # Examples
    ///
    /// ```
    /// assert_eq!(tokio_pulse_probes::Counter::new().get(), 0);
    /// ```
    #[cfg(not(loom))]
    pub const fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    /// Creates a counter at zero (under loom, whose atomics have no `const`
    /// constructor).
    #[cfg(loom)]
    pub fn new() -> Counter {
        Counter(AtomicU64::new(0))
    }

    /// Adds `n`. The caller must be this counter's only writer (see the type
    /// docs); a second concurrent writer loses counts.
    #[inline(always)]
    pub(crate) fn add(&self, n: u64) {
        if U64_IS_LOCKED {
            // A target without 64-bit atomics: one lock rather than two.
            self.0.fetch_add(n, Relaxed);
        } else {
            // A load and a store, not `fetch_add`: the single writer makes
            // the pair race-free, and it compiles to no locked instruction.
            self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
        }
    }

    /// Reads the current value. Any thread may call this at any time.
    ///
    /// # Examples
    ///
    /// ```
    /// let parks = tokio_pulse_probes::Counter::new();
    /// assert_eq!(parks.get(), 0);
    /// ```
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

impl fmt::Debug for Counter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.get(), f)
    }
}
