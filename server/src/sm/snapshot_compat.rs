//! Decoding a snapshot written by an earlier release. postcard writes a struct as its
//! fields in order, with no names and no count, so a field added at the end is simply
//! absent from an older snapshot: decoding it with a derived `Deserialize` fails at the
//! end of the buffer and the node would not start. Fields are only ever appended, and
//! each one added after the first release is read here as "absent means empty".

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

use super::StateMachine;

/// The fields in snapshot order: the first four are in every snapshot, `scripts` was
/// added with the Redis data commands, `acl` with ACL users.
const FIELDS: &[&str] = &["now", "last_token", "last_waiter", "keys", "scripts", "acl"];

impl<'de> Deserialize<'de> for StateMachine {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("StateMachine", FIELDS, Fields)
    }
}

struct Fields;

impl<'de> Visitor<'de> for Fields {
    type Value = StateMachine;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a fencepost state machine snapshot")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<StateMachine, A::Error> {
        let missing = |i: usize| de::Error::invalid_length(i, &"the fields of the first release");
        let now = seq.next_element()?.ok_or_else(|| missing(0))?;
        let last_token = seq.next_element()?.ok_or_else(|| missing(1))?;
        let last_waiter = seq.next_element()?.ok_or_else(|| missing(2))?;
        let keys = seq.next_element()?.ok_or_else(|| missing(3))?;
        // An older snapshot ends here: postcard reports the end of its buffer as an error.
        let scripts = seq.next_element().ok().flatten().unwrap_or_default();
        let acl = seq.next_element().ok().flatten().unwrap_or_default();
        Ok(StateMachine {
            now,
            last_token,
            last_waiter,
            keys,
            scripts,
            acl,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde::Serialize;

    use super::*;
    use crate::sm::{Op, Request};

    /// The first release's layout: the same fields without the script cache.
    #[derive(Serialize)]
    struct FirstRelease<'a> {
        now: u64,
        last_token: u64,
        last_waiter: u64,
        keys: &'a super::super::Keyspace,
    }

    #[test]
    fn a_snapshot_without_the_script_cache_still_decodes() {
        let mut sm = StateMachine::new();
        let op = Op::LockAcquire {
            name: "l".into(),
            owner: "o".into(),
            ttl_ms: 60_000,
            wait_ms: None,
        };
        sm.apply(5, &Request { time: 1_000, op }, &mut Vec::new());
        let old = FirstRelease {
            now: sm.now,
            last_token: sm.last_token,
            last_waiter: sm.last_waiter,
            keys: &sm.keys,
        };
        let bytes = postcard::to_allocvec(&old).expect("encode");
        let back: StateMachine = postcard::from_bytes(&bytes).expect("an old snapshot decodes");
        assert_eq!(back.last_token(), 5);
        assert!(back.lock_info(b"l", 1_000).expect("a lock").is_some());
        // And today's snapshots round-trip with their script cache.
        let now = postcard::to_allocvec(&sm).expect("encode");
        let again: StateMachine = postcard::from_bytes(&now).expect("decode");
        assert_eq!(postcard::to_allocvec(&again).expect("encode"), now);
    }

    #[test]
    fn a_truncated_snapshot_is_still_an_error() {
        let bytes = postcard::to_allocvec(&(1u64, 2u64)).expect("encode");
        assert!(postcard::from_bytes::<StateMachine>(&bytes).is_err());
    }
}
