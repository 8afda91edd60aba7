//! A task spawned with a name is named in its slow-poll and stall events,
//! and its name is dropped when it completes. Tokio names tasks only under
//! `--cfg tokio_unstable` with its `tracing` feature, so this runs only
//! there (`cargo xtask test` runs it so). Its own binary, and one test:
//! the listener, the subscriber and the name table are process-wide.
#![cfg(tokio_unstable)]

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Builder;
use tokio::task::Builder as TaskBuilder;
use tokio_pulse_rt::{task_names, PulseConfig};

mod common;

use common::Buffer;

/// Task `id`'s name as a thread that completed no task sees it: only a live
/// named task has one there.
fn name_seen_elsewhere(id: tokio::task::Id) -> Option<Arc<str>> {
    let id = id.to_string().parse::<u64>().unwrap();
    std::thread::spawn(move || task_names::name_of(id))
        .join()
        .unwrap()
}

#[test]
fn named_tasks_are_named_in_their_events_until_they_complete() {
    let buffer = Buffer::install_subscriber();
    assert!(tokio_pulse_rt::events::install());
    let live_before = task_names::live();

    let rt = Builder::new_multi_thread()
        .worker_threads(2)
        .name("named")
        .enable_time()
        // No stacks: the first stack a test build symbolizes can take
        // longer than the block (tests/stall_stacks.rs covers stacks).
        .pulse(
            PulseConfig::new()
                .stall_watchdog(Duration::from_millis(10))
                .stack_capture(false),
        )
        .build()
        .unwrap();
    let ids = rt.block_on(async {
        // Slow in its last poll: the name is forgotten before the poll's
        // end is timed, on the same thread.
        let blocker = TaskBuilder::new()
            .name("blocker")
            .spawn(async { std::thread::sleep(Duration::from_millis(40)) })
            .unwrap();
        let blocker_id = blocker.id();
        // Alive while the watchdog looks, and again once it has ended.
        let blocker_is_live = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(15)).await;
            name_seen_elsewhere(blocker_id)
        });
        blocker.await.unwrap();
        // Slow in a poll that is not its last.
        let yielder = TaskBuilder::new()
            .name("yielder")
            .spawn(async {
                std::thread::sleep(Duration::from_millis(3));
                tokio::task::yield_now().await;
            })
            .unwrap();
        let yielder_id = yielder.id();
        yielder.await.unwrap();
        // Unnamed.
        let unnamed = tokio::spawn(async { std::thread::sleep(Duration::from_millis(3)) });
        let unnamed_id = unnamed.id();
        unnamed.await.unwrap();
        let blocker_name_while_alive = blocker_is_live.await.unwrap();
        (blocker_id, yielder_id, unnamed_id, blocker_name_while_alive)
    });
    let (blocker_id, yielder_id, unnamed_id, blocker_name_while_alive) = ids;
    // Let the watchdog see the stall end.
    std::thread::sleep(Duration::from_millis(30));
    drop(rt);

    assert_eq!(blocker_name_while_alive.as_deref(), Some("blocker"));
    assert_eq!(
        name_seen_elsewhere(blocker_id),
        None,
        "kept after completion"
    );
    assert_eq!(
        name_seen_elsewhere(yielder_id),
        None,
        "kept after completion"
    );
    assert_eq!(task_names::live(), live_before, "a name leaked");

    let text = buffer.text();
    // Fields are separated by spaces, so "task.id=5 " is not task 50.
    let lines = |target: &str, id: tokio::task::Id| -> Vec<String> {
        let needle = format!("task.id={id} ");
        text.lines()
            .filter(|l| l.contains(target) && l.contains(&needle))
            .map(str::to_owned)
            .collect()
    };
    let slow_blocker = lines("tokio_pulse::slow_poll", blocker_id);
    assert_eq!(slow_blocker.len(), 1, "{text}");
    assert!(
        slow_blocker[0].contains("task.name=\"blocker\"")
            && slow_blocker[0].contains("named \"blocker\""),
        "{}",
        slow_blocker[0]
    );
    let slow_yielder = lines("tokio_pulse::slow_poll", yielder_id);
    assert_eq!(slow_yielder.len(), 1, "{text}");
    assert!(
        slow_yielder[0].contains("task.name=\"yielder\""),
        "{}",
        slow_yielder[0]
    );
    let unnamed = lines("tokio_pulse::slow_poll", unnamed_id);
    assert_eq!(unnamed.len(), 1, "{text}");
    assert!(!unnamed[0].contains("task.name"), "{}", unnamed[0]);
    let stalls = lines("tokio_pulse::stall", blocker_id);
    assert_eq!(stalls.len(), 2, "one while stuck, one at the end:\n{text}");
    assert!(
        stalls.iter().all(|l| l.contains("task.name=\"blocker\"")),
        "{text}"
    );

    // A named spawn outside any runtime panics before the task exists; its
    // name does not stay behind.
    let orphan =
        std::panic::catch_unwind(|| TaskBuilder::new().name("orphan").spawn(async {}).map(drop));
    assert!(orphan.is_err(), "spawning outside a runtime did not panic");
    assert_eq!(task_names::live(), live_before, "the orphan's name leaked");
}
