//! What a stall report says about the stuck thread beyond the poll: its
//! stack (see [`stack`](crate::stack)), its CPU time during the stall, its
//! kernel state and syscall, and the worker's thread identity it is read
//! by. Also the starved-driver finding, and the last report per worker.
//!
//! All of it is read on the watchdog's thread; the worker only stores its
//! thread id and CPU clock once, when it starts.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::events::Stall;
use crate::recent::Recent;
use crate::stack::{StackTrace, StackUnavailable};
use crate::sync::{AtomicU64, Ordering};

/// Everything a stall report adds to the poll it is about. Part of every
/// [`Stall`] event.
///
/// # Examples
///
/// ```
/// let details = tokio_pulse_probes::StallDetails::default();
/// assert!(details.stack.is_none() && details.cpu.is_none());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StallDetails {
    /// The OS thread id (`gettid`) of the stuck worker, where known.
    pub thread_id: Option<u64>,
    /// The stuck thread's stack, captured while it was stuck (on the event
    /// that reports the stall; the end event carries the same stack).
    pub stack: Option<Arc<StackTrace>>,
    /// Why there is no stack, when there is none.
    pub stack_unavailable: Option<StackUnavailable>,
    /// CPU time the thread spent during the stall, against wall time.
    pub cpu: Option<CpuUsage>,
    /// The thread's scheduler state and syscall, from `/proc`, when the
    /// stall was reported.
    pub thread: Option<ThreadState>,
    /// Set when this report is about a driver that nobody turned.
    pub starved_driver: Option<StarvedDriver>,
}

/// CPU time against wall time over the same span, on the stuck thread.
///
/// On a loaded machine a busy loop gets only its share of a CPU, so the
/// time the thread spent runnable but waiting for a CPU (the kernel's run
/// queue, `/proc/.../schedstat`) is kept too: [`busy_share`](Self::busy_share)
/// is near 1 for a busy loop however loaded the machine is, and near 0 for
/// a thread blocked in a syscall, a lock or a sleep.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let ms = Duration::from_millis;
/// let busy = tokio_pulse_probes::CpuUsage { cpu: ms(45), run_queue: Some(ms(50)), wall: ms(100) };
/// assert!((busy.share() - 0.45).abs() < 1e-9);
/// assert!((busy.busy_share() - 0.95).abs() < 1e-9);
/// assert_eq!(busy.to_string(), "45% on CPU (45.0ms of 100.0ms), 50.0ms more waiting for one");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CpuUsage {
    /// The thread's CPU time over the span (its `pthread_getcpuclockid`
    /// clock).
    pub cpu: Duration,
    /// Time the thread was runnable but waiting for a CPU, where the kernel
    /// says (`/proc/self/task/<tid>/schedstat`).
    pub run_queue: Option<Duration>,
    /// The span, by the watchdog's clock.
    pub wall: Duration,
}

impl CpuUsage {
    /// `cpu / wall`, from 0 (blocked: a syscall, a lock, a sleep) to about 1
    /// (a busy loop); 0 for an empty span. At most 1: the watchdog reads the
    /// thread's clocks when it notices the end, which can be a little after
    /// it.
    pub fn share(&self) -> f64 {
        if self.wall.is_zero() {
            return 0.0;
        }
        (self.cpu.as_secs_f64() / self.wall.as_secs_f64()).min(1.0)
    }

    /// `(cpu + run_queue) / wall`: the share of the span the thread wanted
    /// a CPU (ran, or was runnable), whatever the load; at most 1.
    pub fn busy_share(&self) -> f64 {
        if self.wall.is_zero() {
            return 0.0;
        }
        let busy = self.cpu + self.run_queue.unwrap_or_default();
        (busy.as_secs_f64() / self.wall.as_secs_f64()).min(1.0)
    }
}

impl fmt::Display for CpuUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:.0}% on CPU ({:.1?} of {:.1?})",
            self.share() * 100.0,
            self.cpu,
            self.wall
        )?;
        match self.run_queue {
            Some(waiting) if !waiting.is_zero() => {
                write!(f, ", {waiting:.1?} more waiting for one")
            }
            _ => Ok(()),
        }
    }
}

/// A thread's state as the kernel shows it in `/proc/self/task/<tid>/`.
///
/// # Examples
///
/// ```
/// let state = tokio_pulse_probes::ThreadState { state: 'S', syscall: Some("futex".into()) };
/// assert_eq!(state.to_string(), "S (sleeping) in futex");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadState {
    /// `R` running, `S` sleeping (interruptible), `D` uninterruptible
    /// (disk), and the kernel's other letters.
    pub state: char,
    /// The syscall the thread is blocked in, by name (`futex`,
    /// `clock_nanosleep`, `read`…), or `syscall 123` for one not in the
    /// table; `None` when it runs in user space or the file is unreadable.
    pub syscall: Option<String>,
}

