//! The status socket: a Unix stream socket speaking line-delimited JSON.
//!
//! Requests, one JSON object per line:
//! `{"request":"status"}`, `{"request":"metrics"}`,
//! `{"request":"priority","priority":150}`, `{"request":"move","to":"node-b"}`
//! (`to` optional).
//! Replies, one per request: `{"ok":true,"status":{...}}`,
//! `{"ok":true,"metrics":"..."}`, `{"ok":true,"priority":150,"previous":100}`,
//! or `{"ok":false,"error":"..."}`.
//!
//! The socket protects the daemon from its clients: a request longer than
//! [`MAX_REQUEST`] bytes or not valid JSON gets an error reply (an overlong
//! one also closes the connection), at most [`MAX_CLIENTS`] connections are
//! served at once (others are closed at once), an idle connection is closed
//! after [`IDLE_TIMEOUT`], and a client that does not read its reply is
//! dropped after [`WRITE_TIMEOUT`]. The election loop is reached only
//! through a bounded channel with a timeout, so no client can block it.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::status::Status;

/// Longest request line accepted, in bytes.
pub const MAX_REQUEST: usize = 4096;
/// Most connections served at once.
pub const MAX_CLIENTS: usize = 16;
/// An idle connection is closed after this long.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A reply not taken by the client within this long closes the connection.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest wait for the election loop's answer.
pub const LOOP_TIMEOUT: Duration = Duration::from_secs(2);

/// A request as the socket carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "lowercase", deny_unknown_fields)]
pub enum Request {
    /// The status document.
    Status,
    /// The Prometheus text.
    Metrics,
    /// Change this node's priority.
    Priority {
        /// The new priority, 1 to 255.
        priority: u8,
    },
    /// Move the VIP to a member (or the best other one) and wait until it holds.
    Move {
        /// The target member's name.
        #[serde(default)]
        to: Option<String>,
    },
}

/// What the server asks of the election loop; the loop answers on the oneshot.
#[derive(Debug)]
pub enum LoopRequest {
    /// Build the status document.
    Status(oneshot::Sender<Status>),
    /// Render the metrics.
    Metrics(oneshot::Sender<String>),
    /// Set the priority; answer (new, previous) or why not.
    SetPriority(u8, oneshot::Sender<Result<(u8, u8), String>>),
    /// Move the VIP; answer once the target holds, or why not.
    Move(Option<String>, oneshot::Sender<Result<String, String>>),
}

/// The longest a move may wait for its target, and so the socket's answer.
pub const MOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Asks the loop one thing, bounded by [`LOOP_TIMEOUT`].
pub async fn ask<T>(
    to_loop: &mpsc::Sender<LoopRequest>,
    make: impl FnOnce(oneshot::Sender<T>) -> LoopRequest,
) -> Result<T, String> {
    ask_within(to_loop, LOOP_TIMEOUT, make).await
}

/// Asks the loop one thing, bounded by `timeout`.
pub async fn ask_within<T>(
    to_loop: &mpsc::Sender<LoopRequest>,
    timeout: Duration,
    make: impl FnOnce(oneshot::Sender<T>) -> LoopRequest,
) -> Result<T, String> {
    let (tx, rx) = oneshot::channel();
    let exchange = async {
        to_loop
            .send(make(tx))
            .await
            .map_err(|_| "the daemon is shutting down".to_owned())?;
        rx.await
            .map_err(|_| "the daemon is shutting down".to_owned())
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| "the daemon did not answer in time".to_owned())?
}

/// Binds the socket at `path`: creates its directory, replaces a stale
/// socket file, refuses if another daemon answers there; mode 0660.
pub fn bind(path: &Path) -> std::io::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AddrInUse,
                format!("another vipd is serving {}", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))?;
    Ok(listener)
}

/// Serves connections on `listener` until the task is dropped.
pub async fn serve(listener: UnixListener, to_loop: mpsc::Sender<LoopRequest>) {
    let slots = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "status socket: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            // Too many clients: a best-effort reply, never a wait.
            let _ = stream.try_write(&reply_error("too many clients"));
            continue;
        };
        let to_loop = to_loop.clone();
        tokio::spawn(async move {
            connection(stream, to_loop).await;
            drop(permit);
        });
    }
}

fn reply_error(message: &str) -> Vec<u8> {
    let mut line = serde_json::json!({"ok": false, "error": message}).to_string();
    line.push('\n');
    line.into_bytes()
}

