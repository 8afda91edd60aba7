//! A global allocator that counts live heap bytes while counting is on.
//!
//! It wraps the system allocator. With counting off (the default, and the
//! state during every timed or callgrind-measured run) each call costs one
//! `Relaxed` load and a predictable branch more than the system allocator,
//! the same in every variant, so it cannot favour one runtime over another.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering::Relaxed};

/// The allocator installed by `main.rs`.
pub struct Counting;

static ON: AtomicBool = AtomicBool::new(false);
static LIVE: AtomicI64 = AtomicI64::new(0);

/// Turns counting on or off. Bytes freed while it is on count as negative,
/// so `live()` is the net change since counting started.
pub fn set_counting(on: bool) {
    ON.store(on, Relaxed);
}

/// Net bytes allocated (allocations minus frees) while counting was on.
pub fn live() -> i64 {
    LIVE.load(Relaxed)
}

#[inline(always)]
fn track(bytes: usize, sign: i64) {
    if ON.load(Relaxed) {
        LIVE.fetch_add(sign * bytes as i64, Relaxed);
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees are ours; the counting touches only
// atomics and never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        track(layout.size(), 1);
        // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        track(layout.size(), 1);
        // SAFETY: forwarded unchanged; the caller upholds `alloc_zeroed`'s contract.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        track(layout.size(), -1);
        // SAFETY: `ptr` came from `System` through this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        track(new_size, 1);
        track(layout.size(), -1);
        // SAFETY: `ptr` came from `System` through this allocator with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}
