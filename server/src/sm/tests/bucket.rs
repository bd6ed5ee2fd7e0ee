use super::*;
use crate::sm::{BucketReply, WrongType};

fn rep(limited: bool, capacity: u64, remaining: u64, retry_after_ms: i64, reset_after_ms: u64) -> Response {
    Response::Bucket(BucketReply {
        limited,
        capacity,
        remaining,
        retry_after_ms,
        reset_after_ms,
    })
}

#[test]
fn a_new_bucket_starts_full() {
    let mut s = Sim::new();
    let p = params(10, 1, 1000);
    assert_eq!(
        s.sm.bucket_peek(b"B", p, 0),
        Ok(BucketReply {
            limited: false,
            capacity: 10,
            remaining: 10,
            retry_after_ms: -1,
            reset_after_ms: 0
        })
    );
    assert_eq!(s.at(1000, bucket("B", p, 1)), rep(false, 10, 9, -1, 1000));
    assert_eq!(s.at(1000, bucket("B", p, 9)), rep(false, 10, 0, -1, 10_000));
}

#[test]
fn an_empty_bucket_refuses_and_says_when_to_retry() {
    let mut s = Sim::new();
    let p = params(10, 1, 1000);
    s.at(1000, bucket("B", p, 10));
    assert_eq!(s.at(1000, bucket("B", p, 1)), rep(true, 10, 0, 1000, 10_000));
    assert_eq!(s.at(1000, bucket("B", p, 3)), rep(true, 10, 0, 3000, 10_000));
    // A refusal takes nothing.
    assert_eq!(s.at(2000, bucket("B", p, 1)), rep(false, 10, 0, -1, 10_000));
}

#[test]
fn refill_is_smooth_with_no_step_at_period_boundaries() {
    let mut s = Sim::new();
    let p = params(10, 1, 1000);
    s.at(1000, bucket("B", p, 10));
    assert_eq!(s.at(1500, bucket("B", p, 1)), rep(true, 10, 0, 500, 9500));
    assert_eq!(s.at(1999, bucket("B", p, 1)), rep(true, 10, 0, 1, 9001));
    assert_eq!(s.at(2250, bucket("B", p, 1)), rep(false, 10, 0, -1, 9750));
    assert_eq!(
        s.sm.bucket_peek(b"B", p, 2250),
        Ok(BucketReply {
            limited: false,
            capacity: 10,
            remaining: 0,
            retry_after_ms: -1,
            reset_after_ms: 9750
        })
    );
}

#[test]
fn fractional_rates_round_retry_and_reset_up() {
    let mut s = Sim::new();
    // 3 tokens per 1000 ms: one token every 333.33 ms.
    let p = params(3, 3, 1000);
    s.at(0, bucket("B", p, 3));
    assert_eq!(s.at(0, bucket("B", p, 1)), rep(true, 3, 0, 334, 1000));
    assert_eq!(s.at(333, bucket("B", p, 1)), rep(true, 3, 0, 1, 667));
    assert_eq!(s.at(334, bucket("B", p, 1)), rep(false, 3, 0, -1, 1000));
}

#[test]
fn cost_zero_peeks_and_matches_the_read() {
    let mut s = Sim::new();
    let p = params(5, 2, 100);
    s.at(0, bucket("B", p, 4));
    let before = s.sm.clone();
    let r = s.at(20, bucket("B", p, 0));
    assert_eq!(r, Response::Bucket(s.sm.bucket_peek(b"B", p, 20).unwrap()));
    assert_eq!(r, rep(false, 5, 1, -1, 180));
    assert_eq!(
        postcard::to_allocvec(&before.keys).unwrap(),
        postcard::to_allocvec(&s.sm.keys).unwrap()
    );
    assert_eq!(s.sm.bucket_peek(b"other", p, 20).unwrap().remaining, 5);
    assert_eq!(s.sm.len_live(20), 1, "peeking an absent bucket creates nothing");
}