impl fmt::Display for ThreadState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let meaning = match self.state {
            'R' => "running",
            'S' => "sleeping",
            'D' => "uninterruptible wait",
            'T' | 't' => "stopped",
            'Z' => "zombie",
            _ => "other",
        };
        write!(f, "{} ({meaning})", self.state)?;
        if let Some(syscall) = &self.syscall {
            write!(f, " in {syscall}")?;
        }
        Ok(())
    }
}

/// A driver (I/O or timer) that no thread turned for longer than the stall
/// threshold while work was pending.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// let starved = tokio_pulse_probes::StarvedDriver { driver: "io", not_turned_for: Duration::from_millis(250) };
/// assert_eq!(starved.to_string(), "I/O driver not turned for 250ms");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StarvedDriver {
    /// `"io"` or `"time"`.
    pub driver: &'static str,
    /// How long since its last turn.
    pub not_turned_for: Duration,
}

impl fmt::Display for StarvedDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.driver == "io" { "I/O" } else { "timer" };
        write!(f, "{name} driver not turned for {:?}", self.not_turned_for)
    }
}

/// The worker's thread, as it recorded itself when it started, and its
/// last stall report. Written by the worker (thread) and the watchdog
/// (report), read by anyone.
#[derive(Debug, Default)]
pub(crate) struct WorkerThread {
    /// `gettid()`, 0 before the worker started.
    tid: AtomicU64,
    /// The thread's CPU clock id plus one (0: unknown).
    cpu_clock: AtomicU64,
    last_report: Mutex<Option<Arc<Recent<Stall>>>>,
}

impl WorkerThread {
    /// Records the calling thread as this worker's.
    #[inline]
    pub(crate) fn record_current(&self) {
        #[cfg(stack_capture)]
        {
            self.tid
                .store(crate::stack::current_tid(), Ordering::Relaxed);
            let clock = cpu_clock_of_current().map_or(0, |clock| u64::from(clock as u32) + 1);
            self.cpu_clock.store(clock, Ordering::Relaxed);
        }
    }

    /// Records the calling thread unless it is the one recorded already: a
    /// current-thread runtime's core moves to whichever thread calls
    /// `block_on`. A thread-local read and a compare when it has not moved.
    #[inline]
    pub(crate) fn record_current_if_moved(&self) {
        #[cfg(stack_capture)]
        {
            std::thread_local! {
                static TID: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
            }
            let tid = TID.with(|cached| {
                if cached.get() == 0 {
                    cached.set(crate::stack::current_tid());
                }
                cached.get()
            });
            if self.tid.load(Ordering::Relaxed) != tid {
                self.record_current();
            }
        }
    }

    /// The worker's OS thread id, once it has started.
    pub(crate) fn tid(&self) -> Option<u64> {
        Some(self.tid.load(Ordering::Relaxed)).filter(|&tid| tid != 0)
    }

    /// The worker thread's CPU time so far.
    pub(crate) fn cpu_time(&self) -> Option<Duration> {
        let clock = self.cpu_clock.load(Ordering::Relaxed);
        if clock == 0 {
            return None;
        }
        cpu_time((clock - 1) as u32 as i32)
    }

    pub(crate) fn set_last_report(&self, report: Arc<Recent<Stall>>) {
        *self
            .last_report
            .lock()
            .unwrap_or_else(|poison| poison.into_inner()) = Some(report);
    }

    pub(crate) fn last_report(&self) -> Option<Arc<Recent<Stall>>> {
        self.last_report
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }
}

#[cfg(stack_capture)]
#[allow(unsafe_code)]
fn cpu_clock_of_current() -> Option<libc::clockid_t> {
    let mut clock: libc::clockid_t = 0;
    // SAFETY: `pthread_self()` is the calling, live thread; `clock` is
    // writable. The id stays usable after the thread exits: the kernel then
    // answers an error instead of a time.
    (unsafe { libc::pthread_getcpuclockid(libc::pthread_self(), &mut clock) } == 0).then_some(clock)
}

#[cfg(stack_capture)]
#[allow(unsafe_code)]
fn cpu_time(clock: libc::clockid_t) -> Option<Duration> {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is writable; an id of a thread that has exited is an
    // error, not undefined behaviour.
    (unsafe { libc::clock_gettime(clock, &mut now) } == 0)
        .then(|| Duration::new(now.tv_sec as u64, now.tv_nsec as u32))
}

#[cfg(not(stack_capture))]
fn cpu_time(_clock: i32) -> Option<Duration> {
    None
}

