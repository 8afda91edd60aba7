//! What `top` knows of each process: the documents of the last 60 s, and the
//! rates, percentiles and matrices derived from them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::model::{Document, Runtime, Worker};

/// How far back sparklines, the steal matrix and the histogram look.
pub const WINDOW: Duration = Duration::from_secs(60);

/// The largest steal matrix drawn, in workers a side.
pub const MAX_MATRIX: usize = 256;

/// One process `top` watches.
#[derive(Debug)]
pub struct Process {
    /// The URL or label it is known by.
    pub label: String,
    /// Documents received, oldest first, spanning [`WINDOW`].
    history: VecDeque<(Instant, Document)>,
    /// The last error, while disconnected, and since when.
    pub error: Option<(String, Instant)>,
    /// Whether it ever answered.
    pub ever_connected: bool,
}

/// One worker's numbers over the last interval (and its 60 s sparkline).
#[derive(Clone, Debug, Default)]
pub struct WorkerRow {
    /// Worker index.
    pub index: usize,
    /// Polls per second.
    pub polls_per_sec: f64,
    /// Polls per second over the last 60 s, one point per document.
    pub spark: Vec<f64>,
    /// Share of the interval spent in polls, 0..=1 (`None` without timing).
    pub busy: Option<f64>,
    /// Median poll time's tier upper bound, seconds.
    pub p50: Option<f64>,
    /// 99th percentile's tier upper bound, seconds.
    pub p99: Option<f64>,
    /// Tasks this worker stole per second.
    pub steals_in: f64,
    /// Tasks stolen from this worker per second.
    pub steals_out: f64,
    /// Parks per second.
    pub parks_per_sec: f64,
    /// Local queue depth.
    pub queue: Option<u64>,
    /// The poll running now, seconds.
    pub current_poll: Option<f64>,
    /// Share of polls that ran from the LIFO slot.
    pub lifo_share: Option<f64>,
}

/// One runtime's numbers over the last interval.
#[derive(Clone, Debug, Default)]
pub struct RuntimeView {
    /// Runtime id.
    pub id: u64,
    /// Runtime name.
    pub name: String,
    /// Uptime, seconds.
    pub uptime: f64,
    /// Polls per second, all workers.
    pub polls_per_sec: f64,
    /// Local spawns per second.
    pub spawns_local_per_sec: f64,
    /// Remote spawns per second.
    pub spawns_remote_per_sec: f64,
    /// Busy share of all workers, 0..=1.
    pub busy: Option<f64>,
    /// Stalls since start.
    pub stalls: u64,
    /// Slow polls since start.
    pub slow_polls: u64,
    /// Tasks alive.
    pub alive_tasks: Option<u64>,
    /// Global queue depth.
    pub global_queue: Option<u64>,
    /// Stall threshold, seconds.
    pub stall_threshold: Option<f64>,
    /// Slow-poll threshold, seconds.
    pub slow_threshold: Option<f64>,
    /// Whether poll timing is on.
    pub poll_timing: bool,
    /// Workers.
    pub workers: Vec<WorkerRow>,
    /// Tasks stolen over the window, `[thief][victim]`.
    pub steals: Vec<Vec<u64>>,
    /// Polls per tier over the window.
    pub tiers: Vec<u64>,
    /// Tier upper bounds, µs.
    pub tier_bounds: Vec<Option<u64>>,
    /// Recent events, newest first, with their worker.
    pub events: Vec<(usize, crate::model::Event)>,
    /// Seconds the window spans.
    pub window: f64,
}

impl Process {
    /// A process not heard from yet.
    pub fn new(label: impl Into<String>) -> Process {
        Process {
            label: label.into(),
            history: VecDeque::new(),
            error: None,
            ever_connected: false,
        }
    }

    /// Takes a new document, or an error, received at `at`.
    pub fn update(&mut self, at: Instant, result: Result<Document, String>) {
        match result {
            Ok(doc) => {
                // A restarted target (new pid) starts a new history.
                if self.latest().is_some_and(|last| last.pid != doc.pid) {
                    self.history.clear();
                }
                self.history.push_back((at, doc));
                while self.history.front().is_some_and(|(t, _)| {
                    at.duration_since(*t) > WINDOW + Duration::from_millis(500)
                }) {
                    self.history.pop_front();
                }
                self.error = None;
                self.ever_connected = true;
            }
            Err(err) => {
                let since = self.error.as_ref().map_or(at, |(_, since)| *since);
                self.error = Some((err, since));
            }
        }
    }

