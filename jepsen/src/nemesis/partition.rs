//! Partitions (nftables): isolate one node, isolate the leader, random halves,
//! majorities ring, bridge. A grudge maps each node to the nodes it drops.

use rand::seq::SliceRandom;
use rand::Rng;

use super::{Active, Ctx};
use crate::history::{map, s, V};
use crate::net::{nft, ns};

/// Node slot -> slots whose packets it drops.
pub type Grudge = Vec<(usize, Vec<usize>)>;

/// Cuts `side` off from everyone else, both ways.
pub fn isolate(n: usize, side: &[usize]) -> Grudge {
    (1..=n)
        .map(|x| {
            let drop = if side.contains(&x) {
                (1..=n).filter(|y| !side.contains(y)).collect()
            } else {
                side.to_vec()
            };
            (x, drop)
        })
        .collect()
}

/// Each node hears itself and the next ⌊n/2⌋ nodes around the ring: every node sees a
/// majority, and no two see the same one (Jepsen's majorities-ring).
pub fn ring(order: &[usize]) -> Grudge {
    let n = order.len();
    let keep = n / 2;
    (0..n)
        .map(|k| {
            let drop = (keep + 1..n).map(|d| order[(k + d) % n]).collect();
            (order[k], drop)
        })
        .collect()
}

/// Two halves joined only through one node in the middle, which hears both.
pub fn bridge(order: &[usize]) -> Grudge {
    let n = order.len();
    let mid = order[n / 2];
    let left: Vec<usize> = order[..n / 2].to_vec();
    let right: Vec<usize> = order[n / 2 + 1..].to_vec();
    order
        .iter()
        .map(|&x| {
            let drop = if left.contains(&x) {
                right.clone()
            } else if right.contains(&x) {
                left.clone()
            } else {
                Vec::new()
            };
            let _ = mid;
            (x, drop)
        })
        .collect()
}

/// Starts a random partition.
pub fn start(ctx: &mut Ctx) -> anyhow::Result<(Active, V)> {
    let n = ctx.n();
    let mut order: Vec<usize> = (1..=n).collect();
    order.shuffle(&mut ctx.rng);
    let (mode, grudge) = match ctx.rng.random_range(0..5) {
        0 => ("isolate-one", isolate(n, &order[..1])),
        1 => {
            let l = ctx.leader_or_any();
            ("isolate-leader", isolate(n, &[l]))
        }
        2 => ("halves", isolate(n, &order[..n / 2])),
        3 => ("majorities-ring", ring(&order)),
        _ => ("bridge", bridge(&order)),
    };
    for (x, drop) in &grudge {
        let ips: Vec<String> = drop.iter().map(|&y| ns::node_ip(y)).collect();
        nft::drop_from(&ns::node_ns(*x), &ips)?;
    }
    let desc = grudge
        .iter()
        .map(|(x, d)| {
            format!(
                "n{x}x{}",
                d.iter().map(|y| format!("n{y}")).collect::<Vec<_>>().join("+")
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    Ok((Active::Partition, map(vec![("mode", s(mode)), ("grudge", s(desc))])))
}

/// Heals every node's rules.
pub fn stop(ctx: &mut Ctx) -> anyhow::Result<V> {
    for slot in 1..=ctx.n() {
        nft::heal(&ns::node_ns(slot))?;
    }
    Ok(s("healed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_gives_every_node_a_distinct_majority() {
        for n in [3, 5] {
            let order: Vec<usize> = (1..=n).collect();
            let g = ring(&order);
            let mut seen = std::collections::HashSet::new();
            for (x, drop) in &g {
                let hears: Vec<usize> = (1..=n).filter(|y| !drop.contains(y)).collect();
                assert!(hears.len() > n / 2 && hears.len() < n && hears.contains(x));
                assert!(seen.insert(hears));
            }
        }
    }

    #[test]
    fn bridge_middle_hears_everyone() {
        let g = bridge(&[1, 2, 3, 4, 5]);
        assert!(g.iter().any(|(x, d)| *x == 3 && d.is_empty()));
        assert!(g.iter().any(|(x, d)| *x == 1 && d == &vec![4, 5]));
    }
}
