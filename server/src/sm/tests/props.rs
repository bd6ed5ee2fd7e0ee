//! Properties over random entry sequences: names from a small set shared by all kinds,
//! stamps that may go backwards, log indexes with gaps.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::*;
use crate::sm::{IdempView, WrongType};

/// Each kind has names of its own plus "x", which all share (for WRONGTYPE and reuse).
const LOCKS: [&str; 6] = ["l0", "l1", "l2", "l3", "l4", "x"];
const FENCES: [&str; 3] = ["f0", "f1", "x"];
const BUCKETS: [&str; 2] = ["b0", "x"];
const IDEMPS: [&str; 3] = ["i0", "i1", "x"];
/// Every name in use.
const NAMES: [&str; 11] = ["l0", "l1", "l2", "l3", "l4", "f0", "f1", "b0", "i0", "i1", "x"];
const OWNERS: [&str; 3] = ["o0", "o1", "o2"];

/// An operation whose tokens and waiter ids are picked at run time from those issued.
#[derive(Debug, Clone)]
enum Act {
    Acquire {
        name: usize,
        owner: usize,
        ttl: u64,
        wait: Option<u64>,
    },
    /// `owner` past the end of OWNERS means "whoever holds it".
    Release {
        name: usize,
        owner: usize,
        tok: usize,
    },
    Extend {
        name: usize,
        owner: usize,
        tok: usize,
        ttl: u64,
    },
    Cancel {
        name: usize,
        waiter: usize,
    },
    Advance {
        name: usize,
        tok: usize,
        lock: Option<usize>,
    },
    Set {
        name: usize,
        tok: usize,
        value: u8,
        lock: Option<usize>,
    },
    Bucket {
        name: usize,
        slow: bool,
        cost: u64,
    },
    Begin {
        name: usize,
        fp: u8,
        ttl: u64,
        lease: u64,
    },
    Complete {
        name: usize,
        tok: usize,
        response: u8,
    },
    Abort {
        name: usize,
        tok: usize,
    },
    Tick,
}

#[derive(Debug, Clone)]
struct Step {
    /// Change of the stamp from the previous entry's (may be negative).
    dt: i64,
    /// Log index gap (blank and membership entries never reach the machine).
    gap: u64,
    act: Act,
}

/// An index into one kind's name table; 0 is the shared "x".
fn name() -> impl Strategy<Value = usize> + Clone {
    0usize..16
}

fn owner() -> impl Strategy<Value = usize> + Clone {
    0..OWNERS.len()
}

/// Picks one of the last few tokens issued, or one that never was.
fn tok() -> impl Strategy<Value = usize> + Clone {
    0usize..6
}

fn lock_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        6 => (name(), owner(), prop_oneof![1u64..40, 100u64..500], prop::option::weighted(0.8, 0u64..600))
            .prop_map(|(name, owner, ttl, wait)| Act::Acquire { name, owner, ttl, wait }),
        2 => (name(), 0usize..5, tok()).prop_map(|(name, owner, tok)| Act::Release { name, owner, tok }),
        1 => (name(), 0usize..5, tok(), 1u64..60)
            .prop_map(|(name, owner, tok, ttl)| Act::Extend { name, owner, tok, ttl }),
        1 => (name(), 0usize..4).prop_map(|(name, waiter)| Act::Cancel { name, waiter }),
        2 => Just(Act::Tick),
    ]
}

fn other_act() -> impl Strategy<Value = Act> {
    prop_oneof![
        1 => (name(), tok(), prop::option::of(name()))
            .prop_map(|(name, tok, lock)| Act::Advance { name, tok, lock }),
        1 => (name(), tok(), any::<u8>(), prop::option::of(name()))
            .prop_map(|(name, tok, value, lock)| Act::Set { name, tok, value, lock }),
        2 => (name(), any::<bool>(), 0u64..4).prop_map(|(name, slow, cost)| Act::Bucket { name, slow, cost }),
        3 => (name(), 0u8..2, 1u64..80, 1u64..40)
            .prop_map(|(name, fp, ttl, lease)| Act::Begin { name, fp, ttl, lease }),
        2 => (name(), tok(), any::<u8>())
            .prop_map(|(name, tok, response)| Act::Complete { name, tok, response }),
        1 => (name(), tok()).prop_map(|(name, tok)| Act::Abort { name, tok }),
    ]
}

