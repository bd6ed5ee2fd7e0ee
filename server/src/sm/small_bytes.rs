//! A compact, owned byte string for the names and owners the keyspace stores by the
//! million: 24 bytes, up to [`INLINE`] bytes kept in place (no allocation), longer ones
//! in one exact-size boxed slice. `bytes::Bytes` is 32 bytes plus a shared allocation
//! per value, which is most of a lock's footprint when names are short.
//!
//! Equality, order and hash are those of the bytes, whatever the representation, and the
//! serde form is a plain byte string: the same as `Bytes`, so snapshots keep their format.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

use serde::de::{self, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Longest byte string stored without an allocation: what fits beside the tag and length.
pub(crate) const INLINE: usize = 22;

/// An owned byte string, inline when short.
#[derive(Clone)]
pub(crate) enum SmallBytes {
    /// `len <= INLINE`; bytes past `len` are zero (so derived layouts stay canonical).
    Inline { len: u8, buf: [u8; INLINE] },
    /// Only for strings longer than `INLINE`.
    Heap(Box<[u8]>),
}

// The whole point of the type: a regression here silently costs memory per object.
const _: () = assert!(std::mem::size_of::<SmallBytes>() == 24);
const _: () = assert!(std::mem::size_of::<Option<SmallBytes>>() == 24);

impl SmallBytes {
    /// The bytes.
    pub fn as_slice(&self) -> &[u8] {
        match self {
            SmallBytes::Inline { len, buf } => &buf[..usize::from(*len)],
            SmallBytes::Heap(b) => b,
        }
    }

    /// Takes a buffer, keeping its allocation only when the bytes do not fit inline.
    fn from_vec(v: Vec<u8>) -> Self {
        if v.len() <= INLINE {
            Self::from(v.as_slice())
        } else {
            SmallBytes::Heap(v.into_boxed_slice())
        }
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(bytes: &[u8]) -> Self {
        match u8::try_from(bytes.len()) {
            Ok(len) if bytes.len() <= INLINE => {
                let mut buf = [0u8; INLINE];
                buf[..bytes.len()].copy_from_slice(bytes);
                SmallBytes::Inline { len, buf }
            }
            _ => SmallBytes::Heap(bytes.into()),
        }
    }
}

impl From<&bytes::Bytes> for SmallBytes {
    fn from(bytes: &bytes::Bytes) -> Self {
        Self::from(bytes.as_ref())
    }
}

impl From<&SmallBytes> for bytes::Bytes {
    fn from(s: &SmallBytes) -> Self {
        bytes::Bytes::copy_from_slice(s.as_slice())
    }
}

impl Default for SmallBytes {
    fn default() -> Self {
        SmallBytes::Inline {
            len: 0,
            buf: [0; INLINE],
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl AsRef<[u8]> for SmallBytes {
    fn as_ref(&self) -> &[u8] {
        self.as_slice()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_slice()
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SmallBytes {}

impl PartialEq<[u8]> for SmallBytes {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_slice() == other
    }
}

impl PartialEq<bytes::Bytes> for SmallBytes {
    fn eq(&self, other: &bytes::Bytes) -> bool {
        self.as_slice() == other.as_ref()
    }
}

impl PartialOrd for SmallBytes {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for SmallBytes {
    fn cmp(&self, other: &Self) -> Ordering {
        self.as_slice().cmp(other.as_slice())
    }
}

impl Hash for SmallBytes {
    // As `[u8]` hashes, so that `Borrow<[u8]>` lookups find what was inserted.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_slice().hash(state);
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", self.as_slice().escape_ascii())
    }
}

impl Serialize for SmallBytes {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.as_slice())
    }
}

impl<'de> Deserialize<'de> for SmallBytes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_bytes(SmallBytesVisitor)
    }
}

struct SmallBytesVisitor;

impl<'de> Visitor<'de> for SmallBytesVisitor {
    type Value = SmallBytes;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a byte string")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<SmallBytes, E> {
        Ok(SmallBytes::from(v))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<SmallBytes, E> {
        Ok(SmallBytes::from_vec(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<SmallBytes, E> {
        Ok(SmallBytes::from(v.as_bytes()))
    }

    // Self-describing formats without a bytes type (JSON) write a sequence of numbers,
    // as `Bytes` accepts too.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<SmallBytes, A::Error> {
        let mut v = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            v.push(b);
        }
        Ok(SmallBytes::from_vec(v))
    }
}
