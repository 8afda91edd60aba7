//! Names of tasks spawned with a name, by task id.
//!
//! Tokio names a task only through `tokio::task::Builder::name`, which exists
//! only with `--cfg tokio_unstable` and Tokio's `tracing` feature. There Tokio
//! hands the name to a `tracing` span and keeps nothing. The fork, in that
//! configuration only, copies a named task's name here when the task is
//! spawned ([`remember`]) and drops it when the task completes ([`forget`]).
//! Slow-poll and stall events then carry it. Builds without that
//! configuration never call into this module, so they pay nothing.
//!
//! What a name costs, in that configuration: one allocation and one lock of
//! a shard (of 16) when a named task is spawned and when it completes. An
//! unnamed task's completion reads one shard's count of live names and does
//! no more unless named tasks of that shard are alive; then it also takes
//! the shard's lock to look for its id.
//!
//! A task's last poll ends after the task has completed, so the name of a
//! task forgotten on this thread stays readable on this thread until the
//! next named task completes here. That is how the slow-poll event of a
//! named task's final poll still names it.
//!
//! # Examples
//!
//! ```
//! use tokio_pulse_probes::task_names;
//!
//! task_names::remember(41, "accept loop");
//! assert_eq!(task_names::name_of(41).as_deref(), Some("accept loop"));
//! task_names::forget(41);
//! // Still readable on this thread until another named task completes here.
//! assert_eq!(task_names::name_of(41).as_deref(), Some("accept loop"));
//! task_names::remember(42, "worker");
//! task_names::forget(42);
//! assert_eq!(task_names::name_of(41), None);
//! ```

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use crossbeam_utils::CachePadded;

const SHARDS: usize = 16;

#[derive(Default)]
struct Shard {
    /// `names.len()`, written under the lock, read without it.
    live: AtomicUsize,
    names: Mutex<HashMap<u64, Arc<str>>>,
}

// `OnceLock` rather than `LazyLock` (Rust 1.80): the probes build with Rust
// 1.71, the MSRV of Tokio's 1.53.x LTS line.
static TABLE: OnceLock<[CachePadded<Shard>; SHARDS]> = OnceLock::new();

fn table() -> &'static [CachePadded<Shard>; SHARDS] {
    TABLE.get_or_init(Default::default)
}

thread_local! {
    /// The last named task forgotten on this thread.
    static LAST_FORGOTTEN: RefCell<Option<(u64, Arc<str>)>> = const { RefCell::new(None) };
}

fn shard(id: u64) -> &'static Shard {
    // Task ids are handed out in sequence, so the low bits spread them.
    &table()[(id % SHARDS as u64) as usize]
}

