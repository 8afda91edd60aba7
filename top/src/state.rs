//! What `top` knows of each process: the documents of the last 60 s, and the
//! rates, percentiles and matrices derived from them.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::model::{Document, Runtime, Sampled, Worker};

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
    /// Share of the interval in each state, in [`STATES`] order, 0..=1
    /// (`None` without state timing or a previous document).
    pub states: Option<Vec<(&'static str, f64)>>,
    /// The state at the latest reading, as the exporter names it.
    pub state_now: Option<String>,
    /// Median schedule latency over the interval (all sources), tier upper
    /// bound, seconds.
    pub sched_p50: Option<f64>,
    /// 99th percentile schedule latency over the interval, seconds.
    pub sched_p99: Option<f64>,
    /// Age of the oldest task in the local queue, seconds.
    pub queue_oldest: Option<f64>,
}

/// The worker states, as `/pulse.json` names them, in display order.
pub const STATES: [&str; 6] = [
    "poll",
    "driver",
    "search",
    "park",
    "maintenance",
    "blocking",
];

/// One spawn site's share of the CPU samples over the interval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SiteShare {
    /// `file:line:col`, `None` for tasks without a location.
    pub location: Option<String>,
    /// Samples over the interval.
    pub samples: u64,
    /// Share of all spawn-site samples over the interval, 0..=1.
    pub share: f64,
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
    /// Mean schedule latency over the interval, all workers and sources.
    pub sched_mean: Option<f64>,
    /// Age of the oldest task in the inject queue, seconds.
    pub inject_oldest: Option<f64>,
    /// Share of the interval with tasks waiting in a queue, 0..=1.
    pub pressure_some: Option<f64>,
    /// Share of the interval with tasks waiting while every worker polled.
    pub pressure_full: Option<f64>,
    /// Spawn sites by samples over the interval, most first (`None`: the
    /// exporter sends no sampler data, or no previous document yet).
    pub spawn_sites: Option<Vec<SiteShare>>,
    /// Samples over the interval of sites outside the exported top K.
    pub spawn_sites_other: u64,
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
                let mut row = worker_row(w, before, dt, rt, prev);
                row.queue_oldest = rt
                    .sampled
                    .as_ref()
                    .and_then(|s| s.local_oldest_seconds.get(w.index).copied().flatten());
                row
            })
            .collect();
        let sched_mean = prev.and_then(|p| sched_mean(rt, p));
        let sampled_now = rt.sampled.as_ref();
        let sampled_before = prev.and_then(|p| p.sampled.as_ref());
        let pressure = |now: Option<f64>, before: Option<f64>| -> Option<f64> {
            let (now, before) = (now?, before?);
            (dt > 0.0).then(|| ((now - before) / dt).clamp(0.0, 1.0))
        };
        let (pressure_some, pressure_full) = match (sampled_now, sampled_before) {
            (Some(n), Some(b)) => (
                pressure(n.pressure_some_seconds, b.pressure_some_seconds),
                pressure(n.pressure_full_seconds, b.pressure_full_seconds),
            ),
            _ => (None, None),
        };
        let (spawn_sites, spawn_sites_other) = match (sampled_now, sampled_before) {
            (Some(n), Some(b)) => {
                let (sites, other) = site_shares(n, b);
                (Some(sites), other)
            }
            _ => (None, 0),
        };
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
            sched_mean,
            inject_oldest: sampled_now.and_then(|s| s.inject_oldest_seconds),
            pressure_some,
            pressure_full,
            spawn_sites,
            spawn_sites_other,
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
    row.state_now = w.states.as_ref().and_then(|s| s.current.clone());
    if let (Some(s), Some(bs)) = (&w.states, &b.states) {
        let spent: Vec<(&'static str, f64)> = STATES
            .iter()
            .map(|&name| {
                let now = s.seconds.get(name).copied().unwrap_or(0.0);
                let before = bs.seconds.get(name).copied().unwrap_or(0.0);
                (name, (now - before).max(0.0))
            })
            .collect();
        let sum: f64 = spent.iter().map(|(_, t)| t).sum();
        let wall = s.wall_seconds - bs.wall_seconds;
        // The states add up to the wall time; trust the larger of the two.
        let whole = if wall.is_finite() { wall.max(sum) } else { sum };
        if whole > 0.0 && whole.is_finite() {
            row.states = Some(
                spent
                    .into_iter()
                    .map(|(name, t)| (name, (t / whole).clamp(0.0, 1.0)))
                    .collect(),
            );
        }
    }
    if let (Some(l), Some(bl)) = (&w.schedule_latency, &b.schedule_latency) {
        let mut delta: Vec<u64> = Vec::new();
        for (source, now) in l {
            let before = bl.get(source).map_or(&[][..], |b| &b.tiers[..]);
            for (k, count) in now.tiers.iter().enumerate().take(64) {
                let b = before.get(k).copied().unwrap_or(0);
                if delta.len() <= k {
                    delta.resize(k + 1, 0);
                }
                delta[k] = delta[k].saturating_add(count.saturating_sub(b));
            }
        }
        row.sched_p50 = percentile(&delta, 0.50);
        row.sched_p99 = percentile(&delta, 0.99);
    }
    row
}

/// Mean schedule latency between two readings of a runtime: the waits'
/// summed time over their count, all workers and sources.
fn sched_mean(rt: &Runtime, prev: &Runtime) -> Option<f64> {
    let mut seconds = 0.0;
    let mut waits = 0u64;
    for w in &rt.workers {
        let (Some(l), Some(bl)) = (
            &w.schedule_latency,
            prev.workers
                .get(w.index)
                .and_then(|b| b.schedule_latency.as_ref()),
        ) else {
            continue;
        };
        for (source, now) in l {
            let before = bl.get(source);
            let n = total(now.tiers.iter().copied())
                .saturating_sub(before.map_or(0, |b| total(b.tiers.iter().copied())));
            let t = now.total_seconds - before.map_or(0.0, |b| b.total_seconds);
            if n > 0 && t.is_finite() && t >= 0.0 {
                waits = waits.saturating_add(n);
                seconds += t;
            }
        }
    }
    (waits > 0).then(|| seconds / waits as f64)
}

/// Each spawn site's samples between two sampler readings, most first, and
/// the samples of the sites outside the exported top K. A site absent from
/// the earlier reading counts from zero.
fn site_shares(now: &Sampled, before: &Sampled) -> (Vec<SiteShare>, u64) {
    let mut sites: Vec<SiteShare> = now
        .spawn_sites
        .iter()
        .map(|site| {
            let earlier = before
                .spawn_sites
                .iter()
                .find(|b| b.location == site.location)
                .map_or(0, |b| b.samples);
            SiteShare {
                location: site.location.clone(),
                samples: site.samples.saturating_sub(earlier),
                share: 0.0,
            }
        })
        .filter(|site| site.samples > 0)
        .collect();
    let other = now
        .spawn_sites_other
        .saturating_sub(before.spawn_sites_other);
    let all = total(sites.iter().map(|s| s.samples)).saturating_add(other);
    for site in &mut sites {
        site.share = site.samples as f64 / all as f64;
    }
    sites.sort_by_key(|s| std::cmp::Reverse(s.samples));
    (sites, other)
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
