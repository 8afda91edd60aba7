//! The families themselves: names, help and README text, and readers.
//!
//! A new family is one entry in [`FAMILIES`] (with its reader) plus the
//! snapshot field it reads; the facade, the text writer, `describe` and the
//! README's table follow from the entry.

use std::sync::OnceLock;

use metrics::Unit;

use super::catalog::{Buckets, Family, FamilyKind, Read, Sample, Value, Worker};
use crate::{
    PollTimeSnapshot, RuntimeSnapshot, ScheduleSource, StealSnapshot, WorkerSnapshot, WorkerState,
};

/// `tokio_pulse_workers`: worker threads of the runtime (gauge).
pub const WORKERS: &str = "tokio_pulse_workers";
/// `tokio_pulse_spawns_total{origin}`: tasks spawned.
pub const SPAWNS: &str = "tokio_pulse_spawns_total";
/// `tokio_pulse_wakes_total{path}`: tasks woken, by the queue they went to.
pub const WAKES: &str = "tokio_pulse_wakes_total";
/// `tokio_pulse_polls_total`: task polls.
pub const POLLS: &str = "tokio_pulse_polls_total";
/// `tokio_pulse_lifo_polls_total`: polls of a task chained through the LIFO slot.
pub const LIFO_POLLS: &str = "tokio_pulse_lifo_polls_total";
/// `tokio_pulse_yields_total{reason}`: polls that ended in a yield.
pub const YIELDS: &str = "tokio_pulse_yields_total";
/// `tokio_pulse_steal_operations_total{victim}`: successful steal operations.
pub const STEAL_OPERATIONS: &str = "tokio_pulse_steal_operations_total";
/// `tokio_pulse_stolen_tasks_total{victim}`: tasks moved by steals.
pub const STOLEN_TASKS: &str = "tokio_pulse_stolen_tasks_total";
/// `tokio_pulse_thief_steal_operations_total`: successful steal operations
/// by the worker, from every victim.
pub const THIEF_STEAL_OPERATIONS: &str = "tokio_pulse_thief_steal_operations_total";
/// `tokio_pulse_thief_stolen_tasks_total`: tasks the worker stole, from
/// every victim.
pub const THIEF_STOLEN_TASKS: &str = "tokio_pulse_thief_stolen_tasks_total";
/// `tokio_pulse_victim_steal_operations_total`: successful steal operations
/// from the worker, by every thief.
pub const VICTIM_STEAL_OPERATIONS: &str = "tokio_pulse_victim_steal_operations_total";
/// `tokio_pulse_victim_stolen_tasks_total`: tasks stolen from the worker,
/// by every thief.
pub const VICTIM_STOLEN_TASKS: &str = "tokio_pulse_victim_stolen_tasks_total";
/// `tokio_pulse_steal_attempts_total`: steal attempts, successful or not.
pub const STEAL_ATTEMPTS: &str = "tokio_pulse_steal_attempts_total";
/// `tokio_pulse_parks_total`: times a worker parked.
pub const PARKS: &str = "tokio_pulse_parks_total";
/// `tokio_pulse_unparks_total`: times a worker woke from a park.
pub const UNPARKS: &str = "tokio_pulse_unparks_total";
/// `tokio_pulse_overflows_total`: local-queue overflows into the inject queue.
pub const OVERFLOWS: &str = "tokio_pulse_overflows_total";
/// `tokio_pulse_overflow_pushes_total`: single tasks pushed to the inject
/// queue because a local queue was full while being stolen from.
pub const OVERFLOW_PUSHES: &str = "tokio_pulse_overflow_pushes_total";
/// `tokio_pulse_lifo_capped_total`: times LIFO chaining hit its cap.
pub const LIFO_CAPPED: &str = "tokio_pulse_lifo_capped_total";
/// `tokio_pulse_slow_polls_total`: polls at or over the slow-poll threshold.
pub const SLOW_POLLS: &str = "tokio_pulse_slow_polls_total";
/// `tokio_pulse_stalls_total`: stalls the watchdog reported.
pub const STALLS: &str = "tokio_pulse_stalls_total";
/// `tokio_pulse_slow_poll_events_dropped_total`: slow-poll events the rate
/// limit dropped (the polls are still in `slow_polls_total`).
pub const SLOW_POLL_EVENTS_DROPPED: &str = "tokio_pulse_slow_poll_events_dropped_total";
/// `tokio_pulse_stall_events_dropped_total`: stalls whose events the rate
/// limit dropped (the stalls are still in `stalls_total`).
pub const STALL_EVENTS_DROPPED: &str = "tokio_pulse_stall_events_dropped_total";
/// `tokio_pulse_listener_panics_total`: panics of the event listener (or a
/// `tracing` layer behind it), caught and counted.
pub const LISTENER_PANICS: &str = "tokio_pulse_listener_panics_total";
/// `tokio_pulse_driver_last_turn_age_seconds`: how long since a worker last
/// turned the I/O and time drivers (gauge, poll timing on).
pub const DRIVER_LAST_TURN_AGE: &str = "tokio_pulse_driver_last_turn_age_seconds";
/// `tokio_pulse_local_queue_depth`: tasks in a worker's local queue (gauge).
pub const LOCAL_QUEUE_DEPTH: &str = "tokio_pulse_local_queue_depth";
/// `tokio_pulse_global_queue_depth`: tasks in the inject queue (gauge).
pub const GLOBAL_QUEUE_DEPTH: &str = "tokio_pulse_global_queue_depth";
/// `tokio_pulse_alive_tasks`: tasks spawned and not yet completed (gauge).
pub const ALIVE_TASKS: &str = "tokio_pulse_alive_tasks";
/// `tokio_pulse_poll_duration_seconds`: the poll-time histogram.
pub const POLL_DURATION: &str = "tokio_pulse_poll_duration_seconds";
/// `tokio_pulse_busy_seconds_total`: time spent processing tasks, from the
/// start of each batch of polls to the end of its last poll (equal to the
/// poll-duration `_sum`, since polls run back to back within a batch).
pub const BUSY_SECONDS: &str = "tokio_pulse_busy_seconds_total";
/// `tokio_pulse_current_poll_seconds`: how long each worker has been inside
/// its current poll (gauge).
pub const CURRENT_POLL_SECONDS: &str = "tokio_pulse_current_poll_seconds";
/// `tokio_pulse_schedule_latency_seconds{source}`: how long tasks waited
/// between their schedule and their poll's start, by where the worker took
/// them from (histogram).
pub const SCHEDULE_LATENCY: &str = "tokio_pulse_schedule_latency_seconds";
/// `tokio_pulse_worker_state_seconds_total{state}`: time per worker state.
pub const WORKER_STATE_SECONDS: &str = "tokio_pulse_worker_state_seconds_total";