/// Up to `max` steps; `lock_weight` out of 10 are LOCK operations or Ticks.
fn steps(max: usize, lock_weight: u32) -> impl Strategy<Value = Vec<Step>> {
    let act = prop_oneof![lock_weight => lock_act(), 10 - lock_weight => other_act()];
    let dt = prop_oneof![8 => -20i64..40, 1 => 40i64..200];
    prop::collection::vec(
        (dt, 1u64..3, act).prop_map(|(dt, gap, act)| Step { dt, gap, act }),
        1..max,
    )
}

/// The shared name for 0, else one of the kind's own (all but the last entry).
fn pick<'a>(names: &[&'a str], i: usize) -> &'a str {
    let own = names.len() - 1;
    if i == 0 {
        names[own]
    } else {
        names[i % own]
    }
}

/// Turns abstract steps into entries and records what every test needs to know.
#[derive(Debug, Clone, Default)]
struct Driver {
    sm: StateMachine,
    index: u64,
    time: u64,
    /// Every token handed out, in order.
    issued: Vec<u64>,
    /// Waiter ids that got `Queued` and no outcome yet.
    open_waiters: BTreeSet<u64>,
    /// Every waiter id ever queued.
    all_waiters: Vec<u64>,
    /// The last claim started on each IDEMP key.
    claims: BTreeMap<&'static str, u64>,
}

/// One applied entry as seen from outside.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Outcome {
    request: Request,
    response: Response,
    events: Vec<Event>,
}

impl Driver {
    /// A token as a client would send it: `tok` 0 and 1 pick the one that `current`
    /// (the holder's or the claim's) would pass, others a recent or unknown one.
    fn token(&self, tok: usize, current: Option<u64>) -> u64 {
        if let (0 | 1, Some(t)) = (tok, current) {
            return t;
        }
        let recent = &self.issued[self.issued.len().saturating_sub(3)..];
        match recent.get(tok.saturating_sub(2)) {
            Some(t) => *t,
            None => self.issued.last().map_or(1, |t| t + tok as u64),
        }
    }

    fn holder(&self, lock: &str) -> Option<crate::sm::LockView> {
        self.sm.lock_info(lock.as_bytes(), self.time).ok().flatten()
    }

    fn lock_token(&self, tok: usize, lock: &str) -> u64 {
        self.token(tok, self.holder(lock).map(|h| h.token))
    }

    /// `OWNERS[owner]`, or the current holder past the end of the table.
    fn owner(&self, owner: usize, lock: &str) -> Bytes {
        match (OWNERS.get(owner), self.holder(lock)) {
            (Some(o), _) => b(o),
            (None, Some(h)) => h.owner,
            (None, None) => b(OWNERS[0]),
        }
    }

    fn waiter(&self, i: usize) -> u64 {
        let n = self.all_waiters.len();
        if n == 0 {
            return i as u64;
        }
        self.all_waiters[n - 1 - i % n]
    }

