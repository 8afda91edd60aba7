//! The stuck thread's own stack, captured while it is stuck.
//!
//! When the watchdog reports a stall, it sends one real-time signal to the
//! stuck worker's thread (`tgkill`). The handler (`signal.rs`) copies the
//! return addresses of the interrupted stack into a buffer allocated once
//! per process, and returns; the watchdog then turns the addresses into
//! function, file and line on its own thread (`symbols.rs`), with a cache by
//! address, and marks the frames of Tokio, std and the C library so that a
//! reader finds the user's own code first.
//!
//! Only Linux on x86_64 and AArch64 captures stacks. Elsewhere this module
//! keeps its types (so that code reading a [`StackTrace`] compiles
//! everywhere) and every capture answers [`StackUnavailable::Platform`].

use std::fmt;
use std::time::Duration;

#[cfg(stack_capture)]
mod signal;
#[cfg(stack_capture)]
mod symbols;

/// Frames kept per capture, at most. Deeper stacks keep their innermost
/// (most recent) frames.
pub const MAX_FRAMES: usize = 128;

/// The default signal: `SIGRTMIN + 6` (glibc reserves the first real-time
/// signals for itself and `SIGRTMIN()` already skips them; `+ 6` stays clear
/// of the few that profilers and runtimes customarily take first).
#[cfg_attr(not(stack_capture), allow(dead_code))]
pub(crate) const DEFAULT_SIGNAL_OFFSET: i32 = 6;

/// Where a frame's code comes from.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::FrameOrigin;
/// assert!(FrameOrigin::Runtime.is_folded());
/// assert!(!FrameOrigin::User.is_folded());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameOrigin {
    /// The application's own code (and any crate other than the ones below).
    User,
    /// Tokio, Tokio-Pulse, or Rust's standard library (`std`, `core`,
    /// `alloc`).
    Runtime,
    /// Code without Rust symbols: the C library, the kernel's vDSO.
    System,
}

impl FrameOrigin {
    /// Whether a readable rendering folds runs of such frames.
    pub fn is_folded(self) -> bool {
        self != FrameOrigin::User
    }
}

/// One frame of a captured stack, innermost first.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{FrameOrigin, StackFrame};
///
/// let frame = StackFrame {
///     ip: 0x1234,
///     function: Some("app::blocker".into()),
///     file: Some("src/main.rs".into()),
///     line: Some(12),
///     origin: FrameOrigin::User,
/// };
/// assert_eq!(frame.to_string(), "app::blocker at src/main.rs:12");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackFrame {
    /// The instruction address (a return address, except for the innermost
    /// frame). Inlined functions share their caller's address.
    pub ip: usize,
    /// The demangled function name, without its hash, if the binary has
    /// symbols.
    pub function: Option<String>,
    /// The source file, where debug info allows.
    pub file: Option<String>,
    /// The source line, where debug info allows.
    pub line: Option<u32>,
    /// Whose code it is.
    pub origin: FrameOrigin,
}

impl fmt::Display for StackFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.function {
            Some(function) => f.write_str(function)?,
            None => write!(f, "{:#x}", self.ip)?,
        }
        if let Some(file) = &self.file {
            write!(f, " at {file}")?;
            if let Some(line) = self.line {
                write!(f, ":{line}")?;
            }
        }
        Ok(())
    }
}