/// `tokio_pulse_runtimes_omitted`: live runtimes an exporter left out, by
/// its `max_runtimes` cap or `min_runtime_age` (gauge, no labels). Not in
/// [`FAMILIES`]: it describes the exporter, not a runtime.
pub const RUNTIMES_OMITTED: &str = "tokio_pulse_runtimes_omitted";
/// The help text of [`RUNTIMES_OMITTED`].
pub const RUNTIMES_OMITTED_HELP: &str =
    "Live runtimes left out of this export by the exporter's max_runtimes cap or min_runtime_age.";
/// The README's description of [`RUNTIMES_OMITTED`].
pub const RUNTIMES_OMITTED_DOC: &str =
    "Live runtimes this exporter left out (see \"Bounded series\" below).";

/// Every family of the catalog, in the order the text writer writes them:
/// the families the facade publishes too, then the text-only ones
/// ([`Family::text_only`]). See the [module docs](super) for how each is
/// published.
///
/// # Examples
///
/// ```
/// let names: Vec<_> = tokio_pulse_rt::export::FAMILIES.iter().map(|f| f.name).collect();
/// assert!(names.contains(&"tokio_pulse_stolen_tasks_total"));
/// assert!(names.contains(&"tokio_pulse_poll_duration_seconds"));
/// ```
pub const FAMILIES: &[Family] = &[
    gauge(
        WORKERS,
        &[],
        "Worker threads of the runtime.",
        "Worker threads of the runtime.",
        Read::Runtime(|s| int(s.workers.len() as u64)),
    ),
    counter(
        SPAWNS,
        &["origin", "worker"],
        "Tasks spawned: origin=\"local\" from a thread holding a worker's core, origin=\"remote\" (worker=\"external\") from any other thread.",
        "Tasks spawned. `origin=\"local\"`: from a thread holding that worker's core. `origin=\"remote\"`, `worker=\"external\"`: from any other thread (`block_on`, plain threads, `block_in_place`).",
        Read::Samples(spawns),
    ),
    counter(
        WAKES,
        &["path", "worker"],
        "Tasks woken while not running, by where they were queued: the LIFO slot, the back of the local queue, or the inject queue (path=\"remote\", worker=\"external\").",
        "Tasks woken while not running, by where they were queued. `lifo` and `local_queue` are per worker. `remote` (`worker=\"external\"`) went to the inject queue.",
        Read::Samples(wakes),
    ),
    per_worker(
        POLLS,
        "Task polls, LIFO-chained polls included.",
        "Task polls, LIFO-chained polls included. Tokio's own count misses those (tokio-rs/tokio#7106).",
        |w| int(w.polls),
    ),
    per_worker(
        LIFO_POLLS,
        "Polls of a task taken from the LIFO slot right after another poll.",
        "Polls of a task taken from the LIFO slot right after another poll.",
        |w| int(w.polls_lifo),
    ),
    counter(
        YIELDS,
        &["reason", "worker"],
        "Polls that gave the worker back: yield_now() calls, coop-budget exhaustion, and tasks that woke themselves during a poll.",
        "Polls that gave the worker back. `yield_now`: `tokio::task::yield_now()`. `budget`: coop budget ran out. `self_wake`: the task woke itself during its poll. `self_wake` with `worker=\"external\"` is the same inside `block_in_place`.",
        Read::Samples(yields),
    ),
    matrix(counter(
        STEAL_OPERATIONS,
        &["worker", "victim"],
        "Successful steal operations by worker (the thief) from victim (the full matrix: up to 16 workers, or when asked for).",
        "Successful steal operations by `worker` (the thief) from `victim`. Full matrix only (see below).",
        Read::Samples(|s, emit| steal_matrix(s, emit, |c| c.operations)),
    )),
    matrix(counter(
        STOLEN_TASKS,
        &["worker", "victim"],
        "Tasks moved by steals by worker (the thief) from victim (the full matrix: up to 16 workers, or when asked for).",
        "Tasks those steals moved. Full matrix only.",
        Read::Samples(|s, emit| steal_matrix(s, emit, |c| c.tasks)),
    )),
    counter(
        THIEF_STEAL_OPERATIONS,
        &["worker"],
        "Successful steal operations by worker (the thief), from every victim.",
        "Steal operations summed over victims: what `worker` stole. Always there.",
        Read::Samples(|s, emit| steal_totals(s, emit, |c| c.operations, true)),
    ),
    counter(
        THIEF_STOLEN_TASKS,
        &["worker"],
        "Tasks worker (the thief) stole, from every victim.",
        "Stolen tasks summed over victims: what `worker` stole. Always there.",
        Read::Samples(|s, emit| steal_totals(s, emit, |c| c.tasks, true)),
    ),
    counter(
        VICTIM_STEAL_OPERATIONS,
        &["worker"],
        "Successful steal operations from worker (the victim), by every thief.",
        "Steal operations summed over thieves: what was stolen from `worker`. Always there.",
        Read::Samples(|s, emit| steal_totals(s, emit, |c| c.operations, false)),
    ),
    counter(
        VICTIM_STOLEN_TASKS,
        &["worker"],
        "Tasks stolen from worker (the victim), by every thief.",
        "Stolen tasks summed over thieves: what was stolen from `worker`. Always there.",
        Read::Samples(|s, emit| steal_totals(s, emit, |c| c.tasks, false)),
    ),
    per_worker(
        STEAL_ATTEMPTS,
        "Steal attempts, successful or not.",
        "Steal attempts, successful or not.",
        |w| int(w.steal_attempts),
    ),
    per_worker(
        PARKS,
        "Times the worker parked.",
        "Times the worker parked.",
        |w| int(w.parks),
    ),
    per_worker(
        UNPARKS,
        "Times the worker woke from a park.",
        "Times the worker woke from a park.",
        |w| int(w.unparks),
    ),
    per_worker(
        OVERFLOWS,
        "Times the local queue was full and half of it moved to the inject queue.",
        "Times the local queue was full and half of it moved to the inject queue.",
        |w| int(w.overflows_batch),
    ),
    counter(
        OVERFLOW_PUSHES,
        &[],
        "Single tasks pushed to the inject queue because a local queue was full while being stolen from.",
        "Single tasks pushed to the inject queue because a local queue was full while another worker was stealing from it.",
        Read::Runtime(|s| int(s.overflows_single)),
    ),
    per_worker(
        LIFO_CAPPED,
        "Times LIFO-slot chaining hit its per-tick cap.",
        "Times LIFO-slot chaining hit its per-tick cap.",
        |w| int(w.lifo_capped),
    ),
    timed(per_worker(
        SLOW_POLLS,
        "Polls that took at least the slow-poll threshold (poll timing on).",
        "Polls at or over the slow-poll threshold (poll timing on).",
        |w| timing_int(w, |t| t.slow_polls),
    )),
    timed(per_worker(
        STALLS,
        "Stalls the watchdog reported: a worker stuck in one poll past the stall threshold (poll timing on).",
        "Stalls the watchdog reported (poll timing on).",
        |w| timing_int(w, |t| t.stalls),
    )),
    timed(per_worker(
        SLOW_POLL_EVENTS_DROPPED,
        "Slow-poll events the rate limit (10 per second per worker) dropped; the polls are still counted in slow_polls_total (poll timing on).",
        "Slow-poll events the rate limit (10 per second per worker) dropped; the polls are still in `slow_polls_total` (poll timing on).",
        |w| timing_int(w, |t| t.slow_poll_events_dropped),
    )),
    timed(per_worker(
        STALL_EVENTS_DROPPED,
        "Stalls whose start and end events the rate limit (10 per second per worker) dropped; the stalls are still counted in stalls_total (poll timing on).",
        "Stalls whose start and end events the rate limit dropped; the stalls are still in `stalls_total` (poll timing on).",
        |w| timing_int(w, |t| t.stall_events_dropped),
    )),
    timed(per_worker(
        LISTENER_PANICS,
        "Panics of the event listener or a tracing layer behind it on this worker's events, caught and counted (poll timing on).",
        "Panics of the event listener or a `tracing` layer behind it, caught and counted (poll timing on).",
        |w| timing_int(w, |t| t.listener_panics),
    )),
    gauge(
        LOCAL_QUEUE_DEPTH,
        &["worker"],
        "Tasks waiting in the worker's local queue.",
        "Tasks waiting in the worker's local queue (absent when it cannot be read).",
        Read::Worker(|w| w.local_queue_depth.map(Value::Int)),
    ),
    gauge(
        GLOBAL_QUEUE_DEPTH,
        &[],
        "Tasks waiting in the runtime's inject (global) queue.",
        "Tasks waiting in the inject (global) queue.",
        Read::Runtime(|s| s.global_queue_depth.map(Value::Int)),
    ),
    gauge(
        ALIVE_TASKS,
        &[],
        "Tasks spawned and not yet completed.",
        "Tasks spawned and not yet completed.",
        Read::Runtime(|s| s.alive_tasks.map(Value::Int)),
    ),
    text_seconds(family(
        POLL_DURATION,
        FamilyKind::Histogram,
        &["worker"],
        "Task poll durations, from the probes' poll-time tiers (poll timing on).",
        "Poll durations (poll timing on). There are 11 buckets, `le` = 1 µs, 4 µs, 16 µs, … 1.048576 s, plus `+Inf`. Each bucket is an exact union of the probes' power-of-two tiers. The family is absent when poll timing is off.",
        Read::Worker(poll_buckets),
    )),
    text_seconds(counter(
        BUSY_SECONDS,
        &["worker"],
        "Time the worker spent processing tasks: each batch of polls from start to end (poll timing on).",
        "Time spent processing tasks, from the start of each batch of polls to the end of its last poll; equal to the poll-duration `_sum` (poll timing on).",
        Read::Worker(|w| w.poll_time.as_ref().map(|t| Value::Float(t.busy_time.as_secs_f64()))),
    )),
    text_seconds(gauge(
        CURRENT_POLL_SECONDS,
        &["worker"],
        "How long the worker has been inside its current poll, live; 0 between polls (poll timing on).",
        "How long the worker has been inside the poll it is running now, read live; 0 between polls (poll timing on). A stuck worker shows here while it is stuck, with or without the watchdog.",
        Read::Worker(|w| {
            let timing = w.poll_time.as_ref()?;
            Some(Value::Float(timing.current_poll.unwrap_or_default().as_secs_f64()))
        }),
    )),
    text_seconds(family(
        SCHEDULE_LATENCY,
        FamilyKind::Histogram,
        &["source", "worker"],
        "How long tasks waited from their schedule (spawn or wake) to the start of their poll, by where the worker took them from: lifo, local (own queue), stolen, inject (poll timing on).",
        "How long tasks waited from their schedule (spawn or wake) to the start of their poll, by where the worker took them: `lifo`, `local` (own queue), `stolen`, `inject` (remote schedules and overflow). Same buckets as the poll durations (poll timing on).",
        Read::Samples(schedule_latency),
    )),
    text_seconds(counter(
        WORKER_STATE_SECONDS,
        &["state", "worker"],
        "Time the worker spent in each state since it started: poll, driver, search, park, maintenance, blocking (poll timing on).",
        "Time per worker state since the worker started: `poll`, `driver` (its own non-sleeping driver turns), `search` (looking for work, steals), `park` (sleeping), `maintenance`, `blocking` (core handed away by `block_in_place`). The states add up to the worker's wall time (poll timing on).",
        Read::Samples(worker_states),
    )),
    // Sampled by the watchdog (`tokio_pulse_probes` `sampler`).
    timed(counter(
        POLL_SAMPLES,
        &["location"],
        "Watchdog samples that found a worker polling a task spawned at this location (file:line:col); the top K sites by name, the rest as other (poll timing and the watchdog on).",
        "A CPU profile of the tasks by spawn site: each watchdog period, one sample per worker inside a poll, counted by where the polled task was spawned (`file:line:col`). The top K sites (default 20, `TOKIO_PULSE_SPAWN_SITES_TOP_K`) by name, the rest as `location=\"other\"`; the full table is in the snapshot. Samples × the watchdog period ≈ worker time (poll timing and the watchdog on).",
        Read::Samples(poll_samples),
    )),
    Family {
        unit: Unit::Seconds,
        ..gauge(
            QUEUE_OLDEST_SECONDS,
            &["queue", "worker"],
            "How long the oldest task waiting in the queue has waited: queue=inject (worker=external), or queue=local per worker; 0 when empty. Sampled, at most one sampling period short of the truth.",
            "How long the oldest task waiting in the queue has waited, live: `queue=\"inject\"` (with `worker=\"external\"`, the queue being no worker's) or `queue=\"local\"` per worker; 0 when empty. It grows while a queue is starved, polled or not. Sampled from push counts and depths (every watchdog period, and at each scrape), at most one period short of the truth. Needs no poll timing.",
            Read::Samples(queue_oldest),
        )
    },
    text_seconds(counter(
        PRESSURE_SECONDS,
        &["kind"],
        "Time runnable tasks waited in a queue (kind=some), and the part of it with every worker busy polling (kind=full); sampled by the watchdog (poll timing and the watchdog on).",
        "Pressure, like Linux's PSI, for tasks. `kind=\"some\"`: time during which a task waited in a queue. `kind=\"full\"`: time during which a task waited while every worker was inside a poll. Sampled every watchdog period from queue depths and the workers' current polls (poll timing and the watchdog on); see \"Pressure: when more workers help\".",
        Read::Samples(pressure),
    )),
    text_seconds(gauge(
        DRIVER_LAST_TURN_AGE,
        &["driver"],
        "How long since a worker last turned the I/O and time drivers; 0 while a worker is parked (poll timing on).",
        "How long since a worker last turned the runtime's drivers, `driver=\"io\"` and `driver=\"time\"` (Tokio turns both in the same park, so they share one age); 0 while a worker is parked. High while tasks wait for I/O means every worker is inside a long poll and sockets go unread: the watchdog then reports the starved driver (poll timing on; before the first turn, the runtime's age).",
        Read::Samples(|s, emit| {
            if let Some(age) = s.driver_last_turn_age {
                for driver in tokio_pulse_probes::DRIVERS {
                    emit(Sample {
                        kind: Some(("driver", driver)),
                        worker: None,
                        victim: None,
                        value: Value::Float(age.as_secs_f64()),
                    });
                }
            }
        }),
    )),
];