impl Shard {
    /// The map; nothing panics while holding it, but a poisoned map is
    /// still a consistent map.
    fn names(&self) -> MutexGuard<'_, HashMap<u64, Arc<str>>> {
        self.names.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Records that task `id` is named `name`. Called by the fork when a named
/// task is spawned, before the task can run.
///
/// # Examples
///
/// See the [module](self) documentation.
pub fn remember(id: u64, name: &str) {
    let shard = shard(id);
    let mut names = shard.names();
    names.insert(id, Arc::from(name));
    shard.live.store(names.len(), Ordering::Relaxed);
}

/// Drops task `id`'s name, if it has one. Called by the fork when a task
/// completes, whether or not it was named.
///
/// The task was spawned before it completes, and the runtime's hand-off of
/// the task orders the two, so a named task's completion always sees its own
/// shard's count as at least one.
///
/// # Examples
///
/// See the [module](self) documentation.
#[inline]
pub fn forget(id: u64) {
    let shard = shard(id);
    if shard.live.load(Ordering::Relaxed) == 0 {
        return;
    }
    forget_slow(shard, id);
}

#[cold]
fn forget_slow(shard: &Shard, id: u64) {
    let removed = {
        let mut names = shard.names();
        let removed = names.remove(&id);
        shard.live.store(names.len(), Ordering::Relaxed);
        removed
    };
    if let Some(name) = removed {
        // `try_with`: a task completing while this thread's locals are being
        // destroyed simply loses the late lookup.
        let _ = LAST_FORGOTTEN.try_with(|last| *last.borrow_mut() = Some((id, name)));
    }
}

/// Task `id`'s name: of a live named task, or of the last named task that
/// completed on this thread. `None` for unnamed tasks and tasks long gone.
/// The `block_on` pseudo-task, [`BLOCK_ON_TASK_ID`](crate::timing::BLOCK_ON_TASK_ID),
/// is named `"block_on"`.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::{task_names, BLOCK_ON_TASK_ID};
///
/// assert_eq!(task_names::name_of(BLOCK_ON_TASK_ID).as_deref(), Some("block_on"));
/// ```
///
/// See also the [module](self) documentation.
pub fn name_of(id: u64) -> Option<Arc<str>> {
    if id == crate::timing::BLOCK_ON_TASK_ID {
        static BLOCK_ON: OnceLock<Arc<str>> = OnceLock::new();
        return Some(BLOCK_ON.get_or_init(|| Arc::from("block_on")).clone());
    }
    let shard = shard(id);
    if shard.live.load(Ordering::Relaxed) != 0 {
        if let Some(name) = shard.names().get(&id) {
            return Some(name.clone());
        }
    }
    LAST_FORGOTTEN
        .try_with(|last| {
            last.borrow()
                .as_ref()
                .filter(|(last_id, _)| *last_id == id)
                .map(|(_, name)| name.clone())
        })
        .ok()
        .flatten()
}

/// How many named tasks are alive (remembered and not yet forgotten), over
/// all runtimes of the process.
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::task_names;
///
/// let before = task_names::live();
/// task_names::remember(1 << 40, "probe");
/// assert_eq!(task_names::live(), before + 1);
/// task_names::forget(1 << 40);
/// assert_eq!(task_names::live(), before);
/// ```
pub fn live() -> usize {
    table()
        .iter()
        .map(|shard| shard.live.load(Ordering::Relaxed))
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Ids far from each other's and from other tests' ids; the table is
    // process-wide.
    const BASE: u64 = 7 << 48;

    #[test]
    fn a_name_lives_from_remember_to_forget() {
        remember(BASE, "first");
        remember(BASE + 16, "same shard");
        assert_eq!(name_of(BASE).as_deref(), Some("first"));
        assert_eq!(name_of(BASE + 16).as_deref(), Some("same shard"));
        assert_eq!(name_of(BASE + 32), None, "never named");
        forget(BASE + 16);
        assert_eq!(name_of(BASE).as_deref(), Some("first"));
        forget(BASE);
        // Another thread does not see this thread's last forgotten name.
        let elsewhere = std::thread::spawn(|| name_of(BASE)).join().unwrap();
        assert_eq!(elsewhere, None);
        assert_eq!(name_of(BASE).as_deref(), Some("first"), "this thread does");
    }

    #[test]
    fn forgetting_an_unnamed_task_keeps_the_last_name() {
        remember(BASE + 1, "kept");
        forget(BASE + 1);
        forget(BASE + 17);
        forget(BASE + 2);
        assert_eq!(name_of(BASE + 1).as_deref(), Some("kept"));
    }

    #[test]
    fn many_threads_leave_nothing_behind() {
        // Miri is ~1000 times slower; a few rounds still interleave.
        const ROUNDS: u64 = if cfg!(miri) { 40 } else { 1000 };
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        let id = BASE + (1 << 20) + t * 10_000 + i;
                        remember(id, "churn");
                        assert_eq!(name_of(id).as_deref(), Some("churn"));
                        forget(id);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        for t in 0..4u64 {
            for i in 0..ROUNDS {
                let id = BASE + (1 << 20) + t * 10_000 + i;
                assert!(!table()[(id % SHARDS as u64) as usize]
                    .names()
                    .contains_key(&id));
            }
        }
    }
}
