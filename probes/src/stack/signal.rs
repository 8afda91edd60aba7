//! The signal that interrupts a stuck worker, and its handler.
//!
//! # The unwinder, and why
//!
//! The handler walks the interrupted stack with the C++ ABI's
//! `_Unwind_Backtrace` (through `backtrace::trace_unsynchronized`, its
//! libgcc-unwind backend on Linux), reading the `.eh_frame` unwind tables,
//! as pprof-rs does:
//!
//! - Frame pointers would be the cheapest walk, but Rust's standard library
//!   and most crates are built without them, so a frame-pointer walk loses
//!   or skips exactly the frames between the user's code and the syscall.
//! - libunwind's local unwinder (`unw_backtrace`) is signal-safe by design,
//!   but it is another C library to link and is not on most systems by
//!   default.
//! - `.eh_frame` is always there (Rust's panics unwind with it) and libgcc's
//!   unwinder steps over the signal frame using the kernel's and glibc's
//!   unwind info for the signal trampoline. It allocates nothing and takes
//!   no lock of its own; since glibc 2.35 it finds the unwind tables with the
//!   lock-free `_dl_find_object` (before, `dl_iterate_phdr` takes the
//!   loader's lock, so a thread interrupted inside `dlopen` could deadlock in
//!   the handler; a stall of that kind is rare, and the watchdog gives up
//!   waiting after [`ANSWER_TIMEOUT`]).
//!
//! # The handshake
//!
//! One capture at a time in the process (a mutex on the watchdog side, never
//! taken by the handler), into one static buffer: the handler can then never
//! write memory that was freed, whatever it is late for. The watchdog arms
//! a generation and the target thread id, then sends the signal. The handler
//! acts only if it runs on that thread and moves the generation from ARMED
//! to WRITING (a compare-exchange, so a late or stray signal does nothing),
//! copies the return addresses, and publishes DONE. A watchdog that gives up
//! moves ARMED back to IDLE; if the handler already began writing, it waits
//! for DONE (the copy is bounded by [`MAX_FRAMES`]).
//!
//! The handler is async-signal-safe: atomics, `clock_gettime`, `gettid` and
//! the unwinder; no allocation, no lock, no `tracing`; it restores `errno`.

#![allow(unsafe_code)]

use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{StackUnavailable, DEFAULT_SIGNAL_OFFSET, MAX_FRAMES};

/// How long the watchdog waits for the handler to answer.
pub(crate) const ANSWER_TIMEOUT: Duration = Duration::from_millis(100);

const IDLE: u64 = 0;
const ARMED: u64 = 1;
const WRITING: u64 = 2;
const DONE: u64 = 3;

/// `generation << 2 | phase`.
static STATE: AtomicU64 = AtomicU64::new(IDLE);
/// `generation << 32 | tid` of the thread asked for.
static TARGET: AtomicU64 = AtomicU64::new(0);
/// The copied addresses, innermost first, and how many.
static FRAMES: [AtomicUsize; MAX_FRAMES] = [NO_FRAME; MAX_FRAMES];
/// An empty slot of [`FRAMES`] (a named constant rather than an inline
/// `const { }` block, which is Rust 1.79: the probes build with 1.71).
#[allow(clippy::declare_interior_mutable_const)]
const NO_FRAME: AtomicUsize = AtomicUsize::new(0);
static LEN: AtomicUsize = AtomicUsize::new(0);
/// The handler's monotonic clock at entry and exit, in nanoseconds.
static ENTERED_NS: AtomicU64 = AtomicU64::new(0);
static LEFT_NS: AtomicU64 = AtomicU64::new(0);
/// Serializes captures across the process's watchdogs, and captures with
/// symbolization (see [`exclusive`]).
static CAPTURE: Mutex<u64> = Mutex::new(0);

/// Holds off captures while the caller symbolizes. Symbolizing walks the
/// loaded libraries with `dl_iterate_phdr`, which holds the dynamic
/// loader's lock; the unwinder in the handler may need that same lock (for
/// code `_dl_find_object` does not cover, such as the vDSO), and a handler
/// waiting for it leaves its thread stuck until the symbolizing is done.
pub(crate) fn exclusive() -> std::sync::MutexGuard<'static, u64> {
    CAPTURE.lock().unwrap_or_else(|poison| poison.into_inner())
}
/// The signal the handler is installed on, 0 before.
static INSTALLED: AtomicI32 = AtomicI32::new(0);

/// The addresses one capture copied, with its timings.
pub(crate) struct RawStack {
    ips: [usize; MAX_FRAMES],
    len: usize,
    pub(crate) signal_to_capture: Duration,
    pub(crate) interrupted_for: Duration,
}

