//! The `/metrics` server against slow and many clients, with real sockets
//! on 127.0.0.1: slow clients never hold up a scrape or `stop()`, each
//! connection has a total deadline, and the connection cap answers `503`
//! rather than queue.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_pulse_rt::ExportError;

/// A plain HTTP/1.1 GET that gives up after `patience`; returns the status
/// code and the body.
fn get(addr: SocketAddr, path: &str, patience: Duration) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect to the exporter");
    stream.set_read_timeout(Some(patience)).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|err| panic!("no answer within {patience:?}: {err}"));
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("a response head and body: {response:?}"));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status code");
    (status, body.to_string())
}

/// Clients that send a request head one byte at a time, every `pace`, and
/// never finish it (slowloris). Each counts the moment the server closes
/// its connection.
struct Slowloris {
    quit: Arc<AtomicBool>,
    closed: Arc<AtomicUsize>,
    threads: Vec<JoinHandle<Option<Duration>>>,
}

impl Slowloris {
    fn start(addr: SocketAddr, clients: usize, pace: Duration) -> Slowloris {
        let quit = Arc::new(AtomicBool::new(false));
        let closed = Arc::new(AtomicUsize::new(0));
        let (connected, all_connected) = mpsc::channel();
        let threads = (0..clients)
            .map(|_| {
                let quit = quit.clone();
                let closed = closed.clone();
                let connected = connected.clone();
                std::thread::spawn(move || {
                    let start = Instant::now();
                    let mut stream = TcpStream::connect(addr).expect("slowloris connects");
                    stream
                        .write_all(b"GET /metrics HTTP/1.1\r\nX-Slow: ")
                        .unwrap();
                    connected.send(()).unwrap();
                    stream.set_read_timeout(Some(pace)).unwrap();
                    let mut buf = [0u8; 256];
                    while !quit.load(SeqCst) {
                        // The server never answers an unfinished head: a
                        // read ends with a timeout, or with the server
                        // closing the connection.
                        match stream.read(&mut buf) {
                            Ok(0) => {
                                closed.fetch_add(1, SeqCst);
                                return Some(start.elapsed());
                            }
                            Ok(_) => {}
                            Err(err)
                                if matches!(
                                    err.kind(),
                                    ErrorKind::WouldBlock | ErrorKind::TimedOut
                                ) => {}
                            Err(_) => {
                                closed.fetch_add(1, SeqCst);
                                return Some(start.elapsed());
                            }
                        }
                        if stream.write_all(b"x").is_err() {
                            closed.fetch_add(1, SeqCst);
                            return Some(start.elapsed());
                        }
                    }
                    None
                })
            })
            .collect();
        for _ in 0..clients {
            all_connected
                .recv_timeout(Duration::from_secs(10))
                .expect("every slowloris client connects");
        }
        // Let the server accept them and start reading.
        std::thread::sleep(Duration::from_millis(200));
        Slowloris {
            quit,
            closed,
            threads,
        }
    }

    fn closed(&self) -> usize {
        self.closed.load(SeqCst)
    }

    /// Stops the clients; returns how long each lived before the server
    /// closed it, `None` for those it never closed.
    fn finish(self) -> Vec<Option<Duration>> {
        self.quit.store(true, SeqCst);
        self.threads
            .into_iter()
            .map(|t| t.join().expect("slowloris thread"))
            .collect()
    }
}

fn start_server() -> tokio_pulse_rt::prometheus::Server {
    tokio_pulse_rt::prometheus()
        .listen("127.0.0.1:0")
        .with_global_recorder(false)
        .install()
        .expect("install")
}

fn runtime(name: &str) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .name(name)
        .build()
        .expect("build runtime")
}

#[test]
fn a_scrape_answers_within_a_second_while_eight_slowloris_clients_are_open() {
    let rt = runtime("server-slowloris");
    let server = start_server();
    let slow = Slowloris::start(server.local_addr(), 8, Duration::from_millis(200));
    let start = Instant::now();
    let (status, body) = get(server.local_addr(), "/metrics", Duration::from_secs(5));
    let took = start.elapsed();
    assert_eq!(status, 200);
    assert!(body.contains("runtime=\"server-slowloris\""), "{body}");
    assert!(took < Duration::from_secs(1), "the scrape took {took:?}");
    assert_eq!(slow.closed(), 0, "the slow clients are still being served");
    eprintln!("scrape with 8 slowloris clients open: {took:?}");
    slow.finish();
    server.stop();
    drop(rt);
}

#[test]
fn stop_returns_at_once_while_slowloris_clients_are_open() {
    let server = start_server();
    let slow = Slowloris::start(server.local_addr(), 8, Duration::from_millis(200));
    let (done, stopped) = mpsc::channel();
    std::thread::spawn(move || {
        let start = Instant::now();
        server.stop();
        let _ = done.send(start.elapsed());
    });
    let took = stopped
        .recv_timeout(Duration::from_secs(10))
        .expect("stop() returns while slow clients are connected");
    eprintln!("stop() with 8 slowloris clients open: {took:?}");
    // The issue asks for 100 ms; 1 s leaves room for a loaded machine and
    // is still far below any client's deadline (5 s).
    assert!(took < Duration::from_secs(1), "stop() took {took:?}");
    // Every slow client was cut off by the stop, not by its deadline.
    let lived = slow.finish();
    assert!(
        lived
            .iter()
            .all(|l| l.is_some_and(|l| l < Duration::from_secs(3))),
        "{lived:?}"
    );
}