    /// The latest document.
    pub fn latest(&self) -> Option<&Document> {
        self.history.back().map(|(_, doc)| doc)
    }

    /// The runtimes of the latest document, with their rates.
    pub fn runtimes(&self) -> Vec<RuntimeView> {
        let Some(latest) = self.latest() else {
            return Vec::new();
        };
        latest
            .runtimes
            .iter()
            .map(|rt| self.runtime_view(rt, latest))
            .collect()
    }

    /// The same runtime in each document, oldest first.
    fn series(&self, id: u64) -> Vec<&Runtime> {
        self.history
            .iter()
            .filter_map(|(_, doc)| doc.runtimes.iter().find(|r| r.id == id))
            .collect()
    }

    fn runtime_view(&self, rt: &Runtime, doc: &Document) -> RuntimeView {
        let series = self.series(rt.id);
        let prev = series.len().checked_sub(2).map(|i| series[i]);
        let first = series.first().copied().filter(|f| !std::ptr::eq(*f, rt));
        let dt = prev.map_or(0.0, |p| rt.uptime_seconds - p.uptime_seconds);
        let n = rt.workers.len();
        let mut workers: Vec<WorkerRow> = rt
            .workers
            .iter()
            .map(|w| {
                let before = prev.and_then(|p| p.workers.get(w.index));
                worker_row(w, before, dt, rt, prev)
            })
            .collect();
        // Sparklines: polls/s between consecutive documents.
        for pair in series.windows(2) {
            let dt = pair[1].uptime_seconds - pair[0].uptime_seconds;
            for row in &mut workers {
                let (Some(a), Some(b)) = (
                    pair[0].workers.get(row.index),
                    pair[1].workers.get(row.index),
                ) else {
                    continue;
                };
                row.spark.push(rate(b.polls, a.polls, dt));
            }
        }
        // A matrix of at most MAX_MATRIX workers a side, whatever the
        // document says.
        let n = n.min(MAX_MATRIX);
        let mut steals = vec![vec![0u64; n]; n];
        for (thief, w) in rt.workers.iter().enumerate().take(n) {
            for (victim, cell) in w.steals_from.iter().enumerate().take(n) {
                let before = first
                    .and_then(|f| f.workers.get(thief))
                    .and_then(|fw| fw.steals_from.get(victim))
                    .map_or(0, |c| c.tasks);
                steals[thief][victim] = cell.tasks.saturating_sub(before);
            }
        }
        let tier_count = doc.poll_time_tier_upper_bounds_us.len();
        let mut tiers = vec![0u64; tier_count];
        for w in &rt.workers {
            let Some(t) = &w.poll_time else { continue };
            let before = first
                .and_then(|f| f.workers.get(w.index))
                .and_then(|fw| fw.poll_time.as_ref());
            for (k, count) in t.tiers.iter().enumerate().take(tier_count) {
                let b = before.and_then(|b| b.tiers.get(k)).copied().unwrap_or(0);
                tiers[k] = tiers[k].saturating_add(count.saturating_sub(b));
            }
        }
        let mut events: Vec<(usize, crate::model::Event)> = rt
            .workers
            .iter()
            .flat_map(|w| w.recent_events.iter().map(|e| (w.index, e.clone())))
            .collect();
        events.sort_by_key(|e| std::cmp::Reverse(e.1.seq));
        let timed: Vec<f64> = workers.iter().filter_map(|w| w.busy).collect();
        let settings = rt.settings.clone().unwrap_or_default();
        RuntimeView {
            id: rt.id,
            name: rt.name.clone(),
            uptime: rt.uptime_seconds,
            polls_per_sec: workers.iter().map(|w| w.polls_per_sec).sum(),
            spawns_local_per_sec: prev.map_or(0.0, |p| {
                rate(
                    total(rt.workers.iter().map(|w| w.spawns_local)),
                    total(p.workers.iter().map(|w| w.spawns_local)),
                    dt,
                )
            }),
            spawns_remote_per_sec: prev
                .map_or(0.0, |p| rate(rt.spawns_remote, p.spawns_remote, dt)),
            busy: (!timed.is_empty() && prev.is_some())
                .then(|| timed.iter().sum::<f64>() / timed.len() as f64),
            stalls: total(
                rt.workers
                    .iter()
                    .filter_map(|w| w.poll_time.as_ref())
                    .map(|t| t.stalls),
            ),
            slow_polls: total(
                rt.workers
                    .iter()
                    .filter_map(|w| w.poll_time.as_ref())
                    .map(|t| t.slow_polls),
            ),
            alive_tasks: rt.alive_tasks,
            global_queue: rt.global_queue_depth,
            stall_threshold: settings.stall_seconds,
            slow_threshold: settings.slow_poll_seconds,
            poll_timing: settings.poll_timing,
            workers,
            steals,
            tiers,
            tier_bounds: doc.poll_time_tier_upper_bounds_us.clone(),
            events,
            window: first.map_or(0.0, |f| rt.uptime_seconds - f.uptime_seconds),
        }
    }
}

