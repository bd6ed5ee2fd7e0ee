use super::*;
use crate::sm::{StaleReason, WrongType};

fn older(token: u64, highest: u64) -> Response {
    Response::Stale(StaleReason::Older { token, highest })
}

fn not_holder(lock: &str, token: u64) -> Response {
    Response::Stale(StaleReason::NotHolder { lock: b(lock), token })
}

#[test]
fn advance_accepts_equal_or_higher_tokens_only() {
    let mut s = Sim::new();
    assert_eq!(s.sm.fence_get(b"R"), Ok(None));
    assert_eq!(s.at(1, advance("R", 5, None)), Response::FenceAccepted { token: 5 });
    assert_eq!(s.at(2, advance("R", 5, None)), Response::FenceAccepted { token: 5 });
    assert_eq!(s.at(3, advance("R", 4, None)), older(4, 5));
    assert_eq!(s.at(4, advance("R", 9, None)), Response::FenceAccepted { token: 9 });
    assert_eq!(s.sm.fence_get(b"R"), Ok(Some((9, None))));
}

#[test]
fn set_stores_the_value_and_advance_keeps_it() {
    let mut s = Sim::new();
    assert_eq!(s.at(1, fence_set("K", 3, "v3", None)), Response::Ok);
    assert_eq!(
        s.at(1, fence_set("K", 3, "v3b", None)),
        Response::Ok,
        "one holder may write many times"
    );
    assert_eq!(s.sm.fence_get(b"K"), Ok(Some((3, Some(b("v3b"))))));
    assert_eq!(s.at(1, fence_set("K", 2, "v2", None)), older(2, 3));
    assert_eq!(s.sm.fence_get(b"K"), Ok(Some((3, Some(b("v3b"))))));
    assert_eq!(s.at(1, advance("K", 8, None)), Response::FenceAccepted { token: 8 });
    assert_eq!(s.sm.fence_get(b"K"), Ok(Some((8, Some(b("v3b"))))));
    assert_eq!(s.at(1, fence_set("K", 7, "v7", None)), older(7, 8));
}

#[test]
fn lock_option_requires_the_current_holders_token() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire("L", "a", 30, None)));
    assert_eq!(
        s.at(101, advance("R", t, Some("L"))),
        Response::FenceAccepted { token: t }
    );
    assert_eq!(s.at(101, fence_set("R", t, "x", Some("L"))), Response::Ok);
    assert_eq!(s.at(101, advance("R", t + 100, Some("L"))), not_holder("L", t + 100));
    assert_eq!(s.at(101, advance("R", t, Some("nolock"))), not_holder("nolock", t));
    assert_eq!(
        s.at(130, fence_set("R", t, "late", Some("L"))),
        not_holder("L", t),
        "lease over"
    );
    assert_eq!(s.sm.fence_get(b"R"), Ok(Some((t, Some(b("x"))))));
}

#[test]
fn holder_check_comes_before_the_age_check() {
    let mut s = Sim::new();
    let t = token_of(&s.at(100, acquire("L", "a", 30, None)));
    s.at(100, advance("R", t + 50, None));
    assert_eq!(s.at(101, advance("R", t, Some("L"))), older(t, t + 50));
    assert_eq!(s.at(101, advance("R", t + 1, Some("L"))), not_holder("L", t + 1));
}

#[test]
fn lock_option_on_a_name_of_another_kind_is_wrongtype() {
    let mut s = Sim::new();
    s.at(1, bucket("B", params(1, 1, 1000), 1));
    assert_eq!(s.at(1, advance("R", 1, Some("B"))), Response::WrongType);
    assert_eq!(
        s.at(1, advance("R", 1, Some("R"))),
        not_holder("R", 1),
        "a free name is no lock"
    );
    s.at(1, advance("R", 1, None));
    assert_eq!(s.at(1, advance("R", 1, Some("R"))), Response::WrongType);
}

#[test]
fn lock_option_settles_an_expired_lock_first() {
    let mut s = Sim::new();
    let ta = token_of(&s.at(100, acquire("L", "a", 30, None)));
    s.at_index(5, 100, acquire("L", "b", 30, Some(500)));
    assert_eq!(s.at_index(6, 140, advance("R", ta, Some("L"))), not_holder("L", ta));
    assert_eq!(s.events, vec![Event::WaiterGranted { waiter: 5, token: 6 }]);
    assert_eq!(
        s.at(141, advance("R", 6, Some("L"))),
        Response::FenceAccepted { token: 6 }
    );
}

#[test]
fn a_fence_key_holding_a_lock_is_wrongtype() {
    let mut s = Sim::new();
    s.at(100, acquire("L", "a", 30, None));
    assert_eq!(s.at(100, advance("L", 1, None)), Response::WrongType);
    assert_eq!(s.at(100, fence_set("L", 1, "v", None)), Response::WrongType);
    assert_eq!(s.sm.fence_get(b"L"), Err(WrongType));
    // Once the lease is over the name is free.
    assert_eq!(s.sm.fence_get(b"L"), Err(WrongType), "reads use the machine's own time");
    assert_eq!(s.at(130, advance("L", 1, None)), Response::FenceAccepted { token: 1 });
}

#[test]
fn fences_never_expire() {
    let mut s = Sim::new();
    s.at(1, fence_set("K", 3, "v", None));
    assert_eq!(s.sm.next_gc_deadline(), None);
    s.at(u64::MAX, Op::Tick);
    assert_eq!(s.sm.fence_get(b"K"), Ok(Some((3, Some(b("v"))))));
    assert_eq!(s.sm.len_live(u64::MAX), 1);
}