    fn op(&self, act: &Act) -> Op {
        let bucket_params = |slow: bool| {
            if slow {
                params(3, 1, 40)
            } else {
                params(5, 2, 7)
            }
        };
        match *act {
            Act::Acquire { name, owner, ttl, wait } => acquire(pick(&LOCKS, name), OWNERS[owner % 3], ttl, wait),
            Act::Release { name, owner, tok } => {
                let name = pick(&LOCKS, name);
                Op::LockRelease {
                    name: b(name),
                    owner: self.owner(owner, name),
                    token: self.lock_token(tok, name),
                }
            }
            Act::Extend { name, owner, tok, ttl } => {
                let name = pick(&LOCKS, name);
                let (owner, token) = (self.owner(owner, name), self.lock_token(tok, name));
                Op::LockExtend {
                    name: b(name),
                    owner,
                    token,
                    ttl_ms: ttl,
                }
            }
            Act::Cancel { name, waiter } => cancel(pick(&LOCKS, name), self.waiter(waiter)),
            Act::Advance { name, tok, lock } => {
                let lock = lock.map(|l| pick(&LOCKS, l));
                let token = self.lock_token(tok, lock.unwrap_or(LOCKS[0]));
                advance(pick(&FENCES, name), token, lock)
            }
            Act::Set { name, tok, value, lock } => {
                let lock = lock.map(|l| pick(&LOCKS, l));
                let token = self.lock_token(tok, lock.unwrap_or(LOCKS[0]));
                fence_set(pick(&FENCES, name), token, &value.to_string(), lock)
            }
            Act::Bucket { name, slow, cost } => bucket(pick(&BUCKETS, name), bucket_params(slow), cost),
            Act::Begin { name, fp, ttl, lease } => begin(pick(&IDEMPS, name), &format!("fp{fp}"), ttl, lease),
            Act::Complete { name, tok, response } => {
                let name = pick(&IDEMPS, name);
                complete(
                    name,
                    self.token(tok, self.claims.get(name).copied()),
                    &response.to_string(),
                )
            }
            Act::Abort { name, tok } => {
                let name = pick(&IDEMPS, name);
                abort(name, self.token(tok, self.claims.get(name).copied()))
            }
            Act::Tick => Op::Tick,
        }
    }

    fn apply(&mut self, step: &Step) -> Outcome {
        self.index += step.gap;
        self.time = self.time.saturating_add_signed(step.dt);
        let request = Request {
            time: self.time,
            op: self.op(&step.act),
        };
        self.apply_request(request)
    }

    fn apply_request(&mut self, request: Request) -> Outcome {
        let mut events = Vec::new();
        let response = self.sm.apply(self.index, &request, &mut events);
        assert!(self.sm.keys.indexes_consistent());
        for e in &events {
            match e {
                Event::WaiterGranted { waiter, token } => {
                    assert!(self.open_waiters.remove(waiter), "second outcome for waiter {waiter}");
                    self.issued.push(*token);
                }
                Event::WaiterDropped { waiter } => {
                    assert!(self.open_waiters.remove(waiter), "second outcome for waiter {waiter}");
                }
            }
        }
        match response {
            Response::Granted { token } if !self.issued.contains(&token) => self.issued.push(token),
            Response::IdempStarted { token } => {
                self.issued.push(token);
                if let Op::IdempBegin { key, .. } = &request.op {
                    let key = NAMES
                        .iter()
                        .find(|n| n.as_bytes() == key.as_ref())
                        .expect("a known name");
                    self.claims.insert(key, token);
                }
            }
            Response::Queued { waiter } => {
                assert_eq!(waiter, self.index);
                self.open_waiters.insert(waiter);
                self.all_waiters.push(waiter);
            }
            _ => {}
        }
        Outcome {
            request,
            response,
            events,
        }
    }

    fn run(&mut self, steps: &[Step]) -> Vec<Outcome> {
        steps.iter().map(|s| self.apply(s)).collect()
    }

    fn snapshot(&self) -> Vec<u8> {
        postcard::to_allocvec(&self.sm).unwrap()
    }
}

/// IDEMP state of a name at one instant, as reads see it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    Other,
    Absent,
    Pending(u64),
    Done(Bytes),
}