/// Reads thread `tid`'s state and syscall from `/proc/self/task/<tid>/`.
pub(crate) fn thread_state(tid: u64) -> Option<ThreadState> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/self/task/{tid}/stat")).ok()?;
    let state = parse_state(&stat)?;
    let syscall = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall"))
        .ok()
        .and_then(|text| parse_syscall(&text));
    Some(ThreadState { state, syscall })
}

/// The state letter of a `stat` line: the field after the command name,
/// which is in parentheses and may itself hold spaces and parentheses.
fn parse_state(stat: &str) -> Option<char> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().next()?.chars().next()
}

/// The syscall of a `syscall` file: its first field is the number, or
/// `running`, or `-1` (in the kernel, not in a syscall).
fn parse_syscall(text: &str) -> Option<String> {
    let number: i64 = text.split_whitespace().next()?.parse().ok()?;
    if number < 0 {
        return None;
    }
    Some(match syscall_name(number) {
        Some(name) => name.to_owned(),
        None => format!("syscall {number}"),
    })
}

#[cfg(stack_capture)]
fn syscall_name(number: i64) -> Option<&'static str> {
    use libc::*;
    // The syscalls a stuck worker is usually in; numbers differ by
    // architecture, and libc has them per architecture.
    #[cfg(target_arch = "x86_64")]
    let arch_only: &[(c_long, &str)] = &[
        (SYS_nanosleep, "nanosleep"),
        (SYS_poll, "poll"),
        (SYS_select, "select"),
        (SYS_epoll_wait, "epoll_wait"),
        (SYS_open, "open"),
        (SYS_accept, "accept"),
        (SYS_pause, "pause"),
        (SYS_wait4, "wait4"),
    ];
    #[cfg(target_arch = "aarch64")]
    let arch_only: &[(c_long, &str)] = &[(SYS_nanosleep, "nanosleep"), (SYS_wait4, "wait4")];
    let common: &[(c_long, &str)] = &[
        (SYS_futex, "futex"),
        (SYS_clock_nanosleep, "clock_nanosleep"),
        (SYS_read, "read"),
        (SYS_write, "write"),
        (SYS_pread64, "pread64"),
        (SYS_pwrite64, "pwrite64"),
        (SYS_readv, "readv"),
        (SYS_writev, "writev"),
        (SYS_recvfrom, "recvfrom"),
        (SYS_sendto, "sendto"),
        (SYS_recvmsg, "recvmsg"),
        (SYS_sendmsg, "sendmsg"),
        (SYS_connect, "connect"),
        (SYS_accept4, "accept4"),
        (SYS_ppoll, "ppoll"),
        (SYS_pselect6, "pselect6"),
        (SYS_epoll_pwait, "epoll_pwait"),
        (SYS_openat, "openat"),
        (SYS_fsync, "fsync"),
        (SYS_fdatasync, "fdatasync"),
        (SYS_flock, "flock"),
        (SYS_fcntl, "fcntl"),
        (SYS_waitid, "waitid"),
        (SYS_sched_yield, "sched_yield"),
        (SYS_ioctl, "ioctl"),
    ];
    arch_only
        .iter()
        .chain(common)
        .find(|&&(nr, _)| nr == number)
        .map(|&(_, name)| name)
}

#[cfg(not(stack_capture))]
fn syscall_name(_number: i64) -> Option<&'static str> {
    None
}

#[cfg(test)]
mod tests {
    use super::{parse_state, parse_syscall};

    #[test]
    fn the_state_follows_the_last_parenthesis() {
        assert_eq!(parse_state("12 (tokio (w) 1) S 1 2 3"), Some('S'));
        assert_eq!(parse_state("no parenthesis"), None);
    }

    #[test]
    fn a_syscall_is_named_or_numbered() {
        assert_eq!(parse_syscall("running\n"), None);
        assert_eq!(parse_syscall("-1 0x7ffd 0x0\n"), None);
        assert_eq!(
            parse_syscall("999999 0x0 0x0\n").as_deref(),
            Some("syscall 999999")
        );
        #[cfg(stack_capture)]
        assert_eq!(
            parse_syscall(&format!("{} 0x0 0x80\n", libc::SYS_futex)).as_deref(),
            Some("futex")
        );
    }
}

/// What the watchdog gathers about one watched poll's thread: nothing
/// until the poll has run half the stall threshold (so short polls cost the
/// watchdog nothing), then a baseline of its CPU time, then, if it stalls,
/// its stack and state, and its CPU share up to the report and to the end.
#[derive(Clone, Copy, Debug)]
struct Baseline {
    cpu: Duration,
    run_queue: Option<Duration>,
    at: std::time::Instant,
    poll_so_far: Duration,
}

