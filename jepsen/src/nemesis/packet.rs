//! Packet faults on some nodes: delay, loss, duplication, reordering (see net/netem.rs
//! for how each is made on kernels with and without sch_netem).

use rand::Rng;

use super::{Active, Ctx};
use crate::history::{i, map, s, V};
use crate::net::netem::{self, Fault};
use crate::net::ns;

/// Applies one random packet fault to a random non-empty set of nodes.
pub fn start(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let n = ctx.n();
    let k = ctx.rng.random_range(1..=n);
    let slots = ctx.pick(k);
    let (mut mode, mut f) = match ctx.rng.random_range(0..4) {
        0 => ("delay", Fault::Delay),
        1 => ("loss", Fault::Loss),
        2 => ("duplicate", Fault::Duplicate),
        _ => ("reorder", Fault::Reorder),
    };
    // Without sch_netem there is no reordering: make it a delay instead of a no-op.
    if f == Fault::Reorder && !netem::available(&ns::node_ns(slots[0])) {
        (mode, f) = ("delay", Fault::Delay);
    }
    let mut how = String::new();
    for (n, &slot) in slots.iter().enumerate() {
        match netem::apply(&ns::node_ns(slot), f) {
            Ok(h) => how = h,
            Err(e) => {
                for &done in &slots[..n] {
                    let _ = netem::heal(&ns::node_ns(done));
                }
                return Err(e);
            }
        }
    }
    let nodes = V::Vec(slots.iter().map(|&x| i(x as u64)).collect());
    Ok((
        Active::Packet(slots),
        map(vec![("mode", s(mode)), ("how", s(how)), ("nodes", nodes)]),
    ))
}

/// Removes the fault.
pub fn stop(_ctx: &mut Ctx, slots: &[usize]) -> anyhow::Result<V> {
    for &slot in slots {
        netem::heal(&ns::node_ns(slot))?;
    }
    Ok(s("healed"))
}
