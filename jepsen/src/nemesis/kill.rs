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

/// Kills every node. The old leader comes first in the list, so `stop` restarts it
/// first: see `stop` for why.
pub fn start_all(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let first = ctx.cluster().leader().unwrap_or(1);
    let mut all: Vec<usize> = (1..=ctx.n()).collect();
    all.retain(|&x| x != first);
    all.insert(0, first);
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

/// Restarts the killed nodes. After a power cut machines boot at different speeds;
/// the harness takes the worst order it knows: the old leader alone first, its peers
/// 100-800 ms later. Clients then pile requests onto a node that believes it may
/// still lead, which is exactly when a restarted leader that skips its election would
/// answer from a stale commit point (the `leader-restore` mutation).
pub fn stop(ctx: &mut Ctx, slots: &[usize]) -> anyhow::Result<V> {
    let everyone = slots.len() == ctx.n() && slots.len() > 1;
    let lag = ctx.rng.random_range(100..800);
    for (k, &x) in slots.iter().enumerate() {
        if k == 1 && everyone {
            std::thread::sleep(std::time::Duration::from_millis(lag));
        }
        ctx.cluster().start(x)?;
    }
    Ok(if everyone {
        map(vec![("first", i(slots[0] as u64)), ("lag-ms", i(lag))])
    } else {
        s("restarted")
    })
}
