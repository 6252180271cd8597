//! Names and the configured members of a cluster.

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::Deref;

use super::limits::{MAX_MEMBERS, MAX_NAME_LEN};
use super::rules::Rule;

/// A cluster, node or member name: 1 to [`MAX_NAME_LEN`] bytes, no spaces
/// or control characters.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Name(heapless::String<MAX_NAME_LEN>);

impl Name {
    /// `text` as a name.
    ///
    /// # Errors
    /// The rule `text` breaks.
    pub fn new(text: &str) -> Result<Name, Rule> {
        if text.is_empty() {
            return Err(Rule::NameEmpty);
        }
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Rule::NameCharacters);
        }
        let mut s = heapless::String::new();
        s.push_str(text).map_err(|_| Rule::NameTooLong)?;
        Ok(Name(s))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.0.as_str(), f)
    }
}

/// One configured member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its node name.
    pub name: Name,
    /// Its address on the management subnet.
    pub address: Ipv4Addr,
    /// A witness votes in the quorum election but never holds the VIP.
    pub witness: bool,
}

/// The configured members, in config order (at most [`MAX_MEMBERS`]).
pub type Members = heapless::Vec<Member, MAX_MEMBERS>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_their_rules() {
        assert_eq!(Name::new("node-a").unwrap().as_str(), "node-a");
        assert_eq!(Name::new(""), Err(Rule::NameEmpty));
        assert_eq!(Name::new("node a"), Err(Rule::NameCharacters));
        assert_eq!(Name::new("a\u{7}"), Err(Rule::NameCharacters));
        let long = [b'x'; MAX_NAME_LEN + 1];
        let long = core::str::from_utf8(&long).unwrap();
        assert_eq!(Name::new(long), Err(Rule::NameTooLong));
        assert!(Name::new(&long[1..]).is_ok());
    }
}