/// The schedule-latency histograms: one series per worker and source.
fn schedule_latency(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    for w in &snap.workers {
        let Some(latency) = w.schedule_latency.as_ref() else {
            continue;
        };
        for source in ScheduleSource::ALL {
            let waits = latency.source(source);
            emit(Sample {
                kind: Some(("source", source.label())),
                worker: Some(Worker::Index(w.index)),
                victim: None,
                value: Value::Histogram(Box::new(Buckets {
                    bounds: poll_bounds(),
                    counts: tier_buckets(&waits.tiers),
                    sum: waits.total.as_secs_f64(),
                })),
            });
        }
    }
}

/// The time per state: one series per worker and state.
fn worker_states(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    for w in &snap.workers {
        let Some(states) = w.states.as_ref() else {
            continue;
        };
        for state in WorkerState::ALL {
            emit(Sample {
                kind: Some(("state", state.label())),
                worker: Some(Worker::Index(w.index)),
                victim: None,
                value: Value::Float(states.state(state).as_secs_f64()),
            });
        }
    }
}

/// The cells of the steal matrix of `snap` as `(thief, victim, cell)`:
/// every ordered pair of distinct workers. A worker never steals from
/// itself, and a cell past the worker count would be a malformed snapshot:
/// both are skipped. Thieves are indexed by position, which is their index.
fn steal_cells(
    snap: &RuntimeSnapshot,
) -> impl Iterator<Item = (usize, usize, &StealSnapshot)> + '_ {
    let workers = snap.workers.len();
    snap.workers.iter().enumerate().flat_map(move |(thief, w)| {
        w.steals_from
            .iter()
            .enumerate()
            .filter(move |(victim, _)| *victim != thief && *victim < workers)
            .map(move |(victim, cell)| (thief, victim, cell))
    })
}

