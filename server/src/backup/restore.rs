//! `fencepost restore`: checks a backup and writes a data dir from which a node of a new
//! cluster starts with the backup's state. Every member is restored from the same file
//! with the same `--initial-cluster`; the nodes then elect a leader and go on from the
//! backup's log index, so later tokens are above every token in it, and the cluster
//! clock resumes where the backup left it (leases keep the time they had left).

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;

use crate::raft::log_store::LogStore;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::types::{SnapshotMeta, StoredMembership, Vote};

/// Writes a new node's data dir from a backup.
#[derive(Debug, Parser)]
#[command(name = "fencepost restore")]
pub struct RestoreArgs {
    /// The backup file (`fencepost backup --out`).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,
    /// The data dir to create (must not exist, or be empty).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// This node's id in the new cluster.
    #[arg(long)]
    pub node_id: u64,
    /// The new cluster's members, as the nodes will be started with
    /// (1=HOST:PORT[/HOST:RAFTPORT],...); default: this node alone at 127.0.0.1:6379.
    #[arg(long)]
    pub initial_cluster: Option<String>,
}

pub fn run(args: RestoreArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let file = std::fs::read(&args.from).with_context(|| format!("read {}", args.from.display()))?;
    let (header, sm) = super::decode(&file).with_context(|| format!("{} refused", args.from.display()))?;
    if args.data_dir.exists() && std::fs::read_dir(&args.data_dir)?.next().is_some() {
        bail!(
            "{} is not empty: restore writes a new data dir (move the old one away first)",
            args.data_dir.display()
        );
    }
    let spec = args
        .initial_cluster
        .clone()
        .unwrap_or_else(|| format!("{}=127.0.0.1:6379", args.node_id));
    let members = crate::config::parse_members(&spec).map_err(anyhow::Error::msg)?;
    if !members.contains_key(&args.node_id) {
        bail!("--initial-cluster does not list this node's id {}", args.node_id);
    }
    let ids: Vec<u64> = members.keys().copied().collect();
    let log_id = header.log_id;
    let membership = StoredMembership::new(Some(log_id), openraft::Membership::from(members));
    let meta = SnapshotMeta {
        last_log_id: Some(log_id),
        last_membership: membership,
    };
    StateMachineStore::write_restored(&args.data_dir.join("sm"), meta, sm.to_vec()).context("write the snapshot")?;
    let term = super::client::term_of(&log_id);
    LogStore::write_restored(&args.data_dir.join("log"), Vote::new(term, args.node_id), log_id)
        .context("write the log's metadata")?;
    println!(
        "restore: index {} term {}, {} objects, last token {}, into {} as node {} of {:?} in {:.2} s",
        log_id.index,
        term,
        header.objects,
        header.last_token,
        args.data_dir.display(),
        args.node_id,
        ids,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
