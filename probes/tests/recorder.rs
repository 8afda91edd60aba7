//! The recorder's writers, each driven through the hidden `fork` API and read
//! back through the public readers (formerly the writers' doctests).

#[test]
fn recorder() {
    use tokio_pulse_probes::{RuntimeProbes, ScheduleKind, YieldReason};

    let (rt, mut recorders) = RuntimeProbes::new(Some("example"), 2);
    let worker0 = &mut recorders[0];
    worker0.scheduled_local(ScheduleKind::Wake, false);
    worker0.poll_started(|| tokio_pulse_probes::TaskInfo {
        id: 1,
        spawned_at: None,
    });
    worker0.yielded(YieldReason::YieldNow);
    worker0.steal_attempt(1);
    worker0.stole(4);

    let snap = rt.snapshot();
    assert_eq!(snap.workers[0].wakes_local_queue, 1);
    assert_eq!(snap.workers[0].stolen_tasks, 4);
    assert_eq!(snap.workers[0].steals_from[1].tasks, 4);
}

#[test]
fn times_polls() {
    let (_rt, recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    assert!(!recorders[0].times_polls());
}

#[test]
fn detached() {
    let mut scratch = tokio_pulse_probes::fork::WorkerRecorder::detached();
    scratch.poll_started(|| tokio_pulse_probes::TaskInfo {
        id: 1,
        spawned_at: None,
    });
    assert_eq!(scratch.probes().polls(), 1);
}

#[test]
fn probes() {
    let (_rt, recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    assert_eq!(recorders[0].probes().index(), 0);
}

#[test]
fn poll_started_counts_a_poll() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].poll_started(|| tokio_pulse_probes::TaskInfo {
        id: 1,
        spawned_at: None,
    });
    assert_eq!(rt.worker(0).unwrap().polls(), 1);
}

#[test]
fn poll_started() {
    use tokio_pulse_probes::TaskInfo;

    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].poll_started(|| TaskInfo {
        id: 1,
        spawned_at: None,
    });
    recorders[0].poll_ended();
    assert_eq!(rt.worker(0).unwrap().polls(), 1);
}

#[test]
fn lifo_poll_started() {
    use tokio_pulse_probes::TaskInfo;

    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].lifo_poll_started(|| TaskInfo {
        id: 1,
        spawned_at: None,
    });
    assert_eq!(rt.worker(0).unwrap().lifo_polls(), 1);
}

#[test]
fn poll_ended_at() {
    use tokio_pulse_probes::{PulseConfig, RuntimeProbes, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    let clock = rt.clock();
    recorders[0].busy_started_at(0);
    recorders[0].poll_started(|| TaskInfo {
        id: 1,
        spawned_at: None,
    });
    recorders[0].poll_ended_at(clock.ns_to_ticks(3_000)); // 3 µs
                                                          // The tier is counted when the next poll or the batch ends.
    recorders[0].busy_ended();
    let timing = rt.snapshot().workers[0].poll_time.clone().unwrap();
    assert_eq!(timing.tiers[2], 1); // [2, 4) µs
}

#[test]
fn block_on_poll_started() {
    use std::panic::Location;
    use tokio_pulse_probes::{PulseConfig, RuntimeProbes, BLOCK_ON_TASK_ID};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    recorders[0].busy_started_at(100);
    recorders[0].block_on_poll_started(Location::caller());
    let poll = rt.worker(0).unwrap().current_poll().unwrap();
    assert_eq!((poll.started, poll.task.id), (100, BLOCK_ON_TASK_ID));
    recorders[0].block_on_poll_ended_at(200);
    assert_eq!(rt.worker(0).unwrap().current_poll(), None);
    assert_eq!(rt.snapshot().workers[0].polls, 0);
}

#[test]
fn block_on_exited() {
    use tokio_pulse_probes::{PulseConfig, RuntimeProbes, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    recorders[0].busy_started();
    recorders[0].poll_started(|| TaskInfo {
        id: 1,
        spawned_at: None,
    });
    recorders[0].poll_ended();
    recorders[0].block_on_exited();
    let snap = rt.snapshot();
    assert_eq!(snap.workers[0].poll_time.as_ref().unwrap().polls(), 1);
}

#[test]
fn busy_started() {
    let (_rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].busy_started();
    recorders[0].busy_ended();
}

#[test]
fn scheduler_work_done() {
    use tokio_pulse_probes::{PulseConfig, RuntimeProbes, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    recorders[0].busy_started_at(0);
    // ... a wait for the other workers, at clock readings after 0 ...
    recorders[0].scheduler_work_done();
    recorders[0].poll_started(|| TaskInfo {
        id: 1,
        spawned_at: None,
    });
    // The poll starts at the clock reading taken after the wait.
    let started = rt.worker(0).unwrap().current_poll().unwrap().started;
    assert!(started > 0);
}

#[test]
fn lifo_poll_started_counts_a_lifo_poll() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].lifo_poll_started(|| tokio_pulse_probes::TaskInfo {
        id: 1,
        spawned_at: None,
    });
    assert_eq!(rt.worker(0).unwrap().lifo_polls(), 1);
}

#[test]
fn scheduled_local() {
    use tokio_pulse_probes::ScheduleKind;

    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].scheduled_local(ScheduleKind::SelfWake, false);
    assert_eq!(rt.snapshot().workers[0].self_wakes_local, 1);
}

