//! The `/metrics` (and `/pulse.json`, see [`crate::json`]) HTTP/1.1 server: one accept thread, one thread per
//! connection up to a cap, a total deadline per connection.
//!
//! A request is small and a scrape is cheap, so the server needs no async
//! runtime (and must not use one: its tasks would show up in the probes it
//! reports). What it must not do is let one client hold up another:
//!
//! - each connection runs on its own thread, so a slow client delays only
//!   itself;
//! - each connection has one deadline, [`Settings::timeout`] after accept,
//!   for reading the request and writing the answer together: a client
//!   that trickles a byte at a time (slowloris) is cut off when it runs
//!   out, however often it sends;
//! - at most [`Settings::max_connections`] are served at once; one more is
//!   answered `503` by the accept thread, which then waits at most
//!   [`REFUSE_LINGER`] for the client to close (so that closing does not
//!   reset the connection before the client has read the answer), so
//!   nothing queues;
//! - [`Server::stop`] shuts every open connection's socket down, which
//!   ends its thread's read or write at once, so stopping never waits for
//!   a client.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{Renderer, CONTENT_TYPE};
use crate::export::{ExportError, StopSignal};
use crate::json;

/// The largest request head the server reads.
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// How often the global recorder's histograms are drained when nobody
/// scrapes, so that they cannot grow without bound.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The answer is written in pieces of this size, with the deadline checked
/// before each.
const WRITE_CHUNK: usize = 16 * 1024;

/// How long [`Server::stop`] tries to connect to wake the accept thread.
const WAKE_TIMEOUT: Duration = Duration::from_millis(100);

/// The server's settings, checked by the builder.
#[derive(Clone, Copy, Debug)]
pub(super) struct Settings {
    /// The total time of one connection.
    pub(super) timeout: Duration,
    /// Connections served at once.
    pub(super) max_connections: usize,
}

/// A running `/metrics` server; see [`Builder::install`](super::Builder::install).
///
/// Dropping it detaches the server: it keeps serving for the life of the
/// process. [`stop`](Server::stop) shuts it down and frees the port.
///
/// # Examples
///
/// See [`prometheus()`](crate::prometheus()).
#[derive(Debug)]
pub struct Server {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    upkeep: Option<JoinHandle<()>>,
}

#[derive(Debug)]
struct Shared {
    renderer: Renderer,
    settings: Settings,
    stop: StopSignal,
    connections: Mutex<Connections>,
}

/// The connections being served.
#[derive(Debug, Default)]
struct Connections {
    next_id: u64,
    open: HashMap<u64, Open>,
}

#[derive(Debug)]
struct Open {
    /// A handle on the connection's socket, to shut it down on stop.
    socket: TcpStream,
    /// The connection's thread; `None` until the accept thread has it.
    thread: Option<JoinHandle<()>>,
}