/// The matrix cells of `snap`, one sample per thief and victim.
fn steal_matrix(
    snap: &RuntimeSnapshot,
    emit: &mut dyn FnMut(Sample),
    cell: fn(&StealSnapshot) -> u64,
) {
    for (thief, victim, one) in steal_cells(snap) {
        emit(Sample {
            kind: None,
            worker: Some(Worker::Index(thief)),
            victim: Some(victim),
            value: Value::Int(cell(one)),
        });
    }
}

/// The matrix of `snap` summed per thief (`by_thief`) or per victim, over
/// exactly the cells of the matrix, so that a PromQL sum of the matrix
/// equals the totals.
fn steal_totals(
    snap: &RuntimeSnapshot,
    emit: &mut dyn FnMut(Sample),
    cell: fn(&StealSnapshot) -> u64,
    by_thief: bool,
) {
    let mut totals = vec![0u64; snap.workers.len()];
    for (thief, victim, one) in steal_cells(snap) {
        let index = if by_thief { thief } else { victim };
        totals[index] = totals[index].saturating_add(cell(one));
    }
    for (index, total) in totals.into_iter().enumerate() {
        emit(Sample::plain(Some(Worker::Index(index)), Value::Int(total)));
    }
}

/// The histogram's finite bucket bounds, as probe tiers: every second
/// tier bound, `1 µs, 4 µs, 16 µs, ... 1.048576 s`. Eleven buckets plus
/// `+Inf` is a size Prometheus handles well, and each bucket is an exact
/// union of probe tiers, so no count is interpolated.
const POLL_BUCKET_TIERS: [usize; 11] = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20];

