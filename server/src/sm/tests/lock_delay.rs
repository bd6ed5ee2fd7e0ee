//! Lock delay: after an expiry nobody is granted until the delay is over, waiters keep
//! their place; a release has no delay; the delayed form goes back to a plain lock and
//! survives a snapshot.

use super::*;
use crate::sm::StateMachine;

fn acquire_delay(name: &str, owner: &str, ttl_ms: u64, wait_ms: Option<u64>, delay_ms: u64) -> Op {
    Op::LockAcquireDelayed {
        name: b(name),
        owner: b(owner),
        ttl_ms,
        wait_ms,
        delay_ms,
    }
}

fn granted_to(s: &Sim) -> Vec<u64> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::WaiterGranted { waiter, .. } => Some(*waiter),
            _ => None,
        })
        .collect()
}

#[test]
fn after_an_expiry_nobody_is_granted_until_the_delay_is_over() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire_delay("L", "a", 1000, None, 500)));
    // Expired at 1100; blocked until 1600, for the old holder as for anyone.
    assert!(s.sm.lock_info(b"L", 1200).expect("a lock").is_none(), "reads as free");
    assert_eq!(s.at(1200, acquire("L", "b", 1000, None)), Response::NotGranted);
    assert_eq!(s.at(1300, acquire("L", "a", 1000, None)), Response::NotGranted);
    assert_eq!(s.at(1300, extend("L", "a", t, 1000)), Response::Bool(false));
    assert_eq!(s.at(1400, release("L", "a", t)), Response::Bool(false));
    assert_eq!(s.sm.next_gc_deadline(), Some(1600));
    let t2 = token_of(&s.at(1600, acquire("L", "b", 1000, None)));
    assert!(t2 > t);
    assert_eq!(s.sm.keys.stored(), 1);
}

#[test]
fn a_release_has_no_delay() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire_delay("L", "a", 1000, None, 5000)));
    assert_eq!(s.at(200, release("L", "a", t)), Response::Bool(true));
    assert!(matches!(
        s.at(200, acquire("L", "b", 1000, None)),
        Response::Granted { .. }
    ));
}

#[test]
fn waiters_keep_their_place_and_are_served_when_the_delay_ends() {
    let mut s = Sim::new();
    token_of(&s.at(100, acquire_delay("L", "a", 1000, None, 500)));
    let Response::Queued { waiter: w1 } = s.at(200, acquire("L", "b", 1000, Some(5000))) else {
        panic!("b should queue")
    };
    let Response::Queued { waiter: w2 } = s.at(300, acquire_delay("L", "c", 1000, Some(5000), 700)) else {
        panic!("c should queue")
    };
    // The lease ends at 1100; the Tick must come when the delay is over, not before.
    assert_eq!(s.sm.next_waiter_deadline(), Some(1600));
    s.at(1100, Op::Tick);
    assert!(granted_to(&s).is_empty());
    s.at(1600, Op::Tick);
    assert_eq!(granted_to(&s), vec![w1]);
    // b's lease has no delay: at its expiry c is served at once...
    s.at(2600, Op::Tick);
    assert_eq!(granted_to(&s), vec![w2]);
    // ...and c asked for one: its expiry (3600) blocks until 4300.
    assert_eq!(s.at(3700, acquire("L", "d", 1000, None)), Response::NotGranted);
    assert!(matches!(
        s.at(4300, acquire("L", "d", 1000, None)),
        Response::Granted { .. }
    ));
}

#[test]
fn a_renewal_keeps_the_delay_it_names_and_the_plain_form_comes_back() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire_delay("L", "a", 1000, None, 500)));
    assert!(matches!(
        s.sm.keys.get(b"L"),
        Some(super::super::object::Object::DelayedLock(_))
    ));
    // Renewing without DELAY drops the delay: the lock is plain again.
    assert_eq!(s.at(200, acquire("L", "a", 1000, None)), Response::Granted { token: t });
    assert!(matches!(
        s.sm.keys.get(b"L"),
        Some(super::super::object::Object::Lock(_))
    ));
    assert!(matches!(
        s.at(1200, acquire("L", "b", 1000, None)),
        Response::Granted { .. }
    ));
}

#[test]
fn a_delayed_lock_survives_a_snapshot_and_fences_like_a_lock() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire_delay("L", "a", 1000, None, 500)));
    assert_eq!(
        s.at(150, advance("r", t, Some("L"))),
        Response::FenceAccepted { token: t }
    );
    let bytes = postcard::to_allocvec(&s.sm).expect("encode");
    let mut back: StateMachine = postcard::from_bytes(&bytes).expect("decode");
    let mut events = Vec::new();
    let r = back.apply(
        10,
        &Request {
            time: 1200,
            op: acquire("L", "b", 1000, None),
        },
        &mut events,
    );
    assert_eq!(r, Response::NotGranted, "the delay came through the snapshot");
    // In the delay, the expired holder's token no longer passes the fence.
    assert!(matches!(s.at(1200, advance("r", t, Some("L"))), Response::Stale(_)));
}
