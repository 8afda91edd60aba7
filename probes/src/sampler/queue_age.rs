//! The live age of the oldest task waiting in each queue, from push counts
//! and depths sampled with a timestamp.
//!
//! Both the inject queue and a worker's local queue give tasks out in the
//! order they were pushed (pops, steals and overflows all take from the
//! head). Number the pushes 1, 2, 3, …: with `pushed` pushes so far and
//! `depth` tasks waiting, the oldest waiting task is push number
//! `pushed - depth + 1`. Each sample records `(time, pushed)`; that push
//! happened no later than the first sample whose count reached its number,
//! and after the sample before it. So the age reported, the time since that
//! first sample, is never more than the truth and at most one sampling
//! period (plus the sampler's own lateness) less. It grows while the queue
//! is starved whether or not anything is polled, because it needs no poll:
//! only the sampler's reads.
//!
//! The counts: the inject queue's pushes are the remote pushes the fork
//! counts under the inject lock, plus `overflow_batch_len` tasks per batch
//! overflow; a local queue's are its tail index, which Tokio keeps anyway
//! and the fork lets the sampler read with the head
//! ([`RuntimeGauges::local_queue_indices`](crate::fork::RuntimeGauges::local_queue_indices)).
//! The LIFO slot is not a queue and is not covered.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// A local queue's head and tail indices, read together: every task ever
/// taken from it (pops, steals, overflows) and every task ever pushed onto
/// it, both counted modulo `modulus` (Tokio's indices wrap).
///
/// # Examples
///
/// ```
/// use tokio_pulse_probes::QueueIndices;
///
/// let wrapped = QueueIndices { head: u64::from(u32::MAX), tail: 2, modulus: 1 << 32 };
/// assert_eq!(wrapped.depth(), 3);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueIndices {
    /// Tasks taken from the head so far, modulo `modulus`.
    pub head: u64,
    /// Tasks pushed onto the tail so far, modulo `modulus`.
    pub tail: u64,
    /// Where both indices wrap; a power of two.
    pub modulus: u64,
}

impl QueueIndices {
    /// Tasks in the queue: `tail - head`, modulo `modulus`.
    ///
    /// # Examples
    ///
    /// See [`QueueIndices`].
    pub fn depth(&self) -> u64 {
        self.tail.wrapping_sub(self.head) & self.modulus.wrapping_sub(1)
    }
}

/// At most this many samples are kept per queue. A queue starved for longer
/// than this many periods, while tasks keep arriving, keeps every other
/// sample of the older half: its age stays a lower bound, just a coarser one.
const HISTORY: usize = 1024;

/// One queue, as the sampler has seen it.
#[derive(Debug, Default)]
pub(crate) struct QueueWatch {
    /// `(time, pushes so far)`, one entry per sample that saw new pushes,
    /// from the first that may hold the oldest waiting task.
    history: VecDeque<(Instant, u64)>,
    /// The last raw tail read, for wrapping indices.
    raw_tail: Option<u64>,
    /// Pushes so far, unwrapped.
    pushed: u64,
    /// The age of the oldest waiting task at the last sample.
    oldest: Option<Duration>,
}

impl QueueWatch {
    /// A sample from wrapping indices.
    pub(crate) fn observe_indices(&mut self, at: Instant, indices: QueueIndices) {
        let mask = indices.modulus.wrapping_sub(1);
        let tail = indices.tail & mask;
        let new = match self.raw_tail {
            // Fewer than `modulus` pushes a period: a few billion on 64-bit
            // targets, 65,536 where Tokio's indices are 16 bits.
            Some(last) => tail.wrapping_sub(last) & mask,
            None => tail,
        };
        self.raw_tail = Some(tail);
        self.observe(at, self.pushed + new, indices.depth());
    }

    /// A sample: `pushed` tasks pushed so far, `depth` waiting now.
    pub(crate) fn observe(&mut self, at: Instant, pushed: u64, depth: u64) {
        // Counts read a moment apart may lag each other by a task or two;
        // pushes never go back.
        self.pushed = self.pushed.max(pushed);
        let pushed = self.pushed;
        if self.history.back().map_or(true, |&(_, seen)| pushed > seen) {
            self.history.push_back((at, pushed));
            if self.history.len() > HISTORY {
                thin(&mut self.history);
            }
        }
        if depth == 0 {
            // Every task pushed so far has been taken.
            self.history.retain(|&(_, seen)| seen >= pushed);
            self.oldest = Some(Duration::ZERO);
            return;
        }
        // The oldest waiting task is push number `first`.
        let first = pushed.saturating_sub(depth) + 1;
        while self.history.len() > 1 && self.history[0].1 < first {
            self.history.pop_front();
        }
        let since = self.history.front().map_or(at, |&(time, _)| time);
        self.oldest = Some(at.saturating_duration_since(since));
    }

    pub(crate) fn oldest(&self) -> Option<Duration> {
        self.oldest
    }
}

/// Drops every other entry of the older half, keeping the first.
fn thin(history: &mut VecDeque<(Instant, u64)>) {
    let half = history.len() / 2;
    let mut index = 0;
    history.retain(|_| {
        let keep = index >= half || index % 2 == 0;
        index += 1;
        keep
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_age_follows_the_oldest_push_within_a_period() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut queue = QueueWatch::default();
        queue.observe(at(0), 0, 0);
        assert_eq!(queue.oldest(), Some(Duration::ZERO));
        // Two tasks arrive between 0 and 10 ms, and nothing takes them.
        queue.observe(at(10), 2, 2);
        assert_eq!(queue.oldest(), Some(Duration::ZERO));
        queue.observe(at(20), 2, 2);
        queue.observe(at(30), 5, 5);
        assert_eq!(queue.oldest(), Some(Duration::from_millis(20)));
        // One taken: the oldest is now push 2, also seen first at 10 ms.
        queue.observe(at(40), 5, 4);
        assert_eq!(queue.oldest(), Some(Duration::from_millis(30)));
        // Both of the first two taken: push 3, first seen at 30 ms.
        queue.observe(at(50), 5, 3);
        assert_eq!(queue.oldest(), Some(Duration::from_millis(20)));
        queue.observe(at(60), 6, 0);
        assert_eq!(queue.oldest(), Some(Duration::ZERO));
        queue.observe(at(70), 7, 1);
        assert_eq!(queue.oldest(), Some(Duration::ZERO));
        queue.observe(at(80), 7, 1);
        assert_eq!(queue.oldest(), Some(Duration::from_millis(10)));
    }

    #[test]
    fn indices_wrap_and_the_history_stays_bounded() {
        let t0 = Instant::now();
        let mut queue = QueueWatch::default();
        let modulus = 1 << 16;
        let mut pushed = 65_000u64;
        for step in 0..(3 * HISTORY as u64) {
            pushed += 7;
            let indices = QueueIndices {
                head: 65_000 % modulus,
                tail: pushed % modulus,
                modulus,
            };
            queue.observe_indices(t0 + Duration::from_millis(step), indices);
        }
        assert!(queue.history.len() <= HISTORY);
        assert_eq!(queue.pushed, pushed - 65_000 + 65_000 % modulus);
        // Starved since the first sample: thinning keeps the first one.
        assert_eq!(
            queue.oldest(),
            Some(Duration::from_millis(3 * HISTORY as u64 - 1))
        );
    }
}
