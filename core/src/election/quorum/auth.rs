//! Frame tags (HMAC-SHA256 with the cluster key, truncated to 128 bits) and
//! the config digest (SHA-256, first 8 bytes).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::config::quorum::QuorumSettings;
use crate::config::{Config, VipSettings};
use crate::wire::quorum::{self, DIGEST_LEN, TAG_LEN};
use crate::wire::EthernetAddress;

/// The shortest and longest cluster key, in bytes.
pub const KEY_LEN: core::ops::RangeInclusive<usize> = 32..=64;

/// The cluster key: 32 to 64 bytes, the same on every member. Its `Debug`
/// shows only its length.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct AuthKey(heapless::Vec<u8, 64>);

impl AuthKey {
    /// `bytes` as a key, if its length is in [`KEY_LEN`].
    pub fn new(bytes: &[u8]) -> Option<AuthKey> {
        if !KEY_LEN.contains(&bytes.len()) {
            return None;
        }
        heapless::Vec::from_slice(bytes).ok().map(AuthKey)
    }

    /// The key's length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for the empty key a default config carries (refused by `Config::new`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl core::fmt::Debug for AuthKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AuthKey({} bytes)", self.0.len())
    }
}

type HmacSha256 = Hmac<Sha256>;

/// Tags and checks frames with one key; keyed once, cloned per frame.
#[derive(Clone)]
pub(crate) struct Signer {
    keyed: HmacSha256,
}

impl core::fmt::Debug for Signer {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Signer")
    }
}

impl Signer {
    pub(crate) fn new(key: &AuthKey) -> Signer {
        // HMAC takes keys of any length; `Config::new` refused other lengths.
        let keyed = match HmacSha256::new_from_slice(key.bytes()) {
            Ok(m) => m,
            Err(_) => unreachable_keyed(),
        };
        Signer { keyed }
    }

    fn mac(&self, src: EthernetAddress, ethertype: u16, signed: &[u8]) -> HmacSha256 {
        let mut m = self.keyed.clone();
        m.update(&src.0);
        m.update(&ethertype.to_be_bytes());
        m.update(signed);
        m
    }

    /// The tag of a frame from `src` with `ethertype` and these signed bytes.
    pub(crate) fn tag(&self, src: EthernetAddress, ethertype: u16, signed: &[u8]) -> [u8; TAG_LEN] {
        let full = self.mac(src, ethertype, signed).finalize().into_bytes();
        let mut tag = [0u8; TAG_LEN];
        tag.copy_from_slice(&full[..TAG_LEN]);
        tag
    }

    /// True if `tag` is the frame's tag (compared in constant time).
    pub(crate) fn verify(
        &self,
        src: EthernetAddress,
        ethertype: u16,
        signed: &[u8],
        tag: &[u8],
    ) -> bool {
        tag.len() == TAG_LEN
            && self
                .mac(src, ethertype, signed)
                .verify_truncated_left(tag)
                .is_ok()
    }
}

/// HMAC-SHA256 accepts every key length, so keying cannot fail.
#[cold]
fn unreachable_keyed() -> ! {
    panic!("HMAC-SHA256 refused a key")
}

/// Builds the config digest from the fields docs/protocol.md lists.
#[derive(Debug, Clone, Default)]
pub(crate) struct DigestBuilder {
    hash: Sha256,
}

impl DigestBuilder {
    pub(crate) fn bytes(mut self, b: &[u8]) -> Self {
        // Length-prefixed, so no two field lists hash the same bytes.
        self.hash.update((b.len() as u32).to_be_bytes());
        self.hash.update(b);
        self
    }

    pub(crate) fn u64(self, v: u64) -> Self {
        self.bytes(&v.to_be_bytes())
    }

    pub(crate) fn finish(self) -> [u8; DIGEST_LEN] {
        let full = self.hash.finalize();
        let mut d = [0u8; DIGEST_LEN];
        d.copy_from_slice(&full[..DIGEST_LEN]);
        d
    }
}

/// The config digest: everything every member must agree on.
pub(super) fn config_digest(config: &Config, s: &QuorumSettings) -> [u8; DIGEST_LEN] {
    let d = DigestBuilder::default()
        .u64(u64::from(quorum::VERSION))
        .bytes(config.cluster().as_bytes());
    // A fixed VIP as four bytes, a leased one as its mode and VIP MAC.
    let mut d = match config.vip_settings() {
        VipSettings::Static(vip) => d.bytes(&vip.octets()),
        VipSettings::Dhcp(dhcp) => d.bytes(b"dhcp").bytes(&dhcp.hwaddr.0),
    };
    for m in config.members() {
        d = d.bytes(&m.address.octets()).u64(u64::from(m.witness));
    }
    d.u64(s.lease.total_micros())
        .u64(u64::from(s.max_drift_ppm))
        .u64(s.fence_margin.total_micros())
        .u64(s.advert_interval.total_micros())
        .u64(u64::from(s.ethertype))
        .finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_a_length_range_and_hide_themselves() {
        assert!(AuthKey::new(&[7; 31]).is_none());
        assert!(AuthKey::new(&[7; 65]).is_none());
        let k = AuthKey::new(&[7; 32]).unwrap();
        let mut text = heapless::String::<32>::new();
        core::fmt::write(&mut text, format_args!("{k:?}")).unwrap();
        assert_eq!(text, "AuthKey(32 bytes)");
    }

    #[test]
    fn tags_bind_key_source_type_and_bytes() {
        // RFC 4231 test case 1's key and data, as a known HMAC-SHA256 vector:
        // HMAC(0x0b × 20, "Hi There") = b0344c61d8db3853 5ca8afceaf0bf12b ...
        let mut m = HmacSha256::new_from_slice(&[0x0b; 20]).unwrap();
        m.update(b"Hi There");
        let full = m.finalize().into_bytes();
        assert_eq!(
            full[..16],
            [
                0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf, 0xce, 0xaf, 0x0b,
                0xf1, 0x2b
            ]
        );
        let a = Signer::new(&AuthKey::new(&[1; 32]).unwrap());
        let b = Signer::new(&AuthKey::new(&[2; 32]).unwrap());
        let src = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let tag = a.tag(src, 0x88b5, b"payload");
        assert!(a.verify(src, 0x88b5, b"payload", &tag));
        assert!(!b.verify(src, 0x88b5, b"payload", &tag), "another key");
        assert!(!a.verify(
            EthernetAddress([2, 0, 0, 0, 0, 2]),
            0x88b5,
            b"payload",
            &tag
        ));
        assert!(
            !a.verify(src, 0x88b6, b"payload", &tag),
            "another EtherType"
        );
        assert!(!a.verify(src, 0x88b5, b"payloaD", &tag));
        assert!(!a.verify(src, 0x88b5, b"payload", &tag[..15]), "short tag");
    }

    #[test]
    fn digests_differ_when_any_field_does() {
        let d = |x: u64| DigestBuilder::default().bytes(b"mgmt").u64(x).finish();
        assert_eq!(d(1), d(1));
        assert_ne!(d(1), d(2));
        let ab = DigestBuilder::default().bytes(b"ab").bytes(b"c").finish();
        let a_bc = DigestBuilder::default().bytes(b"a").bytes(b"bc").finish();
        assert_ne!(ab, a_bc, "fields are length-prefixed");
    }
}
