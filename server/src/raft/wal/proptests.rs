//! Random append/sync/truncate/purge/reopen/crash sequences checked against an in-memory model.

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    /// Continue the log; into an empty log, start `gap` above the purge point.
    Append {
        gap: u64,
        payloads: Vec<Vec<u8>>,
    },
    Sync,
    /// Truncate at a position chosen by `pick` among the model's records (or just past them).
    Truncate {
        pick: u64,
    },
    /// Purge up to a point chosen by `pick`, from below the log to past its end.
    Purge {
        pick: u64,
    },
    /// Drop the WAL (its buffer reaches the OS) and reopen.
    Reopen,
    /// Lose the write buffer as a killed process would, then reopen.
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let payloads = prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..6);
    prop_oneof![
        6 => (0..3u64, payloads).prop_map(|(gap, payloads)| Op::Append { gap, payloads }),
        3 => Just(Op::Sync),
        1 => any::<u64>().prop_map(|pick| Op::Truncate { pick }),
        1 => any::<u64>().prop_map(|pick| Op::Purge { pick }),
        1 => Just(Op::Reopen),
        1 => Just(Op::Crash),
    ]
}

/// What the WAL must hold: records above the purge point (those at or below it may linger).
#[derive(Default)]
struct Model {
    records: Vec<(u64, Vec<u8>)>,
    /// How many leading records are synced, so must survive a crash.
    durable: usize,
    purged: Option<u64>,
}

impl Model {
    fn live(&self, index: u64) -> bool {
        self.purged.is_none_or(|p| index > p)
    }

    /// Checks what reopening returned and adopts it.
    fn reopened(&mut self, got: Vec<(u64, Vec<u8>)>, crashed: bool) -> Result<(), TestCaseError> {
        for pair in got.windows(2) {
            prop_assert_eq!(pair[0].0 + 1, pair[1].0, "recovered log not contiguous");
        }
        let got: Vec<_> = got.into_iter().filter(|r| self.live(r.0)).collect();
        if crashed {
            prop_assert!(got.len() >= self.durable, "lost synced records");
            prop_assert!(got.len() <= self.records.len(), "invented records");
            prop_assert_eq!(&got[..], &self.records[..got.len()]);
        } else {
            prop_assert_eq!(&got, &self.records);
        }
        self.records = got;
        self.durable = self.records.len();
        Ok(())
    }
}

const SEGMENT_BYTES: u64 = 200;

fn run(dir: &Path, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let opts = WalOptions {
        segment_bytes: SEGMENT_BYTES,
    };
    let (mut wal, got) = Wal::open(dir, opts.clone())?;
    prop_assert!(got.is_empty());
    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Append { gap, payloads } => {
                let start = match wal.last_index() {
                    Some(last) => last + 1,
                    None => model.purged.map_or(0, |p| p + 1) + gap,
                };
                let batch: Vec<(u64, &[u8])> = payloads.iter().zip(start..).map(|(p, i)| (i, p.as_slice())).collect();
                wal.append(&batch)?;
                model.records.extend(
                    batch
                        .iter()
                        .filter(|r| model.live(r.0))
                        .map(|(i, p)| (*i, p.to_vec()))
                        .collect::<Vec<_>>(),
                );
            }
            Op::Sync => {
                wal.sync()?;
                model.durable = model.records.len();
            }
            Op::Truncate { pick } => {
                // Raft never truncates at or below its purge point.
                let Some(&(first, _)) = model.records.first() else {
                    continue;
                };
                let keep = (pick % (model.records.len() as u64 + 1)) as usize;
                wal.truncate_from(first + keep as u64)?;
                model.records.truncate(keep);
                model.durable = model.durable.min(keep);
            }
            Op::Purge { pick } => {
                let Some(last) = wal.last_index() else {
                    let index = model.purged.unwrap_or(0) + pick % 3;
                    wal.purge_upto(index)?;
                    model.purged = Some(model.purged.map_or(index, |p| p.max(index)));
                    continue;
                };
                let low = wal.first_index().unwrap_or(last).saturating_sub(1);
                let index = low + pick % (last - low + 3);
                wal.purge_upto(index)?;
                model.purged = Some(model.purged.map_or(index, |p| p.max(index)));
                let before = model.records.len();
                model.records.retain(|r| r.0 > index);
                model.durable = model.durable.saturating_sub(before - model.records.len());
                if index >= last {
                    prop_assert_eq!(wal.last_index(), None);
                }
            }
            Op::Reopen | Op::Crash => {
                let crashed = matches!(op, Op::Crash);
                if crashed {
                    wal.discard_active();
                }
                drop(wal);
                let (reopened, got) = Wal::open(dir, opts.clone())?;
                wal = reopened;
                model.reopened(got, crashed)?;
            }
        }
        if let Some(&(last, _)) = model.records.last() {
            prop_assert_eq!(wal.last_index(), Some(last));
        }
    }
    drop(wal);
    let (_, got) = Wal::open(dir, opts)?;
    model.reopened(got, false)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        run(dir.path(), ops)?;
    }
}
