//! RWLOCK: readers together, one writer alone, a queued writer holds back later
//! readers, renewals keep their token, FENCE accepts only the writer's token, and a
//! property test against a reference model of the rules.

use proptest::prelude::*;

use super::*;
use crate::sm::{RwLockView, StaleReason};

fn rw(name: &str, owner: &str, write: bool, ttl_ms: u64, wait_ms: Option<u64>) -> Op {
    Op::RwAcquire {
        name: b(name),
        owner: b(owner),
        write,
        ttl_ms,
        wait_ms,
    }
}

fn rw_release(name: &str, owner: &str, token: u64) -> Op {
    Op::RwRelease {
        name: b(name),
        owner: b(owner),
        token,
    }
}

fn rw_extend(name: &str, owner: &str, token: u64, ttl_ms: u64) -> Op {
    Op::RwExtend {
        name: b(name),
        owner: b(owner),
        token,
        ttl_ms,
    }
}

fn info(s: &Sim, name: &str, now: u64) -> Option<RwLockView> {
    s.sm.rwlock_info(name.as_bytes(), now).expect("an rwlock")
}

fn queued(r: Response) -> u64 {
    match r {
        Response::Queued { waiter } => waiter,
        other => panic!("not queued: {other:?}"),
    }
}

fn granted_waiters(s: &Sim) -> Vec<u64> {
    s.events
        .iter()
        .filter_map(|e| match e {
            Event::WaiterGranted { waiter, .. } => Some(*waiter),
            _ => None,
        })
        .collect()
}

#[test]
fn readers_share_and_a_writer_is_alone() {
    let mut s = Sim::new();
    let r1 = token_of(&s.at(100, rw("L", "a", false, 1000, None)));
    let r2 = token_of(&s.at(100, rw("L", "b", false, 1000, None)));
    assert!(r2 > r1);
    assert_eq!(s.at(100, rw("L", "w", true, 1000, None)), Response::NotGranted);
    assert_eq!(
        info(&s, "L", 100),
        Some(RwLockView {
            write: false,
            holders: 2,
            token: None,
            waiters: 0
        })
    );
    assert_eq!(s.at(200, rw_release("L", "a", r1)), Response::Bool(true));
    assert_eq!(s.at(200, rw_release("L", "b", r2)), Response::Bool(true));
    let w = token_of(&s.at(300, rw("L", "w", true, 1000, None)));
    assert_eq!(s.at(300, rw("L", "a", false, 1000, None)), Response::NotGranted);
    assert_eq!(s.at(300, rw("L", "x", true, 1000, None)), Response::NotGranted);
    assert_eq!(info(&s, "L", 300).and_then(|v| v.token), Some(w));
    // The writer's lease ends at 1300: a reader gets in then.
    assert!(matches!(
        s.at(1300, rw("L", "a", false, 1000, None)),
        Response::Granted { .. }
    ));
}

#[test]
fn a_queued_writer_holds_back_later_readers_and_readers_at_the_head_go_together() {
    let mut s = Sim::new();
    let r1 = token_of(&s.at(100, rw("L", "r1", false, 1000, None)));
    let w = queued(s.at(110, rw("L", "w", true, 1000, Some(5000))));
    // A reader arriving after the writer waits, though only readers hold.
    assert_eq!(s.at(120, rw("L", "r2", false, 1000, None)), Response::NotGranted);
    let r2 = queued(s.at(120, rw("L", "r2", false, 1000, Some(5000))));
    let r3 = queued(s.at(130, rw("L", "r3", false, 1000, Some(5000))));
    assert_eq!(info(&s, "L", 130).map(|v| v.waiters), Some(3));
    // The reader leaves: the writer, alone.
    s.at(200, rw_release("L", "r1", r1));
    assert_eq!(granted_waiters(&s), vec![w]);
    let wt = info(&s, "L", 200).and_then(|v| v.token).expect("a writer");
    // The writer leaves: both readers, in one entry.
    s.at(300, rw_release("L", "w", wt));
    assert_eq!(granted_waiters(&s), vec![r2, r3]);
    assert_eq!(info(&s, "L", 300).map(|v| (v.write, v.holders)), Some((false, 2)));
}

#[test]
fn a_readers_renewal_while_a_writer_waits_keeps_its_token_and_its_lease() {
    let mut s = Sim::new();
    let r = token_of(&s.at(100, rw("L", "r", false, 1000, None)));
    let w = queued(s.at(200, rw("L", "w", true, 1000, Some(10_000))));
    // Re-acquiring the mode it holds renews: same token, TTL from now, writer still waits.
    assert_eq!(
        s.at(900, rw("L", "r", false, 1000, None)),
        Response::Granted { token: r }
    );
    assert_eq!(s.at(1500, rw_extend("L", "r", r, 1000)), Response::Bool(true));
    s.at(2000, Op::Tick);
    assert!(granted_waiters(&s).is_empty(), "the renewed reader still holds at 2000");
    // Unrenewed, the read lease ends at 2500 and the Tick due then grants the writer.
    assert_eq!(s.sm.next_waiter_deadline(), Some(2500));
    s.at(2500, Op::Tick);
    assert_eq!(granted_waiters(&s), vec![w]);
    assert_eq!(s.at(2500, rw_extend("L", "r", r, 1000)), Response::Bool(false));
}

