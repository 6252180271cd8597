//! The quorum election's frame (docs/protocol.md, quorum document version 1):
//! a zero-copy view of the 72-byte payload after the Ethernet header, and
//! its `Repr`.
//!
//! ```text
//!  0        1        2        3        4        5        6       8
//! | version| type   | sender | flags  |priority| subject| zero         |
//!  8                         digest (8)                              16
//! 16                     sender's epoch (8)                          24
//! 24                     sender's sequence (8)                       32
//! 32                          term (8)                               40
//! 40                       echo epoch (8)                            48
//! 48                      echo sequence (8)                          56
//! 56                    tag: HMAC-SHA256/128 (16)                    72
//! ```
//!
//! Integers are big-endian. Once [`Packet::new_checked`] has passed, no
//! accessor panics; [`Repr::emit`] into a buffer of [`PAYLOAD_LEN`] bytes
//! never panics (the tests at the end and the fuzz target cover both). The
//! tag is computed and checked by the election (`election::quorum::auth`),
//! not here: a view only carries it.

/// The EtherType quorum frames use unless configured otherwise (IEEE 802
/// local experimental 1).
pub const ETHERTYPE: u16 = 0x88B5;
/// The quorum document version this module speaks.
pub const VERSION: u8 = 1;
/// The payload's length; longer frames carry Ethernet padding only.
pub const PAYLOAD_LEN: usize = 72;
/// The truncated tag's length.
pub const TAG_LEN: usize = 16;
/// The length of the part the tag covers (after the Ethernet fields).
pub const SIGNED_LEN: usize = PAYLOAD_LEN - TAG_LEN;
/// The config digest's length.
pub const DIGEST_LEN: usize = 8;
/// The `subject` value that names nobody.
pub const NO_SUBJECT: u8 = 0xff;

enum_with_unknown! {
    /// What a quorum frame says.
    pub enum MessageType(u8) {
        /// The holder renews its lease.
        Renew = 1,
        /// A member acknowledges one renewal.
        Ack = 2,
        /// A candidate asks for votes.
        VoteRequest = 3,
        /// A member votes for one request.
        Vote = 4,
        /// The holder has let go, in favour of a target.
        Release = 5,
        /// A member asks the holder to move the VIP.
        MoveRequest = 6,
        /// A receiver asks a sender to prove its epoch is current.
        Challenge = 7,
        /// The answer to a challenge.
        Response = 8,
    }
}

/// Why a quorum payload was refused before any check of its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Error {
    /// Shorter than [`PAYLOAD_LEN`].
    Truncated,
    /// A version other than [`VERSION`], or an unknown type.
    Unsupported,
}

/// The flags a sender states about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Flags {
    /// The sender may hold the VIP (link, health and VIP usable, not a
    /// witness, not waiting out a restart).
    pub eligible: bool,
    /// The sender holds the VIP now.
    pub holding: bool,
    /// The sender is waiting out its restart wait.
    pub waiting: bool,
    /// On a release: the hand-over is a planned move (`vipd move`), so the
    /// target keeps the VIP against preemption. Clear on every other
    /// message, and on a release for preemption, health or shutdown.
    pub planned: bool,
}

impl Flags {
    const ELIGIBLE: u8 = 1;
    const HOLDING: u8 = 2;
    const WAITING: u8 = 4;
    const PLANNED: u8 = 8;

    /// The flags in byte `b` (unknown bits ignored).
    pub const fn from_byte(b: u8) -> Flags {
        Flags {
            eligible: b & Self::ELIGIBLE != 0,
            holding: b & Self::HOLDING != 0,
            waiting: b & Self::WAITING != 0,
            planned: b & Self::PLANNED != 0,
        }
    }

    /// The byte these flags are sent as.
    pub const fn to_byte(self) -> u8 {
        ((self.eligible as u8) * Self::ELIGIBLE)
            | ((self.holding as u8) * Self::HOLDING)
            | ((self.waiting as u8) * Self::WAITING)
            | ((self.planned as u8) * Self::PLANNED)
    }
}

pub(crate) mod field {
    use core::ops::Range;
    pub const VERSION: usize = 0;
    pub const TYPE: usize = 1;
    pub const SENDER: usize = 2;
    pub const FLAGS: usize = 3;
    pub const PRIORITY: usize = 4;
    pub const SUBJECT: usize = 5;
    pub const RESERVED: Range<usize> = 6..8;
    pub const DIGEST: Range<usize> = 8..16;
    pub const EPOCH: Range<usize> = 16..24;
    pub const SEQ: Range<usize> = 24..32;
    pub const TERM: Range<usize> = 32..40;
    pub const ECHO_EPOCH: Range<usize> = 40..48;
    pub const ECHO_SEQ: Range<usize> = 48..56;
    pub const TAG: Range<usize> = 56..72;
}

