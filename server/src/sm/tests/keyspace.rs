use super::*;
use crate::sm::{LockView, WrongType};

/// Puts one object of each kind under its own name.
fn one_of_each(s: &mut Sim) {
    s.at(0, acquire("lock", "a", 1000, None));
    s.at(0, advance("fence", 1, None));
    s.at(0, bucket("bucket", params(10, 1, 100), 1));
    s.at(0, begin("idemp", "fp", 1000, 100));
}

#[test]
fn one_keyspace_every_kind_refuses_the_others_names() {
    let mut s = Sim::new();
    one_of_each(&mut s);
    let p = params(10, 1, 100);
    for name in ["fence", "bucket", "idemp"] {
        assert_eq!(s.at(1, acquire(name, "a", 10, None)), Response::WrongType, "{name}");
        assert_eq!(s.at(1, release(name, "a", 1)), Response::WrongType, "{name}");
        assert_eq!(s.at(1, extend(name, "a", 1, 10)), Response::WrongType, "{name}");
        assert_eq!(s.sm.lock_info(name.as_bytes(), 1), Err(WrongType));
    }
    for name in ["lock", "bucket", "idemp"] {
        assert_eq!(s.at(1, advance(name, 5, None)), Response::WrongType, "{name}");
        assert_eq!(s.at(1, fence_set(name, 5, "v", None)), Response::WrongType, "{name}");
        assert_eq!(s.sm.fence_get(name.as_bytes()), Err(WrongType));
    }
    for name in ["lock", "fence", "idemp"] {
        assert_eq!(s.at(1, bucket(name, p, 1)), Response::WrongType, "{name}");
        assert_eq!(s.sm.bucket_peek(name.as_bytes(), p, 1), Err(WrongType));
    }
    for name in ["lock", "fence", "bucket"] {
        assert_eq!(s.at(1, begin(name, "fp", 10, 10)), Response::WrongType, "{name}");
        assert_eq!(s.sm.idemp_get(name.as_bytes(), 1), Err(WrongType));
    }
    assert_eq!(s.sm.len_live(1), 4);
}

#[test]
fn an_expired_object_leaves_its_name_free_for_another_kind() {
    let mut s = Sim::new();
    s.at(0, acquire("n", "a", 10, None));
    assert_eq!(
        s.at(10, begin("n", "fp", 10, 10)),
        Response::IdempStarted { token: s.index }
    );
    assert_eq!(
        s.at(19, bucket("n", params(2, 1, 10), 1)),
        Response::WrongType,
        "lease still runs"
    );
    assert_eq!(
        s.sm.lock_info(b"n", 20),
        Ok(None),
        "an expired idemp record reads as absent"
    );
    let t = token_of(&s.at(20, acquire("n", "b", 10, None)));
    assert_eq!(
        s.sm.lock_info(b"n", 20),
        Ok(Some(LockView {
            owner: b("b"),
            token: t,
            ttl_remaining_ms: 10,
            waiters: 0
        }))
    );
}

#[test]
fn len_live_counts_only_what_exists_at_now() {
    let mut s = Sim::new();
    one_of_each(&mut s);
    assert_eq!(s.sm.len_live(0), 4);
    assert_eq!(s.sm.len_live(100), 3, "the bucket is full again");
    assert_eq!(s.sm.len_live(1000), 1, "only the fence is left");
}

#[test]
fn tick_forgets_at_most_a_batch_of_expired_objects() {
    let mut s = Sim::new();
    for i in 0..1100 {
        s.at(0, acquire(&format!("l{i:04}"), "a", 10 + i % 7, None));
    }
    assert_eq!(s.sm.next_gc_deadline(), Some(10));
    s.at(100, Op::Tick);
    assert_eq!(s.sm.keys.gc_candidates(u64::MAX, usize::MAX).len(), 76);
    assert!(
        s.sm.next_gc_deadline().is_some_and(|d| d <= 100),
        "more work remains due"
    );
    s.at(100, Op::Tick);
    assert_eq!(s.sm.next_gc_deadline(), None);
    assert_eq!(s.sm.len_live(100), 0);
}

#[test]
fn the_clock_is_the_highest_stamp_seen() {
    let mut s = Sim::new();
    assert_eq!(s.sm.now(), 0);
    s.at(50, Op::Tick);
    s.at(20, Op::Tick);
    assert_eq!(s.sm.now(), 50);
    // A lock taken under a stale stamp runs from the machine's time.
    s.at(30, acquire("L", "a", 10, None));
    assert_eq!(s.sm.lock_info(b"L", 50).unwrap().unwrap().ttl_remaining_ms, 10);
}

#[test]
fn an_empty_machine_has_no_deadlines() {
    let sm = StateMachine::new();
    assert_eq!(sm.next_gc_deadline(), None);
    assert_eq!(sm.next_waiter_deadline(), None);
    assert_eq!(sm.last_token(), 0);
    assert_eq!(sm.len_live(0), 0);
}

#[test]
fn a_snapshot_round_trips_with_its_indexes_rebuilt() {
    let mut s = Sim::new();
    one_of_each(&mut s);
    s.at(0, acquire("lock", "b", 10, Some(5000)));
    s.at(0, fence_set("fv", 3, "value", None));
    let bytes = postcard::to_allocvec(&s.sm).unwrap();
    let back: StateMachine = postcard::from_bytes(&bytes).unwrap();
    assert_eq!(postcard::to_allocvec(&back).unwrap(), bytes);
    assert!(back.keys.indexes_consistent());
    assert_eq!(back.now(), s.sm.now());
    assert_eq!(back.last_token(), s.sm.last_token());
    assert_eq!(back.next_gc_deadline(), s.sm.next_gc_deadline());
    assert_eq!(back.next_waiter_deadline(), s.sm.next_waiter_deadline());
    assert_eq!(back.lock_info(b"lock", 0), s.sm.lock_info(b"lock", 0));
    assert_eq!(back.fence_get(b"fv"), Ok(Some((3, Some(b("value"))))));
    let mut t = Sim {
        sm: back,
        index: s.index,
        events: Vec::new(),
    };
    assert_eq!(t.at(1000, Op::Tick), s.at(1000, Op::Tick));
    assert_eq!(t.events, s.events);
    assert!(!s.events.is_empty());
}
