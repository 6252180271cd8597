//! The etcd adapter (`protocol = "etcd"`): carries the core's
//! [`EtcdRequest`]s to etcd's v3 API and etcd's answers back as
//! [`EtcdInput`]s, under the contract in docs/architecture.md ("The etcd
//! adapter"), which the simulator's adapter keeps too.
//!
//! One tokio task on the runtime thread. It takes no decision of its own:
//! when to keep the lease alive, campaign, resign or revoke, and what
//! etcd's answers mean for the VIP, are the core's. What it must get right
//! is order and time: a keep-alive is sent only after the core asked for it
//! (the core counts the lease from its asking), its answer names the
//! request it answers, and every change under the prefix is reported in
//! revision order, the move order before the leader.

mod view;

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration as StdDuration;

use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity,
    LeaseKeepAliveStream, LeaseKeeper, PutOptions, TlsOptions, Txn, TxnOp, WatchOptions,
    WatchStream,
};
use tokio::sync::mpsc;
use tokio::time::Instant as TokioInstant;
use vip_core::election::etcd::{EtcdInput, EtcdRequest, MoveOrder};

pub use view::{KeyChange, OrderText, Record, View};

use crate::config::etcd::EtcdClientSettings;

/// What the adapter shows status and metrics, and `vipd move` reads.
#[derive(Debug, Clone, Default)]
pub struct EtcdStatus {
    /// The node names with an election key, oldest (the leader) first.
    pub line: Vec<String>,
    /// This node's lease, while it has one.
    pub lease: Option<i64>,
    /// The last error etcd or the connection gave, if the last request failed.
    pub problem: Option<String>,
    /// Keep-alives sent, and answered.
    pub keepalives_sent: u64,
    /// Keep-alives answered.
    pub keepalives_answered: u64,
    /// Requests other than keep-alives that failed and were tried again.
    pub retries: u64,
    /// Times the watch was (re)started.
    pub watch_starts: u64,
}

/// The status the adapter keeps current, shared with the event loop.
pub type SharedStatus = Arc<Mutex<EtcdStatus>>;

/// What the adapter needs to know of its node and cluster.
#[derive(Debug, Clone)]
pub struct Me {
    /// This node's record (its election key's value).
    pub record: Record,
    /// etcd's TTL for the node's lease, in seconds.
    pub ttl_secs: i64,
    /// The members' names and addresses, to name a move order's nodes.
    pub members: Vec<(String, std::net::Ipv4Addr)>,
}

/// The TTL of a move order's own lease: long enough for any move the
/// daemon waits for, gone by itself afterwards.
const ORDER_TTL_SECS: i64 = 30;
/// The first pause after a failed request; doubled to [`RETRY_MAX`].
const RETRY_FIRST: StdDuration = StdDuration::from_millis(50);
/// The longest pause between two tries of one request.
const RETRY_MAX: StdDuration = StdDuration::from_secs(1);
/// Keep-alives on one stream still unanswered before the stream is
/// thought dead and opened again.
const UNANSWERED_MAX: usize = 16;
/// The age, in keep-alive intervals, of the oldest unanswered keep-alive
/// at which its stream is thought stuck (its member gone, a dead TCP
/// connection) and opened again, perhaps to another member.
const STUCK_AFTER_INTERVALS: u32 = 2;

/// Connects (lazily: the connection is made by the first request) with the
/// settings' endpoints and TLS files.
///
/// # Errors
/// A TLS file that cannot be read or used, or an endpoint etcd-client refuses.
pub async fn connect(settings: &EtcdClientSettings, ttl: StdDuration) -> Result<Client, String> {
    // Unary requests give up at half the TTL. gRPC keep-alive pings find a
    // dead connection under the watch; etcd closes a connection that pings
    // more often than its --grpc-keepalive-min-time (5 s by default; seen:
    // a 1 s ping broke every watch after about 4 s), so not more often.
    let mut options = ConnectOptions::new()
        .with_connect_timeout(StdDuration::from_secs(1))
        .with_timeout(ttl / 2)
        .with_keep_alive(StdDuration::from_secs(10), StdDuration::from_secs(3))
        .with_keep_alive_while_idle(true)
        .with_require_leader(true);
    if let Some(tls) = &settings.tls {
        let read = |p: &std::path::Path| {
            std::fs::read(p).map_err(|e| format!("etcd.tls: {}: {e}", p.display()))
        };
        let mut t = TlsOptions::new().ca_certificate(Certificate::from_pem(read(&tls.ca_file)?));
        if let Some((cert, key)) = &tls.identity {
            t = t.identity(Identity::from_pem(read(cert)?, read(key)?));
        }
        options = options.with_tls(t);
    }
    Client::connect(&settings.endpoints, Some(options))
        .await
        .map_err(|e| format!("etcd client: {e}"))
}

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;
type KeepAliveStream = (LeaseKeeper, LeaseKeepAliveStream);
/// Every key under the prefix as read, and the watch from after the read.
type Started = (Vec<etcd_client::KeyValue>, WatchStream);

