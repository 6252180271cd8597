//! CLOCK_BOOTTIME: the clock that keeps counting while the machine is
//! suspended, and a timerfd alarm on it.
//!
//! The daemon's clock (`crate::clock`) explains why this clock and not
//! CLOCK_MONOTONIC, which tokio's timer uses.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::fd::{cvt, register};

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

/// A one-shot timer on CLOCK_BOOTTIME with absolute deadlines, registered
/// with the tokio reactor.
///
/// The kernel keeps nanosecond deadlines (no timer slack applies to a
/// timerfd), and a deadline that passes during suspend expires on resume.
#[derive(Debug)]
pub struct TimerFd {
    fd: AsyncFd<OwnedFd>,
}

impl TimerFd {
    /// A disarmed timer. Needs a tokio runtime with I/O enabled (an error,
    /// not a panic, without one).
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: timerfd_create takes plain integers and returns a new
        // descriptor or -1.
        let fd = cvt(unsafe {
            libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_NONBLOCK | libc::TFD_CLOEXEC)
        })?;
        // SAFETY: `fd` was just returned by timerfd_create, is valid and
        // owned by no one else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(TimerFd {
            fd: register(fd, Interest::READABLE)?,
        })
    }

    /// Arms the timer to expire when CLOCK_BOOTTIME reaches `at` (a time
    /// already past expires at once), or disarms it (`None`).
    ///
    /// Replaces the earlier setting, and forgets an expiry of it that
    /// [`Self::expired`] has not seen yet.
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
                self.fd.get_ref().as_raw_fd(),
                libc::TFD_TIMER_ABSTIME,
                &spec,
                std::ptr::null_mut(),
            )
        })
        .map(drop)
    }

    /// Waits until the timer expires. Pending forever while disarmed.
    ///
    /// Cancel-safe: an expiry is consumed only when this returns.
    pub async fn expired(&self) -> io::Result<()> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| read_expirations(fd.get_ref())) {
                Ok(result) => return result.map(drop),
                // Not expired after all (re-armed since the wakeup).
                Err(_would_block) => {}
            }
        }
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

    #[tokio::test]
    async fn a_timerfd_expires_at_its_absolute_deadline() {
        let timer = TimerFd::new().unwrap();
        let at = boottime() + Duration::from_millis(3);
        timer.set(Some(at)).unwrap();
        timer.expired().await.unwrap();
        assert!(boottime() >= at);
        // Expired in the past: at once.
        timer.set(Some(Duration::ZERO)).unwrap();
        tokio::time::timeout(Duration::from_millis(100), timer.expired())
            .await
            .expect("a past deadline expires at once")
            .unwrap();
    }

    #[tokio::test]
    async fn a_disarmed_timerfd_stays_quiet() {
        let timer = TimerFd::new().unwrap();
        timer
            .set(Some(boottime() + Duration::from_millis(5)))
            .unwrap();
        timer.set(None).unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(40), timer.expired()).await;
        assert!(waited.is_err(), "a disarmed timer expired");
    }

    #[test]
    fn a_timerfd_needs_a_runtime() {
        let e = TimerFd::new().unwrap_err();
        assert!(e.to_string().contains("tokio runtime"), "{e}");
    }
}
