//! What many threads cause and a snapshot computes: the remote counters,
//! written under the inject lock, and the gauges the scheduler supplies.

use crate::counter::Counter;
use crate::kinds::RemoteKind;
use crate::sampler::QueueIndices;

/// Counters for events that many threads cause.
///
/// They are still single-writer: Tokio records them only while it holds the
/// inject queue's lock, which it takes for the push anyway. That costs a load
/// and a store under a lock already held, where a shared `fetch_add` would
/// cost a locked instruction on a contended line.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{RemoteKind, RuntimeProbes};
///
/// let (rt, _recorders) = RuntimeProbes::new(None, 1);
/// assert_eq!(rt.remote().pushed(RemoteKind::Spawn), 0);
/// ```
///
/// Only the runtime's [`RuntimeWriter`](crate::fork::RuntimeWriter) counts:
///
/// ```compile_fail
/// use tokio_pulse_probes::{RemoteKind, RuntimeProbes};
///
/// let (rt, _recorders) = RuntimeProbes::new(None, 1);
/// // Private: a caller without the inject lock would lose counts.
/// rt.remote().pushed_locked(RemoteKind::Spawn);
/// ```
#[derive(Debug, Default)]
pub struct RemoteProbes {
    pushed: [Counter; RemoteKind::COUNT],
}

impl RemoteProbes {
    /// Counts one remote push of `kind`.
    ///
    /// The caller must hold the lock that serializes every caller of this
    /// method for this runtime (Tokio's inject-queue lock). Without it,
    /// concurrent callers lose counts.
    #[inline(always)]
    pub(crate) fn pushed_locked(&self, kind: RemoteKind) {
        self.pushed[kind as usize].add(1);
    }

    /// Remote pushes of `kind` so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use tokio_pulse_probes::{RemoteKind, RuntimeProbes};
    ///
    /// let (rt, _recorders) = RuntimeProbes::new(None, 1);
    /// assert_eq!(rt.remote().pushed(RemoteKind::Wake), 0);
    /// ```
    pub fn pushed(&self, kind: RemoteKind) -> u64 {
        self.pushed[kind as usize].get()
    }
}

/// Point-in-time values that a runtime computes on demand, when a snapshot
/// is taken, never on a hot path. The patched Tokio implements this for its
/// scheduler handle and registers it with
/// [`RuntimeWriter::set_gauges`](crate::fork::RuntimeWriter::set_gauges).
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use tokio_pulse_probes::fork::{self, RuntimeGauges};
///
/// struct Fixed;
/// impl RuntimeGauges for Fixed {
///     fn global_queue_depth(&self) -> usize { 3 }
///     fn local_queue_depth(&self, _worker: usize) -> Option<usize> { Some(1) }
///     fn alive_tasks(&self) -> usize { 7 }
/// }
///
/// let (writer, _recorders) = fork::new(None, 2);
/// let rt = writer.probes().clone();
/// let gauges: Arc<dyn RuntimeGauges> = Arc::new(Fixed);
/// writer.set_gauges(Arc::downgrade(&gauges));
/// let snap = rt.snapshot();
/// assert_eq!(snap.global_queue_depth, Some(3));
/// assert_eq!(snap.alive_tasks, Some(7));
/// assert_eq!(snap.workers[1].local_queue_depth, Some(1));
/// drop(gauges);
/// assert_eq!(rt.snapshot().alive_tasks, None);
/// ```
pub trait RuntimeGauges: Send + Sync {
    /// Tasks waiting in the runtime-wide inject queue.
    fn global_queue_depth(&self) -> usize;
    /// Tasks waiting in worker `worker`'s local queue, if the scheduler can
    /// read it from another thread (the current-thread scheduler cannot).
    fn local_queue_depth(&self, worker: usize) -> Option<usize>;
    /// Tasks spawned and not yet completed.
    fn alive_tasks(&self) -> usize;
    /// Worker `worker`'s local queue as its head and tail indices, read
    /// together, for the age of its oldest task (see
    /// [`SamplerSnapshot::local_oldest`](crate::SamplerSnapshot::local_oldest)).
    /// `None`, the default, where the scheduler cannot read them from
    /// another thread.
    fn local_queue_indices(&self, worker: usize) -> Option<QueueIndices> {
        let _ = worker;
        None
    }
    /// Tasks one batch overflow moves from a local queue to the inject
    /// queue (each counted in `WorkerSnapshot::overflows_batch`); the
    /// default, 0, for a scheduler without them.
    fn overflow_batch_len(&self) -> u64 {
        0
    }
}
