//! A small blocking HTTP/1.1 GET of `/pulse.json`, over a plain
//! `TcpStream` with a deadline: all `top` needs, without an async runtime.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use crate::model::Document;

/// The default target: the exporter's default bind.
pub const DEFAULT_URL: &str = "http://127.0.0.1:9464";

/// The largest answer read.
const MAX_BODY: usize = 64 * 1024 * 1024;

/// Where to read a document from: `http://host:port[/path]`.
///
/// # Examples
///
/// ```
/// use tokio_pulse_top::fetch::Target;
///
/// let t = Target::parse("http://127.0.0.1:9464").unwrap();
/// assert_eq!(t.path(), "/pulse.json");
/// assert_eq!(Target::parse("localhost:9000/metrics").unwrap().path(), "/pulse.json");
/// assert!(Target::parse("https://x:1").unwrap_err().contains("https://x:1"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    url: String,
    host: String,
    port: u16,
    path: String,
}

impl Target {
    /// Parses `url`: `http://host[:port][/path]` or `host:port[/path]`. The
    /// port defaults to 9464; a path of `/`, `/metrics` or none reads
    /// `/pulse.json`.
    ///
    /// # Errors
    ///
    /// A message naming the URL and what is wrong with it.
    ///
    /// # Examples
    ///
    /// See [`Target`].
    pub fn parse(url: &str) -> Result<Target, String> {
        let bad = |why: &str| format!("cannot read {url:?}: {why}");
        let rest = match url.split_once("://") {
            Some(("http", rest)) => rest,
            Some((scheme, _)) => {
                return Err(bad(&format!("only http:// is supported, not {scheme}://")))
            }
            None => url,
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, ""),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                let port = port.parse::<u16>().map_err(|_| {
                    bad(&format!(
                        "the port {port:?} is not a number from 0 to 65535"
                    ))
                })?;
                (host, port)
            }
            _ => (authority, 9464),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let path = match path {
            "" | "/" | "/metrics" => "/pulse.json",
            other => other,
        };
        Ok(Target {
            url: url.to_string(),
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            path: path.to_string(),
        })
    }

    /// The URL as given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path requested.
    pub fn path(&self) -> &str {
        &self.path
    }

    fn addr(&self) -> Result<SocketAddr, String> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|err| format!("{}: {err}", self.url))?
            .next()
            .ok_or_else(|| format!("{}: resolves to no address", self.url))
    }

    /// GETs the document, within `timeout` in all.
    ///
    /// # Errors
    ///
    /// A message naming the URL: cannot connect, timed out, not `200`, or
    /// not a document.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// // Nothing listens on port 1.
    /// let t = tokio_pulse_top::fetch::Target::parse("http://127.0.0.1:1").unwrap();
    /// assert!(t.get(Duration::from_millis(500)).unwrap_err().contains("127.0.0.1:1"));
    /// ```
    pub fn get(&self, timeout: Duration) -> Result<Document, String> {
        let text = self.get_text(timeout)?;
        Document::parse(&text).map_err(|err| format!("{}: {err}", self.url))
    }

    fn get_text(&self, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        let fail = |err: &dyn std::fmt::Display| format!("{}: {err}", self.url);
        let addr = self.addr()?;
        let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(|e| fail(&e))?;
        stream
            .set_write_timeout(Some(timeout))
            .map_err(|e| fail(&e))?;
        let host = if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        };
        write!(
            stream,
            "GET {} HTTP/1.1\r\nHost: {host}\r\nAccept: application/json\r\nConnection: close\r\n\r\n",
            self.path
        )
        .map_err(|e| fail(&e))?;
        let mut response = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(fail(&format!("no whole answer within {timeout:?}")));
            }
            stream.set_read_timeout(Some(left)).map_err(|e| fail(&e))?;
            match stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => response.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::Interrupted => {}
                Err(err) => return Err(fail(&err)),
            }
            if response.len() > MAX_BODY {
                return Err(fail(&format!("answer larger than {MAX_BODY} bytes")));
            }
        }
        let text = String::from_utf8(response).map_err(|_| fail(&"answer is not UTF-8"))?;
        let (head, body) = text
            .split_once("\r\n\r\n")
            .ok_or_else(|| fail(&"not an HTTP answer"))?;
        let status = head.lines().next().unwrap_or_default();
        if status.split_whitespace().nth(1) != Some("200") {
            return Err(fail(&format!(
                "answered {status:?} (is this a Tokio-Pulse exporter with /pulse.json?)"
            )));
        }
        Ok(body.to_string())
    }
}
