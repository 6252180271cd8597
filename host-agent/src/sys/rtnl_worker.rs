//! Bounded rtnetlink requests: one worker thread runs them in order, and a
//! caller waits for its answer at most [`REQUEST_BOUND`].
//!
//! Why a thread: rtnetlink handles a request inside the sender's
//! `sendmsg(2)` (and an address dump inside `recvmsg(2)`), under the kernel's
//! global `rtnl_lock`. Whoever holds that lock (a namespace being torn down,
//! a CNI plugin creating interfaces, `ip -batch`) stalls the syscall, and no
//! socket timeout bounds it: `SO_RCVTIMEO` only bounds the wait for a reply
//! that was never queued. Deleting a namespace with 6,000 veth pairs held
//! one `sendmsg` of `ip address add` for 0.72 s on the project's machine.
//!
//! Order rule: requests reach the kernel in the order they were made, also
//! those whose caller stopped waiting. A caller that gave up on adding the
//! VIP and then removes it therefore ends without the VIP, whenever the
//! kernel gets to both; and a removal that timed out is still carried out.

use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::OnceLock;
use std::time::Duration;

use super::netlink::RequestError;

/// How long a caller waits for the kernel to carry out one request: ample
/// for a busy `rtnl_lock` in normal operation (milliseconds), short enough
/// that the daemon's three tries at removing the VIP stay under a second.
pub const REQUEST_BOUND: Duration = Duration::from_millis(250);

/// Requests that may wait behind one the kernel is stuck on; more fail at
/// once. The daemon makes a handful per VIP change.
const QUEUE_LEN: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

/// A thread that runs requests one at a time, in the order they came.
#[derive(Debug)]
pub(crate) struct Worker {
    jobs: SyncSender<Job>,
    bound: Duration,
}

impl Worker {
    /// Starts a worker whose callers wait at most `bound`, with room for
    /// `queue` waiting requests.
    fn start(bound: Duration, queue: usize) -> io::Result<Worker> {
        let (jobs, inbox) = mpsc::sync_channel::<Job>(queue);
        std::thread::Builder::new()
            .name("vipd-netlink".into())
            .spawn(move || {
                for job in inbox {
                    // A panicking request drops its reply sender: its caller
                    // gets an error, and the requests after it still run.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                }
            })?;
        Ok(Worker { jobs, bound })
    }

    /// Runs `job` on the worker after every request queued before it, and
    /// returns its result if it finishes within the bound.
    ///
    /// The job must carry its own socket: a socket keeps the network
    /// namespace of the thread that opened it, so the caller opens it.
    /// Errors: `TimedOut` naming the bound (the job stays queued and runs
    /// later), `WouldBlock` when the queue is full (the job is dropped).
    pub(crate) fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, RequestError> {
        let (reply, answer) = mpsc::sync_channel(1);
        let job: Job = Box::new(move || {
            // The caller may have stopped waiting; the work is done anyway.
            let _ = reply.send(job());
        });
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(RequestError::Io(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "too many netlink requests already wait for the kernel",
                )))
            }
            Err(TrySendError::Disconnected(_)) => return Err(gone()),
        }
        match answer.recv_timeout(self.bound) {
            Ok(result) => Ok(result),
            Err(RecvTimeoutError::Timeout) => Err(RequestError::Io(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the kernel did not answer within {} ms (rtnl lock busy?); \
                     the request stays queued and is applied in order",
                    self.bound.as_millis()
                ),
            ))),
            Err(RecvTimeoutError::Disconnected) => Err(gone()),
        }
    }
}

fn gone() -> RequestError {
    RequestError::Io(io::Error::other(
        "the netlink request failed inside its worker thread",
    ))
}

/// Runs `job` on the process's worker (started on first use), waiting at
/// most [`REQUEST_BOUND`]. See [`Worker::run`].
pub(crate) fn bounded<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> Result<T, RequestError> {
    static WORKER: OnceLock<Worker> = OnceLock::new();
    let worker = match WORKER.get() {
        Some(worker) => worker,
        None => {
            let started = Worker::start(REQUEST_BOUND, QUEUE_LEN).map_err(RequestError::Io)?;
            // Two threads may race here: the loser's worker is dropped, and
            // its thread ends with the queue.
            let _ = WORKER.set(started);
            WORKER.get().ok_or_else(gone)?
        }
    };
    worker.run(job)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    const BOUND: Duration = Duration::from_millis(50);

    fn io_error(e: RequestError) -> io::Error {
        match e {
            RequestError::Io(e) => e,
            other => panic!("not an I/O error: {other:?}"),
        }
    }

    #[test]
    fn a_quick_request_returns_its_result() {
        let worker = Worker::start(BOUND, 4).unwrap();
        assert_eq!(worker.run(|| 7).unwrap(), 7);
        assert_eq!(
            bounded(|| "through the process's worker").unwrap(),
            "through the process's worker"
        );
    }

    #[test]
    fn a_stuck_request_times_out_at_the_bound_and_still_runs_in_order() {
        let worker = Worker::start(BOUND, 4).unwrap();
        let done = Arc::new(Mutex::new(Vec::new()));
        let started = Instant::now();
        let stuck = {
            let done = done.clone();
            worker.run(move || {
                std::thread::sleep(Duration::from_millis(300));
                done.lock().unwrap().push("add");
            })
        };
        let waited = started.elapsed();
        let e = io_error(stuck.unwrap_err());
        assert_eq!(e.kind(), io::ErrorKind::TimedOut);
        assert!(e.to_string().contains("within 50 ms"), "{e}");
        assert!(waited >= BOUND, "{waited:?}");
        assert!(waited < BOUND + Duration::from_millis(200), "{waited:?}");

        // Queued behind the stuck one: the caller gives up too, but the
        // removal runs after the addition.
        let behind = {
            let done = done.clone();
            worker.run(move || done.lock().unwrap().push("remove"))
        };
        assert_eq!(
            io_error(behind.unwrap_err()).kind(),
            io::ErrorKind::TimedOut
        );
        assert!(done.lock().unwrap().is_empty());
        std::thread::sleep(Duration::from_millis(400));
        assert_eq!(*done.lock().unwrap(), ["add", "remove"]);
        assert_eq!(worker.run(|| 1).unwrap(), 1, "the worker is free again");
    }

    #[test]
    fn a_full_queue_fails_at_once() {
        let worker = Worker::start(BOUND, 1).unwrap();
        let (release, wait) = mpsc::channel::<()>();
        // One request runs (blocked), one waits in the queue.
        assert!(worker.run(move || wait.recv()).is_err());
        assert!(worker.run(|| ()).is_err());
        let started = Instant::now();
        let e = io_error(worker.run(|| ()).unwrap_err());
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock, "{e}");
        assert!(started.elapsed() < BOUND, "a full queue must not wait");
        release.send(()).unwrap();
    }

    #[test]
    fn a_panicking_request_fails_alone() {
        // Printing the panic (and a backtrace) can take longer than BOUND.
        let worker = Worker::start(Duration::from_secs(10), 4).unwrap();
        let e = io_error(worker.run(|| -> u8 { panic!("a bug") }).unwrap_err());
        assert!(e.to_string().contains("worker"), "{e}");
        assert_eq!(worker.run(|| 2).unwrap(), 2);
    }
}
