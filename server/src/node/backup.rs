//! RAFT BACKUP's side on the node: the state machine as of a linearizable point, taken
//! from this node's own copy (a follower too), so a large state never travels between
//! nodes: the leader only answers the index this node must have applied first.

use std::time::Duration;

use super::{Node, NodeError};
use crate::backup;
use crate::query::{ReadAnswer, ReadQuery};

/// How long a lagging node may take to apply up to the backup point.
const CATCH_UP: Duration = Duration::from_secs(30);

impl Node {
    /// A backup file of the state as of now: every write acknowledged before this call
    /// is in it.
    pub async fn backup(&self) -> Result<Vec<u8>, NodeError> {
        let index = match self.read(ReadQuery::Barrier).await? {
            ReadAnswer::Barrier(i) => i,
            other => return Err(NodeError::ClusterDown(format!("backup barrier answered {other:?}"))),
        };
        let deadline = tokio::time::Instant::now() + CATCH_UP;
        while self.sm.read().last_applied.map_or(0, |l| l.index) < index {
            if tokio::time::Instant::now() > deadline {
                return Err(NodeError::ClusterDown(format!(
                    "this node did not apply up to the backup point {index} within {CATCH_UP:?}"
                )));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let sm = self.sm.clone();
        let made = tokio::task::spawn_blocking(move || {
            let st = sm.read();
            let log_id = st.last_applied.ok_or_else(|| "nothing applied yet".to_string())?;
            let data = postcard::to_allocvec(&st.sm).map_err(|e| e.to_string())?;
            let header = backup::header(
                log_id,
                st.sm.now(),
                st.sm.last_token(),
                st.sm.kind_counts().iter().map(|(_, n)| n).sum(),
            );
            drop(st);
            backup::encode(&header, &data).map_err(|e| e.to_string())
        })
        .await;
        match made {
            Ok(Ok(file)) => Ok(file),
            Ok(Err(why)) => Err(NodeError::ClusterDown(format!("backup: {why}"))),
            Err(e) => Err(NodeError::ClusterDown(format!("backup task: {e}"))),
        }
    }
}