impl RawStack {
    pub(crate) fn ips(&self) -> &[usize] {
        &self.ips[..self.len]
    }
}

/// The monotonic clock in nanoseconds; async-signal-safe.
fn monotonic_ns() -> u64 {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec; clock_gettime is
    // async-signal-safe (POSIX).
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    (now.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(now.tv_nsec as u64)
}

/// This thread's kernel id; async-signal-safe.
pub(crate) fn gettid() -> u64 {
    // SAFETY: the gettid syscall takes no argument and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u64 }
}

/// Installs the handler on `signal` (default `SIGRTMIN + 6`), once per
/// process. Leaves an application's own handler alone, and says so once.
pub(crate) fn install(signal: Option<i32>) -> Result<i32, StackUnavailable> {
    static RESULT: Mutex<Option<Result<i32, StackUnavailable>>> = Mutex::new(None);
    let mut result = RESULT.lock().unwrap_or_else(|poison| poison.into_inner());
    let signal = signal.unwrap_or_else(|| libc::SIGRTMIN() + DEFAULT_SIGNAL_OFFSET);
    if let Some(done) = *result {
        return match done {
            Ok(installed) if installed != signal => {
                report_once(format_args!(
                    "tokio-pulse: stall stacks use signal {installed}, installed first; \
                     a runtime asking for signal {signal} shares it"
                ));
                Ok(installed)
            }
            other => other,
        };
    }
    let outcome = install_on(signal);
    if let Err(problem) = &outcome {
        report_once(format_args!(
            "tokio-pulse: stall stacks are off: {problem} (set TOKIO_PULSE_STACK_SIGNAL to a free \
             real-time signal, or TOKIO_PULSE_STACKS=off to silence this)"
        ));
    }
    let outcome = outcome.map_err(|_| StackUnavailable::Signal);
    *result = Some(outcome);
    outcome
}

fn report_once(message: std::fmt::Arguments<'_>) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| eprintln!("{message}"));
}

fn install_on(signal: i32) -> Result<i32, String> {
    if !(libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&signal) {
        return Err(format!(
            "signal {signal} is not a real-time signal ({}..={})",
            libc::SIGRTMIN(),
            libc::SIGRTMAX()
        ));
    }
    // SAFETY: an all-zero `sigaction` is a valid value (no handler, empty
    // mask, no flags); it is only written by the kernel here.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only reads the current one into `old`.
    if unsafe { libc::sigaction(signal, std::ptr::null(), &mut old) } != 0 {
        return Err(format!(
            "cannot read the action of signal {signal}: {}",
            std::io::Error::last_os_error()
        ));
    }
    if old.sa_sigaction != libc::SIG_DFL {
        return Err(format!(
            "the application already handles signal {signal}, and it is left alone"
        ));
    }
    // SAFETY: as above, all-zero is a valid `sigaction`.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as *const () as usize;
    // SA_RESTART: a read, write or lock wait that the signal interrupts
    // restarts instead of failing with EINTR (sleeps return the time left,
    // which `std::thread::sleep` sleeps again).
    action.sa_flags = libc::SA_SIGINFO | libc::SA_RESTART;
    // SAFETY: `sa_mask` is a valid sigset_t to empty.
    unsafe { libc::sigemptyset(&mut action.sa_mask) };
    // SAFETY: `action` is fully initialized; `handler` has the
    // SA_SIGINFO signature and is async-signal-safe.
    if unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } != 0 {
        return Err(format!(
            "cannot install a handler on signal {signal}: {}",
            std::io::Error::last_os_error()
        ));
    }
    INSTALLED.store(signal, Ordering::Release);
    Ok(signal)
}

/// The program counter where the signal interrupted the thread.
///
/// # Safety
///
/// `context` is the third argument of an SA_SIGINFO handler.
unsafe fn interrupted_pc(context: *mut libc::c_void) -> usize {
    if context.is_null() {
        return 0;
    }
    let context = context.cast::<libc::ucontext_t>();
    // SAFETY: the kernel passes a valid ucontext_t to an SA_SIGINFO handler.
    #[cfg(target_arch = "x86_64")]
    return unsafe { (*context).uc_mcontext.gregs[libc::REG_RIP as usize] as usize };
    // SAFETY: as above.
    #[cfg(target_arch = "aarch64")]
    return unsafe { (*context).uc_mcontext.pc as usize };
}

