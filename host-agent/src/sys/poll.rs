//! Waiting on descriptors outside the tokio reactor: the event loop's
//! epoll set, the doorbell the runtime rings it with, and a one-descriptor
//! wait.
//!
//! The event loop runs on its own thread and blocks in `epoll_wait(2)` on
//! three descriptors (the packet socket, the alarm's timerfd and the
//! doorbell), so a quorum holder's wake-up, two or three per renewal, costs
//! a system call and no runtime (docs/architecture.md, "The event loop").

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::fd::cvt;

/// Most descriptors reported by one [`Poller::wait`]: the loop watches three.
const MAX_EVENTS: usize = 8;

/// An epoll set watching descriptors for readability, level-triggered: a
/// descriptor stays reported until what is queued on it has been read.
#[derive(Debug)]
pub struct Poller {
    epoll: OwnedFd,
}

impl Poller {
    /// An empty set.
    pub fn new() -> io::Result<Poller> {
        // SAFETY: epoll_create1 takes a flag and returns a new descriptor or -1.
        let fd = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by epoll_create1, is valid and
        // owned by no one else.
        Ok(Poller {
            epoll: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Watches `fd` for readability; [`Self::wait`] reports it as `token`.
    pub fn watch(&self, fd: BorrowedFd<'_>, token: u64) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_ADD, fd, token, true)
    }

    /// Stops reporting `fd` (`paused`), or reports it again; it stays in the
    /// set. A descriptor that keeps failing would otherwise wake the loop
    /// without end.
    pub fn pause(&self, fd: BorrowedFd<'_>, token: u64, paused: bool) -> io::Result<()> {
        self.control(libc::EPOLL_CTL_MOD, fd, token, !paused)
    }

    fn control(
        &self,
        op: libc::c_int,
        fd: BorrowedFd<'_>,
        token: u64,
        read: bool,
    ) -> io::Result<()> {
        let mut event = libc::epoll_event {
            events: if read { libc::EPOLLIN as u32 } else { 0 },
            u64: token,
        };
        // SAFETY: both descriptors are open for the call; `event` is a valid
        // epoll_event the kernel only reads.
        cvt(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd.as_raw_fd(), &mut event) })
            .map(drop)
    }

    /// Waits until a watched descriptor is readable or `timeout` has passed
    /// (`None`: no limit, the loop's timerfd bounds it), and puts the
    /// tokens of the readable ones in `ready` (emptied first). A signal
    /// that interrupts the wait returns with `ready` empty; so does
    /// SIGCONT after a stop (epoll_wait(2) is not restarted then, see
    /// signal(7)), whatever was ready meanwhile.
    pub fn wait(&self, ready: &mut Vec<u64>, timeout: Option<Duration>) -> io::Result<()> {
        ready.clear();
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; MAX_EVENTS];
        // SAFETY: `events` is writable for MAX_EVENTS entries during the
        // call, the count passed; the descriptor is open.
        let n = unsafe {
            libc::epoll_wait(
                self.epoll.as_raw_fd(),
                events.as_mut_ptr(),
                MAX_EVENTS as libc::c_int,
                timeout_ms(timeout),
            )
        };
        match cvt(n) {
            Ok(n) => {
                let n = usize::try_from(n).unwrap_or(0).min(MAX_EVENTS);
                ready.extend(events[..n].iter().map(|e| e.u64));
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// A counter the runtime side increments to wake the event loop (an
/// eventfd): readable while rung and not yet cleared.
#[derive(Debug)]
pub struct Doorbell {
    fd: OwnedFd,
}

impl Doorbell {
    /// A quiet doorbell.
    pub fn new() -> io::Result<Doorbell> {
        // SAFETY: eventfd takes plain integers and returns a new descriptor or -1.
        let fd = cvt(unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) })?;
        // SAFETY: `fd` was just returned by eventfd, is valid and owned by
        // no one else.
        Ok(Doorbell {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Wakes the thread waiting on this doorbell (or its next wait).
    pub fn ring(&self) {
        let one = 1u64.to_ne_bytes();
        // SAFETY: `one` is readable for its 8 bytes, the size an eventfd
        // write takes; the descriptor is open.
        // Invariant: the write fails only when the counter would pass
        // u64::MAX - 1, and every ring adds one to a counter each wait
        // clears: a ring is never lost, so the result is not needed.
        let _ = unsafe { libc::write(self.fd.as_raw_fd(), one.as_ptr().cast(), one.len()) };
    }

    /// Makes the doorbell quiet again. Clear before reading what the
    /// ringer sent, so that a ring after the read wakes the next wait.
    pub fn clear(&self) {
        let mut count = [0u8; 8];
        // SAFETY: `count` is writable for its 8 bytes, the size an eventfd
        // read needs; the descriptor is open. EAGAIN (not rung) is fine.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    }
}

impl AsFd for Doorbell {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// Waits until `fd` is readable or `timeout` has passed; true if readable.
/// A signal that interrupts the wait counts as not readable.
pub fn wait_readable(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<bool> {
    let mut poll = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: `poll` is one valid pollfd, the count passed; the descriptor
    // is open for the call.
    match cvt(unsafe { libc::poll(&mut poll, 1, timeout_ms(Some(timeout))) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// A timeout in whole milliseconds, rounded up so a wait is never short;
/// -1 (forever) for `None`.
fn timeout_ms(timeout: Option<Duration>) -> libc::c_int {
    match timeout {
        None => -1,
        Some(t) => {
            let ms = t.as_nanos().div_ceil(1_000_000);
            libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_rung_doorbell_wakes_the_poller_until_cleared() {
        let poller = Poller::new().unwrap();
        let bell = Doorbell::new().unwrap();
        poller.watch(bell.as_fd(), 7).unwrap();
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(Duration::from_millis(10)))
            .unwrap();
        assert!(ready.is_empty(), "a quiet doorbell woke the poller");
        bell.ring();
        bell.ring();
        poller
            .wait(&mut ready, Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(ready, [7]);
        // Level-triggered: still reported until cleared, once for two rings.
        poller.wait(&mut ready, Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [7]);
        bell.clear();
        poller
            .wait(&mut ready, Some(Duration::from_millis(10)))
            .unwrap();
        assert!(ready.is_empty(), "reported after clear");
    }

    #[test]
    fn a_ring_from_another_thread_ends_a_wait_without_limit() {
        let poller = Poller::new().unwrap();
        let bell = std::sync::Arc::new(Doorbell::new().unwrap());
        poller.watch(bell.as_fd(), 1).unwrap();
        let ringer = std::sync::Arc::clone(&bell);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            ringer.ring();
        });
        let mut ready = Vec::new();
        poller.wait(&mut ready, None).unwrap();
        assert_eq!(ready, [1]);
        t.join().unwrap();
    }

    #[test]
    fn a_paused_descriptor_is_not_reported() {
        let poller = Poller::new().unwrap();
        let bell = Doorbell::new().unwrap();
        poller.watch(bell.as_fd(), 3).unwrap();
        bell.ring();
        poller.pause(bell.as_fd(), 3, true).unwrap();
        let mut ready = Vec::new();
        poller
            .wait(&mut ready, Some(Duration::from_millis(10)))
            .unwrap();
        assert!(ready.is_empty(), "reported while paused");
        poller.pause(bell.as_fd(), 3, false).unwrap();
        poller.wait(&mut ready, Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, [3]);
    }

    #[test]
    fn wait_readable_waits_its_timeout_then_says_no() {
        let bell = Doorbell::new().unwrap();
        let started = Instant::now();
        assert!(!wait_readable(bell.as_fd(), Duration::from_millis(15)).unwrap());
        assert!(started.elapsed() >= Duration::from_millis(15));
        bell.ring();
        assert!(wait_readable(bell.as_fd(), Duration::from_secs(5)).unwrap());
    }

    #[test]
    fn timeouts_round_up_to_whole_milliseconds() {
        assert_eq!(timeout_ms(None), -1);
        assert_eq!(timeout_ms(Some(Duration::ZERO)), 0);
        assert_eq!(timeout_ms(Some(Duration::from_micros(1))), 1);
        assert_eq!(timeout_ms(Some(Duration::from_millis(3))), 3);
        assert_eq!(timeout_ms(Some(Duration::MAX)), libc::c_int::MAX);
    }
}