/// The native stack of a stuck worker thread, captured by interrupting it
/// while it was stuck, innermost frame first.
///
/// `Display` renders it on several lines, with runs of Tokio, std and C
/// library frames folded into one line each, except the innermost frames
/// (which name the call the thread is stuck in, `std::thread::sleep` or a
/// lock).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tokio_pulse_probes::{FrameOrigin, StackFrame, StackTrace};
///
/// let frame = |name: &str, origin| StackFrame {
///     ip: 0, function: Some(name.into()), file: None, line: None, origin,
/// };
/// let stack = StackTrace {
///     frames: vec![
///         frame("clock_nanosleep", FrameOrigin::System),
///         frame("std::thread::sleep", FrameOrigin::Runtime),
///         frame("app::blocker", FrameOrigin::User),
///         frame("tokio::runtime::task::raw::poll", FrameOrigin::Runtime),
///         frame("tokio::runtime::scheduler::run", FrameOrigin::Runtime),
///         frame("std::thread::start", FrameOrigin::Runtime),
///     ],
///     thread_id: 42,
///     signal_to_capture: Duration::from_micros(30),
///     interrupted_for: Duration::from_micros(20),
///     symbolized_in: Duration::from_micros(5),
/// };
/// assert_eq!(stack.top_user_frame().unwrap().function.as_deref(), Some("app::blocker"));
/// assert!(stack.to_string().contains("3 frames of Tokio, std or libc"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackTrace {
    /// The frames, innermost first, the signal handler's own left out.
    pub frames: Vec<StackFrame>,
    /// The OS thread id (`gettid`) of the thread.
    pub thread_id: u64,
    /// From sending the signal to the end of the copy, by the monotonic
    /// clock: how long the watchdog waited.
    pub signal_to_capture: Duration,
    /// How long the thread ran the handler instead of its own code, timed by
    /// the handler itself.
    pub interrupted_for: Duration,
    /// How long the watchdog took to symbolize the frames (shorter once the
    /// addresses are cached).
    pub symbolized_in: Duration,
}

impl StackTrace {
    /// The innermost frame of the application's own code: where, in the
    /// user's code, the thread is stuck.
    pub fn top_user_frame(&self) -> Option<&StackFrame> {
        self.frames
            .iter()
            .find(|frame| frame.origin == FrameOrigin::User)
    }
}

/// Innermost frames always shown, whatever their origin.
const SHOWN_ON_TOP: usize = 2;

impl fmt::Display for StackTrace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut index = 0;
        while index < self.frames.len() {
            let frame = &self.frames[index];
            if index >= SHOWN_ON_TOP && frame.origin.is_folded() {
                let run = self.frames[index..]
                    .iter()
                    .take_while(|frame| frame.origin.is_folded())
                    .count();
                if run > 1 {
                    writeln!(f, "  {index:>3}: … {run} frames of Tokio, std or libc")?;
                    index += run;
                    continue;
                }
            }
            let mark = if frame.origin == FrameOrigin::User {
                ">"
            } else {
                " "
            };
            writeln!(f, "{mark} {index:>3}: {frame}")?;
            index += 1;
        }
        Ok(())
    }
}

/// Why a stall carries no stack.
///
/// # Examples
///
/// ```
/// let why = tokio_pulse_probes::StackUnavailable::Off;
/// assert_eq!(why.to_string(), "stack capture is off");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackUnavailable {
    /// Turned off (`PulseConfig::stack_capture(false)`,
    /// `TOKIO_PULSE_STACKS=off`), or the watchdog is off.
    Off,
    /// This platform cannot capture a thread's stack (only Linux on x86_64
    /// and AArch64 can).
    Platform,
    /// The application had already installed a handler on the signal, or
    /// the signal is not a real-time signal; reported once on stderr.
    Signal,
    /// The worker's thread id is not known (it has not started yet).
    NoThread,
    /// The thread did not answer the signal in time (it had it blocked, or
    /// it exited).
    NoAnswer,
    /// The poll ended before its stack could be captured (the watchdog was
    /// busy with another worker's stall): a stack taken now would show
    /// another poll.
    PollEnded,
}

impl fmt::Display for StackUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StackUnavailable::Off => "stack capture is off",
            StackUnavailable::Platform => "this platform cannot capture stacks",
            StackUnavailable::Signal => "the stack signal is taken by the application, or invalid",
            StackUnavailable::NoThread => "the worker's thread is not known",
            StackUnavailable::NoAnswer => "the thread did not answer the signal in time",
            StackUnavailable::PollEnded => "the poll ended before its stack was captured",
        })
    }
}

