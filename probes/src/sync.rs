//! Every atomic the probes use, chosen in one place:
//!
//! - under `--cfg loom`, loom's model-checked atomics;
//! - where the target has 64-bit atomics, std's (on x86_64 and AArch64 the
//!   probes compile exactly as if they named `std::sync::atomic` directly);
//! - elsewhere (powerpc, mips, armv5te and other 32-bit targets without
//!   `AtomicU64`), [`fallback::AtomicU64`]: a `u64` behind a mutex, with
//!   std's method signatures, as Tokio's own `atomic_u64_as_mutex` does.
//!
//! [`StaticAtomicU64`] is for `static`s, which need a `const` constructor
//! that loom's atomics lack: it is never loom's.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicPtr, AtomicU64, Ordering};

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicPtr, Ordering};

#[cfg(all(not(loom), target_has_atomic = "64"))]
pub(crate) use std::sync::atomic::AtomicU64;

#[cfg(all(not(loom), not(target_has_atomic = "64")))]
pub(crate) use self::fallback::AtomicU64;

#[cfg(target_has_atomic = "64")]
pub(crate) use std::sync::atomic::AtomicU64 as StaticAtomicU64;

#[cfg(not(target_has_atomic = "64"))]
pub(crate) use self::fallback::AtomicU64 as StaticAtomicU64;

/// Whether the target's std has a clock. On wasm32-unknown-unknown it has
/// none: `Instant::now()` panics there, so the probes must never call it.
pub(crate) const HAS_CLOCK: bool = cfg!(not(all(target_family = "wasm", target_os = "unknown")));

/// `Instant::now()` where the target has a clock, else `None`.
pub(crate) fn now_if_clock() -> Option<std::time::Instant> {
    HAS_CLOCK.then(std::time::Instant::now)
}

/// Whether `AtomicU64` is [`fallback::AtomicU64`], the mutex-backed one.
pub(crate) const U64_IS_LOCKED: bool = cfg!(all(not(loom), not(target_has_atomic = "64")));

/// Loads `atomic` as a plain load where the target allows it: the one
/// writer reading back its own value, which the compiler can then fold into
/// the arithmetic that uses it.
///
/// # Safety
///
/// No store to `atomic` may race with this load: the caller must be the
/// only thread that ever stores to it.
#[inline(always)]
#[allow(unsafe_code)]
pub(crate) unsafe fn unsync_load(atomic: &AtomicU64) -> u64 {
    // SAFETY: the caller rules out a racing store, and loads do not race
    // with loads; the pointer is valid and aligned for the life of `atomic`.
    #[cfg(all(not(loom), target_has_atomic = "64"))]
    return unsafe { *atomic.as_ptr() };
    // SAFETY: as above; loom checks that no store races with it.
    #[cfg(loom)]
    return unsafe { atomic.unsync_load() };
    // The mutex-backed value has no plain load; a locked one is as good.
    #[cfg(all(not(loom), not(target_has_atomic = "64")))]
    return atomic.load(Ordering::Relaxed);
}

/// `AtomicU64` for targets without 64-bit atomics. Compiled on every target
/// under `cfg(test)`, so that the host's tests cover it.
#[cfg(any(test, not(target_has_atomic = "64")))]
pub(crate) mod fallback {
    use std::fmt;
    use std::sync::atomic::Ordering;
    use std::sync::{Mutex, MutexGuard, PoisonError};

    /// A `u64` behind a [`Mutex`], with the methods of
    /// `std::sync::atomic::AtomicU64` that the probes use. Every method takes
    /// the lock once, so each one is atomic, and the lock orders them at
    /// least as strongly as any `Ordering` asks (its release on unlock and
    /// acquire on lock make every access `SeqCst` for this value).
    ///
    /// The cost, per access: one uncontended lock and unlock, i.e. two atomic
    /// read-modify-writes on a 32-bit word (a futex mutex on Linux) instead of
    /// one plain 64-bit load or store.
    #[derive(Default)]
    pub(crate) struct AtomicU64(Mutex<u64>);

    impl AtomicU64 {
        pub(crate) const fn new(value: u64) -> AtomicU64 {
            AtomicU64(Mutex::new(value))
        }

        fn lock(&self) -> MutexGuard<'_, u64> {
            // No code panics while holding the lock, but a poisoned `u64` is
            // still a `u64`.
            self.0.lock().unwrap_or_else(PoisonError::into_inner)
        }

        pub(crate) fn load(&self, _: Ordering) -> u64 {
            *self.lock()
        }

        pub(crate) fn store(&self, value: u64, _: Ordering) {
            *self.lock() = value;
        }

        /// Adds `value`, wrapping, and returns the previous value.
        pub(crate) fn fetch_add(&self, value: u64, _: Ordering) -> u64 {
            let mut guard = self.lock();
            let previous = *guard;
            *guard = previous.wrapping_add(value);
            previous
        }
    }

    impl fmt::Debug for AtomicU64 {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Debug::fmt(&self.load(Ordering::Relaxed), f)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fallback::AtomicU64;
    use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
    use std::sync::Arc;

    #[test]
    fn fallback_has_the_semantics_of_an_atomic_u64() {
        static STATIC: AtomicU64 = AtomicU64::new(7);
        assert_eq!(STATIC.fetch_add(1, Relaxed), 7);
        assert_eq!(STATIC.load(Relaxed), 8);

        let value = AtomicU64::default();
        assert_eq!(value.load(Relaxed), 0);
        value.store(u64::MAX - 1, Release);
        assert_eq!(value.load(Acquire), u64::MAX - 1);
        // Full 64-bit values, wrapping like `AtomicU64::fetch_add`.
        assert_eq!(value.fetch_add(3, Relaxed), u64::MAX - 1);
        assert_eq!(value.load(Relaxed), 1);
        assert_eq!(format!("{value:?}"), "1");
    }

    #[test]
    fn fallback_fetch_add_loses_nothing_across_threads() {
        let value = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let value = value.clone();
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        value.fetch_add(1 << 32 | 1, Relaxed);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        // Both halves moved together: no torn 64-bit value.
        assert_eq!(value.load(Relaxed), 40_000 << 32 | 40_000);
    }

    #[test]
    fn fallback_values_are_never_torn_for_readers() {
        let value = Arc::new(AtomicU64::new(0));
        let writer = {
            let value = value.clone();
            std::thread::spawn(move || {
                // Carries across the 32-bit halves on every step.
                for step in 0..20_000u64 {
                    let word = if step % 2 == 0 { u64::MAX } else { 0 };
                    value.store(word, Relaxed);
                }
            })
        };
        while !writer.is_finished() {
            let seen = value.load(Relaxed);
            assert!(seen == 0 || seen == u64::MAX, "torn read {seen:#x}");
        }
        writer.join().unwrap();
    }
}
