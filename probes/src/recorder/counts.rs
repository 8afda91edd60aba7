//! Plain counters: yields, LIFO caps, overflows, steals.

use crate::kinds::YieldReason;

use super::WorkerRecorder;

impl WorkerRecorder {
    /// A running task deferred its wake-up for `reason`.
    ///
    /// [`YieldNow`](YieldReason::YieldNow) counts every call.
    /// [`Budget`](YieldReason::Budget) counts once per poll: Tokio calls this
    /// for every operation refused budget, and once the budget is spent a
    /// task waiting on `n` channels with a combinator that has no budget
    /// check of its own (`futures::select!`, `tokio::join!`, a hand-written
    /// `poll_fn`) is refused `n` times in the one poll that yields. A poll
    /// is told from the next by the poll counts and the batches started (see
    /// [`busy_started`](Self::busy_started)), so this adds nothing to a poll
    /// that is not refused budget. Polls that Tokio's workers do not see
    /// (the tasks of a `LocalSet`, the futures of a `FuturesUnordered`) are
    /// inside one worker poll and count as one.
    #[inline(always)]
    pub fn yielded(&mut self, reason: YieldReason) {
        if reason == YieldReason::Budget {
            let key = self.poll_key();
            if key == self.budget_yield_key {
                return;
            }
            self.budget_yield_key = key;
        }
        self.probes.yields[reason as usize].add(1);
    }

    /// A number that differs from one poll to the next on this worker: the
    /// polls counted so far plus the batches started. Both only grow, and the
    /// scheduler counts a poll or starts a batch between any two polls, task
    /// or `block_on` future.
    #[inline]
    fn poll_key(&self) -> u64 {
        let polls = &self.probes.polls;
        polls[0]
            .get()
            .wrapping_add(polls[1].get())
            .wrapping_add(self.batches)
    }

    /// LIFO chaining hit its cap and the slot was disabled for this tick.
    #[inline(always)]
    pub fn lifo_capped(&mut self) {
        self.probes.lifo_capped.add(1);
    }

    /// The local queue overflowed: half of it moved to the inject queue.
    #[inline(always)]
    pub fn overflowed(&mut self) {
        self.probes.overflows.add(1);
    }

    /// This worker is about to try to steal from worker `victim`. Call it
    /// before the attempt: a successful attempt then reports what it took
    /// with [`stole`](Self::stole).
    #[inline]
    pub fn steal_attempt(&mut self, victim: usize) {
        self.victim = victim;
        self.probes.steal_attempts.add(1);
    }

    /// The current steal attempt moved `tasks` tasks from the victim named
    /// by the last [`steal_attempt`](Self::steal_attempt).
    #[inline]
    pub fn stole(&mut self, tasks: u64) {
        // An out-of-range victim can only come from a caller bug; drop the
        // sample rather than panic inside the scheduler.
        if let Some(cell) = self.probes.steals_from.get(self.victim) {
            cell.operations.add(1);
            cell.tasks.add(tasks);
        }
    }
}
