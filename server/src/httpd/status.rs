//! `/`: the status page. Plain HTML and CSS made here, no scripts or external assets;
//! it reloads itself every 2 s. It shows this node's view: the members with their role,
//! term, and lag (a leader knows every follower's), its own commit and applied index
//! (other members' only they know: their own pages show them), and the locks with the
//! most waiters.

use std::fmt::Write as _;

use openraft::async_runtime::watch::WatchReceiver;

use crate::context::ServerCtx;

/// Locks listed.
const TOP_LOCKS: usize = 20;

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

/// The page.
pub fn page(ctx: &ServerCtx) -> String {
    let node = &ctx.node;
    let m = node.raft.metrics().borrow_watched().clone();
    let me = node.id;
    let leader = m.current_leader;
    let committed = m.local_committed.map_or(0, |l| l.index);
    let applied = m.last_applied.map_or(0, |l| l.index);
    let last_log = m.last_log_index.unwrap_or(0);
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
    let membership = m.membership_config.membership().clone();
    let voters: Vec<u64> = membership.voter_ids().collect();
    for (id, peer) in membership.nodes() {
        let role = if Some(*id) == leader {
            "leader"
        } else if voters.contains(id) {
            "follower"
        } else {
            "learner"
        };
        // A leader knows what each follower has matched; others know only themselves.
        let matched = if *id == me {
            Some(last_log)
        } else {
            m.replication
                .as_ref()
                .and_then(|r| r.get(id).cloned())
                .map(|l| l.map_or(0, |l| l.index))
        };
        // Another member's term is known when it is this term's leader, or a follower
        // this leader replicates to; its commit and applied indexes only it knows.
        let in_term = Some(*id) == leader || matched.is_some();
        let (term, commit, apply) = if *id == me {
            (m.current_term.to_string(), committed.to_string(), applied.to_string())
        } else if in_term {
            (m.current_term.to_string(), "-".into(), "-".into())
        } else {
            ("-".into(), "-".into(), "-".into())
        };
        let lag = matched.map_or("<span class=\"muted\">unknown here</span>".to_string(), |x| {
            last_log.saturating_sub(x).to_string()
        });
        let _ = write!(
            h,
            "<tr data-node=\"{id}\"><td>{id}{}</td><td class=\"{role}\">{role}</td><td>{}</td><td>{}</td>\
             <td class=\"num\">{term}</td><td class=\"num\">{commit}</td><td class=\"num\">{apply}</td><td class=\"num\">{lag}</td></tr>",
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
