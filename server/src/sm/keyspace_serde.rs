//! The keyspace's snapshot form: a map from name to object, sorted by name, so that
//! replicas holding the same objects write the same bytes whatever their slab positions.
//! It is the form the earlier `BTreeMap<Bytes, Object>` wrote, so older snapshots decode.
//! Decoding rebuilds the hash and deadline indexes; a repeated name keeps the last
//! object, as decoding into a map did.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::keyspace::Keyspace;
use super::object::Object;
use super::small_bytes::SmallBytes;

/// Room reserved up front from a snapshot's own count, at most: the count is only a
/// claim until that many entries have actually decoded.
const MAX_RESERVE: usize = 1 << 20;

impl Serialize for Keyspace {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.sorted_entries())
    }
}

impl<'de> Deserialize<'de> for Keyspace {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(KeyspaceVisitor)
    }
}

struct KeyspaceVisitor;

impl<'de> Visitor<'de> for KeyspaceVisitor {
    type Value = Keyspace;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of names to objects")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keyspace, A::Error> {
        let mut ks = Keyspace::default();
        ks.reserve(map.size_hint().unwrap_or(0).min(MAX_RESERVE));
        while let Some((key, obj)) = map.next_entry::<SmallBytes, Object>()? {
            ks.put_slot(key, obj);
        }
        Ok(ks)
    }
}