#[test]
fn a_slowloris_client_is_cut_off_at_the_request_deadline() {
    let server = start_server();
    // A byte every 500 ms: never idle long enough for a per-read timeout.
    let slow = Slowloris::start(server.local_addr(), 1, Duration::from_millis(500));
    let deadline = tokio_pulse_rt::prometheus::DEFAULT_REQUEST_TIMEOUT;
    let give_up = Instant::now() + deadline + Duration::from_secs(5);
    while slow.closed() == 0 && Instant::now() < give_up {
        std::thread::sleep(Duration::from_millis(50));
    }
    let lived = slow.finish();
    let lived = lived[0].expect("the server closes a client that never finishes its request");
    assert!(
        lived >= deadline - Duration::from_millis(500),
        "cut off after {lived:?}, before the {deadline:?} deadline"
    );
    assert!(lived < deadline + Duration::from_secs(5), "{lived:?}");
    server.stop();
}

#[test]
fn over_the_connection_cap_a_client_gets_503_at_once() {
    let server = tokio_pulse_rt::prometheus()
        .listen("127.0.0.1:0")
        .with_global_recorder(false)
        .max_connections(2)
        .install()
        .expect("install");
    let slow = Slowloris::start(server.local_addr(), 2, Duration::from_millis(200));
    let start = Instant::now();
    let (status, body) = get(server.local_addr(), "/metrics", Duration::from_secs(5));
    assert_eq!(status, 503, "{body}");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    slow.finish();
    // Once the slow clients are gone, a slot is free again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _) = get(server.local_addr(), "/metrics", Duration::from_secs(5));
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "no slot came free");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop();
}

#[test]
fn settings_that_cannot_work_are_errors_naming_the_value() {
    let cases = [
        (
            tokio_pulse_rt::prometheus().max_connections(0),
            "max_connections(0)",
        ),
        (
            tokio_pulse_rt::prometheus().request_timeout(Duration::ZERO),
            "request_timeout(0ns)",
        ),
        (
            tokio_pulse_rt::prometheus().max_runtimes(0),
            "max_runtimes(0)",
        ),
    ];
    for (builder, name) in cases {
        let err = builder
            .listen("127.0.0.1:0")
            .with_global_recorder(false)
            .install()
            .unwrap_err();
        assert!(matches!(err, ExportError::Setting { .. }), "{err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }
}

/// `build()` uses the settings a renderer has and refuses the server's
/// rather than ignore them.
#[test]
fn build_uses_its_settings() {
    let old = runtime("server-build-old");
    std::thread::sleep(Duration::from_millis(300));
    let young = runtime("server-build-young");
    // max_runtimes: the oldest runtime stays, the younger is counted.
    let capped = tokio_pulse_rt::prometheus()
        .with_global_recorder(false)
        .max_runtimes(1)
        .build()
        .expect("build");
    let text = capped.render();
    let live = tokio_pulse_rt::runtimes().len();
    assert_eq!(
        text.matches("# TYPE tokio_pulse_polls_total").count(),
        1,
        "{text}"
    );
    let exported: std::collections::HashSet<&str> = text
        .lines()
        .filter(|l| l.starts_with("tokio_pulse_workers{"))
        .collect();
    assert_eq!(exported.len(), 1, "{text}");
    assert!(
        text.contains(&format!("tokio_pulse_runtimes_omitted {}\n", live - 1)),
        "{text}"
    );
    // min_runtime_age: the young runtime is left out, the old one is in.
    let aged = tokio_pulse_rt::prometheus()
        .with_global_recorder(false)
        .min_runtime_age(Duration::from_millis(250))
        .build()
        .expect("build")
        .render();
    assert!(aged.contains("runtime=\"server-build-old\""), "{aged}");
    assert!(!aged.contains("runtime=\"server-build-young\""), "{aged}");
    // Server settings are refused, naming the setting.
    for (builder, name) in [
        (tokio_pulse_rt::prometheus().listen("127.0.0.1:0"), "listen"),
        (
            tokio_pulse_rt::prometheus().request_timeout(Duration::from_secs(1)),
            "request_timeout",
        ),
        (
            tokio_pulse_rt::prometheus().max_connections(4),
            "max_connections",
        ),
    ] {
        let err = builder.with_global_recorder(false).build().unwrap_err();
        assert!(matches!(err, ExportError::Setting { .. }), "{err:?}");
        assert!(err.to_string().contains(name), "{err}");
    }
    drop((old, young));
}

/// Dropping the `Server` detaches it: it keeps serving. `stop()` ends it
/// and frees the port.
#[test]
fn a_dropped_server_keeps_serving_and_a_stopped_one_frees_its_port() {
    let rt = runtime("server-detached");
    let server = start_server();
    let addr = server.local_addr();
    drop(server);
    let (status, body) = get(addr, "/metrics", Duration::from_secs(5));
    assert_eq!(status, 200);
    assert!(body.contains("runtime=\"server-detached\""));

    let server = start_server();
    let addr = server.local_addr();
    server.stop();
    let err = TcpStream::connect(addr).expect_err("nothing listens after stop()");
    assert_eq!(err.kind(), ErrorKind::ConnectionRefused, "{err}");
    drop(rt);
}

/// The one test in this binary that installs the global recorder:
/// `build()` honours `with_global_recorder` (default on), so the
/// application's metrics come out of the renderer, as they would out of
/// `install()`.
#[test]
fn build_installs_the_global_recorder_it_is_asked_for() {
    let renderer = tokio_pulse_rt::prometheus()
        .build()
        .expect("build with the global recorder");
    metrics::counter!("app_built_total").increment(2);
    let text = renderer.render();
    assert!(text.contains("app_built_total 2\n"), "{text}");
    let again = tokio_pulse_rt::prometheus().build().unwrap_err();
    assert!(matches!(again, ExportError::RecorderInstalled), "{again:?}");
}