extern "C" fn handler(
    _signal: libc::c_int,
    _info: *mut libc::siginfo_t,
    context: *mut libc::c_void,
) {
    // SAFETY: errno is thread-local; its location is valid for this thread.
    let errno = unsafe { *libc::__errno_location() };
    let entered = monotonic_ns();
    let target = TARGET.load(Ordering::Acquire);
    let generation = target >> 32;
    if target & 0xffff_ffff == gettid()
        && STATE
            .compare_exchange(
                generation << 2 | ARMED,
                generation << 2 | WRITING,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    {
        // SAFETY: `context` is the handler's third argument.
        let pc = unsafe { interrupted_pc(context) };
        let mut len = 0;
        // Until the interrupted frame is seen, the frames are the handler's
        // own (and the signal trampoline's): skip them. If it is never seen
        // (no unwind info at the interrupted address), nothing is skipped.
        let mut skipping = pc != 0;
        let mut skipped = 0;
        // SAFETY: `trace_unsynchronized` requires that no other thread
        // unwinds through the backtrace crate at the same time without its
        // lock; it keeps no state of its own on the libgcc backend used
        // here, and the closure neither allocates nor locks.
        unsafe {
            backtrace::trace_unsynchronized(|frame| {
                let ip = frame.ip() as usize;
                if skipping {
                    if ip == pc {
                        skipping = false;
                    } else {
                        skipped += 1;
                        // Keep the first frames, in case the interrupted
                        // one never shows up.
                        if skipped <= MAX_FRAMES {
                            FRAMES[skipped - 1].store(ip, Ordering::Relaxed);
                        }
                        return skipped < MAX_FRAMES * 2;
                    }
                }
                FRAMES[len].store(ip, Ordering::Relaxed);
                len += 1;
                len < MAX_FRAMES
            });
        }
        if skipping {
            len = skipped.min(MAX_FRAMES);
        }
        LEN.store(len, Ordering::Relaxed);
        ENTERED_NS.store(entered, Ordering::Relaxed);
        LEFT_NS.store(monotonic_ns(), Ordering::Relaxed);
        STATE.store(generation << 2 | DONE, Ordering::Release);
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// Interrupts thread `tid` with `signal` and waits for its stack.
pub(crate) fn capture(tid: u64, signal: i32) -> Result<RawStack, StackUnavailable> {
    if INSTALLED.load(Ordering::Acquire) != signal || tid == 0 || tid > u64::from(u32::MAX) {
        return Err(if tid == 0 {
            StackUnavailable::NoThread
        } else {
            StackUnavailable::Signal
        });
    }
    let mut generation = exclusive();
    // 30 bits: it fits `STATE` and `TARGET` shifted.
    *generation = (*generation + 1) % (1 << 30);
    let generation = *generation;
    STATE.store(generation << 2 | ARMED, Ordering::Release);
    TARGET.store(generation << 32 | tid, Ordering::Release);
    let sent = monotonic_ns();
    // SAFETY: tgkill sends a signal to one thread of this process; `tid`
    // came from gettid on a worker of this process. If that thread has
    // exited, the kernel answers ESRCH (or, if the id was reused, another
    // of this process's threads gets a signal whose handler ignores it).
    let sent_ok =
        unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid(), tid as libc::pid_t, signal) } == 0;
    let waited = Instant::now();
    let mut answered = false;
    if sent_ok {
        let mut spins = 0u32;
        while waited.elapsed() < ANSWER_TIMEOUT {
            if STATE.load(Ordering::Acquire) == generation << 2 | DONE {
                answered = true;
                break;
            }
            spins += 1;
            if spins < 1_000 {
                std::hint::spin_loop();
            } else {
                std::thread::sleep(Duration::from_micros(20));
            }
        }
    }
    if !answered {
        let gave_up = STATE.compare_exchange(
            generation << 2 | ARMED,
            generation << 2 | IDLE,
            Ordering::AcqRel,
            Ordering::Acquire,
        );
        if gave_up.is_err() {
            // The handler is copying: bounded work, wait for it.
            while STATE.load(Ordering::Acquire) != generation << 2 | DONE {
                std::thread::yield_now();
            }
            answered = true;
        }
    }
    TARGET.store(0, Ordering::Release);
    if !answered {
        return Err(StackUnavailable::NoAnswer);
    }
    let len = LEN.load(Ordering::Relaxed).min(MAX_FRAMES);
    let mut ips = [0; MAX_FRAMES];
    for (ip, slot) in ips.iter_mut().zip(&FRAMES[..len]) {
        *ip = slot.load(Ordering::Relaxed);
    }
    let entered = ENTERED_NS.load(Ordering::Relaxed);
    let left = LEFT_NS.load(Ordering::Relaxed);
    Ok(RawStack {
        ips,
        len,
        signal_to_capture: Duration::from_nanos(left.saturating_sub(sent)),
        interrupted_for: Duration::from_nanos(left.saturating_sub(entered)),
    })
}
