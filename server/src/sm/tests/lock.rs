use super::*;
use crate::sm::LockView;

fn view(owner: &str, token: u64, ttl_remaining_ms: u64, waiters: u64) -> LockView {
    LockView {
        owner: b(owner),
        token,
        ttl_remaining_ms,
        waiters,
    }
}

#[test]
fn free_lock_is_granted_with_the_entry_index_as_token() {
    let mut s = Sim::new();
    assert_eq!(
        s.at_index(7, 100, acquire("L", "a", 30, None)),
        Response::Granted { token: 7 }
    );
    assert_eq!(s.sm.lock_info(b"L", 100), Ok(Some(view("a", 7, 30, 0))));
    assert_eq!(s.sm.lock_info(b"L", 129), Ok(Some(view("a", 7, 1, 0))));
    assert_eq!(s.sm.lock_info(b"L", 130), Ok(None), "expired at expires_at exactly");
    assert_eq!(s.sm.last_token(), 7);
}

#[test]
fn tokens_exceed_the_last_even_when_the_index_is_lower() {
    let mut s = Sim::new();
    assert_eq!(
        s.at_index(50, 0, acquire("A", "a", 10, None)),
        Response::Granted { token: 50 }
    );
    // Same entry index cannot repeat, but a grant inside a later entry whose index is
    // below an earlier token (a rebuilt machine) must still go up.
    s.sm.last_token = 60;
    assert_eq!(
        s.at_index(51, 0, acquire("B", "a", 10, None)),
        Response::Granted { token: 61 }
    );
}

#[test]
fn reacquire_by_the_holder_keeps_the_token_and_resets_the_ttl() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire("L", "a", 30, None)));
    assert_eq!(s.at(120, acquire("L", "a", 50, None)), Response::Granted { token: t });
    assert_eq!(s.sm.lock_info(b"L", 120), Ok(Some(view("a", t, 50, 0))));
    assert_eq!(s.sm.last_token(), t, "no token issued for a re-acquire");
}

#[test]
fn held_by_another_without_wait_is_refused() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 30, None));
    assert_eq!(s.at(101, acquire("L", "b", 30, None)), Response::NotGranted);
    assert_eq!(s.at(102, acquire("L", "b", 30, Some(0))), Response::NotGranted);
    assert_eq!(s.sm.lock_info(b"L", 102).unwrap().unwrap().waiters, 0);
}

#[test]
fn wait_queues_and_release_hands_off_in_the_same_entry() {
    let mut s = Sim::new();
    let ta = token_of(&s.at(100, acquire("L", "a", 30, None)));
    assert_eq!(
        s.at_index(5, 101, acquire("L", "b", 40, Some(1000))),
        Response::Queued { waiter: 5 }
    );
    assert_eq!(
        s.at_index(6, 102, acquire("L", "c", 50, Some(1000))),
        Response::Queued { waiter: 6 }
    );
    assert_eq!(s.sm.lock_info(b"L", 102), Ok(Some(view("a", ta, 28, 2))));
    assert_eq!(s.at_index(9, 110, release("L", "a", ta)), Response::Bool(true));
    assert_eq!(s.events, vec![Event::WaiterGranted { waiter: 5, token: 9 }]);
    assert_eq!(s.sm.lock_info(b"L", 110), Ok(Some(view("b", 9, 40, 1))));
    assert_eq!(s.at_index(10, 111, release("L", "b", 9)), Response::Bool(true));
    assert_eq!(s.events, vec![Event::WaiterGranted { waiter: 6, token: 10 }]);
    assert_eq!(s.at(112, release("L", "c", 10)), Response::Bool(true));
    assert!(s.events.is_empty());
    assert_eq!(s.sm.lock_info(b"L", 112), Ok(None));
    assert_eq!(s.sm.len_live(112), 0, "a released lock with no queue is gone");
}

#[test]
fn expiry_with_a_queue_is_due_for_a_tick_that_hands_off() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 30, None));
    assert_eq!(s.sm.next_waiter_deadline(), None);
    s.at(101, acquire("L", "b", 40, Some(1000)));
    assert_eq!(s.sm.next_waiter_deadline(), Some(130));
    assert_eq!(s.sm.next_gc_deadline(), None, "a queued lock is the queue's business");
    assert_eq!(s.at(129, Op::Tick), Response::None);
    assert!(s.events.is_empty());
    assert_eq!(s.at_index(20, 130, Op::Tick), Response::None);
    assert_eq!(s.events, vec![Event::WaiterGranted { waiter: 2, token: 20 }]);
    assert_eq!(s.sm.lock_info(b"L", 130), Ok(Some(view("b", 20, 40, 0))));
    assert_eq!(s.sm.next_waiter_deadline(), None);
    assert_eq!(s.sm.next_gc_deadline(), Some(170));
}

