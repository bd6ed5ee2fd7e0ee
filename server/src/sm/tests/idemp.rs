use super::*;
use crate::sm::{IdempView, StaleReason, WrongType};

fn lost(token: u64) -> Response {
    Response::Stale(StaleReason::ClaimLost { token })
}

#[test]
fn begin_claims_then_reports_pending_then_done() {
    let mut s = Sim::new();
    let t = token_of(&s.at_index(4, 1000, begin("K", "fp", 10_000, 300)));
    assert_eq!(t, 4);
    assert_eq!(
        s.at(1100, begin("K", "fp", 10_000, 300)),
        Response::IdempPending { retry_after_ms: 200 }
    );
    assert_eq!(
        s.sm.idemp_get(b"K", 1100),
        Ok(Some(IdempView::Pending { retry_after_ms: 200 }))
    );
    assert_eq!(s.at(1200, complete("K", t, "resp")), Response::Ok);
    assert_eq!(
        s.at(1300, begin("K", "fp", 10_000, 300)),
        Response::IdempDone { response: b("resp") }
    );
    assert_eq!(
        s.sm.idemp_get(b"K", 1300),
        Ok(Some(IdempView::Done { response: b("resp") }))
    );
}

#[test]
fn another_fingerprint_is_a_mismatch_in_every_state() {
    let mut s = Sim::new();
    s.at(0, begin("K", "fp", 1000, 100));
    assert_eq!(s.at(1, begin("K", "other", 1000, 100)), Response::Mismatch);
    assert_eq!(
        s.at(200, begin("K", "other", 1000, 100)),
        Response::Mismatch,
        "even after the lease"
    );
    let t = token_of(&s.at(200, begin("K", "fp", 1000, 100)));
    assert_eq!(s.at(201, complete("K", t, "r")), Response::Ok);
    assert_eq!(s.at(202, begin("K", "other", 1000, 100)), Response::Mismatch);
}

#[test]
fn complete_is_retry_safe_and_keeps_the_first_response() {
    let mut s = Sim::new();
    let t = token_of(&s.at(0, begin("K", "fp", 1000, 100)));
    assert_eq!(s.at(1, complete("K", t, "first")), Response::Ok);
    assert_eq!(s.at(2, complete("K", t, "second")), Response::Ok);
    assert_eq!(
        s.sm.idemp_get(b"K", 2),
        Ok(Some(IdempView::Done { response: b("first") }))
    );
    assert_eq!(s.at(3, complete("K", t + 1, "x")), lost(t + 1));
    assert_eq!(s.at(3, complete("absent", t, "x")), lost(t));
}

#[test]
fn an_expired_lease_is_taken_over_with_a_higher_token() {
    let mut s = Sim::new();
    let t1 = token_of(&s.at(0, begin("K", "fp", 10_000, 100)));
    assert_eq!(
        s.at(99, begin("K", "fp", 10_000, 100)),
        Response::IdempPending { retry_after_ms: 1 }
    );
    let t2 = token_of(&s.at(100, begin("K", "fp", 5_000, 100)));
    assert!(t2 > t1);
    assert_eq!(s.at(150, complete("K", t1, "old")), lost(t1));
    assert_eq!(s.at(150, abort("K", t1)), lost(t1));
    assert_eq!(s.at(160, complete("K", t2, "new")), Response::Ok);
    // The take-over restarted the ttl: the record lives until 100 + 5000.
    assert_eq!(s.sm.next_gc_deadline(), Some(5100));
    assert_eq!(
        s.sm.idemp_get(b"K", 5099),
        Ok(Some(IdempView::Done { response: b("new") }))
    );
    assert_eq!(s.sm.idemp_get(b"K", 5100), Ok(None));
}

#[test]
fn a_lapsed_lease_can_still_complete_until_taken_over() {
    let mut s = Sim::new();
    let t = token_of(&s.at(0, begin("K", "fp", 10_000, 100)));
    assert_eq!(
        s.sm.idemp_get(b"K", 500),
        Ok(Some(IdempView::Pending { retry_after_ms: 0 }))
    );
    assert_eq!(s.at(500, complete("K", t, "r")), Response::Ok);
}