#[test]
fn bad_parameters_are_invalid() {
    let mut s = Sim::new();
    let invalid = |m: &str| Response::Invalid(m.into());
    assert_eq!(
        s.at(0, bucket("B", params(5, 1, 100), 6)),
        invalid("COST exceeds capacity")
    );
    assert_eq!(
        s.at(0, bucket("B", params(0, 1, 100), 0)),
        invalid("capacity must be positive")
    );
    assert_eq!(
        s.at(0, bucket("B", params(5, 0, 100), 1)),
        invalid("refill tokens must be positive")
    );
    assert_eq!(
        s.at(0, bucket("B", params(5, 1, 0), 1)),
        invalid("refill period must be positive")
    );
    assert_eq!(s.sm.len_live(0), 0);
    let peek = s.sm.bucket_peek(b"B", params(5, 1, 0), 0).unwrap();
    assert!(peek.limited, "an invalid peek claims nothing: {peek:?}");
}

#[test]
fn a_smaller_capacity_clamps_the_level() {
    let mut s = Sim::new();
    s.at(0, bucket("B", params(100, 1, 1000), 10));
    assert_eq!(
        s.at(0, bucket("B", params(20, 1, 1000), 1)),
        rep(false, 20, 19, -1, 1000)
    );
}

#[test]
fn a_new_period_rescales_the_level() {
    let mut s = Sim::new();
    s.at(0, bucket("B", params(10, 1, 1000), 6));
    // 4 tokens left; under 1 token per 10 ms they are still 4 tokens.
    assert_eq!(s.at(0, bucket("B", params(10, 1, 10), 0)), rep(false, 10, 4, -1, 60));
    assert_eq!(s.at(5, bucket("B", params(10, 1, 10), 1)), rep(false, 10, 3, -1, 65));
    assert_eq!(
        s.at(5, bucket("B", params(10, 1, 1000), 0)),
        rep(false, 10, 3, -1, 6500)
    );
}

#[test]
fn a_bucket_full_again_is_forgotten_and_reads_full() {
    let mut s = Sim::new();
    let p = params(10, 1, 100);
    s.at(0, bucket("B", p, 3));
    assert_eq!(s.sm.next_gc_deadline(), Some(300));
    assert_eq!(s.sm.len_live(299), 1);
    assert_eq!(s.sm.len_live(300), 0);
    s.at(299, Op::Tick);
    assert_eq!(s.sm.len_live(299), 1);
    s.at(300, Op::Tick);
    assert_eq!(s.sm.next_gc_deadline(), None);
    assert_eq!(s.sm.bucket_peek(b"B", p, 300).unwrap().remaining, 10);
    s.at(300, advance("B", 1, None));
    assert_eq!(
        s.sm.fence_get(b"B"),
        Ok(Some((1, None))),
        "the name is free for another kind"
    );
}

#[test]
fn other_kinds_are_wrongtype() {
    let mut s = Sim::new();
    let p = params(10, 1, 100);
    s.at(0, acquire("L", "a", 1000, None));
    assert_eq!(s.at(0, bucket("L", p, 1)), Response::WrongType);
    assert_eq!(s.sm.bucket_peek(b"L", p, 0), Err(WrongType));
}

#[test]
fn extreme_numbers_do_not_overflow() {
    let mut s = Sim::new();
    let max = u64::MAX;
    let p = params(max, max, max);
    assert_eq!(s.at(0, bucket("B", p, max)), rep(false, max, 0, -1, max));
    assert_eq!(s.at(1, bucket("B", p, max)), rep(true, max, 1, i64::MAX, max - 1));
    let slow = params(max, 1, max);
    assert_eq!(s.at(2, bucket("C", slow, max)), rep(false, max, 0, -1, max));
    assert_eq!(s.at(max - 1, bucket("C", slow, max)), rep(true, max, 0, i64::MAX, max));
    let q = params(max, max, 1);
    s.at(max, bucket("D", q, max));
    assert_eq!(s.sm.next_gc_deadline(), Some(max));
    s.at(max, Op::Tick);
    assert_eq!(s.sm.bucket_peek(b"D", params(1, 1, max), max).unwrap().remaining, 1);
}