#[test]
fn yielded() {
    use tokio_pulse_probes::{TaskInfo, YieldReason};

    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    let task = || TaskInfo {
        id: 1,
        spawned_at: None,
    };
    recorders[0].poll_started(task);
    recorders[0].yielded(YieldReason::Budget);
    recorders[0].yielded(YieldReason::Budget); // the same poll
    recorders[0].poll_ended();
    recorders[0].poll_started(task);
    recorders[0].yielded(YieldReason::Budget);
    recorders[0].poll_ended();
    assert_eq!(rt.worker(0).unwrap().yields(YieldReason::Budget), 2);
}

#[test]
fn lifo_capped() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].lifo_capped();
    assert_eq!(rt.worker(0).unwrap().lifo_capped(), 1);
}

#[test]
fn overflowed() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].overflowed();
    assert_eq!(rt.worker(0).unwrap().overflows(), 1);
}

#[test]
fn steal_attempt() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    recorders[1].steal_attempt(0);
    assert_eq!(rt.worker(1).unwrap().steal_attempts(), 1);
}

#[test]
fn stole() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 2);
    recorders[1].steal_attempt(0);
    recorders[1].stole(3);
    assert_eq!(rt.worker(1).unwrap().steals_from()[0].tasks.get(), 3);
}

#[test]
fn parked() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].parked();
    assert_eq!(rt.worker(0).unwrap().parks(), 1);
}

#[test]
fn unparked() {
    let (rt, mut recorders) = tokio_pulse_probes::RuntimeProbes::new(None, 1);
    recorders[0].unparked();
    assert_eq!(rt.worker(0).unwrap().unparks(), 1);
}

