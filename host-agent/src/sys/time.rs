//! CLOCK_BOOTTIME: the clock that keeps counting while the machine is
//! suspended, and a timerfd alarm on it.
//!
//! The daemon's clock (`crate::clock`) explains why this clock and not
//! CLOCK_MONOTONIC, which tokio's timer uses.

use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::fd::cvt;

/// CLOCK_BOOTTIME now: time since boot, suspend included, in nanoseconds.
///
/// glibc answers from the vDSO, without a system call.
pub fn boottime() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec for the duration of the
    // call, which writes nothing else.
    let ret = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) };
    // Invariant: clock_gettime fails only for a clock the kernel does not
    // know (CLOCK_BOOTTIME exists since Linux 2.6.39) or a bad pointer.
    assert_eq!(
        ret,
        0,
        "clock_gettime(CLOCK_BOOTTIME): {}",
        io::Error::last_os_error()
    );
    from_timespec(now)
}

/// A one-shot timer on CLOCK_BOOTTIME with absolute deadlines: a
/// non-blocking descriptor, readable once expired, for the event loop's
/// [`Poller`](super::Poller).
///
/// The kernel keeps nanosecond deadlines (no timer slack applies to a
/// timerfd), and a deadline that passes during suspend expires on resume.
#[derive(Debug)]
pub struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    /// A disarmed timer.
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: timerfd_create takes plain integers and returns a new
        // descriptor or -1.
        let fd = cvt(unsafe {
            libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        })?;
        // SAFETY: `fd` was just returned by timerfd_create, is valid and
        // owned by no one else.
        Ok(TimerFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    /// Arms the timer to expire when CLOCK_BOOTTIME reaches `at` (a time
    /// already past expires at once), or disarms it (`None`).
    ///
    /// Replaces the earlier setting, and forgets an expiry of it that
    /// [`Self::take_expiry`] has not seen yet.
    pub fn set(&self, at: Option<Duration>) -> io::Result<()> {
        let zero = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        let spec = libc::itimerspec {
            it_interval: zero,
            // An all-zero value disarms: "expire at boot" is 1 ns instead.
            it_value: at.map_or(zero, |at| to_timespec(at.max(Duration::from_nanos(1)))),
        };
        // SAFETY: `spec` is a valid itimerspec for the duration of the call;
        // the old value is not asked for (null); the descriptor is open.
        cvt(unsafe {
            libc::timerfd_settime(
                self.fd.as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        })
        .map(drop)
    }

    /// True if the timer has expired since it was set; consumes the expiry,
    /// so the descriptor is not readable again until the next one.
    pub fn take_expiry(&self) -> io::Result<bool> {
        match read_expirations(&self.fd) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl AsFd for TimerFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// One read(2) of the expiry count; `WouldBlock` if it has not expired.
fn read_expirations(fd: &OwnedFd) -> io::Result<u64> {
    let mut count = [0u8; 8];
    // SAFETY: `count` is writable for its 8 bytes during the call, the size
    // a timerfd read needs; the descriptor is open.
    let ret = unsafe { libc::read(fd.as_raw_fd(), count.as_mut_ptr().cast(), count.len()) };
    match ret {
        8 => Ok(u64::from_ne_bytes(count)),
        -1 => Err(io::Error::last_os_error()),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "short read from timerfd",
        )),
    }
}

fn from_timespec(t: libc::timespec) -> Duration {
    // CLOCK_BOOTTIME is never negative, and tv_nsec is below 10^9.
    Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    )
}

fn to_timespec(d: Duration) -> libc::timespec {
    libc::timespec {
        // Past time_t's range is "never" in practice: clamp.
        tv_sec: libc::time_t::try_from(d.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 10^9: fits every c_long.
        tv_nsec: d.subsec_nanos() as libc::c_long,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn boottime_advances_with_the_monotonic_clock() {
        let (b0, m0) = (boottime(), Instant::now());
        std::thread::sleep(Duration::from_millis(20));
        let (b1, m1) = (boottime(), Instant::now());
        let boot = b1 - b0;
        let mono = m1 - m0;
        assert!(boot >= Duration::from_millis(20), "{boot:?}");
        // Without a suspend in between, the two advance alike.
        let skew = boot.abs_diff(mono);
        assert!(skew < Duration::from_millis(5), "{boot:?} vs {mono:?}");
    }

    #[test]
    fn timespecs_round_trip() {
        let d = Duration::new(12_345, 678_901_234);
        assert_eq!(from_timespec(to_timespec(d)), d);
        assert_eq!(to_timespec(Duration::MAX).tv_sec, libc::time_t::MAX);
    }

    /// Waits up to `limit` for `timer` to expire.
    fn expires_within(timer: &TimerFd, limit: Duration) -> bool {
        super::super::wait_readable(timer.as_fd(), limit).unwrap() && timer.take_expiry().unwrap()
    }

    #[test]
    fn a_timerfd_expires_at_its_absolute_deadline() {
        let timer = TimerFd::new().unwrap();
        assert!(!timer.take_expiry().unwrap(), "expired before it was set");
        let at = boottime() + Duration::from_millis(3);
        timer.set(Some(at)).unwrap();
        assert!(expires_within(&timer, Duration::from_secs(5)));
        assert!(boottime() >= at);
        assert!(!timer.take_expiry().unwrap(), "one expiry taken twice");
        // Expired in the past: at once.
        timer.set(Some(Duration::ZERO)).unwrap();
        assert!(
            expires_within(&timer, Duration::from_millis(100)),
            "a past deadline expires at once"
        );
    }

    #[test]
    fn a_disarmed_timerfd_stays_quiet() {
        let timer = TimerFd::new().unwrap();
        timer
            .set(Some(boottime() + Duration::from_millis(5)))
            .unwrap();
        timer.set(None).unwrap();
        assert!(
            !expires_within(&timer, Duration::from_millis(40)),
            "a disarmed timer expired"
        );
    }
}
