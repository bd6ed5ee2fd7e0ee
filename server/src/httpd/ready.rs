//! `/readyz`: whether a load balancer or Kubernetes should send this node clients. It
//! must be a member, be in touch with a leader (a leader: acknowledged by a majority)
//! within two election timeouts, and have applied to within 1,000 entries of the
//! commit index. A node cut off from the majority turns unready, leader or not.

use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;
use openraft::Instant as _;

use crate::context::ServerCtx;

/// How far behind the commit index applies may be.
const MAX_APPLY_LAG: u64 = 1_000;

/// `Ok` when ready; else why not, for the 503's body.
pub fn check(ctx: &ServerCtx) -> Result<(), String> {
    let node = &ctx.node;
    let m = node.raft.metrics().borrow_watched().clone();
    let window = Duration::from_millis(2 * ctx.config.election_timeout_ms);
    if m.membership_config.membership().get_node(&node.id).is_none() {
        return Err(format!("node {} is not a member of the cluster", node.id));
    }
    match m.current_leader {
        None => return Err("no leader known".into()),
        // A one-node cluster is its own majority.
        Some(leader) if leader == node.id && m.membership_config.membership().voter_ids().count() <= 1 => {}
        Some(leader) if leader == node.id => {
            let acked = m.last_quorum_acked.as_ref().map(|t| t.elapsed());
            match acked {
                Some(age) if age <= window => {}
                Some(age) => {
                    return Err(format!(
                        "leader without a majority: last acknowledged {} ms ago (allowed {} ms)",
                        age.as_millis(),
                        window.as_millis()
                    ))
                }
                None => return Err("leader not yet acknowledged by a majority".into()),
            }
        }
        Some(leader) => match crate::metrics::LEADER_CONTACT.age() {
            Some(age) if age <= window => {}
            Some(age) => {
                return Err(format!(
                    "no word from leader {leader} for {} ms (allowed {} ms)",
                    age.as_millis(),
                    window.as_millis()
                ))
            }
            None => return Err(format!("no word from leader {leader} yet")),
        },
    }
    let committed = m.local_committed.map_or(0, |l| l.index);
    let applied = m.last_applied.map_or(0, |l| l.index);
    if committed.saturating_sub(applied) > MAX_APPLY_LAG {
        return Err(format!(
            "applied index {applied} is more than {MAX_APPLY_LAG} behind the commit index {committed}"
        ));
    }
    Ok(())
}