/// A lease granted, with its keep-alive stream if it could be opened.
struct Granted {
    id: i64,
    ttl: i64,
    stream: Option<KeepAliveStream>,
}

/// The adapter's task state.
struct Adapter {
    client: Client,
    /// https without a client certificate: a refused handshake is said to
    /// be likely that.
    no_client_cert: bool,
    view: View,
    /// This node's record (its election key's value).
    record: Record,
    ttl_secs: i64,
    members: Vec<(String, std::net::Ipv4Addr)>,
    status: SharedStatus,
    inputs: mpsc::UnboundedSender<EtcdInput>,
    lease: Option<i64>,
    /// The lease's keep-alive stream, and the keep-alives sent on it in
    /// order, with when each was sent. (etcd-client reads the answer to a
    /// stream's opening keep-alive itself: it is not on the stream.)
    stream: Option<KeepAliveStream>,
    sent: VecDeque<(u32, TokioInstant)>,
    /// How old the oldest unanswered keep-alive may grow.
    stuck_after: StdDuration,
    /// A grant in flight, for the keep-alive `grant_seq`.
    granting: Option<Boxed<Result<Granted, String>>>,
    grant_seq: u32,
    /// A keep-alive stream being opened, with the keep-alive its opening
    /// carries (answered when the opening succeeds).
    opening: Option<Boxed<Result<KeepAliveStream, String>>>,
    opening_seq: Option<u32>,
    /// The other requests, in order; the first is in flight (done: what
    /// to report, if anything) or waiting to be tried again.
    queue: VecDeque<EtcdRequest>,
    doing: Option<Boxed<Result<Option<EtcdInput>, String>>>,
    retry_at: Option<TokioInstant>,
    retry_pause: StdDuration,
    /// The watch, or its start (a read, then the watch from after it).
    watch: Option<WatchStream>,
    watch_start: Option<Boxed<Result<Started, String>>>,
    watch_retry_at: Option<TokioInstant>,
}

/// Runs the adapter until `requests` closes and the last of them (a
/// revocation at a clean stop) is done or `stop_within` has passed.
pub async fn run(
    client: Client,
    settings: EtcdClientSettings,
    me: Me,
    mut requests: mpsc::UnboundedReceiver<EtcdRequest>,
    inputs: mpsc::UnboundedSender<EtcdInput>,
    status: SharedStatus,
    stop_within: StdDuration,
) {
    let mut a = Adapter {
        client,
        no_client_cert: settings.tls.as_ref().is_some_and(|t| t.identity.is_none()),
        view: View::new(&settings.prefix, &me.record.node),
        record: me.record,
        ttl_secs: me.ttl_secs,
        members: me.members,
        status,
        inputs,
        lease: None,
        stream: None,
        sent: VecDeque::new(),
        stuck_after: StdDuration::from_secs(me.ttl_secs.unsigned_abs()) * STUCK_AFTER_INTERVALS
            / vip_core::election::etcd::KEEPALIVES_PER_TTL as u32,
        granting: None,
        grant_seq: 0,
        opening: None,
        opening_seq: None,
        queue: VecDeque::new(),
        doing: None,
        retry_at: None,
        retry_pause: RETRY_FIRST,
        watch: None,
        watch_start: None,
        watch_retry_at: None,
    };
    a.start_watch();
    let mut stop_by: Option<TokioInstant> = None;
    loop {
        a.start_next();
        if stop_by.is_some() && a.queue.is_empty() {
            return;
        }
        tokio::select! {
            r = requests.recv(), if stop_by.is_none() => match r {
                Some(EtcdRequest::KeepAlive { seq }) => a.keep_alive(seq).await,
                Some(r) => a.queue.push_back(r),
                None => stop_by = Some(TokioInstant::now() + stop_within),
            },
            () = sleep_until(stop_by) => {
                tracing::warn!(left = a.queue.len(), "etcd: stopping with requests not done");
                return;
            }
            granted = poll_slot(&mut a.granting) => a.granted(granted),
            opened = poll_slot(&mut a.opening) => a.opened(opened),
            answer = next_answer(&mut a.stream) => a.answered(answer),
            done = poll_slot(&mut a.doing) => a.done(done),
            () = sleep_until(a.retry_at) => a.retry_at = None,
            started = poll_slot(&mut a.watch_start) => a.watch_started(started),
            event = next_event(&mut a.watch) => a.watched(event),
            () = sleep_until(a.watch_retry_at) => {
                a.watch_retry_at = None;
                a.start_watch();
            }
        }
    }
}