#[derive(Debug)]
pub(crate) struct Investigation {
    tid: Option<u64>,
    /// The thread's CPU time, run-queue time, the watchdog's clock and how
    /// long the poll had run at the baseline.
    baseline: Option<Baseline>,
    details: StallDetails,
}

impl Investigation {
    /// A poll was first seen on `worker`.
    pub(crate) fn begin(worker: &crate::WorkerProbes) -> Investigation {
        let tid = worker.thread.tid();
        Investigation {
            tid,
            baseline: None,
            details: StallDetails {
                thread_id: tid,
                ..StallDetails::default()
            },
        }
    }

    /// The poll has run long enough (`poll_so_far`) to be worth a baseline
    /// (taken once).
    pub(crate) fn baseline(&mut self, worker: &crate::WorkerProbes, poll_so_far: Duration) {
        if self.baseline.is_some() || worker.thread.tid() != self.tid {
            return;
        }
        if let Some(cpu) = worker.thread.cpu_time() {
            let run_queue = self.tid.and_then(run_queue_time);
            self.baseline = Some(Baseline {
                cpu,
                run_queue,
                at: std::time::Instant::now(),
                poll_so_far,
            });
        }
    }

    /// The poll is reported as a stall: captures the stack with `signal`
    /// (or says why not), and reads the CPU share so far and the thread's
    /// state. `still_in_poll` tells whether the worker is still inside the
    /// poll: checked after the capture, so that a stack or state read after
    /// the poll ended (the watchdog was busy elsewhere) is never reported as
    /// the poll's.
    ///
    /// The stack comes back unsymbolized: the watchdog captures every stuck
    /// worker of a sample first, and symbolizes (slow the first time) after,
    /// with [`set_stack`](Self::set_stack).
    pub(crate) fn report(
        &mut self,
        worker: &crate::WorkerProbes,
        signal: Result<i32, StackUnavailable>,
        still_in_poll: impl Fn() -> bool,
    ) -> (StallDetails, Option<crate::stack::Captured>) {
        // Before the signal, which briefly makes the thread runnable.
        self.details.cpu = self.cpu_since_baseline(worker, None);
        let thread = self.tid.filter(|_| signal.is_ok()).and_then(thread_state);
        let captured = match (signal, self.tid) {
            (Ok(signal), Some(tid)) => crate::stack::capture(tid, signal),
            (Ok(_), None) => Err(StackUnavailable::NoThread),
            (Err(why), _) => Err(why),
        };
        if !still_in_poll() {
            self.details.stack_unavailable = Some(StackUnavailable::PollEnded);
            return (self.details.clone(), None);
        }
        self.details.thread = thread;
        match captured {
            Ok(captured) => (self.details.clone(), Some(captured)),
            Err(why) => {
                self.details.stack_unavailable = Some(why);
                (self.details.clone(), None)
            }
        }
    }

    /// The symbolized stack of [`report`](Self::report)'s capture, for the
    /// end report.
    pub(crate) fn set_stack(&mut self, stack: Arc<StackTrace>) {
        self.details.stack = Some(stack);
    }

    /// The stall ended (or is closed) after `duration` in the poll: the
    /// report's details, with the CPU share from the baseline to the end.
    pub(crate) fn end(&mut self, worker: &crate::WorkerProbes, duration: Duration) -> StallDetails {
        if let Some(cpu) = self.cpu_since_baseline(worker, Some(duration)) {
            self.details.cpu = Some(cpu);
        }
        self.details.clone()
    }

    /// From the baseline to now or, given the poll's final duration, to
    /// the poll's end: the watchdog may notice the end late (it was busy
    /// symbolizing), and the thread's CPU clock barely moves after it (the
    /// worker parks or runs short polls), but the wall clock does.
    fn cpu_since_baseline(
        &self,
        worker: &crate::WorkerProbes,
        duration: Option<Duration>,
    ) -> Option<CpuUsage> {
        let Baseline {
            cpu,
            run_queue,
            at,
            poll_so_far,
        } = self.baseline?;
        // The worker's thread must still be the one first seen.
        if worker.thread.tid() != self.tid {
            return None;
        }
        let now = worker.thread.cpu_time()?;
        let run_queue_now = self.tid.and_then(run_queue_time);
        Some(CpuUsage {
            cpu: now.saturating_sub(cpu),
            run_queue: run_queue
                .zip(run_queue_now)
                .map(|(then, now)| now.saturating_sub(then)),
            wall: match duration {
                Some(duration) => duration.saturating_sub(poll_so_far).min(at.elapsed()),
                None => at.elapsed(),
            },
        })
    }
}

/// Time thread `tid` has waited on a run queue, from the second field of
/// `/proc/self/task/<tid>/schedstat` (nanoseconds).
fn run_queue_time(tid: u64) -> Option<Duration> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    let waited: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(Duration::from_nanos(waited))
}