/// A read/write view of a quorum payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`Packet::check_len`].
    pub fn new_checked(buffer: T) -> Result<Packet<T>, Error> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the buffer holds a whole payload.
    pub fn check_len(&self) -> Result<(), Error> {
        if self.buffer.as_ref().len() < PAYLOAD_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u64_at(&self, range: core::ops::Range<usize>) -> u64 {
        let mut b = [0u8; 8];
        b.copy_from_slice(&self.buffer.as_ref()[range]);
        u64::from_be_bytes(b)
    }

    /// The document version.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// The message type.
    pub fn msg_type(&self) -> MessageType {
        MessageType::from(self.buffer.as_ref()[field::TYPE])
    }

    /// The sender's member index.
    pub fn sender(&self) -> u8 {
        self.buffer.as_ref()[field::SENDER]
    }

    /// The sender's flags.
    pub fn flags(&self) -> Flags {
        Flags::from_byte(self.buffer.as_ref()[field::FLAGS])
    }

    /// The sender's priority.
    pub fn priority(&self) -> u8 {
        self.buffer.as_ref()[field::PRIORITY]
    }

    /// The member the frame is about ([`NO_SUBJECT`]: none).
    pub fn subject(&self) -> u8 {
        self.buffer.as_ref()[field::SUBJECT]
    }

    /// The config digest.
    pub fn digest(&self) -> [u8; DIGEST_LEN] {
        let mut d = [0u8; DIGEST_LEN];
        d.copy_from_slice(&self.buffer.as_ref()[field::DIGEST]);
        d
    }

    /// The sender's epoch.
    pub fn epoch(&self) -> u64 {
        self.u64_at(field::EPOCH)
    }

    /// The sender's sequence number.
    pub fn seq(&self) -> u64 {
        self.u64_at(field::SEQ)
    }

    /// The term.
    pub fn term(&self) -> u64 {
        self.u64_at(field::TERM)
    }

    /// The echoed epoch.
    pub fn echo_epoch(&self) -> u64 {
        self.u64_at(field::ECHO_EPOCH)
    }

    /// The echoed sequence number (or a challenge's nonce).
    pub fn echo_seq(&self) -> u64 {
        self.u64_at(field::ECHO_SEQ)
    }

    /// The part the tag covers (bytes 0 to 55).
    pub fn signed(&self) -> &[u8] {
        &self.buffer.as_ref()[..SIGNED_LEN]
    }

    /// The tag as sent.
    pub fn tag(&self) -> &[u8] {
        &self.buffer.as_ref()[field::TAG]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u64(&mut self, range: core::ops::Range<usize>, value: u64) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    /// Writes the tag.
    pub fn set_tag(&mut self, tag: &[u8; TAG_LEN]) {
        self.buffer.as_mut()[field::TAG].copy_from_slice(tag);
    }
}

/// The meaning of a quorum payload (everything but the tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr {
    /// What it says.
    pub msg_type: MessageType,
    /// The sender's member index.
    pub sender: u8,
    /// The sender's flags.
    pub flags: Flags,
    /// The sender's priority.
    pub priority: u8,
    /// The member it is about ([`NO_SUBJECT`]: none).
    pub subject: u8,
    /// The config digest.
    pub digest: [u8; DIGEST_LEN],
    /// The sender's epoch.
    pub epoch: u64,
    /// The sender's sequence number.
    pub seq: u64,
    /// The term.
    pub term: u64,
    /// The echoed epoch.
    pub echo_epoch: u64,
    /// The echoed sequence number (or a nonce).
    pub echo_seq: u64,
}

