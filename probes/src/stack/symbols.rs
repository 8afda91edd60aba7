//! Addresses to function, file and line, on the watchdog's thread, cached by
//! address for the life of the process (code addresses do not move; a
//! library unloaded and another loaded at the same address would be
//! misnamed, which a stall report can live with).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::{FrameOrigin, StackFrame};

/// The frames of one address: more than one where functions were inlined
/// into it, innermost first.
type Resolved = Arc<[StackFrame]>;

static CACHE: Mutex<Option<HashMap<usize, Resolved>>> = Mutex::new(None);

/// Symbolizes `ips`, innermost first.
pub(crate) fn symbolize(ips: &[usize]) -> Vec<StackFrame> {
    let _exclusive = super::signal::exclusive();
    let mut cache = CACHE.lock().unwrap_or_else(|poison| poison.into_inner());
    let cache = cache.get_or_insert_with(HashMap::new);
    let mut frames = Vec::with_capacity(ips.len());
    // The outermost return address of a thread is 0: not a frame.
    for &ip in ips.iter().filter(|&&ip| ip != 0) {
        let resolved = cache.entry(ip).or_insert_with(|| resolve(ip));
        frames.extend(resolved.iter().cloned());
    }
    frames
}

fn resolve(ip: usize) -> Resolved {
    let mut frames = Vec::new();
    // `resolve` looks up `ip - 1`, inside the call instruction of a return
    // address, so the line is the call's.
    backtrace::resolve(ip as *mut std::ffi::c_void, |symbol| {
        let function = symbol.name().map(|name| format!("{name:#}"));
        let file = symbol
            .filename()
            .map(|path| path.to_string_lossy().into_owned());
        let origin = origin(function.as_deref(), file.as_deref());
        frames.push(StackFrame {
            ip,
            function,
            file,
            line: symbol.lineno(),
            origin,
        });
    });
    if frames.is_empty() {
        frames.push(StackFrame {
            ip,
            function: None,
            file: None,
            line: None,
            origin: FrameOrigin::System,
        });
    }
    frames.into()
}

/// Crates whose frames are the runtime's, not the application's.
const RUNTIME_CRATES: [&str; 6] = [
    "std",
    "core",
    "alloc",
    "tokio",
    "tokio_pulse_probes",
    "tokio_pulse_rt",
];

/// Source paths of the runtime's own code: std's (built at `/rustc/<hash>/`),
/// Tokio's and mio's (from the registry or the fork's `vendor/tokio`), and
/// Tokio-Pulse's.
const RUNTIME_PATHS: [&str; 7] = [
    "/rustc/",
    "/vendor/tokio/",
    "/tokio-1.",
    "/mio-",
    "/probes/src/",
    "/tokio-pulse-rt/src/",
    "/tokio-pulse-probes-",
];

/// Whose code a frame is: by its source file where debug info gives one (a
/// build with only line tables names inlined functions without their
/// crate), else by its name (the crate the path starts with, also inside
/// `<T as Trait>` forms); a frame without a Rust name or file is the
/// system's.
pub(crate) fn origin(function: Option<&str>, file: Option<&str>) -> FrameOrigin {
    if let Some(file) = file {
        if !file.ends_with(".rs") {
            // C sources: the C library, the dynamic loader.
            return FrameOrigin::System;
        }
        let file = file.replace('\\', "/");
        return if RUNTIME_PATHS.iter().any(|path| file.contains(path)) {
            FrameOrigin::Runtime
        } else {
            FrameOrigin::User
        };
    }
    let Some(function) = function else {
        return FrameOrigin::System;
    };
    // `<tokio::x::Y as core::future::Future>::poll`: the type's crate.
    let path = function.trim_start_matches('<').trim_start_matches('&');
    let krate = path.split("::").next().unwrap_or(path);
    if RUNTIME_CRATES.contains(&krate) || krate.starts_with("__rust") {
        return FrameOrigin::Runtime;
    }
    if !function.contains("::") {
        // A C symbol: the C library, the dynamic loader, the vDSO.
        return FrameOrigin::System;
    }
    FrameOrigin::User
}

#[cfg(test)]
mod tests {
    use super::{origin, FrameOrigin};

    #[test]
    fn frames_are_sorted_by_crate() {
        assert_eq!(
            origin(Some("std::thread::sleep"), None),
            FrameOrigin::Runtime
        );
        assert_eq!(
            origin(
                Some("<tokio::runtime::task::Task<S> as core::ops::Drop>::drop"),
                None
            ),
            FrameOrigin::Runtime
        );
        assert_eq!(origin(Some("clock_nanosleep"), None), FrameOrigin::System);
        assert_eq!(
            origin(Some("syscall"), Some("./misc/syscall.S")),
            FrameOrigin::System
        );
        assert_eq!(origin(None, None), FrameOrigin::System);
        assert_eq!(
            origin(Some("slow_poll::blocker"), Some("examples/slow_poll.rs")),
            FrameOrigin::User
        );
        assert_eq!(
            origin(Some("<app::Handler as tower::Service>::call"), None),
            FrameOrigin::User
        );
    }
}