#[test]
fn a_reader_asking_to_write_queues_behind_itself_and_modes_do_not_renew_each_other() {
    let mut s = Sim::new();
    let r = token_of(&s.at(100, rw("L", "o", false, 1000, None)));
    assert_eq!(s.at(100, rw("L", "o", true, 1000, None)), Response::NotGranted);
    let w = queued(s.at(100, rw("L", "o", true, 1000, Some(5000))));
    s.at(150, rw_release("L", "o", r));
    assert_eq!(granted_waiters(&s), vec![w]);
    assert_eq!(info(&s, "L", 150).map(|v| v.write), Some(true));
}

#[test]
fn fence_accepts_the_writers_token_only() {
    let mut s = Sim::new();
    let r = token_of(&s.at(100, rw("L", "r", false, 1000, None)));
    assert!(matches!(
        s.at(100, advance("res", r, Some("L"))),
        Response::Stale(StaleReason::NotHolder { .. })
    ));
    s.at(110, rw_release("L", "r", r));
    let w = token_of(&s.at(120, rw("L", "w", true, 1000, None)));
    assert_eq!(
        s.at(130, advance("res", w, Some("L"))),
        Response::FenceAccepted { token: w }
    );
    // Past the writer's lease the token no longer passes.
    assert!(matches!(
        s.at(1120, advance("res", w, Some("L"))),
        Response::Stale(StaleReason::NotHolder { .. })
    ));
}

#[test]
fn waiters_give_up_cancels_drop_them_and_kinds_do_not_mix() {
    let mut s = Sim::new();
    let w = token_of(&s.at(100, rw("L", "w", true, 10_000, None)));
    let a = queued(s.at(100, rw("L", "a", false, 1000, Some(300))));
    let c = queued(s.at(100, rw("L", "c", false, 1000, Some(5000))));
    s.at(400, Op::Tick);
    assert!(s.events.contains(&Event::WaiterDropped { waiter: a }));
    assert_eq!(s.at(500, cancel("L", c)), Response::Bool(true));
    assert_eq!(info(&s, "L", 500).map(|v| v.waiters), Some(0));
    assert_eq!(s.at(600, acquire("L", "x", 1000, None)), Response::WrongType);
    s.at(600, acquire("lk", "x", 1000, None));
    assert_eq!(s.at(600, rw("lk", "x", true, 1000, None)), Response::WrongType);
    assert_eq!(s.at(700, rw_release("L", "w", w)), Response::Bool(true));
    assert_eq!(info(&s, "L", 700), None);
    assert_eq!(s.sm.keys.stored(), 1, "a free rwlock is not stored (only the LOCK is)");
}

/// One step of the property test: an owner (0..4) acts, some milliseconds later.
#[derive(Debug, Clone)]
enum Act {
    Acquire { owner: usize, write: bool, wait: bool },
    Release { owner: usize },
    Extend { owner: usize },
    Tick,
}

fn act() -> impl Strategy<Value = (u64, Act)> {
    let a = prop_oneof![
        4 => (0..4usize, any::<bool>(), any::<bool>())
            .prop_map(|(owner, write, wait)| Act::Acquire { owner, write, wait }),
        2 => (0..4usize).prop_map(|owner| Act::Release { owner }),
        1 => (0..4usize).prop_map(|owner| Act::Extend { owner }),
        1 => Just(Act::Tick),
    ];
    (0..400u64, a)
}

const TTL: u64 = 500;
const WAIT: u64 = 700;
const OWNERS: [&str; 4] = ["o0", "o1", "o2", "o3"];

/// A lease in the model.
#[derive(Debug, Clone, Copy)]
struct MHold {
    owner: usize,
    token: u64,
    end: u64,
    write: bool,
}

/// A queued caller in the model.
#[derive(Debug, Clone, Copy)]
struct MWait {
    id: u64,
    owner: usize,
    write: bool,
    deadline: u64,
}

/// The rules written the plain way. Token values and waiter ids are the log's
/// business: the model takes them from the state machine's answers, and decides only
/// who is granted, refused or queued.
#[derive(Default)]
struct Model {
    holders: Vec<MHold>,
    queue: Vec<MWait>,
}

impl Model {
    fn fits(&self, write: bool) -> bool {
        self.holders.is_empty() || (!write && !self.holders.iter().any(|h| h.write))
    }

