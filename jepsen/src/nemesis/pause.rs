//! SIGSTOP / SIGCONT: the leader, one node, or a minority.

use rand::Rng;

use super::{Active, Ctx};
use crate::history::{i, map, s, V};

/// Pauses a random target set.
pub fn start(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let n = ctx.n();
    let (mode, slots) = match ctx.rng.random_range(0..3) {
        0 => ("leader", vec![ctx.leader_or_any()]),
        1 => ("one", ctx.pick(1)),
        _ => ("minority", ctx.pick((n - 1) / 2)),
    };
    {
        let mut c = ctx.cluster();
        for &x in &slots {
            c.pause(x)?;
        }
    }
    let nodes = V::Vec(slots.iter().map(|&x| i(x as u64)).collect());
    Ok((Active::Paused(slots), map(vec![("mode", s(mode)), ("nodes", nodes)])))
}

/// Resumes them.
pub fn stop(ctx: &mut Ctx, slots: &[usize]) -> anyhow::Result<V> {
    let mut c = ctx.cluster();
    for &x in slots {
        c.resume(x)?;
    }
    Ok(s("resumed"))
}
