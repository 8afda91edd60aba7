//! A stall in a real application is reported with a stack that names the
//! blocking function: the `prometheus_server` example (axum on the fork),
//! its watchdog turned on only by `TOKIO_PULSE_STALL`, as a user would, and
//! one request to its `/block/{ms}` route, which blocks its worker.

mod common;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{example_binary, get, Guard};

#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
#[test]
fn a_blocking_handler_is_named_by_the_stall_report() {
    let mut child = Command::new(example_binary("prometheus_server"))
        .args(["--duration", "0", "--workers", "2"])
        .env("TOKIO_PULSE_STALL", "20ms")
        .env_remove("TOKIO_PULSE_STACKS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start prometheus_server");
    let stdout = child.stdout.take().unwrap();
    let stderr = child.stderr.take().unwrap();
    let _guard = Guard {
        name: "prometheus_server".into(),
        child,
        terminate: false,
    };
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("service: http://") {
                let addr = rest.split('/').next().unwrap_or_default().to_owned();
                let _ = addr_tx.send(addr);
            }
        }
    });
    let (stall_tx, stall_rx) = mpsc::channel();
    std::thread::spawn(move || {
        // One event spans several lines: keep each from its first line.
        let mut event = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("e2e: {line}");
            if line.contains(" WARN ") && !event.is_empty() {
                let _ = stall_tx.send(std::mem::take(&mut event));
            }
            if line.contains("tokio_pulse::stall") || !event.is_empty() {
                event.push_str(&line);
                event.push('\n');
            }
        }
        if !event.is_empty() {
            let _ = stall_tx.send(event);
        }
    });
    let addr: SocketAddr = addr_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the service's address")
        .parse()
        .expect("a socket address");

    let (status, body) = get(addr, "/block/400").expect("GET /block/400");
    assert_eq!((status, body.as_str()), (200, "unblocked\n"));

    let event = stall_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("a stall event on stderr");
    assert!(event.contains("ended=false"), "{event}");
    assert!(
        event.contains("top_frame=\"prometheus_server::blocking_handler at "),
        "the stack does not name the blocking handler:\n{event}"
    );
    assert!(event.contains("prometheus_server.rs:"), "{event}");
    assert!(event.contains("syscall=\"clock_nanosleep\""), "{event}");
}
