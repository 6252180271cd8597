//! A small HTTP/1.1 responder for `GET /status` and `GET /metrics`.
//!
//! One request per connection (`Connection: close`), headers at most
//! [`MAX_HEADER`] bytes, read within [`READ_TIMEOUT`], at most
//! [`MAX_CONNECTIONS`] at once. Bodies of requests are not read.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};

use crate::control::{ask, LoopRequest};

/// Longest request head accepted.
pub const MAX_HEADER: usize = 8192;
/// Time allowed to send the request head.
pub const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Time allowed to take the response.
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections served at once.
pub const MAX_CONNECTIONS: usize = 32;

/// Binds the HTTP listener.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, to_loop: mpsc::Sender<LoopRequest>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "http: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            let _ = stream.try_write(&response(503, "text/plain", "too many connections\n"));
            continue;
        };
        let to_loop = to_loop.clone();
        tokio::spawn(async move {
            exchange(stream, &to_loop).await;
            drop(permit);
        });
    }
}

async fn exchange(mut stream: TcpStream, to_loop: &mpsc::Sender<LoopRequest>) {
    let head = match tokio::time::timeout(READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(status)) => {
            let _ = write(
                &mut stream,
                &response(status, "text/plain", "bad request\n"),
            )
            .await;
            return;
        }
        Err(_) => return,
    };
    let reply = route(&head, to_loop).await;
    let _ = write(&mut stream, &reply).await;
}

async fn write(stream: &mut TcpStream, bytes: &[u8]) -> std::io::Result<()> {
    tokio::time::timeout(WRITE_TIMEOUT, async {
        stream.write_all(bytes).await?;
        stream.shutdown().await
    })
    .await
    .unwrap_or(Ok(()))
}

/// Reads up to the blank line ending the head; an HTTP status on failure.
async fn read_head(stream: &mut TcpStream) -> Result<String, u16> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        if let Some(end) = find(&head, b"\r\n\r\n").or_else(|| find(&head, b"\n\n")) {
            head.truncate(end);
            return String::from_utf8(head).map_err(|_| 400);
        }
        if head.len() > MAX_HEADER {
            return Err(431);
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Err(400),
            Ok(n) => head.extend_from_slice(&chunk[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The response to a request head.
pub async fn route(head: &str, to_loop: &mpsc::Sender<LoopRequest>) -> Vec<u8> {
    let mut parts = head.lines().next().unwrap_or("").split_whitespace();
    let (method, target, version) = (parts.next(), parts.next(), parts.next());
    if !version.is_some_and(|v| v.starts_with("HTTP/1.")) {
        return response(400, "text/plain", "bad request\n");
    }
    let path = target.unwrap_or("").split('?').next().unwrap_or("");
    if method != Some("GET") && method != Some("HEAD") {
        return response(405, "text/plain", "only GET\n");
    }
    let reply = match path {
        "/status" => ask(to_loop, LoopRequest::Status).await.map(|s| {
            let mut body = serde_json::to_string_pretty(&s).unwrap_or_default();
            body.push('\n');
            ("application/json", body)
        }),
        "/metrics" => ask(to_loop, LoopRequest::Metrics)
            .await
            .map(|m| ("text/plain; version=0.0.4; charset=utf-8", m)),
        _ => return response(404, "text/plain", "not found: try /status or /metrics\n"),
    };
    match reply {
        Ok((kind, body)) if method == Some("HEAD") => {
            let mut r = response(200, kind, &body);
            let end = find(&r, b"\r\n\r\n").map_or(r.len(), |e| e + 4);
            r.truncate(end);
            r
        }
        Ok((kind, body)) => response(200, kind, &body),
        Err(e) => response(503, "text/plain", &format!("{e}\n")),
    }
}

/// A whole response with `Connection: close`.
pub fn response(status: u16, content_type: &str, body: &str) -> Vec<u8> {
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        431 => "Request Header Fields Too Large",
        _ => "Service Unavailable",
    };
    format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_loop() -> mpsc::Sender<LoopRequest> {
        let (tx, mut rx) = mpsc::channel::<LoopRequest>(4);
        tokio::spawn(async move {
            while let Some(req) = rx.recv().await {
                if let LoopRequest::Metrics(reply) = req {
                    let _ = reply.send("vipd_priority 100\n".into());
                }
            }
        });
        tx
    }

    async fn get(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn serves_metrics_and_refuses_the_rest() {
        let listener = bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(serve(listener, fake_loop()));
        let r = get(addr, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Length: 18\r\n"));
        assert!(r.ends_with("vipd_priority 100\n"));
        let r = get(addr, b"GET /nope HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = get(addr, b"POST /status HTTP/1.1\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        let r = get(addr, b"\x16\x03\x01 garbage\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 400"), "{r}");
        let mut big = b"GET /status HTTP/1.1\r\nX: ".to_vec();
        big.extend(std::iter::repeat_n(b'a', MAX_HEADER * 2));
        let r = get(addr, &big).await;
        assert!(r.starts_with("HTTP/1.1 431"), "{r}");
        // The status request goes unanswered by this fake loop: 503 after the timeout.
        let r = get(addr, b"GET /status HTTP/1.0\r\n\r\n").await;
        assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    }
}