/// Makes stack capture possible with `signal` (`None` for
/// `SIGRTMIN + DEFAULT_SIGNAL_OFFSET`): installs the handler once
/// per process. Reports once on stderr, and answers `Err`, where it cannot.
pub(crate) fn prepare(signal: Option<crate::config::StackSignal>) -> Result<i32, StackUnavailable> {
    #[cfg(stack_capture)]
    return signal::install(signal.map(|signal| match signal {
        crate::config::StackSignal::RtMinPlus(offset) => libc::SIGRTMIN().saturating_add(offset),
        crate::config::StackSignal::Number(number) => number,
    }));
    #[cfg(not(stack_capture))]
    {
        let _ = signal;
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            eprintln!(
                "tokio-pulse: stall stacks are off: this platform cannot capture a thread's stack \
                 (only Linux on x86_64 and AArch64 can)"
            );
        });
        Err(StackUnavailable::Platform)
    }
}

/// The return addresses copied from a stuck thread, not yet symbolized.
pub(crate) struct Captured {
    #[cfg(stack_capture)]
    raw: signal::RawStack,
    tid: u64,
}

/// Interrupts thread `tid` of this process with `signal` (prepared by
/// [`prepare`]) and copies its stack's addresses.
pub(crate) fn capture(tid: u64, signal: i32) -> Result<Captured, StackUnavailable> {
    #[cfg(stack_capture)]
    return Ok(Captured {
        raw: signal::capture(tid, signal)?,
        tid,
    });
    #[cfg(not(stack_capture))]
    {
        let _ = (tid, signal);
        Err(StackUnavailable::Platform)
    }
}

impl Captured {
    /// Symbolizes the addresses, on this thread.
    pub(crate) fn symbolize(self) -> StackTrace {
        #[cfg(stack_capture)]
        {
            let started = std::time::Instant::now();
            let frames = symbols::symbolize(self.raw.ips());
            StackTrace {
                frames,
                thread_id: self.tid,
                signal_to_capture: self.raw.signal_to_capture,
                interrupted_for: self.raw.interrupted_for,
                symbolized_in: started.elapsed(),
            }
        }
        #[cfg(not(stack_capture))]
        StackTrace {
            frames: Vec::new(),
            thread_id: self.tid,
            signal_to_capture: Duration::ZERO,
            interrupted_for: Duration::ZERO,
            symbolized_in: Duration::ZERO,
        }
    }
}

/// Loads the program's symbols before the first stall, once per process,
/// on a short-lived thread of its own: the first symbolization reads the
/// binary's debug info, which takes from tens of milliseconds to seconds,
/// and a watchdog busy with it would miss other stalls meanwhile.
pub(crate) fn warm_up() {
    #[cfg(stack_capture)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // Without the thread, the first stall loads them.
            let _ = std::thread::Builder::new()
                .name("tokio-pulse-symbols".into())
                .spawn(preload_symbols);
        });
    }
}

/// Loads this program's symbols and debug info for stall stacks now, and
/// returns how long that took (the same on every call; zero where stacks
/// are not captured). A runtime with the watchdog and stack capture on
/// starts this in the background; call it at start-up to wait for it, so
/// that the first stall's stack is symbolized at once and the watchdog is
/// not busy with it while other workers stall.
///
/// # Examples
///
/// ```
/// let took = tokio_pulse_probes::preload_symbols();
/// assert_eq!(tokio_pulse_probes::preload_symbols(), took);
/// ```
pub fn preload_symbols() -> Duration {
    #[cfg(stack_capture)]
    {
        static LOADED: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
        *LOADED.get_or_init(|| {
            let started = std::time::Instant::now();
            // Any address in the main binary loads its debug info.
            let _ = symbols::symbolize(&[preload_symbols as *const () as usize + 1]);
            started.elapsed()
        })
    }
    #[cfg(not(stack_capture))]
    Duration::ZERO
}

/// The calling thread's OS id.
#[cfg(stack_capture)]
pub(crate) fn current_tid() -> u64 {
    signal::gettid()
}