fn seen(sm: &StateMachine, key: &str, now: u64) -> Seen {
    match sm.idemp_get(key.as_bytes(), now) {
        Err(WrongType) => Seen::Other,
        Ok(None) => Seen::Absent,
        Ok(Some(IdempView::Pending { retry_after_ms })) => Seen::Pending(retry_after_ms),
        Ok(Some(IdempView::Done { response })) => Seen::Done(response),
    }
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// Every token issued is new, above the entry's index, above all earlier tokens, and
    /// `last_token` says which was last. Re-grants repeat an existing token.
    #[test]
    fn tokens_strictly_increase(steps in steps(150, 8)) {
        let mut d = Driver::default();
        let mut last = 0u64;
        for step in &steps {
            let before = d.issued.len();
            let out = d.apply(step);
            let fresh = &d.issued[before..];
            let mut prev = last;
            for &t in fresh {
                prop_assert!(t > prev, "token {} after {} in {:?}", t, prev, out);
                prop_assert!(t >= d.index);
                prev = t;
            }
            prop_assert_eq!(d.sm.last_token(), prev);
            if let Response::Granted { token } = out.response {
                prop_assert!(d.issued.contains(&token));
            }
            last = prev;
        }
        // Every waiter gets exactly one outcome once all deadlines have passed.
        d.index += 1;
        d.apply_request(Request { time: d.time.saturating_add(1_000_000), op: Op::Tick });
        prop_assert!(d.open_waiters.is_empty(), "unresolved waiters {:?}", d.open_waiters);
        prop_assert_eq!(d.sm.next_waiter_deadline(), None);
    }

    /// A bucket never gives out more than it started with plus what refilled since.
    #[test]
    fn bucket_never_overgrants(
        capacity in 1u64..20,
        refill_tokens in 1u64..6,
        refill_period_ms in 1u64..50,
        calls in prop::collection::vec((-10i64..40, 0u64..21, any::<bool>()), 1..150),
    ) {
        let p = params(capacity, refill_tokens, refill_period_ms);
        let mut s = Sim::new();
        let mut time = 1000u64;
        let mut first = None;
        let mut granted = 0u128;
        for (dt, cost, tick) in calls {
            time = time.saturating_add_signed(dt);
            if tick {
                s.at(time, Op::Tick);
                continue;
            }
            let peek = s.sm.bucket_peek(b"B", p, s.sm.now().max(time));
            let r = s.at(time, bucket("B", p, cost.min(capacity)));
            let now = s.sm.now();
            let first = *first.get_or_insert(now);
            let Response::Bucket(reply) = r else { panic!("{r:?}") };
            prop_assert!(reply.remaining <= capacity);
            if cost == 0 {
                prop_assert_eq!(Ok(reply), peek);
                prop_assert!(!reply.limited);
            }
            prop_assert_eq!(reply.limited, reply.retry_after_ms >= 0);
            if !reply.limited {
                granted += u128::from(cost.min(capacity));
            }
            let period = u128::from(refill_period_ms);
            let bound = u128::from(capacity) * period + u128::from(refill_tokens) * u128::from(now - first);
            prop_assert!(granted * period <= bound, "granted {} by {} ms", granted, now - first);
        }
    }

    /// IDEMP records move only as SPEC allows: absent -> pending -> done | absent, a
    /// pending claim's token only grows, a done response never changes.
    #[test]
    fn idemp_moves_only_through_spec_transitions(steps in steps(120, 3)) {
        let mut d = Driver::default();
        let mut claim: BTreeMap<&str, u64> = BTreeMap::new();
        for step in &steps {
            let prev = d.sm.clone();
            let out = d.apply(step);
            let now = d.sm.now();
            for key in NAMES {
                let (was, is) = (seen(&prev, key, now), seen(&d.sm, key, now));
                let idemp_op = match &out.request.op {
                    Op::IdempBegin { key: k, .. }
                    | Op::IdempComplete { key: k, .. }
                    | Op::IdempAbort { key: k, .. } => k.as_ref() == key.as_bytes(),
                    _ => false,
                };
                if !idemp_op {
                    if matches!(was, Seen::Pending(_) | Seen::Done(_)) || matches!(is, Seen::Pending(_) | Seen::Done(_)) {
                        prop_assert_eq!(&was, &is, "{} changed by {:?}", key, out);
                    }
                    continue;
                }
                match (&out.request.op, &out.response) {
                    (Op::IdempBegin { .. }, Response::IdempStarted { token }) => {
                        prop_assert!(matches!(was, Seen::Absent | Seen::Pending(0)), "{:?} from {:?}", out, was);
                        prop_assert!(matches!(is, Seen::Pending(r) if r > 0));
                        if let Some(old) = claim.insert(key, *token) {
                            prop_assert!(*token > old);
                        }
                    }
                    (Op::IdempComplete { token, response, .. }, Response::Ok) => match &was {
                        Seen::Pending(_) => {
                            prop_assert_eq!(claim.get(key), Some(token));
                            prop_assert!(is == Seen::Done(response.clone()) || is == Seen::Absent);
                        }
                        Seen::Done(_) => prop_assert_eq!(&was, &is),
                        _ => prop_assert!(false, "{:?} from {:?}", out, was),
                    },
                    (Op::IdempAbort { token, .. }, Response::Ok) => {
                        prop_assert!(matches!(was, Seen::Pending(_)));
                        prop_assert_eq!(claim.get(key), Some(token));
                        prop_assert_eq!(&is, &Seen::Absent);
                    }
                    (_, Response::IdempPending { retry_after_ms }) => {
                        prop_assert_eq!(&was, &Seen::Pending(*retry_after_ms));
                        prop_assert_eq!(&was, &is);
                    }
                    (_, Response::IdempDone { response }) => {
                        prop_assert_eq!(&was, &Seen::Done(response.clone()));
                        prop_assert_eq!(&was, &is);
                    }
                    (_, Response::WrongType) => prop_assert!(was == Seen::Other && is == Seen::Other),
                    (_, Response::Mismatch) => {
                        prop_assert!(matches!(was, Seen::Pending(_) | Seen::Done(_)));
                        prop_assert_eq!(&was, &is);
                    }
                    (_, Response::Stale(_)) | (_, Response::Invalid(_)) => prop_assert_eq!(&was, &is),
                    (_, other) => prop_assert!(false, "unexpected {:?}", other),
                }
            }
        }
    }

    /// At most one holder per lock at any stamped time: a new holder appears only once
    /// the previous lease ended or was released. Hand-offs carry ever higher tokens.
    #[test]
    fn one_holder_at_a_time(steps in steps(150, 8)) {
        let mut d = Driver::default();
        // name -> (token, end of the lease as last seen)
        let mut holder: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut highest = 0u64;
        for step in &steps {
            let out = d.apply(step);
            let now = d.sm.now();
            for e in &out.events {
                if let Event::WaiterGranted { token, .. } = e {
                    prop_assert!(*token > highest);
                    highest = *token;
                }
            }
            highest = highest.max(d.sm.last_token());
            if let (Op::LockRelease { name, .. }, Response::Bool(true)) = (&out.request.op, &out.response) {
                let name = NAMES.iter().find(|n| n.as_bytes() == name.as_ref()).unwrap();
                if let Some(h) = holder.get_mut(name) {
                    h.1 = h.1.min(now);
                }
            }
            for name in NAMES {
                let info = d.sm.lock_info(name.as_bytes(), now).ok().flatten();
                match (info, holder.get_mut(name)) {
                    (Some(v), Some(h)) if v.token == h.0 => h.1 = now + v.ttl_remaining_ms,
                    (Some(v), prev) => {
                        if let Some(&mut (token, until)) = prev {
                            prop_assert!(until <= now, "{} went to {} while {} held it until {}", name, v.token, token, until);
                            prop_assert!(v.token > token);
                        }
                        holder.insert(name, (v.token, now + v.ttl_remaining_ms));
                    }
                    (None, Some(h)) => h.1 = h.1.min(now),
                    (None, None) => {}
                }
            }
        }
    }

    /// A decoded snapshot behaves exactly like the machine it was taken from.
    #[test]
    fn snapshot_round_trip(prefix in steps(80, 5), rest in steps(80, 5)) {
        let mut a = Driver::default();
        a.run(&prefix);
        let bytes = a.snapshot();
        let mut b = a.clone();
        b.sm = postcard::from_bytes(&bytes).unwrap();
        prop_assert_eq!(b.snapshot(), bytes);
        prop_assert!(b.sm.keys.indexes_consistent());
        prop_assert_eq!(b.sm.next_gc_deadline(), a.sm.next_gc_deadline());
        prop_assert_eq!(b.sm.next_waiter_deadline(), a.sm.next_waiter_deadline());
        prop_assert_eq!(a.run(&rest), b.run(&rest));
        prop_assert_eq!(a.snapshot(), b.snapshot());
    }

    /// Two machines fed the same entries answer and end the same, bit for bit.
    #[test]
    fn deterministic(steps in steps(150, 5)) {
        let mut a = Driver::default();
        let mut b = Driver::default();
        prop_assert_eq!(a.run(&steps), b.run(&steps));
        prop_assert_eq!(a.snapshot(), b.snapshot());
        for name in NAMES {
            let now = a.sm.now() + 7;
            prop_assert_eq!(a.sm.lock_info(name.as_bytes(), now), b.sm.lock_info(name.as_bytes(), now));
            prop_assert_eq!(a.sm.idemp_get(name.as_bytes(), now), b.sm.idemp_get(name.as_bytes(), now));
            prop_assert_eq!(a.sm.len_live(now), b.sm.len_live(now));
        }
    }

    /// The deadlines the leader uses to schedule Ticks are exact: a Tick before them
    /// does nothing, a Tick at them leaves nothing due.
    #[test]
    fn deadlines_tell_when_a_tick_acts(steps in steps(120, 5), early in any::<bool>()) {
        let mut d = Driver::default();
        d.run(&steps);
        let due = [d.sm.next_waiter_deadline(), d.sm.next_gc_deadline()].into_iter().flatten().min();
        let Some(due) = due else { return Ok(()) };
        let at = if early && due > d.sm.now() { due - 1 } else { due.max(d.sm.now()) };
        let before = d.snapshot();
        d.index += 1;
        let out = d.apply_request(Request { time: at, op: Op::Tick });
        let now = d.sm.now();
        if at < due {
            prop_assert!(out.events.is_empty());
            let mut undo: StateMachine = postcard::from_bytes(&before).unwrap();
            undo.now = now;
            prop_assert_eq!(postcard::to_allocvec(&undo).unwrap(), d.snapshot(), "an early Tick changed state");
        } else {
            prop_assert!(d.sm.next_waiter_deadline().is_none_or(|t| t > now));
            prop_assert!(d.sm.next_gc_deadline().is_none_or(|t| t > now));
        }
    }
}

