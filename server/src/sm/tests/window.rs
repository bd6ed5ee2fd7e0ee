//! RATELIMIT SLIDING: exact counts over the last window, retry-after and reset-after
//! from the stamps, the cap on the log, and GC of an idle key.

use super::*;
use crate::sm::window::{SlidingParams, MAX_LIMIT};
use crate::sm::BucketReply;

fn slide(key: &str, limit: u64, window_ms: u64, cost: u64) -> Op {
    Op::Sliding {
        key: b(key),
        params: SlidingParams { limit, window_ms },
        cost,
    }
}

fn reply(r: Response) -> BucketReply {
    match r {
        Response::Bucket(b) => b,
        other => panic!("not a limiter reply: {other:?}"),
    }
}

#[test]
fn admits_exactly_limit_in_any_window() {
    let mut s = Sim::new();
    for t in [1000, 1100, 1200] {
        let r = reply(s.at(t, slide("k", 3, 1000, 1)));
        assert!(!r.limited);
    }
    let r = reply(s.at(1300, slide("k", 3, 1000, 1)));
    assert!(r.limited);
    assert_eq!(r.remaining, 0);
    // The oldest stamp (1000) leaves at 2000: 700 ms from 1300.
    assert_eq!(r.retry_after_ms, 700);
    // The newest (1200) leaves at 2200.
    assert_eq!(r.reset_after_ms, 900);
    // At 1999 the stamp of 1000 still counts; at 2000 it does not.
    assert!(reply(s.at(1999, slide("k", 3, 1000, 1))).limited);
    let r = reply(s.at(2000, slide("k", 3, 1000, 1)));
    assert!(!r.limited);
    assert_eq!((r.remaining, r.retry_after_ms, r.reset_after_ms), (0, -1, 1000));
}

#[test]
fn a_cost_needs_that_many_stamps_to_leave() {
    let mut s = Sim::new();
    for t in [0, 10, 20, 30] {
        reply(s.at(10_000 + t, slide("k", 5, 1000, 1)));
    }
    // 4 used, 1 free: a cost of 3 waits for the 2nd oldest stamp (10_010) to leave.
    let r = reply(s.at(10_500, slide("k", 5, 1000, 3)));
    assert!(r.limited);
    assert_eq!(r.remaining, 1);
    assert_eq!(r.retry_after_ms, 510);
    let peek = Op::Sliding {
        key: b("k"),
        params: SlidingParams {
            limit: 5,
            window_ms: 1000,
        },
        cost: 0,
    };
    assert!(!reply(s.at(10_500, peek)).limited, "COST 0 only looks");
    assert_eq!(
        s.sm.sliding_peek(
            b"k",
            SlidingParams {
                limit: 5,
                window_ms: 1000
            },
            10_500
        )
        .map(|r| r.remaining),
        Ok(1)
    );
    assert!(matches!(s.at(10_500, slide("k", 5, 1000, 6)), Response::Invalid(_)));
}

#[test]
fn the_log_at_the_cap_and_an_idle_key_forgotten() {
    let mut s = Sim::new();
    let r = reply(s.at(5000, slide("big", MAX_LIMIT, 60_000, MAX_LIMIT)));
    assert!(!r.limited);
    assert_eq!(r.remaining, 0);
    assert!(reply(s.at(5001, slide("big", MAX_LIMIT, 60_000, 1))).limited);
    assert!(matches!(
        s.at(5001, slide("big", MAX_LIMIT + 1, 60_000, 1)),
        Response::Invalid(_)
    ));
    reply(s.at(5000, slide("small", 2, 100, 1)));
    s.at(65_001, Op::Tick);
    assert_eq!(s.sm.keys.stored(), 0, "both windows emptied and were forgotten");
    assert_eq!(
        s.at(65_002, slide("big", 1, 10, 1)),
        Response::Bucket(BucketReply {
            limited: false,
            capacity: 1,
            remaining: 0,
            retry_after_ms: -1,
            reset_after_ms: 10
        })
    );
}

#[test]
fn another_kind_is_wrongtype() {
    let mut s = Sim::new();
    s.at(0, acquire("L", "a", 1000, None));
    assert_eq!(s.at(0, slide("L", 1, 1000, 1)), Response::WrongType);
}

/// A person with a list of admission times: the answer the window must give.
mod model {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn every_answer_is_the_one_a_list_of_admissions_gives(
            limit in 1..8u64,
            window in prop_oneof![Just(100u64), Just(1000), Just(5000)],
            calls in proptest::collection::vec((0..400u64, 0..4u64), 1..120),
        ) {
            let mut s = Sim::new();
            let mut admitted: Vec<u64> = Vec::new();
            let mut now = 10_000u64;
            for (dt, cost) in calls {
                now += dt;
                let cost = cost.min(limit);
                let r = reply(s.at(now, slide("k", limit, window, cost)));
                // A stamp counts while it is younger than the window.
                let live: Vec<u64> = admitted.iter().copied().filter(|&t| t + window > now).collect();
                let used = live.len() as u64;
                let admit = used + cost <= limit;
                prop_assert_eq!(r.limited, !admit, "at {} with {:?} and cost {}", now, live, cost);
                if admit {
                    prop_assert_eq!(r.remaining, limit - used - cost);
                    prop_assert_eq!(r.retry_after_ms, -1);
                    admitted.extend(std::iter::repeat_n(now, cost as usize));
                } else {
                    prop_assert_eq!(r.remaining, limit.saturating_sub(used));
                    // Retry-after: when enough of the oldest stamps have left.
                    let k = (used + cost - limit) as usize;
                    let want = live[k - 1] + window - now;
                    prop_assert_eq!(r.retry_after_ms, want as i64);
                }
            }
        }
    }
}
