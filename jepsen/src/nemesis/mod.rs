//! The nemesis: a thread that, until the run's deadline, waits a quiet spell, starts one
//! fault of a kind chosen from the run's mix (or, with `overlap:`, two of different
//! kinds, the second a little after the first), holds it, and stops it (the second
//! first). Each start and stop is recorded as a `:nemesis :info` op. At the end it heals
//! everything.

pub mod clock;
pub mod kill;
pub mod membership;
pub mod mix;
pub mod packet;
pub mod partition;
pub mod pause;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::cluster::Cluster;
use crate::history::{s, Proc, Recorder, Type, V};
pub use mix::Mix;

/// A fault family, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Partition,
    Packet,
    Kill,
    /// kill -9 of every node at once, then all restart together (a power cut).
    KillAll,
    Pause,
    Clock,
    Membership,
}

impl Kind {
    /// Parses one `--nemesis` name; `none` is no kind.
    pub fn parse(name: &str) -> anyhow::Result<Option<Kind>> {
        Ok(Some(match name {
            "none" => return Ok(None),
            "partition" => Kind::Partition,
            "packet" | "netem" => Kind::Packet,
            "kill" => Kind::Kill,
            "kill-all" => Kind::KillAll,
            "pause" => Kind::Pause,
            "clock" => Kind::Clock,
            "membership" => Kind::Membership,
            other => {
                anyhow::bail!(
                    "unknown nemesis {other:?} (partition, packet, kill, kill-all, pause, clock, membership, none)"
                )
            }
        }))
    }

    /// The name its ops are logged under (`start-<family>`): `kill` and `kill-all` share
    /// one, so they are never overlapped with each other.
    pub fn family(self) -> &'static str {
        match self {
            Kind::KillAll => Kind::Kill.name(),
            k => k.name(),
        }
    }

    /// The name used in op `:f`s.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Partition => "partition",
            Kind::Packet => "packet",
            Kind::Kill => "kill",
            Kind::KillAll => "kill-all",
            Kind::Pause => "pause",
            Kind::Clock => "clock",
            Kind::Membership => "membership",
        }
    }
}

/// A fault in force, with what it takes to undo it.
pub enum Active {
    Partition,
    Packet(Vec<usize>),
    Killed(Vec<usize>),
    Paused(Vec<usize>),
    Clock(clock::Skew),
    Membership(membership::Pending),
}

/// What every fault's code gets: the cluster, randomness and the history.
pub struct Ctx {
    pub cluster: Arc<Mutex<Cluster>>,
    pub rng: StdRng,
    pub recorder: Arc<Recorder>,
}

impl Ctx {
    /// The cluster, even if a panicking thread left its lock poisoned.
    pub fn cluster(&self) -> MutexGuard<'_, Cluster> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a nemesis op.
    pub fn log(&self, f: &'static str, value: V) {
        self.recorder.record(Type::Info, Proc::Nemesis, f, value);
    }

    /// Number of nodes.
    pub fn n(&self) -> usize {
        self.cluster().nodes.len()
    }

    /// `k` distinct random slots.
    pub fn pick(&mut self, k: usize) -> Vec<usize> {
        let all: Vec<usize> = (1..=self.n()).collect();
        let mut chosen: Vec<usize> = all.choose_multiple(&mut self.rng, k).copied().collect();
        chosen.sort_unstable();
        chosen
    }

    /// The leader's slot, or a random one when no leader is known.
    pub fn leader_or_any(&mut self) -> usize {
        let leader = self.cluster().leader();
        leader.unwrap_or_else(|| self.pick(1)[0])
    }
}

fn start_f(k: Kind) -> &'static str {
    match k {
        Kind::Partition => "start-partition",
        Kind::Packet => "start-packet",
        Kind::Kill | Kind::KillAll => "start-kill",
        Kind::Pause => "start-pause",
        Kind::Clock => "start-clock",
        Kind::Membership => "start-membership",
    }
}

fn stop_f(k: Kind) -> &'static str {
    match k {
        Kind::Partition => "stop-partition",
        Kind::Packet => "stop-packet",
        Kind::Kill | Kind::KillAll => "stop-kill",
        Kind::Pause => "stop-pause",
        Kind::Clock => "stop-clock",
        Kind::Membership => "stop-membership",
    }
}

