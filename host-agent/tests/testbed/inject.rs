//! Frames sent into the segment from a namespace of the test's own (an
//! attacker without the cluster key), through `host_agent::sys::PacketSocket`
//! on a thread that entered that namespace (setns affects only the calling
//! thread).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::time::Duration;

use host_agent::sys::{interface_info, PacketOptions, PacketSocket};
use vip_core::FrameFilter;

/// Sends `frames` from `iface` in namespace `ns`, `gap` apart.
pub fn send(ns: &str, iface: &str, frames: Vec<Vec<u8>>, gap: Duration) -> Result<usize, String> {
    let ns = ns.to_owned();
    let iface = iface.to_owned();
    std::thread::spawn(move || -> Result<usize, String> {
        let file = File::open(format!("/run/netns/{ns}")).map_err(|e| format!("{ns}: {e}"))?;
        // SAFETY: the descriptor is a namespace file open for the duration
        // of the call; setns(CLONE_NEWNET) changes only this thread.
        #[allow(unsafe_code)]
        let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
        if ret != 0 {
            return Err(format!("setns {ns}: {}", std::io::Error::last_os_error()));
        }
        let info = interface_info(&iface).map_err(|e| e.to_string())?;
        // It sends only: an empty filter receives nothing.
        let socket = PacketSocket::open(info.index, &PacketOptions::new(FrameFilter::default()))
            .map_err(|e| e.to_string())?;
        let mut sent = 0;
        for f in &frames {
            // A full transmit queue drops the frame: counted as not sent.
            if socket.send(f).is_ok() {
                sent += 1;
            }
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
        Ok(sent)
    })
    .join()
    .map_err(|_| "the sender thread panicked".to_string())?
}