impl Shared {
    fn connections(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl Server {
    pub(super) fn start(
        listener: TcpListener,
        addr: SocketAddr,
        renderer: Renderer,
        settings: Settings,
    ) -> Result<Server, ExportError> {
        let shared = Arc::new(Shared {
            renderer,
            settings,
            stop: StopSignal::default(),
            connections: Mutex::new(Connections::default()),
        });
        let upkeep = match shared.renderer.app().cloned() {
            Some(handle) => {
                let shared = shared.clone();
                Some(
                    std::thread::Builder::new()
                        .name("tokio-pulse-upkeep".into())
                        .spawn(move || {
                            while !shared.stop.wait(UPKEEP_INTERVAL) {
                                handle.run_upkeep();
                            }
                        })
                        .map_err(ExportError::Thread)?,
                )
            }
            None => None,
        };
        let accept = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("tokio-pulse-metrics".into())
                .spawn(move || accept_loop(&listener, &shared))
        };
        let accept = match accept {
            Ok(accept) => accept,
            Err(err) => {
                // Do not leave the upkeep thread behind.
                shared.stop.stop();
                if let Some(upkeep) = upkeep {
                    let _ = upkeep.join();
                }
                return Err(ExportError::Thread(err));
            }
        };
        Ok(Server {
            addr,
            shared,
            accept: Some(accept),
            upkeep,
        })
    }

    /// The address the server listens on, with the real port when port 0
    /// was asked for.
    ///
    /// # Examples
    ///
    /// See [`prometheus()`](crate::prometheus()).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// What the server answers `/metrics` with.
    ///
    /// # Examples
    ///
    /// ```
    /// let server = tokio_pulse_rt::prometheus()
    ///     .listen("127.0.0.1:0")
    ///     .with_global_recorder(false)
    ///     .install()
    ///     .unwrap();
    /// let _text = server.renderer().render();
    /// server.stop();
    /// ```
    pub fn renderer(&self) -> &Renderer {
        &self.shared.renderer
    }

    /// Stops serving: refuses new connections, cuts the open ones off
    /// (their clients see the connection close), waits for the server's
    /// threads, and frees the port. It does not wait for any client. A
    /// global recorder that the builder set stays installed (the `metrics`
    /// facade cannot uninstall one).
    ///
    /// # Examples
    ///
    /// See [`prometheus()`](crate::prometheus()).
    pub fn stop(mut self) {
        self.shared.stop.stop();
        // Wake the accept loop, which then sees the signal. Should the
        // connection fail, the thread is left to end at its next
        // connection rather than make `stop` wait.
        let mut wake = self.addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake {
                SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        let woke = TcpStream::connect_timeout(&wake, WAKE_TIMEOUT).is_ok();
        if let Some(accept) = self.accept.take() {
            if woke {
                let _ = accept.join();
            }
        }
        if let Some(upkeep) = self.upkeep.take() {
            let _ = upkeep.join();
        }
        // No connection is admitted any more: cut off the open ones, whose
        // threads then return from their read or write at once.
        let open: Vec<Open> = self
            .shared
            .connections()
            .open
            .drain()
            .map(|(_, open)| open)
            .collect();
        for connection in &open {
            let _ = connection.socket.shutdown(Shutdown::Both);
        }
        for connection in open {
            if let Some(thread) = connection.thread {
                let _ = thread.join();
            }
        }
    }
}

/// Accepts until stopped; hands each connection to a thread of its own, or
/// refuses it when [`Settings::max_connections`] are open.
fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.is_stopped() {
            return;
        }
        match conn {
            Ok(stream) => admit(stream, shared),
            // Out of file descriptors and the like: back off briefly
            // rather than spin.
            Err(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
}

fn admit(stream: TcpStream, shared: &Arc<Shared>) {
    let deadline = Instant::now() + shared.settings.timeout;
    let id = {
        let mut connections = shared.connections();
        if connections.open.len() >= shared.settings.max_connections {
            drop(connections);
            refuse(stream);
            return;
        }
        let Ok(socket) = stream.try_clone() else {
            return;
        };
        let id = connections.next_id;
        connections.next_id += 1;
        connections.open.insert(
            id,
            Open {
                socket,
                thread: None,
            },
        );
        id
    };
    let thread = {
        let shared = shared.clone();
        std::thread::Builder::new()
            .name("tokio-pulse-metrics-conn".into())
            .spawn(move || {
                let _ = answer(stream, &shared, deadline);
                shared.connections().open.remove(&id);
            })
    };
    let mut connections = shared.connections();
    match thread {
        // If the connection is already done, its entry is gone and the
        // handle is dropped: the thread is ending.
        Ok(thread) => {
            if let Some(open) = connections.open.get_mut(&id) {
                open.thread = Some(thread);
            }
        }
        Err(_) => {
            // The stream went with the closure: the client sees a close.
            connections.open.remove(&id);
        }
    }
}

/// How long the accept thread waits, after a `503`, for the refused client
/// to close: a close with the client's request still unread would reset
/// the connection, and a client that has not read the answer yet would
/// see the reset instead of the `503`.
const REFUSE_LINGER: Duration = Duration::from_millis(100);

/// Answers `503` and waits at most [`REFUSE_LINGER`] for the client to
/// close, reading and dropping what it sends.
fn refuse(mut stream: TcpStream) {
    let body = "too many open connections to /metrics; try again\n";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nRetry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    if stream.set_nonblocking(true).is_ok() {
        // Take what the client already sent, so that closing does not
        // reset the connection before it reads the answer.
        let mut sink = [0u8; 1024];
        let _ = stream.read(&mut sink);
        let _ = stream.write_all(response.as_bytes());
        let _ = stream.shutdown(Shutdown::Write);
        // Drain until the client closes, or the linger runs out.
        let end = Instant::now() + REFUSE_LINGER;
        if stream.set_nonblocking(false).is_ok() {
            while let Ok(wait) = left(end) {
                if stream.set_read_timeout(Some(wait)).is_err() {
                    break;
                }
                match stream.read(&mut sink) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    }
}

/// The time left until `deadline`, or a `TimedOut` error.
fn left(deadline: Instant) -> io::Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "request deadline passed",
        ))
    } else {
        Ok(left)
    }
}

/// Reads one request head and answers it, all before `deadline`; the
/// connection is closed after. A client that closes (or a server that
/// stops) before the head is complete gets no answer.
fn answer(mut stream: TcpStream, shared: &Shared, deadline: Instant) -> io::Result<()> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < MAX_REQUEST_HEAD {
        stream.set_read_timeout(Some(left(deadline)?))?;
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    if shared.stop.is_stopped() {
        return Ok(());
    }
    let request_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let request_line = String::from_utf8_lossy(request_line);
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, content_type, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => ("200 OK", CONTENT_TYPE, shared.renderer.render()),
        ("GET" | "HEAD", json::PATH) => (
            "200 OK",
            json::CONTENT_TYPE,
            json::render(shared.renderer.limits()),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found: the metrics are at /metrics, the JSON view at /pulse.json\n".to_string(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET and HEAD are served\n".to_string(),
        ),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    write_before(&mut stream, header.as_bytes(), deadline)?;
    if method != "HEAD" {
        write_before(&mut stream, body.as_bytes(), deadline)?;
    }
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

/// Writes all of `data` before `deadline`, however slowly the client reads.
fn write_before(stream: &mut TcpStream, data: &[u8], deadline: Instant) -> io::Result<()> {
    let mut written = 0;
    while written < data.len() {
        stream.set_write_timeout(Some(left(deadline)?))?;
        let end = data.len().min(written + WRITE_CHUNK);
        match stream.write(&data[written..end]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
            Err(err) => return Err(err),
        }
    }
    Ok(())
}
