//! The process-wide list of live runtimes.
//!
//! 1. [`fork::new`](crate::fork::new) appends a `Weak`
//!    reference here; this happens once per runtime build.
//! 2. [`runtimes`] upgrades the entries that are still alive and drops the
//!    rest, so the list never grows past the number of live runtimes plus
//!    those dropped since the last call.
//! 3. The registry holds no strong reference, so it never keeps a runtime's
//!    probes alive; an exporter that wants the last values of a runtime that
//!    shut down keeps the `Arc` it got from [`runtimes`].

use std::sync::{Arc, Mutex, PoisonError, Weak};

use crate::runtime::RuntimeProbes;

static REGISTRY: Mutex<Vec<Weak<RuntimeProbes>>> = Mutex::new(Vec::new());

pub(crate) fn register(probes: &Arc<RuntimeProbes>) {
    let mut list = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    list.retain(|weak| weak.strong_count() > 0);
    list.push(Arc::downgrade(probes));
}

/// Every runtime in this process whose probes are still alive, in order of
/// creation.
///
/// A runtime's probes live as long as the runtime's handle, or longer if the
/// caller keeps the returned `Arc`.
///
/// # Examples
///
/// ```
/// let (rt, _recorders) = tokio_pulse_probes::RuntimeProbes::new(Some("listed"), 1);
/// assert!(tokio_pulse_probes::runtimes().iter().any(|r| r.id() == rt.id()));
/// let id = rt.id();
/// drop(rt);
/// assert!(tokio_pulse_probes::runtimes().iter().all(|r| r.id() != id));
/// ```
pub fn runtimes() -> Vec<Arc<RuntimeProbes>> {
    let mut list = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    let mut live = Vec::with_capacity(list.len());
    list.retain(|weak| match weak.upgrade() {
        Some(probes) => {
            live.push(probes);
            true
        }
        None => false,
    });
    live
}