/// `took` names the next poll's source only: a poll with no `took` before
/// it (Tokio names no source for its local run queue) counts as `Local`,
/// even right after a poll from another source.
#[test]
fn took_names_one_poll() {
    use tokio_pulse_probes::{PulseConfig, RuntimeProbes, ScheduleSource, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (rt, mut recorders) = RuntimeProbes::with_settings(None, 1, &settings);
    let worker = &mut recorders[0];
    let task = || TaskInfo {
        id: 1,
        spawned_at: None,
    };
    worker.busy_started_at(10);
    worker.took(ScheduleSource::Inject);
    worker.poll_started_stamped(task, || 4);
    worker.poll_ended_at(20);
    worker.poll_started_stamped(task, || 15);
    worker.poll_ended_at(30);
    worker.poll_started_stamped(task, || 25);
    worker.poll_ended_at(40);
    let latency = rt.snapshot().workers[0].schedule_latency.clone().unwrap();
    assert_eq!(latency.source(ScheduleSource::Inject).tasks(), 1);
    assert_eq!(latency.source(ScheduleSource::Local).tasks(), 2);
}

/// With poll timing on and schedule latency off, nothing stamps (the
/// recorder's and the runtime writer's stamps are `None`), a poll start
/// records no wait, and the snapshot has no histogram; poll timing is on.
#[test]
fn schedule_latency_off_stamps_nothing() {
    use tokio_pulse_probes::{fork, PulseConfig, TaskInfo};

    let on = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (writer, recorders) = fork::with_settings(None, 1, &on);
    assert!(writer.schedule_stamp().is_some());
    assert!(recorders[0].schedule_stamp().is_some());

    let off = PulseConfig::new()
        .poll_timing(true)
        .schedule_latency(false)
        .resolve()
        .unwrap();
    let (writer, mut recorders) = fork::with_settings(None, 1, &off);
    assert_eq!(writer.schedule_stamp(), None);
    let worker = &mut recorders[0];
    assert!(worker.times_polls());
    assert_eq!(worker.schedule_stamp(), None);
    worker.busy_started_at(10);
    let mut asked = false;
    worker.poll_started_stamped(
        || TaskInfo {
            id: 1,
            spawned_at: None,
        },
        || {
            asked = true;
            4
        },
    );
    worker.poll_ended_at(20);
    assert!(!asked, "the stamp is not read");
    let snap = writer.probes().snapshot();
    assert!(snap.workers[0].schedule_latency.is_none());
    assert!(snap.workers[0].poll_time.is_some());
}

/// A wait lands in its source's row only: its tier and its sum, with the
/// other sources' untouched (the rows share one array).
#[test]
fn waits_land_in_their_own_source_only() {
    use std::time::Duration;
    use tokio_pulse_probes::{fork, Clock, PulseConfig, ScheduleSource, TaskInfo};

    let settings = PulseConfig::new().poll_timing(true).resolve().unwrap();
    let (writer, mut recorders) = fork::with_clock(None, 1, &settings, Clock::instant());
    let worker = &mut recorders[0];
    let task = || TaskInfo {
        id: 1,
        spawned_at: None,
    };
    // Ticks are nanoseconds: waits of 3 µs (inject), 40 µs (stolen), 0 (lifo,
    // stamped after the start) and 1 ms (local).
    worker.busy_started_at(10_000);
    worker.took(ScheduleSource::Inject);
    worker.poll_started_stamped(task, || 7_000);
    worker.poll_ended_at(50_000);
    worker.took(ScheduleSource::Stolen);
    worker.poll_started_stamped(task, || 10_000);
    worker.poll_ended_at(60_000);
    worker.lifo_poll_started_stamped(task, || 60_001);
    worker.poll_ended_at(1_060_000);
    worker.poll_started_stamped(task, || 60_000);
    worker.poll_ended_at(1_070_000);
    let latency = writer.probes().snapshot().workers[0]
        .schedule_latency
        .clone()
        .unwrap();
    let one = |source: ScheduleSource, tier: usize, total_ns: u64| {
        let got = latency.source(source);
        let mut tiers = [0; tokio_pulse_probes::tier::TIERS];
        tiers[tier] = 1;
        assert_eq!(got.tiers, tiers, "{source:?}");
        assert_eq!(got.total, Duration::from_nanos(total_ns), "{source:?}");
    };
    one(
        ScheduleSource::Inject,
        tokio_pulse_probes::tier::of_us(3),
        3_000,
    );
    one(
        ScheduleSource::Stolen,
        tokio_pulse_probes::tier::of_us(40),
        40_000,
    );
    one(ScheduleSource::Lifo, 0, 0);
    one(
        ScheduleSource::Local,
        tokio_pulse_probes::tier::of_us(1_000),
        1_000_000,
    );
}
