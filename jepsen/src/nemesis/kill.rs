//! kill -9 and restart: one node, the leader, a majority, or all (`kill`); or always
//! all (`kill-all`, a power cut: every node restarts at once, the old leader included).

use rand::Rng;

use super::{Active, Ctx};
use crate::history::{i, map, s, V};

/// Kills a random target set; they restart when the fault stops.
pub fn start(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let n = ctx.n();
    let (mode, slots) = match ctx.rng.random_range(0..4) {
        0 => ("one", ctx.pick(1)),
        1 => ("leader", vec![ctx.leader_or_any()]),
        2 => ("majority", ctx.pick(n / 2 + 1)),
        _ => ("all", (1..=n).collect()),
    };
    kill_slots(ctx, mode, slots)
}

/// Kills every node.
pub fn start_all(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let all = (1..=ctx.n()).collect();
    kill_slots(ctx, "all", all)
}

fn kill_slots(ctx: &mut Ctx, mode: &str, slots: Vec<usize>) -> anyhow::Result<(Active, V)> {
    let ids: Vec<V> = {
        let mut c = ctx.cluster();
        slots
            .iter()
            .map(|&x| {
                c.kill(x);
                i(c.nodes[x - 1].id)
            })
            .collect()
    };
    let nodes = V::Vec(slots.iter().map(|&x| i(x as u64)).collect());
    Ok((
        Active::Killed(slots),
        map(vec![("mode", s(mode)), ("nodes", nodes), ("ids", V::Vec(ids))]),
    ))
}

/// Restarts the killed nodes.
pub fn stop(ctx: &mut Ctx, slots: &[usize]) -> anyhow::Result<V> {
    let mut c = ctx.cluster();
    for &x in slots {
        c.start(x)?;
    }
    Ok(s("restarted"))
}