    /// Ends leases and waits, then grants from the head; returns the waiters granted.
    fn settle(&mut self, now: u64, tokens: &std::collections::HashMap<u64, u64>) -> Vec<u64> {
        self.holders.retain(|h| h.end > now);
        self.queue.retain(|w| w.deadline > now);
        let mut granted = Vec::new();
        while let Some(&w) = self.queue.first() {
            if !self.fits(w.write) {
                break;
            }
            self.queue.remove(0);
            self.holders.push(MHold {
                owner: w.owner,
                token: tokens.get(&w.id).copied().unwrap_or(0),
                end: now + TTL,
                write: w.write,
            });
            granted.push(w.id);
        }
        granted
    }

    fn token_of(&self, owner: usize) -> u64 {
        self.holders.iter().find(|h| h.owner == owner).map_or(0, |h| h.token)
    }

    /// The answer the rules give, applying them to the model; `sent` is the token a
    /// release or extend named.
    fn step(&mut self, now: u64, a: &Act, actual: &Response, sent: u64) -> Response {
        match *a {
            Act::Acquire { owner, write, wait } => {
                if let Some(h) = self.holders.iter_mut().find(|h| h.owner == owner && h.write == write) {
                    h.end = now + TTL;
                    return Response::Granted { token: h.token };
                }
                let holds = self.holders.iter().any(|h| h.owner == owner);
                if self.queue.is_empty() && !holds && self.fits(write) {
                    let token = match actual {
                        Response::Granted { token } => *token,
                        _ => 0,
                    };
                    self.holders.push(MHold {
                        owner,
                        token,
                        end: now + TTL,
                        write,
                    });
                    return Response::Granted { token };
                }
                if !wait {
                    return Response::NotGranted;
                }
                let id = match actual {
                    Response::Queued { waiter } => *waiter,
                    _ => 0,
                };
                let w = MWait {
                    id,
                    owner,
                    write,
                    deadline: now + WAIT,
                };
                // A second WAIT by the same owner takes over its place in line.
                match self.queue.iter_mut().find(|q| q.owner == owner) {
                    Some(slot) => *slot = w,
                    None => self.queue.push(w),
                }
                Response::Queued { waiter: id }
            }
            Act::Release { owner } => {
                let before = self.holders.len();
                self.holders.retain(|h| !(h.owner == owner && h.token == sent));
                Response::Bool(self.holders.len() < before)
            }
            Act::Extend { owner } => match self.holders.iter_mut().find(|h| h.owner == owner && h.token == sent) {
                Some(h) => {
                    h.end = now + TTL;
                    Response::Bool(true)
                }
                None => Response::Bool(false),
            },
            Act::Tick => Response::None,
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn the_state_machine_follows_the_reference_model(acts in proptest::collection::vec(act(), 1..80)) {
        let mut s = Sim::new();
        let mut m = Model::default();
        let mut now = 1_000u64;
        for (dt, a) in acts {
            now += dt;
            // Release and extend name the owner's current token (0 when it holds none).
            m.holders.retain(|h| h.end > now);
            let sent = match a {
                Act::Release { owner } | Act::Extend { owner } => m.token_of(owner),
                _ => 0,
            };
            let op = match a {
                Act::Acquire { owner, write, wait } => rw("L", OWNERS[owner], write, TTL, wait.then_some(WAIT)),
                Act::Release { owner } => rw_release("L", OWNERS[owner], sent),
                Act::Extend { owner } => rw_extend("L", OWNERS[owner], sent, TTL),
                Act::Tick => Op::Tick,
            };
            let r = s.at(now, op);
            let tokens: std::collections::HashMap<u64, u64> = s.events.iter().filter_map(|e| match e {
                Event::WaiterGranted { waiter, token } => Some((*waiter, *token)),
                _ => None,
            }).collect();
            let mut granted = m.settle(now, &tokens);
            let want = m.step(now, &a, &r, sent);
            granted.extend(m.settle(now, &tokens));
            prop_assert_eq!(&r, &want, "after {:?} at {}", a, now);
            let mut sm_granted = granted_waiters(&s);
            sm_granted.sort_unstable();
            granted.sort_unstable();
            prop_assert_eq!(sm_granted, granted);
            let view = info(&s, "L", now);
            let writers = m.holders.iter().filter(|h| h.write).count();
            prop_assert!(writers == 0 || m.holders.len() == 1, "a writer with company: {:?}", m.holders);
            prop_assert_eq!(view.as_ref().map_or(0, |v| v.holders), m.holders.len() as u64);
            prop_assert_eq!(view.as_ref().is_some_and(|v| v.write), writers == 1);
            prop_assert_eq!(view.as_ref().map_or(0, |v| v.waiters), m.queue.len() as u64);
        }
    }
}