#[test]
fn abort_drops_the_claim_so_a_retry_starts_afresh() {
    let mut s = Sim::new();
    let t = token_of(&s.at(0, begin("K", "fp", 1000, 100)));
    assert_eq!(s.at(1, abort("K", t + 1)), lost(t + 1));
    assert_eq!(s.at(1, abort("K", t)), Response::Ok);
    assert_eq!(s.sm.idemp_get(b"K", 1), Ok(None));
    assert_eq!(s.at(1, abort("K", t)), lost(t));
    let t2 = token_of(&s.at(2, begin("K", "other-fp-is-fine-now", 1000, 100)));
    assert!(t2 > t);
    s.at(3, complete("K", t2, "r"));
    assert_eq!(s.at(4, abort("K", t2)), lost(t2), "a done record is not aborted");
}

#[test]
fn done_records_are_forgotten_at_begin_plus_ttl() {
    let mut s = Sim::new();
    let t = token_of(&s.at(1000, begin("K", "fp", 500, 100)));
    s.at(1050, complete("K", t, "r"));
    assert_eq!(s.sm.next_gc_deadline(), Some(1500));
    assert_eq!(s.sm.len_live(1499), 1);
    assert_eq!(s.sm.len_live(1500), 0);
    let t2 = token_of(&s.at(1500, begin("K", "fp", 500, 100)));
    assert!(t2 > t);
}

#[test]
fn a_pending_claim_outlives_its_ttl_until_the_lease_ends() {
    let mut s = Sim::new();
    s.at(0, begin("K", "fp", 100, 1000));
    assert_eq!(s.sm.next_gc_deadline(), Some(1000));
    assert_eq!(
        s.sm.idemp_get(b"K", 500),
        Ok(Some(IdempView::Pending { retry_after_ms: 500 }))
    );
    assert_eq!(
        s.at(500, begin("K", "fp", 100, 1000)),
        Response::IdempPending { retry_after_ms: 500 }
    );
    s.at(1000, Op::Tick);
    assert_eq!(s.sm.len_live(1000), 0);
    assert_eq!(s.sm.next_gc_deadline(), None);
}

#[test]
fn completing_past_the_ttl_leaves_nothing_to_replay() {
    let mut s = Sim::new();
    let t = token_of(&s.at(0, begin("K", "fp", 100, 1000)));
    assert_eq!(s.at(500, complete("K", t, "r")), Response::Ok);
    assert_eq!(s.sm.idemp_get(b"K", 500), Ok(None));
    s.at(500, Op::Tick);
    assert_eq!(s.sm.next_gc_deadline(), None);
}

#[test]
fn tokens_come_from_the_lock_sequence() {
    let mut s = Sim::new();
    let a = token_of(&s.at_index(10, 0, acquire("L", "a", 100, None)));
    let b2 = token_of(&s.at_index(10 + 1, 0, begin("K", "fp", 100, 10)));
    let c = token_of(&s.at_index(10 + 2, 0, acquire("M", "a", 100, None)));
    assert!(a < b2 && b2 < c);
}

#[test]
fn zero_ttl_or_lease_is_invalid() {
    let mut s = Sim::new();
    assert_eq!(
        s.at(0, begin("K", "fp", 0, 10)),
        Response::Invalid("ttl must be positive".into())
    );
    assert_eq!(
        s.at(0, begin("K", "fp", 10, 0)),
        Response::Invalid("lease must be positive".into())
    );
    assert_eq!(s.sm.last_token(), 0);
}

#[test]
fn other_kinds_are_wrongtype() {
    let mut s = Sim::new();
    s.at(0, advance("F", 1, None));
    assert_eq!(s.at(0, begin("F", "fp", 10, 10)), Response::WrongType);
    assert_eq!(s.at(0, complete("F", 1, "r")), Response::WrongType);
    assert_eq!(s.at(0, abort("F", 1)), Response::WrongType);
    assert_eq!(s.sm.idemp_get(b"F", 0), Err(WrongType));
}

#[test]
fn huge_ttl_and_lease_saturate() {
    let mut s = Sim::new();
    let t = token_of(&s.at(5, begin("K", "fp", 1 << 63, u64::MAX)));
    assert_eq!(
        s.sm.idemp_get(b"K", 5),
        Ok(Some(IdempView::Pending {
            retry_after_ms: u64::MAX - 5
        }))
    );
    assert_eq!(s.at(6, complete("K", t, "r")), Response::Ok);
    assert_eq!(s.sm.next_gc_deadline(), Some(5 + (1 << 63)));
}