/// The poll-duration histogram's buckets, `+Inf` included.
pub(crate) const POLL_BUCKETS: usize = POLL_BUCKET_TIERS.len() + 1;

/// The poll-duration buckets' upper bounds in seconds, computed once.
pub(crate) fn poll_bounds() -> &'static [f64] {
    static BOUNDS: OnceLock<Vec<f64>> = OnceLock::new();
    BOUNDS.get_or_init(|| {
        POLL_BUCKET_TIERS
            .iter()
            .filter_map(|&k| tokio_pulse_probes::tier::upper_bound_us(k))
            .map(|us| us as f64 / 1e6)
            .collect()
    })
}

/// A worker's poll times merged from the probes' tiers `[2^(k-1), 2^k)` µs
/// into the buckets of [`poll_bounds`]: a bound is exclusive at
/// microsecond resolution.
fn poll_buckets(w: &WorkerSnapshot) -> Option<Value> {
    let timing = w.poll_time.as_ref()?;
    Some(Value::Histogram(Box::new(Buckets {
        bounds: poll_bounds(),
        counts: tier_buckets(&timing.tiers),
        sum: timing.poll_time.as_secs_f64(),
    })))
}

/// Probe tiers merged into the buckets of [`poll_bounds`].
fn tier_buckets(tiers: &[u64; tokio_pulse_probes::tier::TIERS]) -> [u64; POLL_BUCKETS] {
    let mut counts = [0u64; POLL_BUCKETS];
    for (tier, n) in tiers.iter().enumerate() {
        let bucket = POLL_BUCKET_TIERS
            .iter()
            .position(|&last| tier <= last)
            .unwrap_or(POLL_BUCKET_TIERS.len());
        counts[bucket] = counts[bucket].saturating_add(*n);
    }
    counts
}