#[test]
fn a_waiter_whose_deadline_passes_is_dropped_by_tick() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 1000, None));
    s.at_index(3, 100, acquire("L", "b", 40, Some(50)));
    assert_eq!(s.sm.next_waiter_deadline(), Some(150));
    assert_eq!(s.sm.lock_info(b"L", 149).unwrap().unwrap().waiters, 1);
    assert_eq!(
        s.sm.lock_info(b"L", 150).unwrap().unwrap().waiters,
        0,
        "given up at the deadline"
    );
    s.at(150, Op::Tick);
    assert_eq!(s.events, vec![Event::WaiterDropped { waiter: 3 }]);
    assert_eq!(s.sm.next_waiter_deadline(), None);
    assert_eq!(s.sm.next_gc_deadline(), Some(1100));
}

#[test]
fn hand_off_skips_waiters_that_gave_up() {
    let mut s = Sim::new();
    let ta = token_of(&s.at(100, acquire("L", "a", 1000, None)));
    s.at_index(3, 100, acquire("L", "b", 40, Some(10)));
    s.at_index(4, 100, acquire("L", "c", 40, Some(500)));
    s.at_index(5, 100, acquire("L", "d", 40, Some(20)));
    assert_eq!(s.at_index(6, 200, release("L", "a", ta)), Response::Bool(true));
    assert_eq!(
        s.events,
        vec![
            Event::WaiterDropped { waiter: 3 },
            Event::WaiterDropped { waiter: 5 },
            Event::WaiterGranted { waiter: 4, token: 6 },
        ]
    );
    assert_eq!(s.sm.lock_info(b"L", 200), Ok(Some(view("c", 6, 40, 0))));
}

#[test]
fn no_live_waiter_at_expiry_frees_the_lock() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 30, None));
    s.at_index(3, 100, acquire("L", "b", 40, Some(20)));
    assert_eq!(s.sm.next_waiter_deadline(), Some(120));
    s.at(140, Op::Tick);
    assert_eq!(s.events, vec![Event::WaiterDropped { waiter: 3 }]);
    assert_eq!(s.sm.len_live(140), 0);
    assert_eq!(s.sm.next_gc_deadline(), None);
    assert_eq!(s.sm.next_waiter_deadline(), None);
}

#[test]
fn a_second_wait_by_the_same_owner_takes_over_its_place() {
    let mut s = Sim::new();
    let ta = token_of(&s.at(100, acquire("L", "a", 1000, None)));
    s.at_index(3, 100, acquire("L", "b", 40, Some(500)));
    s.at_index(4, 100, acquire("L", "c", 40, Some(500)));
    assert_eq!(
        s.at_index(5, 110, acquire("L", "b", 70, Some(900))),
        Response::Queued { waiter: 5 }
    );
    assert_eq!(s.events, vec![Event::WaiterDropped { waiter: 3 }]);
    assert_eq!(s.sm.lock_info(b"L", 110).unwrap().unwrap().waiters, 2);
    s.at_index(6, 120, release("L", "a", ta));
    assert_eq!(s.events, vec![Event::WaiterGranted { waiter: 5, token: 6 }]);
    assert_eq!(s.sm.lock_info(b"L", 120), Ok(Some(view("b", 6, 70, 1))));
}

#[test]
fn a_queued_owner_asking_without_wait_keeps_its_place() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 1000, None));
    s.at_index(3, 100, acquire("L", "b", 40, Some(500)));
    assert_eq!(s.at(101, acquire("L", "b", 40, None)), Response::NotGranted);
    assert!(s.events.is_empty());
    assert_eq!(s.sm.lock_info(b"L", 101).unwrap().unwrap().waiters, 1);
}

#[test]
fn release_needs_owner_token_and_a_live_lease() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire("L", "a", 30, None)));
    assert_eq!(s.at(101, release("L", "a", t + 1)), Response::Bool(false));
    assert_eq!(s.at(101, release("L", "b", t)), Response::Bool(false));
    assert_eq!(s.at(101, release("M", "a", t)), Response::Bool(false));
    assert_eq!(s.at(130, release("L", "a", t)), Response::Bool(false), "expired");
    assert_eq!(s.sm.len_live(130), 0);
}

#[test]
fn extend_sets_the_ttl_from_now_only_for_the_live_holder() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire("L", "a", 30, None)));
    assert_eq!(s.at(110, extend("L", "a", t, 100)), Response::Bool(true));
    assert_eq!(s.sm.lock_info(b"L", 110), Ok(Some(view("a", t, 100, 0))));
    assert_eq!(s.at(120, extend("L", "a", t, 5)), Response::Bool(true), "may shorten");
    assert_eq!(s.sm.lock_info(b"L", 120), Ok(Some(view("a", t, 5, 0))));
    assert_eq!(s.at(121, extend("L", "a", t + 1, 100)), Response::Bool(false));
    assert_eq!(s.at(121, extend("L", "b", t, 100)), Response::Bool(false));
    assert_eq!(s.at(125, extend("L", "a", t, 100)), Response::Bool(false), "expired");
    assert_eq!(
        s.at(125, extend("L", "a", t, 0)),
        Response::Invalid("ttl must be positive".into())
    );
}

