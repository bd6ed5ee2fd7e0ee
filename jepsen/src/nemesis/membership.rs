//! Membership: RAFT REMOVE a node, wipe its data, and bring the slot back as a fresh
//! id (never an old one) that joins with `--join`.

use std::time::{Duration, Instant};

use rand::seq::IndexedRandom;

use super::{Active, Ctx};
use crate::cluster::addr;
use crate::history::{i, map, s, V};
use crate::net::resp::{self, Reply};

/// A removed slot waiting to come back.
pub struct Pending {
    slot: usize,
    via: usize,
}

/// Removes a random non-leader node from the cluster and wipes it.
pub fn start(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let leader = ctx
        .cluster()
        .leader()
        .ok_or_else(|| anyhow::anyhow!("no leader to ask"))?;
    let others: Vec<usize> = ctx.cluster().running().into_iter().filter(|&x| x != leader).collect();
    let &slot = others
        .choose(&mut ctx.rng)
        .ok_or_else(|| anyhow::anyhow!("no other running node"))?;
    let old = ctx.cluster().nodes[slot - 1].id;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        // Ask whoever leads now; a follower would forward it anyway.
        match resp::call(
            &addr(leader),
            &["RAFT", "REMOVE", &old.to_string()],
            Duration::from_secs(3),
        ) {
            Ok(Reply::Error(e)) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(300));
            }
            Ok(Reply::Error(e)) => anyhow::bail!("RAFT REMOVE {old}: {e}"),
            Ok(_) => break,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => anyhow::bail!("RAFT REMOVE {old}: {e:#}"),
        }
    }
    let new = ctx.cluster().wipe_and_renumber(slot, addr(leader))?;
    Ok((
        Active::Membership(Pending { slot, via: leader }),
        map(vec![("removed", i(old)), ("slot", i(slot as u64)), ("next-id", i(new))]),
    ))
}

/// Starts the fresh node, which joins through the old leader's address.
pub fn stop(ctx: &mut Ctx, p: Pending) -> anyhow::Result<V> {
    let mut c = ctx.cluster();
    c.start(p.slot)?;
    let id = c.nodes[p.slot - 1].id;
    Ok(map(vec![
        ("joined", i(id)),
        ("slot", i(p.slot as u64)),
        ("via", s(format!("n{}", p.via))),
    ]))
}