impl Repr {
    /// Parses a checked packet.
    ///
    /// # Errors
    /// [`Error::Unsupported`] for another version or an unknown type.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&T>) -> Result<Repr, Error> {
        packet.check_len()?;
        let msg_type = packet.msg_type();
        if packet.version() != VERSION || matches!(msg_type, MessageType::Unknown(_)) {
            return Err(Error::Unsupported);
        }
        Ok(Repr {
            msg_type,
            sender: packet.sender(),
            flags: packet.flags(),
            priority: packet.priority(),
            subject: packet.subject(),
            digest: packet.digest(),
            epoch: packet.epoch(),
            seq: packet.seq(),
            term: packet.term(),
            echo_epoch: packet.echo_epoch(),
            echo_seq: packet.echo_seq(),
        })
    }

    /// The payload's length.
    pub const fn buffer_len(&self) -> usize {
        PAYLOAD_LEN
    }

    /// Writes the payload with a zero tag; the caller seals it.
    ///
    /// # Panics
    /// If the buffer is shorter than [`PAYLOAD_LEN`].
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        let b = packet.buffer.as_mut();
        b[field::VERSION] = VERSION;
        b[field::TYPE] = u8::from(self.msg_type);
        b[field::SENDER] = self.sender;
        b[field::FLAGS] = self.flags.to_byte();
        b[field::PRIORITY] = self.priority;
        b[field::SUBJECT] = self.subject;
        b[field::RESERVED].fill(0);
        b[field::DIGEST].copy_from_slice(&self.digest);
        packet.set_u64(field::EPOCH, self.epoch);
        packet.set_u64(field::SEQ, self.seq);
        packet.set_u64(field::TERM, self.term);
        packet.set_u64(field::ECHO_EPOCH, self.echo_epoch);
        packet.set_u64(field::ECHO_SEQ, self.echo_seq);
        packet.set_tag(&[0; TAG_LEN]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An ack from member 1 (eligible, priority 100) for member 0's renewal
    /// 7 of epoch 0x0102030405060708, term 0x0300, tag left zero.
    static ACK: [u8; PAYLOAD_LEN] = [
        0x01, 0x02, 0x01, 0x01, 0x64, 0x00, 0x00, 0x00, // version .. reserved
        0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, // digest
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xbe, 0xef, // epoch
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2a, // seq 42
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, // term
        0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, // echo epoch
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, // echo seq
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, // tag
    ];

    fn repr() -> Repr {
        Repr {
            msg_type: MessageType::Ack,
            sender: 1,
            flags: Flags {
                eligible: true,
                ..Flags::default()
            },
            priority: 100,
            subject: 0,
            digest: [0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8],
            epoch: 0xbeef,
            seq: 42,
            term: 0x300,
            echo_epoch: 0x0102_0304_0506_0708,
            echo_seq: 7,
        }
    }

    #[test]
    fn deconstruct() {
        let p = Packet::new_checked(&ACK[..]).unwrap();
        assert_eq!(p.version(), 1);
        assert_eq!(p.msg_type(), MessageType::Ack);
        assert_eq!(p.sender(), 1);
        assert!(p.flags().eligible && !p.flags().holding);
        assert_eq!(p.priority(), 100);
        assert_eq!(p.subject(), 0);
        assert_eq!(p.epoch(), 0xbeef);
        assert_eq!(p.seq(), 42);
        assert_eq!(p.term(), 0x300);
        assert_eq!(p.echo_epoch(), 0x0102_0304_0506_0708);
        assert_eq!(p.echo_seq(), 7);
        assert_eq!(p.signed().len(), SIGNED_LEN);
        assert_eq!(p.tag(), [0; TAG_LEN]);
    }

    #[test]
    fn parse_and_emit_match_the_fixture() {
        let p = Packet::new_checked(&ACK[..]).unwrap();
        assert_eq!(Repr::parse(&p), Ok(repr()));
        let mut buf = [0xaau8; PAYLOAD_LEN];
        repr().emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(buf, ACK);
    }

    #[test]
    fn short_other_version_and_unknown_type_are_refused() {
        assert_eq!(
            Packet::new_checked(&ACK[..PAYLOAD_LEN - 1]).unwrap_err(),
            Error::Truncated
        );
        let mut v2 = ACK;
        v2[0] = 2;
        let p = Packet::new_checked(&v2[..]).unwrap();
        assert_eq!(Repr::parse(&p), Err(Error::Unsupported));
        let mut t9 = ACK;
        t9[1] = 9;
        let p = Packet::new_checked(&t9[..]).unwrap();
        assert_eq!(p.msg_type(), MessageType::Unknown(9));
        assert_eq!(Repr::parse(&p), Err(Error::Unsupported));
    }

    #[test]
    fn every_type_and_flag_round_trips() {
        for t in 1..=8u8 {
            for f in 0..16u8 {
                let r = Repr {
                    msg_type: MessageType::from(t),
                    flags: Flags::from_byte(f),
                    ..repr()
                };
                let mut buf = [0u8; PAYLOAD_LEN];
                r.emit(&mut Packet::new_unchecked(&mut buf[..]));
                let p = Packet::new_checked(&buf[..]).unwrap();
                assert_eq!(Repr::parse(&p), Ok(r));
            }
        }
    }
}