fn start(ctx: &mut Ctx, k: Kind) -> anyhow::Result<(Active, V)> {
    match k {
        Kind::Partition => partition::start(ctx),
        Kind::Packet => packet::start(ctx),
        Kind::Kill => kill::start(ctx),
        Kind::KillAll => kill::start_all(ctx),
        Kind::Pause => pause::start(ctx),
        Kind::Clock => clock::start(ctx),
        Kind::Membership => membership::start(ctx),
    }
}

fn stop(ctx: &mut Ctx, a: Active) -> anyhow::Result<V> {
    match a {
        Active::Partition => partition::stop(ctx),
        Active::Packet(slots) => packet::stop(ctx, &slots),
        Active::Killed(slots) => kill::stop(ctx, &slots),
        Active::Paused(slots) => pause::stop(ctx, &slots),
        Active::Clock(skew) => clock::stop(ctx, skew),
        Active::Membership(p) => membership::stop(ctx, p),
    }
}

/// Sleeps until `until` or until `halt` is set; returns whether to go on.
fn nap(until: Instant, halt: &AtomicBool) -> bool {
    while Instant::now() < until {
        if halt.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    !halt.load(Ordering::Relaxed)
}

/// Runs faults from `mix` until `deadline` (or `halt`), then heals. Returns the
/// number of faults started (an overlapping pair counts two).
pub fn run(mut ctx: Ctx, mix: &Mix, deadline: Instant, halt: Arc<AtomicBool>, seed: u64) -> usize {
    ctx.rng = StdRng::seed_from_u64(seed ^ 0x6e65_6d65);
    let mut faults = 0;
    if mix.kinds.is_empty() {
        while nap(deadline, &halt) {}
        return 0;
    }
    loop {
        let quiet = Duration::from_millis(ctx.rng.random_range(2000..5000));
        if !nap((Instant::now() + quiet).min(deadline), &halt) || Instant::now() >= deadline {
            break;
        }
        let plan = mix.draw(&mut ctx.rng);
        if plan.is_empty() {
            break;
        }
        let hold = Duration::from_millis(ctx.rng.random_range(3000..9000));
        // The inner fault of a pair starts a moment into the outer one and stops a moment
        // before it, so each finds the cluster already reacting to the other.
        let stagger = if plan.len() > 1 {
            Duration::from_millis(ctx.rng.random_range(500..2000))
        } else {
            Duration::ZERO
        };
        let mut active: Vec<(Kind, Active)> = Vec::new();
        for (n, &k) in plan.iter().enumerate() {
            if n > 0 && (!nap((Instant::now() + stagger).min(deadline), &halt) || Instant::now() >= deadline) {
                break;
            }
            match start(&mut ctx, k) {
                Ok((a, v)) => {
                    faults += 1;
                    ctx.log(start_f(k), v);
                    active.push((k, a));
                }
                Err(e) => ctx.log(start_f(k), s(format!("skipped: {e:#}"))),
            }
        }
        if active.is_empty() {
            continue;
        }
        let _ = nap((Instant::now() + hold).min(deadline), &halt);
        // Last started, first stopped; every started fault is stopped even after `halt`.
        while let Some((k, a)) = active.pop() {
            match stop(&mut ctx, a) {
                Ok(v) => ctx.log(stop_f(k), v),
                Err(e) => ctx.log(stop_f(k), s(format!("error: {e:#}"))),
            }
            if !active.is_empty() {
                let _ = nap((Instant::now() + stagger).min(deadline), &halt);
            }
        }
    }
    faults
}

/// Undoes every kind of fault, whatever is in force: rules, qdiscs, pauses, clocks,
/// dead nodes. Safe to call at any time and more than once.
pub fn heal_all(ctx: &mut Ctx) {
    let n = ctx.n();
    for slot in 1..=n {
        let ns = crate::net::ns::node_ns(slot);
        let _ = crate::net::nft::heal(&ns);
        let _ = crate::net::netem::heal(&ns);
        let _ = ctx.cluster().resume(slot);
        let _ = clock::reset(&ctx.cluster(), slot);
    }
    let _ = ctx.cluster().start_all();
    ctx.log("heal", s("all faults removed; every node running"));
}