/// Spawns: local per worker, then remote.
fn spawns(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    for w in &snap.workers {
        emit(Sample::of(
            ("origin", "local"),
            Worker::Index(w.index),
            w.spawns_local,
        ));
    }
    emit(Sample::of(
        ("origin", "remote"),
        Worker::External,
        snap.spawns_remote,
    ));
}

/// Wakes: LIFO and local queue per worker, then remote.
fn wakes(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    for w in &snap.workers {
        let worker = Worker::Index(w.index);
        emit(Sample::of(("path", "lifo"), worker, w.wakes_lifo));
        emit(Sample::of(
            ("path", "local_queue"),
            worker,
            w.wakes_local_queue,
        ));
    }
    emit(Sample::of(
        ("path", "remote"),
        Worker::External,
        snap.wakes_remote,
    ));
}

/// Yields by reason per worker, then remote self-wakes.
fn yields(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    for w in &snap.workers {
        let worker = Worker::Index(w.index);
        emit(Sample::of(
            ("reason", "yield_now"),
            worker,
            w.yields_yield_now,
        ));
        emit(Sample::of(("reason", "budget"), worker, w.yields_budget));
        emit(Sample::of(
            ("reason", "self_wake"),
            worker,
            w.self_wakes_local,
        ));
    }
    let external = Worker::External;
    emit(Sample::of(
        ("reason", "self_wake"),
        external,
        snap.self_wakes_remote,
    ));
}

