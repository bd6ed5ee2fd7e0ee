//! `/`: the status page. Plain HTML and CSS made here, no scripts or external assets;
//! it reloads itself every 2 s. It shows the members with their role, term, commit and
//! applied index and lag, each member's figures as that member itself reports them
//! (asked over the peer connection while the page is made; a member that does not
//! answer in time shows as unreachable), and the locks with the most waiters.

use std::fmt::Write as _;

use std::collections::HashMap;
use std::time::Duration;

use openraft::async_runtime::watch::WatchReceiver;

use crate::context::ServerCtx;
use crate::peer::client::PeerPool;
use crate::peer::handler::PeerHandler;
use crate::peer::wire::{MemberStatus, PeerRequest, PeerResponse};
use crate::raft::types::NodeId;

/// Locks listed.
const TOP_LOCKS: usize = 20;
/// How long the page waits for another member's own figures: a page that refreshes
/// every 2 s must not hang on a member that is down.
const ASK_TIMEOUT: Duration = Duration::from_millis(500);

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222;background:#fafafa}\
h1{font-size:20px;margin:0 0 .2em}h2{font-size:16px;margin:1.5em 0 .5em}\
table{border-collapse:collapse;background:#fff;min-width:40em}\
th,td{border:1px solid #ddd;padding:.3em .7em;text-align:left}th{background:#f0f0f0}\
td.num{text-align:right;font-variant-numeric:tabular-nums}\
.leader{font-weight:bold;color:#0a5}.muted{color:#888}.bad{color:#b00;font-weight:bold}";

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Asks the member at `raft_addr` for its own figures.
async fn ask(pool: &PeerPool, raft_addr: &str) -> Result<MemberStatus, String> {
    let call = pool.call(raft_addr, PeerRequest::Status, ASK_TIMEOUT);
    match tokio::time::timeout(ASK_TIMEOUT, call).await {
        Ok(Ok(PeerResponse::Status(s))) => Ok(s),
        Ok(Ok(PeerResponse::Refused(why))) => Err(why),
        Ok(Ok(_)) => Err("answered something else".into()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in time".into()),
    }
}

/// The page.
pub async fn page(ctx: &ServerCtx) -> String {
    let node = &ctx.node;
    let m = node.raft.metrics().borrow_watched().clone();
    let me = node.id;
    let leader = m.current_leader;
    let membership = m.membership_config.membership().clone();
    // Every other member's own figures, asked together.
    let others: Vec<(NodeId, String)> = membership
        .nodes()
        .filter(|(id, _)| **id != me)
        .map(|(id, peer)| (*id, peer.raft_addr.clone()))
        .collect();
    let answers = futures::future::join_all(others.iter().map(|(_, addr)| ask(&node.pool, addr))).await;
    let mut figures: HashMap<NodeId, Result<MemberStatus, String>> =
        others.iter().map(|(id, _)| *id).zip(answers).collect();
    figures.insert(me, Ok(node.status()));
    // Lag is counted against the leader's log: on the leader, from what it knows each
    // follower matched; elsewhere, from the leader's and the member's own last index.
    let leader_last = leader
        .and_then(|l| figures.get(&l))
        .and_then(|f| f.as_ref().ok())
        .map(|f| f.last_log);
    let ready = super::ready::check(ctx);
    let mut h = String::with_capacity(8 * 1024);
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"2\"><title>fencepost node {me}</title>\
         <style>{STYLE}</style></head><body>"
    );
    let _ = write!(
        h,
        "<h1>fencepost node {me}</h1><p id=\"summary\">{} · term {} · leader {} · {}</p>",
        esc(&format!("{:?}", m.state).to_lowercase()),
        m.current_term,
        leader.map_or("none".to_string(), |l| l.to_string()),
        match &ready {
            Ok(()) => "<span>ready</span>".to_string(),
            Err(why) => format!("<span class=\"bad\">not ready: {}</span>", esc(why)),
        }
    );
    h.push_str(
        "<h2>Members</h2><table id=\"members\"><tr><th>id</th><th>role</th><th>client address</th>\
         <th>peer address</th><th>term</th><th>commit</th><th>applied</th><th>lag</th></tr>",
    );
    let voters: Vec<u64> = membership.voter_ids().collect();
    for (id, peer) in membership.nodes() {
        let role = if Some(*id) == leader {
            "leader"
        } else if voters.contains(id) {
            "follower"
        } else {
            "learner"
        };
        let own = figures.get(id).cloned().unwrap_or_else(|| Err("not asked".into()));
        let matched = if Some(me) == leader && *id != me {
            m.replication
                .as_ref()
                .and_then(|r| r.get(id).cloned())
                .map(|l| l.map_or(0, |l| l.index))
        } else {
            own.as_ref().ok().map(|f| f.last_log)
        };
        let lag = match (leader_last, matched) {
            (Some(l), Some(x)) => l.saturating_sub(x).to_string(),
            _ => "<span class=\"muted\">unknown here</span>".to_string(),
        };
        let cells = match &own {
            Ok(f) => format!(
                "<td class=\"num term\">{}</td><td class=\"num commit\">{}</td><td class=\"num applied\">{}</td>",
                f.term, f.committed, f.applied
            ),
            Err(why) => format!(
                "<td colspan=\"3\" class=\"bad unreachable\" title=\"{}\">unreachable</td>",
                esc(why)
            ),
        };
        let _ = write!(
            h,
            "<tr data-node=\"{id}\"><td>{id}{}</td><td class=\"{role}\">{role}</td><td>{}</td><td>{}</td>\
             {cells}<td class=\"num lag\">{lag}</td></tr>",
            if *id == me { " (this node)" } else { "" },
            esc(&peer.resp_addr),
            esc(&peer.raft_addr),
        );
    }
    h.push_str("</table>");
    let locks = {
        let st = node.sm.read();
        st.sm.most_waited_locks(TOP_LOCKS, st.sm.now())
    };
    h.push_str("<h2>Locks with the most waiters</h2>");
    if locks.is_empty() {
        h.push_str("<p class=\"muted\" id=\"no-locks\">Nobody is waiting for a lock.</p>");
    } else {
        h.push_str(
            "<table id=\"locks\"><tr><th>lock</th><th>holder</th><th>token</th><th>lease left (ms)</th>\
             <th>waiters</th></tr>",
        );
        for (name, v) in locks {
            let _ = write!(
                h,
                "<tr><td class=\"lock-name\">{}</td><td class=\"holder\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&String::from_utf8_lossy(&name)),
                esc(&String::from_utf8_lossy(&v.owner)),
                v.token,
                v.ttl_remaining_ms,
                v.waiters
            );
        }
        h.push_str("</table>");
    }
    let _ = write!(
        h,
        "<p class=\"muted\">Served by node {me} from its own view; refreshes every 2 s. \
         <a href=\"/metrics\">metrics</a> · <a href=\"/readyz\">readyz</a></p></body></html>"
    );
    h
}