#[test]
fn cancel_wait_drops_the_waiter_before_any_hand_off() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 30, None));
    s.at_index(3, 100, acquire("L", "b", 40, Some(500)));
    s.at_index(4, 100, acquire("L", "c", 40, Some(500)));
    // The lease is over when the cancel arrives; the cancelled head must not be granted.
    assert_eq!(s.at_index(5, 140, cancel("L", 3)), Response::Bool(true));
    assert_eq!(
        s.events,
        vec![
            Event::WaiterDropped { waiter: 3 },
            Event::WaiterGranted { waiter: 4, token: 5 }
        ]
    );
    assert_eq!(s.at(141, cancel("L", 3)), Response::Bool(false));
    assert!(s.events.is_empty());
    assert_eq!(s.at(141, cancel("nope", 3)), Response::Bool(false));
    s.at(141, advance("F", 1, None));
    assert_eq!(
        s.at(141, cancel("F", 3)),
        Response::Bool(false),
        "another kind: not WRONGTYPE"
    );
}

#[test]
fn acquire_on_an_expired_lock_hands_off_to_the_queue_first() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 30, None));
    s.at_index(3, 100, acquire("L", "b", 40, Some(500)));
    assert_eq!(s.at_index(4, 135, acquire("L", "c", 10, None)), Response::NotGranted);
    assert_eq!(s.events, vec![Event::WaiterGranted { waiter: 3, token: 4 }]);
    assert_eq!(s.sm.lock_info(b"L", 135), Ok(Some(view("b", 4, 40, 0))));
}

#[test]
fn an_expired_lock_without_queue_goes_to_the_next_caller() {
    let mut s = Sim::new();
    let ta = token_of(&s.at(100, acquire("L", "a", 30, None)));
    let tb = token_of(&s.at(130, acquire("L", "b", 30, None)));
    assert!(tb > ta);
    assert_eq!(s.sm.lock_info(b"L", 130), Ok(Some(view("b", tb, 30, 0))));
}

#[test]
fn info_on_an_expired_lock_with_live_waiters_reads_free() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 30, None));
    s.at(100, acquire("L", "b", 40, Some(500)));
    assert_eq!(s.sm.lock_info(b"L", 131), Ok(None));
    assert_eq!(s.sm.len_live(131), 1, "but the name still holds a lock");
    assert_eq!(s.sm.fence_get(b"L"), Err(crate::sm::WrongType));
}

#[test]
fn one_tick_hands_off_several_locks_in_deadline_order() {
    let mut s = Sim::new();
    s.at(100, acquire("Z", "a", 10, None));
    s.at(100, acquire("A", "a", 20, None));
    s.at(100, acquire("M", "a", 10, None));
    s.at_index(11, 100, acquire("Z", "b", 10, Some(500)));
    s.at_index(12, 100, acquire("A", "b", 10, Some(500)));
    s.at_index(13, 100, acquire("M", "b", 10, Some(500)));
    assert_eq!(s.at_index(14, 200, Op::Tick), Response::None);
    // M and Z expired at 110 (name order), A at 120.
    assert_eq!(
        s.events,
        vec![
            Event::WaiterGranted { waiter: 13, token: 14 },
            Event::WaiterGranted { waiter: 11, token: 15 },
            Event::WaiterGranted { waiter: 12, token: 16 },
        ]
    );
    assert_eq!(s.sm.last_token(), 16);
}

#[test]
fn stamps_going_backwards_do_not_revive_an_expired_lease() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire("L", "a", 30, None)));
    s.at(200, Op::Tick);
    assert_eq!(s.at(110, release("L", "a", t)), Response::Bool(false));
    assert_eq!(s.sm.now(), 200);
    assert_eq!(
        s.at(110, acquire("L", "b", 30, None)),
        Response::Granted { token: s.index }
    );
    assert_eq!(
        s.sm.lock_info(b"L", 0).unwrap().unwrap().ttl_remaining_ms,
        30,
        "reads use max(now, sm.now)"
    );
}

#[test]
fn huge_ttls_and_waits_saturate_instead_of_overflowing() {
    let mut s = Sim::new();
    let t = token_of(&s.at(1000, acquire("L", "a", u64::MAX, None)));
    assert_eq!(
        s.sm.lock_info(b"L", 1000).unwrap().unwrap().ttl_remaining_ms,
        u64::MAX - 1000
    );
    assert_eq!(
        s.at(1000, acquire("L", "b", u64::MAX, Some(u64::MAX))),
        Response::Queued { waiter: s.index }
    );
    assert_eq!(s.sm.next_waiter_deadline(), Some(u64::MAX));
    assert_eq!(s.at(1001, extend("L", "a", t, 1 << 63)), Response::Bool(true));
    assert_eq!(s.at(u64::MAX, Op::Tick), Response::None);
    assert_eq!(s.events, vec![Event::WaiterDropped { waiter: 2 }]);
    assert_eq!(s.sm.len_live(u64::MAX), 0);
}

#[test]
fn zero_ttl_is_invalid_and_changes_nothing() {
    let mut s = Sim::new();
    assert_eq!(
        s.at(100, acquire("L", "a", 0, None)),
        Response::Invalid("ttl must be positive".into())
    );
    assert_eq!(s.sm.len_live(100), 0);
    assert_eq!(s.sm.last_token(), 0);
}