impl Adapter {
    fn say(&self, inputs: Vec<EtcdInput>) {
        for i in inputs {
            let _ = self.inputs.send(i);
        }
    }

    fn problem(&self, what: &str, e: &str) {
        // TLS 1.3 servers check a client certificate after the client's
        // handshake is done, so a refusal mostly reaches the client as a
        // closed connection or a broken pipe, seldom as the alert itself.
        let hint = if self.no_client_cert
            && [
                "BadCertificate",
                "CertificateRequired",
                "broken pipe",
                "connection closed",
            ]
            .iter()
            .any(|w| e.contains(w))
        {
            " (etcd may require a client certificate: set etcd.cert_file and etcd.key_file)"
        } else {
            ""
        };
        tracing::warn!(error = %e, "etcd: {what} failed{hint}");
        if let Ok(mut s) = self.status.lock() {
            s.problem = Some(format!("{what}: {e}{hint}"));
        }
    }

    fn update(&self, f: impl FnOnce(&mut EtcdStatus)) {
        if let Ok(mut s) = self.status.lock() {
            f(&mut s);
        }
    }

    // ---- keep-alives ----

    /// Keep-alive `seq`, asked by the core just now.
    async fn keep_alive(&mut self, seq: u32) {
        let Some(id) = self.lease else {
            if self.granting.is_none() {
                let mut lease = self.client.lease_client();
                let ttl = self.ttl_secs;
                self.update(|s| s.keepalives_sent += 1);
                self.grant_seq = seq;
                let bound = self.stuck_after;
                self.granting = Some(Box::pin(async move {
                    let g = lease.grant(ttl, None).await.map_err(|e| e.to_string())?;
                    // No stream yet is fine: the next keep-alive opens one.
                    let stream = tokio::time::timeout(bound, lease.keep_alive(g.id()))
                        .await
                        .ok()
                        .and_then(Result::ok);
                    Ok(Granted {
                        id: g.id(),
                        ttl: g.ttl(),
                        stream,
                    })
                }));
            }
            // A grant is in flight: this keep-alive goes unanswered.
            return;
        };
        let stuck = self.sent.len() >= UNANSWERED_MAX
            || self
                .sent
                .front()
                .is_some_and(|(_, at)| at.elapsed() > self.stuck_after);
        match &mut self.stream {
            Some((keeper, _)) if !stuck => {
                if keeper.keep_alive().await.is_ok() {
                    self.sent.push_back((seq, TokioInstant::now()));
                    self.update(|s| s.keepalives_sent += 1);
                } else {
                    self.stream = None;
                    self.open_stream(id, Some(seq));
                }
            }
            _ => {
                // No stream, or one that stopped answering: open a new one;
                // its opening carries this keep-alive.
                self.stream = None;
                self.open_stream(id, Some(seq));
            }
        }
    }

    fn open_stream(&mut self, id: i64, seq: Option<u32>) {
        if self.opening.is_some() {
            return;
        }
        self.sent.clear();
        self.opening_seq = seq;
        if seq.is_some() {
            self.update(|s| s.keepalives_sent += 1);
        }
        let mut lease = self.client.lease_client();
        // The opening waits for its first answer, which no request timeout
        // covers: bounded like a stuck stream.
        let bound = self.stuck_after;
        self.opening = Some(Box::pin(async move {
            match tokio::time::timeout(bound, lease.keep_alive(id)).await {
                Ok(opened) => opened.map_err(|e| e.to_string()),
                Err(_) => Err(format!("no answer within {bound:?}")),
            }
        }));
    }

