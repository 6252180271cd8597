//! Status socket tests: junk never crashes or blocks the server.

use super::*;
use std::io::Read;
use std::net::Ipv4Addr;

use crate::status::Status;

fn status() -> Status {
    Status {
        cluster: "mgmt".into(),
        node: "node-a".into(),
        interface: "mgmt-br".into(),
        address: Ipv4Addr::new(192, 0, 2, 11),
        vip: Some(Ipv4Addr::new(192, 0, 2, 100)),
        vip_host: Some("node-b".into()),
        hwaddr: Some("02:00:00:00:00:0c".into()),
        requested_ip: None,
        lease: None,
        state: "backup".into(),
        state_since: "2025-01-01T00:00:00.000Z".into(),
        protocol: "vrrp".into(),
        priority: 100,
        since: Some("2025-01-01T00:00:00.000Z".into()),
        term: None,
        config_digest: None,
        members: vec![],
        etcd: None,
    }
}

/// A stand-in for the election loop: answers status and priority requests.
fn fake_loop() -> mpsc::Sender<LoopRequest> {
    let (tx, mut rx) = mpsc::channel::<LoopRequest>(8);
    tokio::spawn(async move {
        let mut priority = 100u8;
        while let Some(req) = rx.recv().await {
            match req {
                LoopRequest::Status(reply) => {
                    let _ = reply.send(status());
                }
                LoopRequest::Metrics(reply) => {
                    let _ = reply.send("vipd_priority 100\n".into());
                }
                LoopRequest::Move(_, reply) => {
                    let _ = reply.send(Err("not in this test".into()));
                }
                LoopRequest::SetPriority(p, reply) => {
                    let _ = reply.send(Ok((p, priority)));
                    priority = p;
                }
            }
        }
    });
    tx
}

async fn start() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("run/vipd.sock");
    let listener = bind(&path).unwrap();
    tokio::spawn(serve(listener, fake_loop()));
    (dir, path)
}

/// Blocking client round trip of raw bytes; returns the reply lines.
fn raw_exchange(path: &Path, bytes: &[u8], lines: usize) -> Vec<serde_json::Value> {
    let mut s = std::os::unix::net::UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    let mut reader = BufReader::new(s);
    (0..lines)
        .map(|_| {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line:?}: {e}"))
        })
        .collect()
}

fn in_blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<T> {
    tokio::task::spawn_blocking(f)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_error_replies_and_valid_requests_still_work() {
    let (_dir, path) = start().await;
    let p = path.clone();
    in_blocking(move || {
        let replies = raw_exchange(
            &p,
            b"hello\n\xff\xfe\x00\n{\"request\":\"reboot\"}\n{\"request\":\"priority\",\"priority\":0}\n\
              {\"request\":\"priority\",\"priority\":300}\n[]\n{\"request\":\"status\"}\n",
            7,
        );
        for r in &replies[..6] {
            assert_eq!(r["ok"], false, "{r}");
            assert!(r["error"].is_string());
        }
        assert_eq!(replies[3]["error"], "priority must be from 1 to 255");
        assert_eq!(replies[6]["ok"], true);
        assert_eq!(replies[6]["status"]["vipHost"], "node-b");

        // An overlong line gets an error and the connection is closed...
        let mut big = vec![b'x'; MAX_REQUEST * 4];
        big.push(b'\n');
        let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = s.write_all(&big);
        let mut reply = String::new();
        let _ = s.read_to_string(&mut reply);
        assert!(reply.contains("request longer than 4096 bytes"), "{reply:?}");

        // ...and the server goes on.
        let v = call(&p, &Request::Status).unwrap();
        assert_eq!(v["status"]["cluster"], "mgmt");
        let v = call(&p, &Request::Priority { priority: 150 }).unwrap();
        assert_eq!((v["priority"].as_u64(), v["previous"].as_u64()), (Some(150), Some(100)));
        let v = call(&p, &Request::Metrics).unwrap();
        assert!(v["metrics"].as_str().unwrap().contains("vipd_priority"));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_excess_clients_do_not_block_others() {
    let (_dir, path) = start().await;
    let p = path.clone();
    in_blocking(move || {
        // Fill every slot with clients that send half a line and wait.
        let idle: Vec<_> = (0..MAX_CLIENTS)
            .map(|_| {
                let mut s = std::os::unix::net::UnixStream::connect(&p).unwrap();
                s.write_all(b"{\"request\":").unwrap();
                s
            })
            .collect();
        std::thread::sleep(Duration::from_millis(200));
        // One more is turned away at once, with a reason.
        let mut extra = std::os::unix::net::UnixStream::connect(&p).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut reply = String::new();
        let _ = extra.read_to_string(&mut reply);
        assert!(reply.contains("too many clients"), "{reply:?}");
        drop(idle);
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(call(&p, &Request::Status).unwrap()["ok"], true);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn bind_replaces_a_stale_socket_but_not_a_live_one() {
    let (_dir, path) = start().await;
    let e = bind(&path).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse);
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    assert!(stale.exists());
    let _listener = bind(&stale).unwrap();
    let mode = std::fs::metadata(&stale).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
}

#[test]
fn client_reports_a_missing_daemon() {
    let e = call(Path::new("/nonexistent/vipd.sock"), &Request::Status).unwrap_err();
    assert!(e.to_string().starts_with("/nonexistent/vipd.sock: "), "{e}");
}
