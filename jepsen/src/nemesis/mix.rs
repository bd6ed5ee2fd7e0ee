//! What `--nemesis` asks for: a list of fault kinds run one at a time
//! (`partition,kill`), or, behind `overlap:`, faults of two different kinds in force at
//! once (`overlap:partition+clock`; with more than two kinds listed, each fault is a
//! random pair of them).

use rand::seq::IndexedRandom;
use rand::Rng;

use super::Kind;

/// The run's fault mix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mix {
    /// The kinds to draw from, in the order given (empty: no faults).
    pub kinds: Vec<Kind>,
    /// Each fault is two kinds at once instead of one.
    pub overlap: bool,
}

/// The prefix that turns a list into overlapping pairs.
pub const OVERLAP: &str = "overlap:";

impl Mix {
    /// Parses `--nemesis`. Kinds are separated by `,` (or `+` after `overlap:`).
    pub fn parse(spec: &str) -> anyhow::Result<Mix> {
        let (overlap, list) = match spec.trim().strip_prefix(OVERLAP) {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        if !overlap && list.contains('+') {
            anyhow::bail!("{spec:?}: to run faults at the same time, write {OVERLAP}{list}");
        }
        let mut kinds = Vec::new();
        for name in list.split([',', '+']).map(str::trim).filter(|n| !n.is_empty()) {
            // A kind listed twice is drawn twice as often, as before overlaps existed.
            if let Some(k) = Kind::parse(name)? {
                kinds.push(k);
            }
        }
        let mix = Mix { kinds, overlap };
        if overlap {
            let families = mix.families();
            anyhow::ensure!(
                families.len() >= 2,
                "{spec:?}: overlapping needs two kinds that log differently (kill and kill-all are both `kill`), got {families:?}"
            );
        }
        Ok(mix)
    }

    /// Whether `k` may be drawn.
    pub fn contains(&self, k: Kind) -> bool {
        self.kinds.contains(&k)
    }

    fn families(&self) -> Vec<&'static str> {
        let mut f: Vec<&'static str> = self.kinds.iter().map(|k| k.family()).collect();
        f.sort_unstable();
        f.dedup();
        f
    }

    /// The next fault: one kind, or with `overlap` two kinds of different families in
    /// start order (the first is held around the second). Empty when there are no kinds.
    pub fn draw(&self, rng: &mut impl Rng) -> Vec<Kind> {
        // One `choose` per single fault, as before overlaps existed: a seed keeps giving
        // the schedule it gave.
        let Some(&first) = self.kinds.choose(rng) else {
            return Vec::new();
        };
        if !self.overlap {
            return vec![first];
        }
        let others: Vec<Kind> = self
            .kinds
            .iter()
            .copied()
            .filter(|k| k.family() != first.family())
            .collect();
        let Some(&second) = others.choose(rng) else {
            return vec![first];
        };
        // A membership change goes first: its RAFT REMOVE needs a working cluster to
        // commit, and one committed after the harness gave up (a quorum lost to the other
        // fault) would remove a node the harness still counts as a member.
        if second == Kind::Membership {
            vec![second, first]
        } else {
            vec![first, second]
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn parses_singles_and_overlaps() {
        let m = Mix::parse("partition,kill").expect("parses");
        assert_eq!((m.kinds, m.overlap), (vec![Kind::Partition, Kind::Kill], false));
        let m = Mix::parse("overlap:partition+clock").expect("parses");
        assert_eq!((m.kinds, m.overlap), (vec![Kind::Partition, Kind::Clock], true));
        assert!(Mix::parse("none").expect("parses").kinds.is_empty());
        assert!(Mix::parse("partition+clock").is_err(), "a pair without overlap:");
        assert!(Mix::parse("overlap:kill+kill-all").is_err(), "one family");
        assert!(Mix::parse("overlap:partition").is_err());
        assert!(Mix::parse("overlap:partition+bogus").is_err());
    }

    #[test]
    fn overlapping_pairs_are_two_families_membership_first() {
        let m = Mix::parse("overlap:partition,packet,kill,kill-all,pause,clock,membership").expect("parses");
        let mut rng = StdRng::seed_from_u64(7);
        let mut saw_membership = false;
        for _ in 0..500 {
            let pair = m.draw(&mut rng);
            assert_eq!(pair.len(), 2);
            assert_ne!(pair[0].family(), pair[1].family(), "{pair:?}");
            assert_ne!(pair[1], Kind::Membership, "{pair:?}");
            saw_membership |= pair[0] == Kind::Membership;
        }
        assert!(saw_membership);
        let single = Mix::parse("partition,clock").expect("parses");
        assert_eq!(single.draw(&mut rng).len(), 1);
    }
}