    fn granted(&mut self, granted: Option<Result<Granted, String>>) {
        let Some(result) = granted else { return };
        let seq = self.grant_seq;
        match result {
            Ok(g) => {
                tracing::info!(
                    lease = format!("{:x}", g.id),
                    ttl = g.ttl,
                    "etcd: lease granted"
                );
                self.lease = Some(g.id);
                self.update(|s| {
                    s.lease = Some(g.id);
                    s.problem = None;
                    s.keepalives_answered += 1;
                });
                self.say(vec![EtcdInput::KeptAlive {
                    seq,
                    ttl: vip_core::Duration::from_secs(u64::try_from(g.ttl).unwrap_or(0)),
                }]);
                let inputs = self.view.set_lease(self.lease);
                self.say(inputs);
                // The stream's opening keep-alive, which nobody asked for,
                // was answered inside etcd-client.
                self.sent.clear();
                self.stream = g.stream;
                if self.stream.is_none() {
                    self.open_stream(g.id, None);
                }
            }
            Err(e) => self.problem("lease grant", &e),
        }
    }

    fn opened(&mut self, opened: Option<Result<KeepAliveStream, String>>) {
        let Some(opened) = opened else { return };
        let seq = self.opening_seq.take();
        match opened {
            Ok(stream) => {
                self.stream = Some(stream);
                // etcd-client opened the stream only on an answer with a
                // live TTL, and keeps the TTL to itself: the lease was
                // granted with ours and etcd renews to the granted TTL.
                if let Some(seq) = seq {
                    self.update(|s| {
                        s.keepalives_answered += 1;
                        s.problem = None;
                    });
                    self.say(vec![EtcdInput::KeptAlive {
                        seq,
                        ttl: vip_core::Duration::from_secs(self.ttl_secs.unsigned_abs()),
                    }]);
                }
            }
            // etcd-client's words for an answer with no live TTL.
            Err(e) if e.contains("lease not found") => {
                tracing::warn!("etcd: the lease is gone");
                self.lose_lease();
                self.say(vec![EtcdInput::LeaseLost]);
            }
            Err(e) => self.problem("keep-alive stream", &e),
        }
    }

    fn answered(&mut self, answer: Option<Result<i64, String>>) {
        let Some(answer) = answer else { return };
        let ttl = match answer {
            Ok(ttl) => ttl,
            Err(e) => {
                self.stream = None;
                self.sent.clear();
                self.problem("keep-alive", &e);
                return;
            }
        };
        let seq = self.sent.pop_front().map(|(seq, _)| seq);
        if ttl <= 0 {
            tracing::warn!("etcd: the lease is gone");
            self.lose_lease();
            self.say(vec![EtcdInput::LeaseLost]);
            return;
        }
        self.update(|s| {
            s.keepalives_answered += 1;
            s.problem = None;
        });
        if let Some(seq) = seq {
            self.say(vec![EtcdInput::KeptAlive {
                seq,
                ttl: vip_core::Duration::from_secs(ttl.unsigned_abs()),
            }]);
        }
    }

    fn lose_lease(&mut self) {
        self.lease = None;
        self.stream = None;
        self.sent.clear();
        self.update(|s| s.lease = None);
        let inputs = self.view.set_lease(None);
        self.say(inputs);
    }

    // ---- the other requests, one at a time ----

