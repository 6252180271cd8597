//! Thin, checked wrappers over the few socket syscalls the layer shares.

use std::io;
use std::mem;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// Turns a `-1`-on-error syscall result into `io::Result`.
pub(crate) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Same as [`cvt`] for calls returning `ssize_t`.
pub(crate) fn cvt_size(ret: libc::ssize_t) -> io::Result<usize> {
    usize::try_from(ret).map_err(|_| io::Error::last_os_error())
}

/// A libc socket address struct: plain old data, valid when all zeroes.
/// Implemented only for the structs the layer receives into.
pub(crate) trait SockAddr: Copy {}
impl SockAddr for libc::sockaddr_nl {}
impl SockAddr for libc::sockaddr_ll {}

/// One recvfrom(2) with MSG_TRUNC: the datagram's full length (larger than
/// `buf.len()` when it did not fit; then only `buf.len()` bytes were written)
/// and the sender's address.
pub(crate) fn recv_from<A: SockAddr>(fd: &OwnedFd, buf: &mut [u8]) -> io::Result<(usize, A)> {
    // SAFETY: `A` is one of the libc sockaddr structs above (see SockAddr):
    // plain old data, for which all zeroes is a valid value.
    let mut from: A = unsafe { mem::zeroed() };
    let mut from_len = mem::size_of::<A>() as libc::socklen_t;
    // SAFETY: `buf` is writable for `buf.len()` bytes and `from` for
    // `from_len` bytes during the call; with MSG_TRUNC the kernel writes at
    // most `buf.len()` bytes and returns the datagram's full length.
    let len = cvt_size(unsafe {
        libc::recvfrom(
            fd.as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_TRUNC,
            (&mut from as *mut A).cast(),
            &mut from_len,
        )
    })?;
    Ok((len, from))
}

/// Opens a close-on-exec socket.
pub(crate) fn socket(
    domain: libc::c_int,
    ty: libc::c_int,
    proto: libc::c_int,
) -> io::Result<OwnedFd> {
    // SAFETY: socket(2) takes plain integers and returns a new descriptor or -1.
    let fd = cvt(unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) })?;
    // SAFETY: `fd` was just returned by socket(2), is valid and owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Sets a socket option whose value is the plain-old-data `value`.
pub(crate) fn setsockopt<T: Copy>(
    fd: &OwnedFd,
    level: libc::c_int,
    name: libc::c_int,
    value: &T,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(mem::size_of::<T>())
        .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: `value` points to `len` readable bytes for the duration of the
    // call; callers pass the C struct or integer the option expects.
    cvt(unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            level,
            name,
            (value as *const T).cast::<libc::c_void>(),
            len,
        )
    })
    .map(drop)
}

/// Returns the name of interface `ifindex` in the calling thread's namespace.
pub(crate) fn index_to_name(ifindex: u32) -> Option<String> {
    let mut buf = [0 as libc::c_char; libc::IFNAMSIZ];
    // SAFETY: `buf` holds IFNAMSIZ bytes, the size if_indextoname(3) writes at
    // most (including the NUL); it returns NULL or a pointer into `buf`.
    let ret = unsafe { libc::if_indextoname(ifindex, buf.as_mut_ptr()) };
    if ret.is_null() {
        return None;
    }
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8(bytes).ok()
}

/// Registers `fd` with the current tokio runtime's reactor.
///
/// An error, not a panic, when called outside a runtime.
pub(crate) fn register(fd: OwnedFd, interest: Interest) -> io::Result<AsyncFd<OwnedFd>> {
    if tokio::runtime::Handle::try_current().is_err() {
        return Err(io::Error::other("must be called inside a tokio runtime"));
    }
    // SAFETY: an OwnedFd is an open descriptor that only its owner closes;
    // the AsyncFd owns it until drop, and its as_raw_fd() never changes.
    unsafe { AsyncFd::register_with_interest(fd, interest) }.map_err(io::Error::from)
}