async fn connection(mut stream: UnixStream, to_loop: mpsc::Sender<LoopRequest>) {
    let mut pending: Vec<u8> = Vec::with_capacity(256);
    let mut chunk = [0u8; 1024];
    // A request line must be complete within IDLE_TIMEOUT of connecting or
    // of the last reply: a client trickling bytes cannot hold a slot.
    let mut deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
    loop {
        // Answer every complete line already received.
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let reply = answer(&line[..end], &to_loop).await;
            let write = tokio::time::timeout(WRITE_TIMEOUT, stream.write_all(&reply)).await;
            if !matches!(write, Ok(Ok(()))) {
                return;
            }
            deadline = tokio::time::Instant::now() + IDLE_TIMEOUT;
        }
        if pending.len() > MAX_REQUEST {
            let _ = tokio::time::timeout(
                WRITE_TIMEOUT,
                stream.write_all(&reply_error(&format!(
                    "request longer than {MAX_REQUEST} bytes"
                ))),
            )
            .await;
            return;
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return,
            Ok(Ok(n)) => pending.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The reply line to one request line.
async fn answer(line: &[u8], to_loop: &mpsc::Sender<LoopRequest>) -> Vec<u8> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let request: Request = match serde_json::from_slice(line) {
        Ok(r) => r,
        Err(e) => return reply_error(&format!("bad request: {e}")),
    };
    let reply = match request {
        Request::Status => ask(to_loop, LoopRequest::Status)
            .await
            .map(|s| serde_json::json!({"ok": true, "status": s})),
        Request::Metrics => ask(to_loop, LoopRequest::Metrics)
            .await
            .map(|m| serde_json::json!({"ok": true, "metrics": m})),
        Request::Priority { priority: 0 } => Err("priority must be from 1 to 255".to_owned()),
        Request::Priority { priority } => {
            match ask(to_loop, |tx| LoopRequest::SetPriority(priority, tx)).await {
                Ok(Ok((now, previous))) => {
                    Ok(serde_json::json!({"ok": true, "priority": now, "previous": previous}))
                }
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
        Request::Move { to } => {
            let wait = MOVE_TIMEOUT + LOOP_TIMEOUT;
            match ask_within(to_loop, wait, |tx| LoopRequest::Move(to, tx)).await {
                Ok(Ok(message)) => Ok(serde_json::json!({"ok": true, "moved": message})),
                Ok(Err(e)) | Err(e) => Err(e),
            }
        }
    };
    match reply {
        Ok(v) => {
            let mut line = v.to_string();
            line.push('\n');
            line.into_bytes()
        }
        Err(e) => reply_error(&e),
    }
}

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The socket could not be reached or the exchange broke.
    Io(PathBuf, std::io::Error),
    /// The daemon answered `ok: false`.
    Refused(String),
    /// The daemon's answer is not what this client understands.
    BadReply(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Io(p, e) => write!(f, "{}: {e} (is vipd running?)", p.display()),
            ClientError::Refused(e) => write!(f, "vipd refused: {e}"),
            ClientError::BadReply(e) => write!(f, "unexpected reply from vipd: {e}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Sends one request over the socket at `path` (blocking, 5 s timeouts);
/// returns the reply object of an `ok: true` answer.
pub fn call(path: &Path, request: &Request) -> Result<serde_json::Value, ClientError> {
    let wait = match request {
        Request::Move { .. } => MOVE_TIMEOUT + LOOP_TIMEOUT * 2,
        _ => Duration::from_secs(5),
    };
    let io = |e| ClientError::Io(path.to_path_buf(), e);
    let mut stream = std::os::unix::net::UnixStream::connect(path).map_err(io)?;
    stream.set_read_timeout(Some(wait)).map_err(io)?;
    stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .map_err(io)?;
    let mut line =
        serde_json::to_string(request).map_err(|e| ClientError::BadReply(e.to_string()))?;
    line.push('\n');
    stream.write_all(line.as_bytes()).map_err(io)?;
    let mut reply = String::new();
    // A status document is small; a runaway peer cannot make the CLI read forever.
    BufReader::new(std::io::Read::take(stream, 16 << 20))
        .read_line(&mut reply)
        .map_err(io)?;
    let value: serde_json::Value =
        serde_json::from_str(&reply).map_err(|e| ClientError::BadReply(e.to_string()))?;
    if value["ok"] == serde_json::Value::Bool(true) {
        Ok(value)
    } else {
        Err(ClientError::Refused(
            value["error"]
                .as_str()
                .unwrap_or("no reason given")
                .to_owned(),
        ))
    }
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