    /// Starts the first queued request if none is in flight or resting.
    fn start_next(&mut self) {
        if self.doing.is_some() || self.retry_at.is_some() {
            return;
        }
        let Some(&request) = self.queue.front() else {
            return;
        };
        let mut kv = self.client.kv_client();
        let my_key = self.view.my_key();
        let move_key = self.view.move_key().to_owned();
        self.doing = match request {
            EtcdRequest::KeepAlive { .. } => None,
            EtcdRequest::Campaign => {
                // It waits for the lease the core asked for first.
                let Some(lease) = self.lease else { return };
                let record = self.record_bytes();
                Some(Box::pin(async move {
                    campaign(&mut kv, my_key, record, lease)
                        .await
                        .map(|()| None)
                }))
            }
            EtcdRequest::Resign => Some(Box::pin(async move {
                let deleted = kv.delete(my_key, None).await.map_err(|e| e.to_string())?;
                // The revision the key is gone as of: what the core must
                // see a key of its own created after before it holds.
                let revision = deleted.header().map_or(0, |h| h.revision());
                Ok(Some(EtcdInput::Resigned {
                    revision: u64::try_from(revision).unwrap_or(0),
                }))
            })),
            EtcdRequest::Revoke => {
                let Some(lease) = self.lease else {
                    self.queue.pop_front();
                    return;
                };
                let mut leases = self.client.lease_client();
                Some(Box::pin(async move {
                    match leases.revoke(lease).await {
                        Ok(_) => Ok(None),
                        // Gone already: what a revocation wanted.
                        Err(e) if e.to_string().contains("lease not found") => Ok(None),
                        Err(e) => Err(e.to_string()),
                    }
                }))
            }
            EtcdRequest::Move(order) => {
                let mut leases = self.client.lease_client();
                let text = self.order_text(order);
                Some(Box::pin(async move {
                    let g = leases
                        .grant(ORDER_TTL_SECS, None)
                        .await
                        .map_err(|e| e.to_string())?;
                    let value = serde_json::to_vec(&text).unwrap_or_default();
                    kv.put(move_key, value, Some(PutOptions::new().with_lease(g.id())))
                        .await
                        .map(|_| None)
                        .map_err(|e| e.to_string())
                }))
            }
            EtcdRequest::Publish { vip } => {
                // Every later campaign puts the record as it is now; the
                // key on the current lease, if there is one, gets it now.
                self.record.vip = vip;
                let Some(lease) = self.lease else {
                    self.queue.pop_front();
                    return;
                };
                let record = self.record_bytes();
                Some(Box::pin(async move {
                    let txn = Txn::new()
                        .when([Compare::lease(my_key.clone(), CompareOp::Equal, lease)])
                        .and_then([TxnOp::put(
                            my_key,
                            record,
                            Some(PutOptions::new().with_lease(lease)),
                        )]);
                    kv.txn(txn).await.map(|_| None).map_err(|e| e.to_string())
                }))
            }
            EtcdRequest::ClearMove { revision } => {
                let revision = i64::try_from(revision).unwrap_or(i64::MAX);
                Some(Box::pin(async move {
                    let txn = Txn::new()
                        .when([Compare::mod_revision(
                            move_key.clone(),
                            CompareOp::Equal,
                            revision,
                        )])
                        .and_then([TxnOp::delete(move_key, None)]);
                    kv.txn(txn).await.map(|_| None).map_err(|e| e.to_string())
                }))
            }
        };
        if self.doing.is_none() {
            self.queue.pop_front();
        }
    }

    /// This node's record as its key's value (a record always serializes).
    fn record_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.record).unwrap_or_default()
    }

    fn order_text(&self, order: MoveOrder) -> OrderText {
        let name = |address| {
            self.members
                .iter()
                .find(|(_, a)| *a == address)
                .map(|(n, _)| n.clone())
        };
        OrderText {
            to: order.to.and_then(name),
            to_address: order.to,
            from: name(order.from).unwrap_or_default(),
            from_address: order.from,
        }
    }

    fn done(&mut self, done: Option<Result<Option<EtcdInput>, String>>) {
        let Some(result) = done else { return };
        let request = self.queue.front().copied();
        match result {
            Ok(report) => {
                self.queue.pop_front();
                self.say(report.into_iter().collect());
                self.retry_pause = RETRY_FIRST;
                if request == Some(EtcdRequest::Revoke) {
                    self.lose_lease();
                }
            }
            Err(e) => {
                self.problem(&format!("{request:?}"), &e);
                self.update(|s| s.retries += 1);
                self.retry_at = Some(TokioInstant::now() + self.retry_pause);
                self.retry_pause = (self.retry_pause * 2).min(RETRY_MAX);
            }
        }
    }

    // ---- the watch ----

    /// Reads every key under the prefix (linearizable), then watches from
    /// the revision after the read.
    fn start_watch(&mut self) {
        self.watch = None;
        let mut kv = self.client.kv_client();
        let mut watch = self.client.watch_client();
        let prefix = self.view.prefix().to_owned();
        self.update(|s| s.watch_starts += 1);
        self.watch_start = Some(Box::pin(async move {
            let read = kv
                .get(prefix.clone(), Some(GetOptions::new().with_prefix()))
                .await
                .map_err(|e| e.to_string())?;
            let revision = read.header().map_or(0, |h| h.revision());
            let stream = watch
                .watch(
                    prefix,
                    Some(
                        WatchOptions::new()
                            .with_prefix()
                            .with_start_revision(revision + 1),
                    ),
                )
                .await
                .map_err(|e| e.to_string())?;
            let mut read = read;
            Ok((read.take_kvs(), stream))
        }));
    }

    fn watch_started(&mut self, started: Option<Result<Started, String>>) {
        match started {
            Some(Ok((kvs, stream))) => {
                let inputs = self.view.reset(kvs.iter().map(|kv| change(kv, false)));
                self.say(inputs);
                self.publish_line();
                self.watch = Some(stream);
            }
            Some(Err(e)) => {
                self.problem("read and watch", &e);
                self.watch_retry_at = Some(TokioInstant::now() + RETRY_FIRST * 4);
            }
            None => {}
        }
    }

    fn watched(&mut self, event: Option<Result<Option<etcd_client::WatchResponse>, String>>) {
        let Some(event) = event else { return };
        let response = match event {
            Ok(Some(r)) if !r.canceled() => r,
            Ok(Some(r)) => {
                self.problem("watch", &format!("cancelled: {}", r.cancel_reason()));
                return self.restart_watch();
            }
            Ok(None) => {
                self.problem("watch", "the stream ended");
                return self.restart_watch();
            }
            Err(e) => {
                self.problem("watch", &e);
                return self.restart_watch();
            }
        };
        for e in response.events() {
            let Some(kv) = e.kv() else { continue };
            let inputs = self
                .view
                .change(change(kv, e.event_type() == EventType::Delete));
            self.say(inputs);
        }
        self.publish_line();
    }

    fn restart_watch(&mut self) {
        self.watch = None;
        self.watch_retry_at = Some(TokioInstant::now() + RETRY_FIRST * 4);
    }

    fn publish_line(&self) {
        let line = self.view.line();
        self.update(|s| s.line = line);
    }
}

