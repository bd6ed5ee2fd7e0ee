//! `--wal-writer auto`: the WAL is written inline while this node follows and by the
//! writer thread while it leads (see `raft::log_writer` for why each suits its role).

use openraft::async_runtime::watch::WatchReceiver;
use openraft::ServerState;

use crate::raft::log_store::LogStore;
use crate::raft::types::Raft;

/// Switches `log`'s writes as the node's role changes, until Raft stops.
pub async fn follow_role(raft: Raft, log: LogStore) {
    // Server metrics change on role changes only, not on every apply.
    let mut metrics = raft.server_metrics();
    loop {
        let leading = metrics.borrow_and_update().state == ServerState::Leader;
        log.set_inline_writes(!leading);
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