const fn family(
    name: &'static str,
    kind: FamilyKind,
    labels: &'static [&'static str],
    help: &'static str,
    doc: &'static str,
    read: Read,
) -> Family {
    Family {
        name,
        kind,
        unit: Unit::Count,
        labels,
        help,
        doc,
        poll_timing: false,
        steal_matrix: false,
        text_only: false,
        read,
    }
}

const fn counter(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    doc: &'static str,
    read: Read,
) -> Family {
    family(name, FamilyKind::Counter, labels, help, doc, read)
}

const fn gauge(
    name: &'static str,
    labels: &'static [&'static str],
    help: &'static str,
    doc: &'static str,
    read: Read,
) -> Family {
    family(name, FamilyKind::Gauge, labels, help, doc, read)
}

/// A per-worker integer family.
const fn per_worker(
    name: &'static str,
    help: &'static str,
    doc: &'static str,
    read: fn(&WorkerSnapshot) -> Option<Value>,
) -> Family {
    counter(name, &["worker"], help, doc, Read::Worker(read))
}

const fn matrix(family: Family) -> Family {
    Family {
        steal_matrix: true,
        ..family
    }
}

const fn timed(family: Family) -> Family {
    Family {
        poll_timing: true,
        ..family
    }
}

/// A family of seconds that only the text writer writes.
const fn text_seconds(family: Family) -> Family {
    Family {
        unit: Unit::Seconds,
        text_only: true,
        poll_timing: true,
        ..family
    }
}