/// The generators must reach the cases the properties are about; without this a
/// property could pass by never meeting them.
#[test]
fn generators_reach_the_interesting_cases() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;

    let mut runner = TestRunner::deterministic();
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for lock_weight in [8, 3] {
        let strategy = steps(150, lock_weight);
        for _ in 0..100 {
            let steps = strategy.new_tree(&mut runner).unwrap().current();
            let mut d = Driver::default();
            for out in d.run(&steps) {
                let grants = out
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::WaiterGranted { .. }))
                    .count();
                let mut hit = |k| *count.entry(k).or_default() += 1;
                if grants >= 2 {
                    hit("several grants in one entry");
                }
                if grants >= 1 && out.request.op == Op::Tick {
                    hit("tick hand-off");
                }
                for e in &out.events {
                    hit(match e {
                        Event::WaiterGranted { .. } => "ev granted",
                        Event::WaiterDropped { .. } => "ev dropped",
                    });
                }
                match (&out.request.op, &out.response) {
                    (Op::LockRelease { .. }, Response::Bool(true)) => hit("release"),
                    (Op::LockExtend { .. }, Response::Bool(true)) => hit("extend"),
                    (Op::LockCancelWait { .. }, Response::Bool(true)) => hit("cancel"),
                    (Op::FenceAdvance { lock: Some(_), .. }, Response::FenceAccepted { .. }) => hit("fenced by lock"),
                    (_, Response::Stale(crate::sm::StaleReason::Older { .. })) => hit("older"),
                    (_, Response::Bucket(r)) if r.limited => hit("bucket limited"),
                    (_, Response::IdempDone { .. }) => hit("idemp replay"),
                    (_, Response::IdempPending { .. }) => hit("idemp pending"),
                    (_, Response::Mismatch) => hit("mismatch"),
                    (_, Response::WrongType) => hit("wrongtype"),
                    (_, Response::Queued { .. }) => hit("queued"),
                    (_, Response::Granted { .. }) => hit("granted"),
                    (_, Response::NotGranted) => hit("not granted"),
                    _ => {}
                }
            }
        }
    }
    eprintln!("{count:#?}");
    for case in [
        "several grants in one entry",
        "ev dropped",
        "queued",
        "not granted",
        "tick hand-off",
        "release",
        "extend",
        "cancel",
        "fenced by lock",
        "older",
        "bucket limited",
        "idemp replay",
        "idemp pending",
        "mismatch",
        "wrongtype",
    ] {
        assert!(
            count.get(case).copied().unwrap_or(0) >= 5,
            "{case} barely reached: {count:?}"
        );
    }
}