/// Puts this node's election key on `lease` if it is absent; takes over a
/// key of its own under another lease (an earlier run's).
async fn campaign(
    kv: &mut etcd_client::KvClient,
    key: String,
    record: Vec<u8>,
    lease: i64,
) -> Result<(), String> {
    let put = || {
        TxnOp::put(
            key.clone(),
            record.clone(),
            Some(PutOptions::new().with_lease(lease)),
        )
    };
    let absent = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
        .and_then([put()]);
    if kv.txn(absent).await.map_err(|e| e.to_string())?.succeeded() {
        return Ok(());
    }
    let found = kv.get(key.clone(), None).await.map_err(|e| e.to_string())?;
    if found.kvs().iter().any(|kv| kv.lease() == lease) {
        return Ok(());
    }
    // Another lease's: put on ours if it is still there (a put keeps the
    // create revision, so the key keeps its place in line); if it went
    // meanwhile, the next try puts it anew.
    let present = Txn::new()
        .when([Compare::create_revision(key.clone(), CompareOp::Greater, 0)])
        .and_then([put()]);
    if kv
        .txn(present)
        .await
        .map_err(|e| e.to_string())?
        .succeeded()
    {
        Ok(())
    } else {
        Err("the key went while it was taken over".into())
    }
}

/// A watched or read key as the view takes it.
fn change(kv: &etcd_client::KeyValue, deleted: bool) -> KeyChange<'_> {
    KeyChange {
        key: kv.key_str().unwrap_or(""),
        value: kv.value(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: kv.lease(),
        deleted,
    }
}

/// Awaits the future in `slot`, emptying it; pending forever when empty.
async fn poll_slot<T>(slot: &mut Option<Boxed<T>>) -> Option<T> {
    match slot {
        Some(f) => {
            let out = f.await;
            *slot = None;
            Some(out)
        }
        None => std::future::pending().await,
    }
}

/// The next keep-alive answer's TTL; pending forever without a stream.
async fn next_answer(stream: &mut Option<KeepAliveStream>) -> Option<Result<i64, String>> {
    match stream {
        Some((_, s)) => Some(match s.message().await {
            Ok(Some(answer)) => Ok(answer.ttl()),
            Ok(None) => Err("the keep-alive stream ended".into()),
            Err(e) => Err(e.to_string()),
        }),
        None => std::future::pending().await,
    }
}

/// The next watch response; pending forever without a watch.
async fn next_event(
    watch: &mut Option<WatchStream>,
) -> Option<Result<Option<etcd_client::WatchResponse>, String>> {
    match watch {
        Some(w) => Some(w.message().await.map_err(|e| e.to_string())),
        None => std::future::pending().await,
    }
}

/// Sleeps until `at`, or forever for `None`.
async fn sleep_until(at: Option<TokioInstant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
