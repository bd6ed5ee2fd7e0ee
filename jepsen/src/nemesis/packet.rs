//! Packet faults (tc netem) on some nodes: delay, loss, duplication, reordering.

use rand::Rng;

use super::{Active, Ctx};
use crate::history::{i, map, s, V};
use crate::net::{netem, ns};

/// Applies one random netem fault to a random non-empty set of nodes.
pub fn start(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let n = ctx.n();
    let k = ctx.rng.random_range(1..=n);
    let slots = ctx.pick(k);
    let (mode, spec) = match ctx.rng.random_range(0..4) {
        0 => ("delay", "delay 60ms 30ms distribution normal"),
        1 => ("loss", "loss 20%"),
        2 => ("duplicate", "duplicate 30%"),
        _ => ("reorder", "delay 30ms reorder 50% 50%"),
    };
    for &slot in &slots {
        netem::apply(&ns::node_ns(slot), spec)?;
    }
    let nodes = V::Vec(slots.iter().map(|&x| i(x as u64)).collect());
    Ok((Active::Packet(slots), map(vec![("mode", s(mode)), ("netem", s(spec)), ("nodes", nodes)])))
}

/// Removes the netem qdiscs.
pub fn stop(_ctx: &mut Ctx, slots: &[usize]) -> anyhow::Result<V> {
    for &slot in slots {
        netem::heal(&ns::node_ns(slot))?;
    }
    Ok(s("healed"))
}
