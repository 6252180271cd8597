//! The enumerations a config names by word, with the words themselves.
//!
//! Each enum has `ALL` (every value, in the order messages list them),
//! `as_str` (the word configs, scenario files, status and metrics write) and
//! `from_name`. Readers of configs and scenario files take the words from
//! here and say what is allowed with [`OneOf`], so a name is written once.

use core::fmt;

use crate::wire::vrrp::ChecksumKind;

/// Declares `ALL`, `as_str` and `from_name` for a unit enum.
macro_rules! named {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value, in the order messages list them.
            pub const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The word configs, status and metrics use.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }

            /// The value called `name`, if any.
            pub fn from_name(name: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.as_str() == name)
            }

            /// Every word, for messages: `"a", "b" or "c"`.
            pub fn one_of() -> OneOf<$ty> {
                OneOf(Self::ALL)
            }
        }

        impl Named for $ty {
            fn name(&self) -> &'static str {
                self.as_str()
            }

            fn all() -> &'static [Self] {
                Self::ALL
            }
        }
    };
}

/// A value with a config word; see [`OneOf`].
pub trait Named: Copy + 'static {
    /// The word.
    fn name(&self) -> &'static str;

    /// Every value, in the order messages list them.
    fn all() -> &'static [Self];
}

/// Lists the words of some values as `"a", "b" or "c"`.
#[derive(Debug, Clone, Copy)]
pub struct OneOf<T: 'static>(pub &'static [T]);

impl<T: Named> fmt::Display for OneOf<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.len();
        for (i, v) in self.0.iter().enumerate() {
            match i {
                0 => {}
                _ if i + 1 == n => f.write_str(" or ")?,
                _ => f.write_str(", ")?,
            }
            write!(f, "\"{}\"", v.name())?;
        }
        Ok(())
    }
}

/// Which ARP form a gratuitous announcement uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GarpForm {
    /// ARP request with sender IP = target IP = VIP (what Linux `arping -U` sends).
    Request,
    /// ARP reply with sender IP = target IP = VIP, to broadcast (`arping -A`).
    Reply,
    /// Both forms, request first, in every announcement.
    Both,
}

named!(GarpForm {
    Request => "request",
    Reply => "reply",
    Both => "both",
});

/// How adverts are checksummed on send (both forms are always accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChecksumMode {
    /// Send the form the peers of this VRID use, learned from the last valid
    /// advert received; before any is heard, the pseudo-header form, which
    /// every keepalived release accepts (Debian's 2.2 refuses the RFC 9568
    /// form and, worse, restarts its own advert timer on each refused advert,
    /// so it would fall silent while still holding). An RFC 9568 peer that
    /// refuses our first adverts becomes master, advertises, and we switch.
    Auto,
    /// Always the RFC 9568 form (VRRP message only).
    Rfc9568,
    /// Always the RFC 5798 / keepalived form (with the IPv4 pseudo-header).
    PseudoHeader,
}

named!(ChecksumMode {
    Auto => "auto",
    Rfc9568 => "rfc9568",
    PseudoHeader => "pseudo-header",
});

impl ChecksumMode {
    /// The form to send, given the one last learned from a peer.
    pub fn to_send(self, learned: Option<ChecksumKind>) -> ChecksumKind {
        match self {
            ChecksumMode::Rfc9568 => ChecksumKind::Rfc9568,
            ChecksumMode::PseudoHeader => ChecksumKind::PseudoHeader,
            ChecksumMode::Auto => learned.unwrap_or(ChecksumKind::PseudoHeader),
        }
    }
}

/// Where the VIP's address comes from (`[vip] mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VipMode {
    /// `address` in the config.
    Static,
    /// A DHCP lease for the VIP MAC.
    Dhcp,
}

named!(VipMode { Static => "static", Dhcp => "dhcp" });

/// The election protocols, by the names configs and status use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// VRRPv3 (RFC 9568).
    Vrrp,
    /// Majority leases among the configured members.
    Quorum,
    /// Leases and the election key of the cluster's own etcd.
    Etcd,
}

named!(Protocol { Vrrp => "vrrp", Quorum => "quorum", Etcd => "etcd" });

impl Protocol {
    /// True if each side of a partition may elect its own holder (VRRP's
    /// known limit); false for a protocol that needs a majority.
    pub const fn holder_per_partition(self) -> bool {
        match self {
            Protocol::Vrrp => true,
            Protocol::Quorum | Protocol::Etcd => false,
        }
    }

    /// The protocol a config that names none runs: quorum with three or
    /// more members, else VRRP.
    pub const fn default_for(members: usize) -> Protocol {
        if members >= 3 {
            Protocol::Quorum
        } else {
            Protocol::Vrrp
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(v: impl fmt::Display) -> heapless::String<96> {
        let mut s = heapless::String::new();
        fmt::write(&mut s, format_args!("{v}")).unwrap();
        s
    }

    #[test]
    fn names_round_trip_and_list_themselves() {
        for &f in GarpForm::ALL {
            assert_eq!(GarpForm::from_name(f.as_str()), Some(f));
        }
        for &c in ChecksumMode::ALL {
            assert_eq!(ChecksumMode::from_name(c.as_str()), Some(c));
        }
        assert_eq!(Protocol::from_name("vrrp"), Some(Protocol::Vrrp));
        assert_eq!(Protocol::from_name("carp"), None);
        assert_eq!(
            text(ChecksumMode::one_of()),
            "\"auto\", \"rfc9568\" or \"pseudo-header\""
        );
        assert_eq!(text(Protocol::one_of()), "\"vrrp\", \"quorum\" or \"etcd\"");
    }
}