/// The sum of `counts`, saturating: a document's numbers are not trusted.
///
/// # Examples
///
/// ```
/// assert_eq!(tokio_pulse_top::state::total([u64::MAX, 1]), u64::MAX);
/// ```
pub fn total(counts: impl IntoIterator<Item = u64>) -> u64 {
    counts.into_iter().fold(0, u64::saturating_add)
}

/// `(now - before) / dt`, 0 for no time or a counter that went back.
fn rate(now: u64, before: u64, dt: f64) -> f64 {
    if dt <= 0.0 || now < before {
        return 0.0;
    }
    (now - before) as f64 / dt
}

fn worker_row(
    w: &Worker,
    before: Option<&Worker>,
    dt: f64,
    rt: &Runtime,
    prev: Option<&Runtime>,
) -> WorkerRow {
    let mut row = WorkerRow {
        index: w.index,
        queue: w.local_queue_depth,
        current_poll: w.poll_time.as_ref().and_then(|t| t.current_poll_seconds),
        ..WorkerRow::default()
    };
    let Some(b) = before else {
        return row;
    };
    row.polls_per_sec = rate(w.polls, b.polls, dt);
    row.steals_in = rate(w.stolen_tasks, b.stolen_tasks, dt);
    let stolen_from = |r: &Runtime| -> u64 {
        total(
            r.workers
                .iter()
                .filter_map(|t| t.steals_from.get(w.index))
                .map(|c| c.tasks),
        )
    };
    if let Some(p) = prev {
        row.steals_out = rate(stolen_from(rt), stolen_from(p), dt);
    }
    row.parks_per_sec = rate(w.parks, b.parks, dt);
    let polls = w.polls.saturating_sub(b.polls);
    row.lifo_share =
        (polls > 0).then(|| w.polls_lifo.saturating_sub(b.polls_lifo) as f64 / polls as f64);
    if let (Some(t), Some(bt)) = (&w.poll_time, &b.poll_time) {
        if dt > 0.0 {
            row.busy = Some(((t.busy_seconds - bt.busy_seconds) / dt).clamp(0.0, 1.0));
        }
        let delta: Vec<u64> = t
            .tiers
            .iter()
            .zip(bt.tiers.iter().chain(std::iter::repeat(&0)))
            .map(|(a, b)| a.saturating_sub(*b))
            .collect();
        row.p50 = percentile(&delta, 0.50);
        row.p99 = percentile(&delta, 0.99);
    }
    row
}

/// The upper bound (seconds) of the tier holding quantile `q` of `tiers`
/// (tier `k` holds polls under 2^k µs); `None` for no polls. The last,
/// unbounded tier reports its lower bound.
///
/// # Examples
///
/// ```
/// let mut tiers = vec![0u64; 22];
/// tiers[3] = 90; // under 8 µs
/// tiers[10] = 10; // under 1024 µs
/// assert_eq!(tokio_pulse_top::state::percentile(&tiers, 0.5), Some(8e-6));
/// assert_eq!(tokio_pulse_top::state::percentile(&tiers, 0.99), Some(1024e-6));
/// ```
pub fn percentile(tiers: &[u64], q: f64) -> Option<f64> {
    let total = total(tiers.iter().copied());
    if total == 0 {
        return None;
    }
    let want = (q * total as f64).ceil().clamp(1.0, total as f64) as u64;
    let mut seen = 0u64;
    for (k, count) in tiers.iter().enumerate() {
        seen = seen.saturating_add(*count);
        if seen >= want {
            // The last tier is unbounded: report where it starts.
            let k = if k + 1 == tiers.len() {
                k.saturating_sub(1)
            } else {
                k
            };
            return Some(2f64.powi(k.min(63) as i32) * 1e-6);
        }
    }
    None
}