fn int(value: u64) -> Option<Value> {
    Some(Value::Int(value))
}

fn timing_int(w: &WorkerSnapshot, field: fn(&PollTimeSnapshot) -> u64) -> Option<Value> {
    w.poll_time.as_ref().map(|timing| Value::Int(field(timing)))
}

/// `tokio_pulse_poll_samples_total{location}`: watchdog samples of a worker
/// polling a task, by the task's spawn site.
pub const POLL_SAMPLES: &str = "tokio_pulse_poll_samples_total";

/// The `location` label of a spawn site, `file:line:col` (or `unknown`),
/// formatted and leaked once per site and process: label values are
/// `&'static str`, and a program has a fixed set of spawn sites.
fn location_label(location: Option<&'static std::panic::Location<'static>>) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, PoisonError};
    type Labels = HashMap<&'static std::panic::Location<'static>, &'static str>;
    static LABELS: OnceLock<Mutex<Labels>> = OnceLock::new();
    let Some(location) = location else {
        return "unknown";
    };
    let mut labels = LABELS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    labels.entry(location).or_insert_with(|| {
        let label = format!(
            "{}:{}:{}",
            location.file(),
            location.line(),
            location.column()
        );
        Box::leak(label.into_boxed_str())
    })
}

/// The top spawn sites by name, then `other`; only for runtimes whose
/// watchdog has sampled (which needs poll timing).
fn poll_samples(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    if snap.sampled.samples == 0 {
        return;
    }
    let table = &snap.sampled.spawn_sites;
    let sample = |location: &'static str, value: u64| Sample {
        kind: Some(("location", location)),
        worker: None,
        victim: None,
        value: Value::Int(value),
    };
    for site in table.sites.iter().filter(|site| site.top) {
        emit(sample(location_label(site.location), site.exported));
    }
    emit(sample("other", table.other));
}

/// `tokio_pulse_queue_oldest_seconds{queue,worker}`: the age of the oldest
/// task waiting in the inject queue or a worker's local queue (gauge).
pub const QUEUE_OLDEST_SECONDS: &str = "tokio_pulse_queue_oldest_seconds";

/// The inject queue's age (`worker="external"`, so that every series of
/// the family has the same labels), then each readable local queue's.
fn queue_oldest(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    let sampled = &snap.sampled;
    let sample = |queue: &'static str, worker: Worker, age: std::time::Duration| Sample {
        kind: Some(("queue", queue)),
        worker: Some(worker),
        victim: None,
        value: Value::Float(age.as_secs_f64()),
    };
    if let Some(age) = sampled.inject_oldest {
        emit(sample("inject", Worker::External, age));
    }
    for (index, age) in sampled.local_oldest.iter().enumerate() {
        if let Some(age) = *age {
            emit(sample("local", Worker::Index(index), age));
        }
    }
}

/// `tokio_pulse_pressure_seconds_total{kind}`: time tasks waited (`some`),
/// and waited with every worker busy polling (`full`).
pub const PRESSURE_SECONDS: &str = "tokio_pulse_pressure_seconds_total";

/// `some`, then `full`; only for runtimes whose watchdog has sampled.
fn pressure(snap: &RuntimeSnapshot, emit: &mut dyn FnMut(Sample)) {
    let sampled = &snap.sampled;
    if sampled.samples == 0 {
        return;
    }
    for (kind, time) in [
        ("some", sampled.pressure_some),
        ("full", sampled.pressure_full),
    ] {
        emit(Sample {
            kind: Some(("kind", kind)),
            worker: None,
            victim: None,
            value: Value::Float(time.as_secs_f64()),
        });
    }
}
