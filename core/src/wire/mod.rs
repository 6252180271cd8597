//! Wire formats: Ethernet and ARP from `smoltcp::wire`, VRRPv3 of our own.
//!
//! Every format follows smoltcp's pattern: a zero-copy `Packet` view whose
//! accessors cannot panic once `check_len` passed, and a `Repr` with
//! `parse`, `buffer_len` and `emit`.

/// Declares a protocol-number enum with an `Unknown(n)` catch-all and the
/// conversions both ways (smoltcp's `enum_with_unknown!`).
macro_rules! enum_with_unknown {
    (
        $(#[$attr:meta])*
        pub enum $name:ident($ty:ty) {
            $( $(#[$vattr:meta])* $variant:ident = $value:expr ),+ $(,)?
        }
    ) => {
        $(#[$attr])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vattr])* $variant ),+,
            /// A value this version does not know.
            Unknown($ty),
        }

        impl From<$ty> for $name {
            fn from(value: $ty) -> Self {
                match value {
                    $( $value => $name::$variant ),+,
                    other => $name::Unknown(other),
                }
            }
        }

        impl From<$name> for $ty {
            fn from(value: $name) -> Self {
                match value {
                    $( $name::$variant => $value ),+,
                    $name::Unknown(other) => other,
                }
            }
        }
    };
}

pub mod dhcp;
pub mod quorum;
pub mod vrrp;

pub use smoltcp::wire::{
    ArpHardware, ArpOperation, ArpPacket, ArpRepr, EthernetAddress, EthernetFrame,
    EthernetProtocol, EthernetRepr, ETHERNET_HEADER_LEN,
};

/// Length of an Ethernet ARP packet for IPv4 (RFC 826).
pub const ARP_LEN: usize = 28;

/// The largest frame the core emits or needs a buffer for (Ethernet header plus
/// a 1500-byte payload).
pub const MAX_FRAME_LEN: usize = 1514;

/// The shortest Ethernet frame on the wire without its FCS; shorter frames are
/// padded with zeros by [`pad`].
pub const MIN_FRAME_LEN: usize = 60;

/// Zero-pads a frame of `len` bytes in `buf` to [`MIN_FRAME_LEN`]; returns the new length.
pub fn pad(buf: &mut [u8], len: usize) -> usize {
    if len >= MIN_FRAME_LEN || buf.len() < MIN_FRAME_LEN {
        return len;
    }
    buf[len..MIN_FRAME_LEN].fill(0);
    MIN_FRAME_LEN
}
