//! Cluster suites (SPEC.md "Cluster"): formation, proxying through followers, leader
//! kill -9 loops under load, catch-up by log and by snapshot, membership changes under
//! load, peer authentication, a minority partition, redirect mode and leadership
//! transfer. Real `fencepost` processes on loopback; every state is polled for with a
//! deadline. Each test takes `heavy_lock()`: several clusters at once on a small
//! machine would make elections flap and the timings meaningless.

use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use fencepost_tests::cluster::{hello_frame, key_slot, peer_refuses, CLUSTER_TIMEOUT};
use fencepost_tests::*;
use rand::Rng;

const SETUP: Duration = TestCluster::SETUP;
/// The server's default `--election-timeout-ms` (randomised in [t, 2t]; heartbeat 50 ms).
/// Only used to label the failover report: the nodes run with the defaults.
const ELECTION_TIMEOUT_MS: u64 = 200;
const LONG_TTL: &str = "3600000";

/// `[highest, value]` as FENCE GET answers it.
fn fence_val(token: i64, value: &str) -> Reply {
    arr(vec![int(token), bulk(value)])
}

/// The token of an `IDEMP BEGIN` that answered `["started", token]`.
fn started_token(r: &Reply) -> i64 {
    match r {
        Reply::Array(v) if v.len() == 2 && v[0] == bulk("started") => v[1].int(),
        other => panic!("IDEMP BEGIN: want [\"started\", token], got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------
// 1. Formation
// ---------------------------------------------------------------------------------

fn formation(n: u64) {
    let _g = heavy_lock();
    let c = TestCluster::start(n);
    let ids = c.ids();
    let leader = c.leader(CLUSTER_TIMEOUT);
    // A founder that heard the winner's vote before its first entries reports itself a
    // learner of an empty membership for a moment: let every log catch up first.
    for &id in &ids {
        c.wait_caught_up(id, CLUSTER_TIMEOUT);
    }

    // Exactly one leader, named by everyone, in one term; all founders are voters.
    let mut leaders = Vec::new();
    let mut terms = BTreeSet::new();
    for &id in &ids {
        let info = c.raft_info(id).expect("RAFT INFO");
        assert_eq!(info.field("node-id"), Some(int(id as i64)), "{info:?}");
        let role = info.field("role").expect("role").text();
        if role == "leader" {
            leaders.push(id);
        } else {
            assert_eq!(role, "follower", "node {id}: {info:?}");
        }
        assert_eq!(info.field("leader-id"), Some(int(leader as i64)), "node {id}: {info:?}");
        assert_eq!(
            info.field("leader-addr").map(|r| r.text()),
            Some(c.addr(leader)),
            "node {id}: {info:?}"
        );
        assert_eq!(c.voters(id), Some(ids.clone()), "node {id}: {info:?}");
        assert_eq!(c.learners(id), Some(vec![]), "node {id}: {info:?}");
        terms.insert(info.field("term").expect("term").int());
    }
    assert_eq!(leaders, vec![leader], "exactly one node reports role leader");
    assert_eq!(terms.len(), 1, "all nodes in one term: {terms:?}");

    // Writes through every node; tokens grow whichever node took the write.
    let p = uniq("form");
    let mut last = 0;
    let mut written = Vec::new();
    for (k, &id) in ids.iter().enumerate() {
        let (lock, owner) = (format!("{p}-lock-{id}"), format!("owner-{id}"));
        let t = c.must(id, &["LOCK", "ACQUIRE", &lock, &owner, LONG_TTL]).int();
        assert!(t > last, "token {t} via node {id} after token {last}");
        last = t;
        // Re-acquire by the same owner through another node: the same token.
        let other = ids[(k + 1) % ids.len()];
        assert_eq!(
            c.must(other, &["LOCK", "ACQUIRE", &lock, &owner, LONG_TTL]),
            int(t),
            "idempotent re-acquire via node {other}"
        );
        let (fence, val) = (format!("{p}-fence-{id}"), format!("value-{id}"));
        assert_eq!(c.must(id, &["FENCE", "SET", &fence, &t.to_string(), &val]), Reply::ok());
        // One shared bucket, one token taken through each node in turn.
        let tb = c.must(id, &["TOKENBUCKET", &format!("{p}-tb"), "100", "1", LONG_TTL]);
        let tb = tb.items();
        assert_eq!(tb.len(), 5, "{tb:?}");
        assert_eq!(&tb[..4], &[int(0), int(100), int(99 - k as i64), int(-1)], "{tb:?}");
        let idem = format!("{p}-idem-{id}");
        let tok = started_token(&c.must(id, &["IDEMP", "BEGIN", &idem, &format!("fp-{id}"), LONG_TTL]));
        assert!(tok > last, "IDEMP token {tok} via node {id} after token {last}");
        last = tok;
        let resp = format!("response-{id}");
        assert_eq!(
            c.must(id, &["IDEMP", "COMPLETE", &idem, &tok.to_string(), &resp]),
            Reply::ok()
        );
        written.push((id, lock, owner, t, fence, val, idem, resp));
    }

    // Reads through every node agree.
    for &reader in &ids {
        let mut conn = c.conn(reader);
        for (id, lock, owner, t, fence, val, idem, resp) in &written {
            let info = conn.cmd(&["LOCK", "INFO", lock]);
            assert_eq!(info.field("owner"), Some(bulk(owner)), "node {reader}: {info:?}");
            assert_eq!(info.field("token"), Some(int(*t)), "node {reader}: {info:?}");
            assert_eq!(info.field("waiters"), Some(int(0)), "node {reader}: {info:?}");
            assert_eq!(
                conn.cmd(&["FENCE", "GET", fence]),
                fence_val(*t, val),
                "FENCE GET via node {reader} (written via {id})"
            );
            assert_eq!(
                conn.cmd(&["IDEMP", "GET", idem]),
                arr(vec![bulk("done"), bulk(resp)]),
                "IDEMP GET via node {reader} (written via {id})"
            );
        }
        let peek = conn.cmd(&["TOKENBUCKET", &format!("{p}-tb"), "100", "1", LONG_TTL, "COST", "0"]);
        assert_eq!(
            peek.items()[2],
            int(100 - n as i64),
            "bucket level via node {reader}: {peek:?}"
        );
    }

    // INFO latency: the leader timed replication round trips; every follower served
    // AppendEntries and fsynced what it received.
    for &id in &ids {
        let text = c.conn(id).cmd(&["INFO", "latency"]).text();
        let numbers = info_numbers(&text);
        let count = |k: &str| {
            *numbers
                .get(k)
                .unwrap_or_else(|| panic!("node {id}: INFO latency lacks {k}:\n{text}"))
        };
        if id == leader {
            assert!(count("replication_rpc_count") > 0, "leader {id}:\n{text}");
            assert!(count("commit_count") > 0, "leader {id}:\n{text}");
        } else {
            assert!(count("follower_append_count") > 0, "follower {id}:\n{text}");
        }
        assert!(count("wal_fsync_count") > 0, "node {id}:\n{text}");
    }

    // CLUSTER SLOTS / NODES: one shard, the leader as master, the others replicas.
    let followers: BTreeSet<i64> = ids
        .iter()
        .filter(|&&id| id != leader)
        .map(|&id| i64::from(c.port(id)))
        .collect();
    for &id in &ids {
        let slots = c.conn(id).cmd(&["CLUSTER", "SLOTS"]);
        let slots = slots.items();
        assert_eq!(slots.len(), 1, "node {id}: one slot range: {slots:?}");
        let range = slots[0].items();
        assert_eq!(&range[..2], &[int(0), int(16383)], "node {id}: {range:?}");
        assert_eq!(range.len(), 2 + n as usize, "node {id}: master + replicas: {range:?}");
        let master = range[2].items();
        assert_eq!(master[0].text(), "127.0.0.1", "node {id}: {range:?}");
        assert_eq!(master[1], int(i64::from(c.port(leader))), "node {id}: {range:?}");
        assert_eq!(master[2].text(), format!("{leader:040x}"), "node {id}: {range:?}");
        let replicas: BTreeSet<i64> = range[3..].iter().map(|r| r.items()[1].int()).collect();
        assert_eq!(replicas, followers, "node {id}: replicas {range:?}");

        let nodes = c.node(id).cli(&["CLUSTER", "NODES"]);
        let lines: Vec<&str> = nodes.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), n as usize, "node {id}: CLUSTER NODES\n{nodes}");
        let masters: Vec<&&str> = lines.iter().filter(|l| l.contains("master")).collect();
        assert_eq!(masters.len(), 1, "node {id}: one master\n{nodes}");
        let m = masters[0];
        assert!(
            m.starts_with(&format!("{leader:040x} {}@", c.addr(leader))),
            "node {id}: the master line names the leader\n{nodes}"
        );
        assert!(m.contains("0-16383"), "node {id}: the master owns every slot\n{nodes}");
        for l in lines.iter().filter(|l| !l.contains("master")) {
            assert!(
                l.contains(&format!("slave {leader:040x}")),
                "node {id}: replica of the leader\n{nodes}"
            );
        }
    }
}

#[test]
fn formation_of_three() {
    formation(3);
}

#[test]
fn formation_of_five() {
    formation(5);
}

// ---------------------------------------------------------------------------------
// 2. LOCK ... WAIT through a follower
// ---------------------------------------------------------------------------------

#[test]
fn lock_wait_through_a_follower() {
    let _g = heavy_lock();
    let c = TestCluster::start(3);
    let a = c.leader(CLUSTER_TIMEOUT);
    let f = c.followers_of(a);
    let (b, cc) = (f[0], f[1]);
    let name = uniq("wait");

    let t1 = c.must(a, &["LOCK", "ACQUIRE", &name, "holder", LONG_TTL]).int();
    let rx = spawn_cmd(
        c.node(b),
        &["LOCK", "ACQUIRE", &name, "waiter", LONG_TTL, "WAIT", "30000"],
    );
    wait_until(Duration::from_secs(10), "the waiter queued (via node C)", || {
        let info = c.try_cmd(cc, &["LOCK", "INFO", &name]).ok()?;
        (info.field("waiters") == Some(int(1))).then_some(())
    });
    assert!(rx.try_recv().is_err(), "the waiter must still be blocked");
    let released = Instant::now();
    assert_eq!(
        c.must(cc, &["LOCK", "RELEASE", &name, "holder", &t1.to_string()]),
        int(1)
    );
    let (r, at) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the waiter on the follower got no grant within 10 s of the release");
    let t2 = r.int();
    assert!(t2 > t1, "grant token {t2} after {t1}");
    let lag = at.saturating_duration_since(released);
    assert!(
        lag < Duration::from_secs(3),
        "grant reached the follower's client after {lag:?}"
    );
    let info = c.conn(a).cmd(&["LOCK", "INFO", &name]);
    assert_eq!(info.field("owner"), Some(bulk("waiter")), "{info:?}");
    assert_eq!(info.field("token"), Some(int(t2)), "{info:?}");
    assert_eq!(info.field("waiters"), Some(int(0)), "{info:?}");

    // A wait that runs out on a follower answers nil and leaves the queue.
    let name2 = uniq("wait-timeout");
    c.must(a, &["LOCK", "ACQUIRE", &name2, "holder", LONG_TTL]).int();
    let rx = spawn_cmd(
        c.node(b),
        &["LOCK", "ACQUIRE", &name2, "waiter", LONG_TTL, "WAIT", "300"],
    );
    let (r, _) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("no answer to a 300 ms WAIT within 10 s");
    assert_eq!(r, Reply::Nil, "an expired WAIT through a follower");
    wait_until(Duration::from_secs(5), "the expired waiter left the queue", || {
        let info = c.try_cmd(cc, &["LOCK", "INFO", &name2]).ok()?;
        (info.field("waiters") == Some(int(0))).then_some(())
    });
}

/// Clients of a follower that hang up while their WAIT acquire is on its way to the
/// leader, or already queued there, leave no waiter behind: the follower cancels each
/// one it forwarded, as the leader does for its own clients (bad_input.rs has the
/// single-node cases). An orphan would be granted the lock at its turn and hold it for
/// its whole TTL.
#[test]
fn a_followers_clients_vanishing_while_waiting_leave_no_waiter() {
    let _g = heavy_lock();
    let c = TestCluster::start(3);
    let a = c.leader(CLUSTER_TIMEOUT);
    let b = c.followers_of(a)[0];
    let name = uniq("vanish-via-follower");
    let t = c.must(a, &["LOCK", "ACQUIRE", &name, "holder", LONG_TTL]).int();
    for round in 0..3 {
        for i in 0..20 {
            let mut w = c.conn(b);
            let owner = format!("w{round}-{i}");
            w.send(&["LOCK", "ACQUIRE", &name, &owner, LONG_TTL, "WAIT", "30000"])
                .expect("send");
            // From at once (still being forwarded) to 4 ms (queued at the leader).
            thread::sleep(Duration::from_micros(1000 * (i % 5)));
            w.close();
        }
    }
    let mut watch = c.conn(b);
    wait_until_only_client(
        &mut watch,
        Duration::from_secs(10),
        "the vanished clients' connections to the follower closed",
    );
    wait_until(Duration::from_secs(10), "no vanished waiter left in the queue", || {
        let info = c.try_cmd(a, &["LOCK", "INFO", &name]).ok()?;
        (info.field("waiters") == Some(int(0))).then_some(())
    });
    assert_eq!(c.must(a, &["LOCK", "RELEASE", &name, "holder", &t.to_string()]), int(1));
    match c.must(b, &["LOCK", "ACQUIRE", &name, "newcomer", LONG_TTL]) {
        Reply::Int(t2) => assert!(t2 > t, "token {t2} after {t}"),
        o => panic!("the lock went to a vanished waiter: {o:?}"),
    }
}

// ---------------------------------------------------------------------------------
// Load clients shared by the kill loop and the membership test
// ---------------------------------------------------------------------------------

/// What one load client saw. Only acknowledged writes count as promises.
#[derive(Debug, Default)]
struct ClientLog {
    name: String,
    fence_key: String,
    /// Highest FENCE ADVANCE token acknowledged.
    fence_acked: i64,
    /// Highest FENCE ADVANCE token ever sent (an -UNCERTAIN one may have applied).
    fence_sent: i64,
    /// Tokens of acknowledged grants (LOCK ACQUIRE, IDEMP BEGIN "started"), in
    /// acknowledgement order.
    grants: Vec<i64>,
    /// (key, response) of acknowledged IDEMP COMPLETEs.
    done: Vec<(String, String)>,
    acks: usize,
    clusterdown: usize,
    uncertain: usize,
    io_errors: usize,
    refused: usize,
    /// Replies a correct server cannot give.
    violations: Vec<String>,
}

/// One acknowledged write: when it was sent, when it was answered, through which node.
#[derive(Debug, Clone, Copy)]
struct Ack {
    sent: Instant,
    at: Instant,
}

#[derive(Default)]
struct Shared {
    stop: AtomicBool,
    acks: Mutex<Vec<Ack>>,
    /// A node being taken out of service (as a load balancer drains it): clients
    /// send it nothing new.
    draining: Mutex<Option<u64>>,
}

impl Shared {
    fn ack_count(&self) -> usize {
        self.acks.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Instant of the first acknowledgement of a write sent at or after `t`.
    fn first_ack_sent_after(&self, t: Instant) -> Option<Instant> {
        let acks = self.acks.lock().unwrap_or_else(|p| p.into_inner());
        acks.iter().filter(|a| a.sent >= t).map(|a| a.at).min()
    }
}

/// Stops the load clients when a test ends, also by a panic.
struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.stop.store(true, Ordering::SeqCst);
    }
}

enum Outcome {
    Acked(Reply),
    /// -UNCERTAIN, or an I/O error after sending: either outcome is allowed.
    Uncertain,
}

struct Client {
    nodes: Vec<(u64, u16)>,
    conns: HashMap<u64, Conn>,
    rng: rand::rngs::ThreadRng,
    log: ClientLog,
    shared: Arc<Shared>,
}

impl Client {
    /// Sends through a random node; retries only on -CLUSTERDOWN and refused
    /// connections (nothing was applied), never after -UNCERTAIN or a lost reply.
    fn call(&mut self, args: &[&str]) -> Outcome {
        let give_up = Instant::now() + Duration::from_secs(30);
        loop {
            if Instant::now() >= give_up {
                self.log.violations.push(format!(
                    "{args:?}: nothing but -CLUSTERDOWN / refused connections for 30 s"
                ));
                return Outcome::Uncertain;
            }
            let (id, port) = self.nodes[self.rng.random_range(0..self.nodes.len())];
            if *self.shared.draining.lock().unwrap_or_else(|p| p.into_inner()) == Some(id) {
                // Its connection, if any, is closed by the server; open a fresh one later.
                self.conns.remove(&id);
                continue;
            }
            let conn = match self.conns.entry(id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => match Conn::try_connect(port) {
                    Ok(mut conn) => {
                        // Longer than the server's 10 s commit timeout (-UNCERTAIN).
                        conn.set_timeout(Some(Duration::from_secs(20)));
                        e.insert(conn)
                    }
                    Err(_) => {
                        // Nothing was sent: safe to try again.
                        self.log.refused += 1;
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                },
            };
            let sent = Instant::now();
            match conn.try_cmd(args) {
                Err(_) => {
                    self.conns.remove(&id);
                    self.log.io_errors += 1;
                    return Outcome::Uncertain;
                }
                Ok(r) if r.is_err_with("CLUSTERDOWN") => {
                    self.log.clusterdown += 1;
                    let ms = self.rng.random_range(20..60);
                    thread::sleep(Duration::from_millis(ms));
                }
                Ok(r) if r.is_err_with("UNCERTAIN") => {
                    self.log.uncertain += 1;
                    return Outcome::Uncertain;
                }
                Ok(r) => {
                    self.log.acks += 1;
                    let ack = Ack {
                        sent,
                        at: Instant::now(),
                    };
                    self.shared.acks.lock().unwrap_or_else(|p| p.into_inner()).push(ack);
                    return Outcome::Acked(r);
                }
            }
        }
    }

    fn violation(&mut self, what: String) {
        self.log.violations.push(what);
    }

    /// One round: FENCE ADVANCE with a higher token, a LOCK ACQUIRE + RELEASE on a
    /// fresh name, an IDEMP BEGIN + COMPLETE on a fresh key.
    fn round(&mut self, i: i64) {
        let p = self.log.name.clone();
        let fence = self.log.fence_key.clone();
        self.log.fence_sent = i;
        match self.call(&["FENCE", "ADVANCE", &fence, &i.to_string()]) {
            Outcome::Acked(r) if r == int(i) => self.log.fence_acked = i,
            Outcome::Acked(r) => self.violation(format!("FENCE ADVANCE {fence} {i} -> {r:?}")),
            Outcome::Uncertain => {}
        }

        let (lock, owner) = (format!("{p}-l{i}"), format!("{p}-o{i}"));
        match self.call(&["LOCK", "ACQUIRE", &lock, &owner, "60000"]) {
            Outcome::Acked(Reply::Int(t)) => {
                self.log.grants.push(t);
                match self.call(&["LOCK", "RELEASE", &lock, &owner, &t.to_string()]) {
                    Outcome::Acked(r) if r == int(1) => {}
                    Outcome::Acked(r) => self.violation(format!("LOCK RELEASE {lock} {owner} {t} -> {r:?}")),
                    Outcome::Uncertain => {}
                }
            }
            Outcome::Acked(r) => self.violation(format!("LOCK ACQUIRE {lock} (free) -> {r:?}")),
            Outcome::Uncertain => {}
        }

        let key = format!("{p}-i{i}");
        match self.call(&["IDEMP", "BEGIN", &key, "fp", "600000"]) {
            Outcome::Acked(Reply::Array(v)) if v.len() == 2 && v[0] == bulk("started") => {
                let Reply::Int(t) = v[1] else {
                    return self.violation(format!("IDEMP BEGIN {key} -> {v:?}"));
                };
                self.log.grants.push(t);
                let resp = format!("resp-{key}");
                match self.call(&["IDEMP", "COMPLETE", &key, &t.to_string(), &resp]) {
                    Outcome::Acked(r) if r == Reply::ok() => self.log.done.push((key, resp)),
                    Outcome::Acked(r) => self.violation(format!("IDEMP COMPLETE {key} {t} -> {r:?}")),
                    Outcome::Uncertain => {}
                }
            }
            // A fresh key retried only after -CLUSTERDOWN (not applied) must start.
            Outcome::Acked(r) => self.violation(format!("IDEMP BEGIN {key} (fresh) -> {r:?}")),
            Outcome::Uncertain => {}
        }
    }
}

/// Starts `n` load clients writing through `nodes` until `shared.stop`.
fn start_clients(
    n: usize,
    prefix: &str,
    nodes: Vec<(u64, u16)>,
    shared: &Arc<Shared>,
) -> Vec<thread::JoinHandle<ClientLog>> {
    (0..n)
        .map(|k| {
            let name = format!("{prefix}-c{k}");
            let (nodes, shared) = (nodes.clone(), shared.clone());
            thread::spawn(move || {
                let mut client = Client {
                    nodes,
                    conns: HashMap::new(),
                    rng: rand::rng(),
                    log: ClientLog {
                        fence_key: format!("{name}-fence"),
                        name,
                        ..Default::default()
                    },
                    shared,
                };
                let mut i = 0;
                while !client.shared.stop.load(Ordering::SeqCst) {
                    i += 1;
                    client.round(i);
                }
                client.log
            })
        })
        .collect()
}

/// Stops the load clients and collects what each saw.
fn stop_clients(shared: &Shared, clients: Vec<thread::JoinHandle<ClientLog>>) -> Vec<ClientLog> {
    shared.stop.store(true, Ordering::SeqCst);
    clients
        .into_iter()
        .map(|h| h.join().expect("client thread panicked"))
        .collect()
}

/// Waits until at least `more` writes beyond the current count are acknowledged.
fn wait_more_acks(shared: &Shared, more: usize, timeout: Duration, what: &str) {
    let n0 = shared.ack_count();
    wait_until(timeout, what, || (shared.ack_count() >= n0 + more).then_some(()));
}

/// Every acknowledged write is there (read through `readers`), grant tokens are unique
/// and increase per client, no reply broke the contract.
fn verify_clients(c: &TestCluster, logs: &[ClientLog], readers: &[u64]) {
    let violations: Vec<&String> = logs.iter().flat_map(|l| &l.violations).collect();
    assert!(
        violations.is_empty(),
        "replies that break SPEC.md:\n{}",
        violations.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
    let mut all = BTreeSet::new();
    for l in logs {
        for w in l.grants.windows(2) {
            assert!(
                w[0] < w[1],
                "{}: grant tokens must increase in acknowledgement order: {} then {}",
                l.name,
                w[0],
                w[1]
            );
        }
        for &t in &l.grants {
            assert!(t > 0, "{}: token {t} must be positive", l.name);
            assert!(all.insert(t), "token {t} was granted twice (seen again by {})", l.name);
        }
    }
    let mut conns: Vec<Conn> = readers.iter().map(|&id| c.conn(id)).collect();
    for l in logs {
        for (k, conn) in conns.iter_mut().enumerate() {
            let r = conn.cmd(&["FENCE", "GET", &l.fence_key]);
            let highest = match &r {
                Reply::Array(v) if v.len() == 2 => v[0].int(),
                Reply::Nil => 0,
                other => panic!("FENCE GET {} -> {other:?}", l.fence_key),
            };
            assert!(
                highest >= l.fence_acked && highest <= l.fence_sent,
                "{} via node {}: highest {highest}, acknowledged {}, highest sent {}",
                l.fence_key,
                readers[k],
                l.fence_acked,
                l.fence_sent
            );
        }
        for (j, (key, resp)) in l.done.iter().enumerate() {
            let conn = &mut conns[j % readers.len()];
            assert_eq!(
                conn.cmd(&["IDEMP", "GET", key]),
                arr(vec![bulk("done"), bulk(resp)]),
                "acknowledged IDEMP COMPLETE {key} lost (read via node {})",
                readers[j % readers.len()]
            );
        }
    }
}

fn totals(logs: &[ClientLog]) -> String {
    let sum = |f: fn(&ClientLog) -> usize| logs.iter().map(f).sum::<usize>();
    format!(
        "acks={} clusterdown={} uncertain={} io_errors={} refused={} grants={} idemp_done={}",
        sum(|l| l.acks),
        sum(|l| l.clusterdown),
        sum(|l| l.uncertain),
        sum(|l| l.io_errors),
        sum(|l| l.refused),
        sum(|l| l.grants.len()),
        sum(|l| l.done.len()),
    )
}

/// Polls until every node in `ids` has applied the same index and holds the same
/// number of live keys in its own state machine (replicas agree).
fn wait_replicas_agree(c: &TestCluster, ids: &[u64], timeout: Duration) {
    let mut last = Vec::new();
    let agreed = poll_until(timeout, || {
        let mut seen = Vec::new();
        for &id in ids {
            let applied = c.info_int(id, "applied-index")?;
            let keys = c.local_keys(id)?;
            seen.push((id, applied, keys));
        }
        let same = seen.windows(2).all(|w| w[0].1 == w[1].1 && w[0].2 == w[1].2);
        last = seen;
        same.then_some(())
    });
    assert!(
        agreed.is_some(),
        "replicas do not agree on (node, applied-index, local keys): {last:?}"
    );
}

// ---------------------------------------------------------------------------------
// 3. Leader kill loop
// ---------------------------------------------------------------------------------

const KILL_CLIENTS: usize = 4;
const KILLS: usize = 10;

/// A rolling restart: every node in turn is drained (clients stop sending it new
/// requests, as a load balancer would), stopped with SIGTERM and started again, under
/// load. A leader that is stopped hands leadership to an up-to-date voter first, so no
/// client request fails: no -CLUSTERDOWN, no -UNCERTAIN, no lost reply.
#[test]
fn rolling_restart_under_load_fails_no_request() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let ids = c.ids();
    let p = uniq("roll");
    let shared = Arc::new(Shared::default());
    let _stop = StopOnDrop(shared.clone());
    let nodes: Vec<(u64, u16)> = ids.iter().map(|&id| (id, c.port(id))).collect();
    let clients = start_clients(KILL_CLIENTS, &p, nodes, &shared);
    wait_more_acks(&shared, 20, Duration::from_secs(20), "first acknowledged writes");

    // Followers first, the leader last, as operators do; then once more in id order,
    // so leadership is handed over at least twice.
    let leader = c.leader(CLUSTER_TIMEOUT);
    let mut order: Vec<u64> = ids.iter().copied().filter(|&id| id != leader).collect();
    order.push(leader);
    order.extend(ids.iter().copied());
    for id in order {
        *shared.draining.lock().unwrap_or_else(|p| p.into_inner()) = Some(id);
        // Requests already sent to it get their answers before it stops.
        thread::sleep(Duration::from_millis(300));
        let was_leader = c.leader(CLUSTER_TIMEOUT) == id;
        let st = c.node_mut(id).sigterm();
        assert!(
            st.success(),
            "node {id} exited with {st} on SIGTERM\n{}",
            c.log_tail(id, 30)
        );
        c.restart(id);
        c.wait_caught_up(id, CLUSTER_TIMEOUT);
        *shared.draining.lock().unwrap_or_else(|p| p.into_inner()) = None;
        wait_more_acks(
            &shared,
            20,
            Duration::from_secs(15),
            &format!("writes after restarting node {id}"),
        );
        eprintln!("rolling restart: node {id} (leader: {was_leader}) restarted");
    }

    let logs = stop_clients(&shared, clients);
    let summary = totals(&logs);
    eprintln!("rolling restart: {summary}");
    let failed: usize = logs.iter().map(|l| l.clusterdown + l.uncertain + l.io_errors).sum();
    assert_eq!(
        failed, 0,
        "client requests failed during the rolling restart: {summary}"
    );
    wait_replicas_agree(&c, &ids, Duration::from_secs(20));
    verify_clients(&c, &logs, &ids);
}

#[test]
fn leader_kill_loop() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let ids = c.ids();
    let p = uniq("kill");
    let held = format!("{p}-held");
    let held_tok = c.must(1, &["LOCK", "ACQUIRE", &held, "keeper", LONG_TTL]).int();

    let shared = Arc::new(Shared::default());
    let _stop = StopOnDrop(shared.clone());
    let nodes: Vec<(u64, u16)> = ids.iter().map(|&id| (id, c.port(id))).collect();
    let clients = start_clients(KILL_CLIENTS, &p, nodes, &shared);
    wait_more_acks(&shared, 20, Duration::from_secs(20), "first acknowledged writes");

    let mut failovers = Vec::new();
    let mut elections = Vec::new();
    for k in 0..KILLS {
        let leader = c.leader(CLUSTER_TIMEOUT);
        let survivors: Vec<u64> = ids.iter().copied().filter(|&id| id != leader).collect();
        let killed = Instant::now();
        c.kill9(leader);
        let next = c.leader_among(&survivors, Duration::from_secs(15));
        elections.push(killed.elapsed());
        let first = wait_until(
            Duration::from_secs(15),
            &format!("kill #{}: an acknowledged write after killing leader {leader}", k + 1),
            || shared.first_ack_sent_after(killed),
        );
        let failover = first.duration_since(killed);
        eprintln!(
            "kill #{}: leader {leader} -> {next}, election {:?}, failover {failover:?}",
            k + 1,
            elections[k]
        );
        failovers.push(failover);
        c.restart(leader);
        c.wait_caught_up(leader, CLUSTER_TIMEOUT);
        wait_more_acks(
            &shared,
            20,
            Duration::from_secs(15),
            "writes acknowledged with the killed node back",
        );
    }

    let logs = stop_clients(&shared, clients);
    let summary = totals(&logs);
    eprintln!("kill loop: {summary}");

    wait_replicas_agree(&c, &ids, Duration::from_secs(20));
    verify_clients(&c, &logs, &ids);
    // The lock taken before the kills kept its owner and token through every failover.
    for &id in &ids {
        let info = c.conn(id).cmd(&["LOCK", "INFO", &held]);
        assert_eq!(info.field("owner"), Some(bulk("keeper")), "via node {id}: {info:?}");
        assert_eq!(info.field("token"), Some(int(held_tok)), "via node {id}: {info:?}");
    }
    let min_grant = logs.iter().flat_map(|l| &l.grants).min().copied();
    assert!(
        min_grant.is_none_or(|t| t > held_tok),
        "grants after the held lock must have higher tokens than {held_tok}: {min_grant:?}"
    );
    let acks: usize = logs.iter().map(|l| l.acks).sum();
    assert!(acks >= 200, "too little load to mean anything: {summary}");

    let mut ms: Vec<u128> = failovers.iter().map(|d| d.as_millis()).collect();
    ms.sort_unstable();
    let line = format!(
        "failover_ms: kills={} median={} max={} (election timeout {}-{} ms)",
        ms.len(),
        ms[ms.len() / 2],
        ms[ms.len() - 1],
        ELECTION_TIMEOUT_MS,
        2 * ELECTION_TIMEOUT_MS
    );
    println!("{line}");
    eprintln!("{line}");
    if let Some(path) = std::env::var_os("FAILOVER_REPORT") {
        std::fs::write(&path, format!("{line}\n")).expect("write $FAILOVER_REPORT");
    }
}

// ---------------------------------------------------------------------------------
// 4. Catch-up: by log after a restart, by snapshot after a wipe
// ---------------------------------------------------------------------------------

/// Writes `FENCE SET <p>-<i> <i> v<i>` for i in `from..to` through node `id`,
/// sequentially on two connections (each write its own log entry).
fn write_fences(c: &TestCluster, id: u64, p: &str, from: usize, to: usize) {
    let port = c.port(id);
    let halves = [(from, from + (to - from) / 2), (from + (to - from) / 2, to)];
    let hs: Vec<_> = halves
        .into_iter()
        .map(|(a, b)| {
            let p = p.to_string();
            thread::spawn(move || {
                let mut conn = Conn::connect(port);
                for i in a..b {
                    let (k, t, v) = (format!("{p}-{i}"), i.to_string(), format!("v{i}"));
                    let r = conn.cmd(&["FENCE", "SET", &k, &t, &v]);
                    assert_eq!(r, Reply::ok(), "FENCE SET {k} via node {id}");
                }
            })
        })
        .collect();
    for h in hs {
        h.join().expect("writer thread panicked");
    }
}

/// Sampled reads of what [`write_fences`] wrote, through node `id`.
fn check_fences(c: &TestCluster, id: u64, p: &str, n: usize) {
    let mut conn = c.conn(id);
    for i in (1..n).step_by(97).chain([n - 1]) {
        assert_eq!(
            conn.cmd(&["FENCE", "GET", &format!("{p}-{i}")]),
            fence_val(i as i64, &format!("v{i}")),
            "FENCE GET {p}-{i} through node {id}"
        );
    }
}

/// Polls until node `id`'s own state machine holds as many keys as the leader's.
fn wait_same_keys(c: &TestCluster, id: u64, leader: u64) {
    let mut last = (None, None);
    let same = poll_until(Duration::from_secs(15), || {
        let (a, b) = (c.local_keys(id), c.local_keys(leader));
        last = (a, b);
        (a.is_some() && a == b).then_some(())
    });
    assert!(
        same.is_some(),
        "node {id} holds {:?} keys locally, leader {leader} holds {:?}",
        last.0,
        last.1
    );
}

#[test]
fn restarted_follower_catches_up() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let leader = c.leader(CLUSTER_TIMEOUT);
    let f = c.followers_of(leader)[0];
    c.kill9(f);
    let before = c.info_int(leader, "last-log-index").expect("last-log-index");
    let p = uniq("catchup");
    // At least 2000 new log entries (concurrent writes may share an entry).
    let mut n = 1;
    let mut after = before;
    while after - before < 2000 {
        assert!(n < 10_000, "{n} writes made only {} entries", after - before);
        write_fences(&c, leader, &p, n, n + 500);
        n += 500;
        after = c.info_int(leader, "last-log-index").expect("last-log-index");
    }

    c.restart(f);
    let target = c.wait_caught_up(f, CLUSTER_TIMEOUT);
    assert!(target >= after, "caught up to {target}, leader had {after}");
    wait_same_keys(&c, f, leader);
    check_fences(&c, f, &p, n);
    let info = c.raft_info(f).expect("RAFT INFO");
    assert_eq!(
        info.field("role").map(|r| r.text()),
        Some("follower".into()),
        "{info:?}"
    );
    assert_eq!(info.field("leader-id"), Some(int(leader as i64)), "{info:?}");
}

/// Regression, found by the fault harness (lock-fence under kill, at 1fedec9): after a
/// kill -9 of every node, the old leader came back as leader of its old term without an
/// election (openraft's "leader restore", on by default). It had not yet learned how far
/// the log was committed, so it answered linearizable reads from the state it had
/// rebuilt from its snapshot alone: acknowledged writes looked lost. A restarted node
/// must win a new term, and commit in it, before it serves a read.
#[test]
fn whole_cluster_restart_reads_see_every_acknowledged_write() {
    let _g = heavy_lock();
    let mut c = TestCluster::builder(3).arg("--snapshot-every").arg("200").start();
    let leader = c.leader(CLUSTER_TIMEOUT);
    let p = uniq("restore");
    // Past a snapshot, with more entries after it that only the log holds.
    let n = 400;
    write_fences(&c, leader, &p, 1, n);
    for id in c.ids() {
        c.kill9(id);
    }
    // The old leader first, alone: it is up before anyone's election timer runs. Its
    // peers come back while a reader asks it, again and again, for the last write.
    c.restart(leader);
    let last = format!("{p}-{}", n - 1);
    let want = fence_val(n as i64 - 1, &format!("v{}", n - 1));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (port, stop, last) = (c.port(leader), stop.clone(), last.clone());
        thread::spawn(move || {
            let mut answers = Vec::new();
            let mut conn = Conn::connect(port);
            while !stop.load(Ordering::Relaxed) {
                let r = conn.cmd(&["FENCE", "GET", &last]);
                if !r.is_err_with("CLUSTERDOWN") {
                    answers.push(r);
                }
            }
            answers
        })
    };
    for f in c.ids().into_iter().filter(|&id| id != leader) {
        c.restart(f);
    }
    thread::sleep(Duration::from_secs(1));
    stop.store(true, Ordering::Relaxed);
    let answers = reader.join().expect("reader thread panicked");
    assert!(!answers.is_empty(), "no read answered within a second of the restart");
    let stale: Vec<_> = answers.iter().filter(|r| **r != want).collect();
    assert!(
        stale.is_empty(),
        "{} of {} reads of {last} through the restarted leader {leader} missed an acknowledged write: {:?}\n{}",
        stale.len(),
        answers.len(),
        stale.first(),
        c.logs(20)
    );
    for i in (1..n).step_by(37) {
        let k = format!("{p}-{i}");
        let r = c.cmd_retry(leader, &["FENCE", "GET", &k], CLUSTER_TIMEOUT);
        assert_eq!(
            r,
            fence_val(i as i64, &format!("v{i}")),
            "FENCE GET {k} through node {leader}"
        );
    }
}

#[test]
fn wiped_node_rejoins_by_snapshot() {
    let _g = heavy_lock();
    let mut c = TestCluster::builder(3).arg("--snapshot-every").arg("500").start();
    let leader = c.leader(CLUSTER_TIMEOUT);
    let fs = c.followers_of(leader);
    let (f, g) = (fs[0], fs[1]);
    let p = uniq("snap");

    // Enough entries that the leader snapshots and purges its log's head.
    let mut n = 1;
    while n <= 2100 || c.info_int(leader, "purged-index").unwrap_or(0) == 0 {
        assert!(n < 10_000, "no log compaction after {n} writes\n{}", c.logs(20));
        write_fences(&c, leader, &p, n, n + 300);
        n += 300;
    }
    let purged = wait_until(SETUP, "leader purged-index", || {
        c.info_int(leader, "purged-index").filter(|&i| i > 0)
    });
    let snap = c.info_int(leader, "snapshot-index").expect("snapshot-index");
    assert!(snap > 0, "leader snapshot-index {snap}");

    // The wiped-node procedure: remove, wipe, start empty with --join.
    assert_eq!(c.must(leader, &["RAFT", "REMOVE", &f.to_string()]), Reply::ok());
    c.wait_voters(leader, &[leader, g], CLUSTER_TIMEOUT);
    c.wipe(f);
    c.join(f, g);
    c.wait_voters(leader, &[1, 2, 3], Duration::from_secs(60));
    let l2 = c.leader_among(&[1, 2, 3], CLUSTER_TIMEOUT);
    let target = c.wait_caught_up(f, CLUSTER_TIMEOUT);
    let info = c.raft_info(f).expect("RAFT INFO");
    let got_snap = info.field("snapshot-index").expect("snapshot-index").int();
    assert!(
        got_snap > purged,
        "the rejoined node's snapshot-index {got_snap} must cover the leader's purged \
         log (purged-index {purged}): it can only have caught up by a snapshot\n{info:?}"
    );
    assert!(target > purged, "{info:?}");
    assert_eq!(c.voters(f), Some(vec![1, 2, 3]), "{info:?}");
    wait_same_keys(&c, f, l2);
    check_fences(&c, f, &p, n);
    // It serves writes again.
    assert_eq!(
        c.must(f, &["FENCE", "SET", &format!("{p}-after"), "1", "x"]),
        Reply::ok()
    );
}

// ---------------------------------------------------------------------------------
// 5. Membership under load
// ---------------------------------------------------------------------------------

#[test]
fn membership_grow_and_shrink_under_load() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let p = uniq("member");
    let shared = Arc::new(Shared::default());
    let _stop = StopOnDrop(shared.clone());
    let founders = [1, 2, 3];
    let nodes: Vec<(u64, u16)> = founders.iter().map(|&id| (id, c.port(id))).collect();
    let clients = start_clients(2, &p, nodes, &shared);
    wait_more_acks(&shared, 20, Duration::from_secs(20), "first acknowledged writes");

    // Grow 3 -> 5: both join at once, through different members.
    c.join(4, 1);
    c.join(5, 2);
    let all = [1, 2, 3, 4, 5];
    let leader = c.leader_among(&founders, CLUSTER_TIMEOUT);
    c.wait_voters(leader, &all, Duration::from_secs(60));
    let leader = c.leader_among(&all, CLUSTER_TIMEOUT);
    for id in all {
        c.wait_voters(id, &all, CLUSTER_TIMEOUT);
    }
    for id in [4, 5] {
        let k = format!("{p}-via-{id}");
        assert_eq!(c.must(id, &["FENCE", "SET", &k, "7", "v"]), Reply::ok());
        assert_eq!(c.conn(id).cmd(&["FENCE", "GET", &k]), fence_val(7, "v"));
    }
    wait_more_acks(&shared, 20, Duration::from_secs(15), "writes with 5 voters");
    eprintln!("grown to 5, leader {leader}");

    // Shrink 5 -> 3, asked at the same time through two different founders. Neither
    // may be refused because the other is underway (each takes two commits: the joint
    // configuration, then the final one). Grown the same way, a join refused halfway
    // once left its node a learner for good.
    let removals = [
        timed(&c, 1, &["RAFT", "REMOVE", "4"]),
        timed(&c, 2, &["RAFT", "REMOVE", "5"]),
    ];
    for (r, id) in removals.into_iter().zip([4, 5]) {
        let (reply, took) = r.join().expect("RAFT REMOVE thread");
        assert_eq!(reply, Reply::ok(), "RAFT REMOVE {id} (after {took:?})");
    }
    for id in founders {
        c.wait_voters(id, &founders, CLUSTER_TIMEOUT);
    }
    c.leader_among(&founders, CLUSTER_TIMEOUT);
    wait_more_acks(&shared, 20, Duration::from_secs(15), "writes after the shrink");

    // The removed nodes (still running) serve no data commands.
    for id in [4, 5] {
        let k = format!("{p}-removed-{id}");
        let mut last = None;
        let down = poll_until(Duration::from_secs(10), || {
            let r = c.try_cmd(id, &["FENCE", "GET", &k]).ok()?;
            let ok = r.is_err_with("CLUSTERDOWN");
            last = Some(r);
            ok.then_some(())
        });
        assert!(
            down.is_some(),
            "removed node {id}: FENCE GET answered {last:?}, SPEC wants -CLUSTERDOWN \
             (a node that is not a member)\n{}",
            c.log_tail(id, 20)
        );
        let w = c.try_cmd(id, &["FENCE", "SET", &k, "1", "x"]).expect("FENCE SET");
        assert!(w.is_err_with("CLUSTERDOWN"), "removed node {id}: FENCE SET -> {w:?}");
        assert_eq!(
            c.conn(1).cmd(&["FENCE", "GET", &k]),
            Reply::Nil,
            "a write refused by removed node {id} must not have applied"
        );
    }

    let logs = stop_clients(&shared, clients);
    eprintln!("membership: {}", totals(&logs));
    c.kill9(4);
    c.kill9(5);
    wait_replicas_agree(&c, &founders, Duration::from_secs(20));
    verify_clients(&c, &logs, &founders);
}

/// A node that listens on every address (`--bind 0.0.0.0`, as in a container) and joins
/// a running cluster is added under its `--advertise-host`, and the cluster reaches it
/// there: it becomes a voter and serves writes. (On loopback the advertised name also
/// resolves locally, so this passes whether the peer port binds `--bind` or the
/// advertised host; `the_advertised_host_need_not_resolve_here` tells the two apart.)
#[test]
fn a_joiner_on_every_address_is_added_under_its_advertised_host() {
    let _g = heavy_lock();
    let mut c = TestCluster::builder(3)
        .node_arg(4, "--bind")
        .node_arg(4, "0.0.0.0")
        .node_arg(4, "--insecure")
        .node_arg(4, "--advertise-host")
        .node_arg(4, "localhost")
        .start();
    c.join(4, 1);
    let all = [1, 2, 3, 4];
    let leader = c.leader_among(&[1, 2, 3], CLUSTER_TIMEOUT);
    c.wait_voters(leader, &all, Duration::from_secs(60));
    let raft_port = c
        .raft_addr(4)
        .rsplit(':')
        .next()
        .map(str::to_string)
        .expect("raft port");
    let want = format!("localhost:{}@{raft_port}", c.port(4));
    let nodes = c.must(1, &["CLUSTER", "NODES"]).text();
    assert!(
        nodes.lines().any(|l| l.contains(&want)),
        "CLUSTER NODES on node 1 should list node 4 at {want}:\n{nodes}"
    );
    let k = uniq("advertised");
    assert_eq!(c.must(4, &["FENCE", "SET", &k, "3", "v"]), Reply::ok());
    assert_eq!(c.conn(2).cmd(&["FENCE", "GET", &k]), fence_val(3, "v"));
}

/// The peer port listens on `--bind`, like the client port. The advertised host is what
/// others dial and need not be an address of this host (NAT, or a name that resolves
/// only elsewhere): a node advertising a name this host cannot resolve used to stop at
/// start, binding its peer listener to that name.
#[test]
fn the_advertised_host_need_not_resolve_here() {
    let s = TestServer::builder()
        .arg("--advertise-host")
        .arg("fencepost-advertised.invalid")
        .start();
    let mut conn = s.conn();
    assert_eq!(conn.cmd(&["PING"]), simple("PONG"));
    let nodes = conn.cmd(&["CLUSTER", "NODES"]).text();
    assert!(
        nodes.contains(&format!("fencepost-advertised.invalid:{}@{}", s.port, s.raft_port)),
        "CLUSTER NODES should show the advertised host:\n{nodes}"
    );
    assert_eq!(conn.cmd(&["LOCK", "ACQUIRE", "adv", "me", "1000"]).int() > 0, true);
}

// ---------------------------------------------------------------------------------
// 6. Unauthenticated peers
// ---------------------------------------------------------------------------------

#[test]
fn unauthenticated_peers_are_refused() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let leader = c.leader(CLUSTER_TIMEOUT);

    // A node with the wrong secret asks to join; it must never become a member.
    c.join_with_secret(4, 1, "not-the-cluster-secret");
    let add = c.cmd_retry(leader, &["RAFT", "ADD", "4", &c.raft_addr(4), &c.addr(4)], SETUP);
    assert!(
        add.is_err_with("ERR"),
        "RAFT ADD of a peer with the wrong secret -> {add:?}"
    );
    // Let its own join loop try (and fail) a few times.
    wait_until(Duration::from_secs(15), "node 4's join attempts refused", || {
        let log = std::fs::read_to_string(&c.node(4).log_path).ok()?;
        (log.matches("join refused").count() >= 2).then_some(())
    });
    for id in [1, 2, 3] {
        assert_eq!(c.voters(id), Some(vec![1, 2, 3]), "node {id}");
        assert_eq!(c.learners(id), Some(vec![]), "node {id}");
    }
    let r = c.conn(4).cmd(&["LOCK", "ACQUIRE", "x", "o", "1000"]);
    assert!(r.is_err_with("CLUSTERDOWN"), "non-member node 4 -> {r:?}");

    // Garbage on the raft port: the node hangs up and keeps serving.
    let port = c.node(leader).raft_port;
    peer_refuses(port, "HTTP garbage", |s| {
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    });
    peer_refuses(port, "length prefix 0xFFFFFFFF first", |s| {
        let _ = s.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3]);
    });
    peer_refuses(port, "a zero-length frame", |s| {
        let _ = s.write_all(&[0, 0, 0, 0]);
    });
    peer_refuses(port, "Hello, then length prefix 0xFFFFFFFF", |s| {
        let _ = s.write_all(&hello_frame(9));
        let _ = s.write_all(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0]);
    });
    peer_refuses(port, "Hello, then a wrong proof", |s| {
        let _ = s.write_all(&hello_frame(9));
        let mut proof = 32u32.to_be_bytes().to_vec();
        proof.extend_from_slice(&[0u8; 32]);
        let _ = s.write_all(&proof);
    });
    let mut gone = Vec::new();
    for id in [1, 2, 3] {
        if !c.node_mut(id).is_alive() {
            gone.push(id);
        }
    }
    assert!(gone.is_empty(), "nodes died of peer garbage: {gone:?}");
    assert_eq!(c.leader_among(&[1, 2, 3], CLUSTER_TIMEOUT), leader, "leader unchanged");
    for id in [1, 2, 3] {
        let k = uniq("after-garbage");
        assert_eq!(c.must(id, &["FENCE", "SET", &k, "1", "v"]), Reply::ok());
        assert_eq!(c.voters(id), Some(vec![1, 2, 3]), "node {id}");
    }
}

// ---------------------------------------------------------------------------------
// 7. Minority partition (SIGSTOP)
// ---------------------------------------------------------------------------------

/// Runs `args` against node `id` in a thread: (reply, how long it took).
fn timed(c: &TestCluster, id: u64, args: &[&str]) -> thread::JoinHandle<(Reply, Duration)> {
    let mut conn = c.conn(id);
    conn.set_timeout(Some(Duration::from_secs(40)));
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    thread::spawn(move || {
        let t = Instant::now();
        let r = conn
            .try_cmd(&args)
            .unwrap_or_else(|e| Reply::Error(format!("(harness) I/O error {e}")));
        (r, t.elapsed())
    })
}

/// With the two others stopped, node `alone` must not answer reads or writes with a
/// value; after they resume, an -UNCERTAIN write is all there or absent.
fn minority_round(c: &mut TestCluster, alone: u64, stop: [u64; 2], p: &str) {
    let key = format!("{p}-existing");
    assert_eq!(c.must(alone, &["FENCE", "SET", &key, "1", "before"]), Reply::ok());
    for id in stop {
        c.pause(id);
    }
    let read = timed(c, alone, &["FENCE", "GET", &key]);
    let lock = format!("{p}-lock");
    let wkey = format!("{p}-write");
    let write = timed(c, alone, &["FENCE", "SET", &wkey, "5", "written"]);
    let acquire = timed(c, alone, &["LOCK", "ACQUIRE", &lock, "minority", LONG_TTL]);
    let (r, took) = read.join().expect("read thread");
    assert!(
        r.is_err_with("CLUSTERDOWN"),
        "node {alone} in a minority: FENCE GET -> {r:?} after {took:?}; SPEC wants \
         -CLUSTERDOWN (no quorum), never a value"
    );
    assert!(took < Duration::from_secs(10), "the read took {took:?}");
    let mut outcomes = Vec::new();
    for (what, h) in [("FENCE SET", write), ("LOCK ACQUIRE", acquire)] {
        let (r, took) = h.join().expect("write thread");
        assert!(
            r.is_err_with("CLUSTERDOWN") || r.is_err_with("UNCERTAIN"),
            "node {alone} in a minority: {what} -> {r:?} after {took:?}; SPEC wants \
             -CLUSTERDOWN or -UNCERTAIN"
        );
        assert!(took < Duration::from_secs(15), "{what} took {took:?}");
        outcomes.push(r);
    }
    eprintln!("minority (alone {alone}): read {r:?}, writes {outcomes:?}");
    for id in stop {
        c.resume(id);
    }
    let leader = c.leader_among(&[1, 2, 3], CLUSTER_TIMEOUT);
    let k = format!("{p}-after");
    assert_eq!(c.must(alone, &["FENCE", "SET", &k, "1", "v"]), Reply::ok());
    // Each write that got an error is either fully applied or absent.
    let mut conn = c.conn(leader);
    let fence = conn.cmd(&["FENCE", "GET", &wkey]);
    assert!(
        fence == Reply::Nil || fence == fence_val(5, "written"),
        "after {:?}: FENCE GET {wkey} -> {fence:?}",
        outcomes[0]
    );
    if outcomes[0].is_err_with("CLUSTERDOWN") {
        assert_eq!(fence, Reply::Nil, "-CLUSTERDOWN means not applied");
    }
    let info = conn.cmd(&["LOCK", "INFO", &lock]);
    if info != Reply::Nil {
        assert_eq!(info.field("owner"), Some(bulk("minority")), "{info:?}");
        assert!(
            !outcomes[1].is_err_with("CLUSTERDOWN"),
            "-CLUSTERDOWN means not applied, yet {info:?}"
        );
    }
    assert_eq!(conn.cmd(&["FENCE", "GET", &key]), fence_val(1, "before"));
}

#[test]
fn minority_partition_refuses_to_serve() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    // The leader cut off from both followers: no ReadIndex quorum, no commit.
    let leader = c.leader(CLUSTER_TIMEOUT);
    let f = c.followers_of(leader);
    minority_round(&mut c, leader, [f[0], f[1]], &uniq("minority-leader"));
    // A follower left alone: no leader to forward to.
    let leader = c.leader(CLUSTER_TIMEOUT);
    let f = c.followers_of(leader);
    minority_round(&mut c, f[0], [leader, f[1]], &uniq("minority-follower"));
}

// ---------------------------------------------------------------------------------
// 8. Redirect mode
// ---------------------------------------------------------------------------------

#[test]
fn redirect_mode_answers_moved() {
    let _g = heavy_lock();
    let c = TestCluster::builder(3).arg("--follower-mode").arg("redirect").start();
    let leader = c.leader(CLUSTER_TIMEOUT);
    let f = c.followers_of(leader)[0];
    let moved = |key: &str| format!("MOVED {} {}", key_slot(key.as_bytes()), c.addr(leader));
    let name = uniq("redirect");
    let tagged = format!("{{{name}}}.lock");
    let mut conn = c.conn(f);
    // The key is the first argument after the subcommand (TOKENBUCKET: after the name).
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["LOCK", "ACQUIRE", &name, "o", "60000"], &name),
        (vec!["LOCK", "INFO", &tagged], &tagged),
        (vec!["FENCE", "GET", "plain-key"], "plain-key"),
        (vec!["FENCE", "ADVANCE", "fence-x", "3"], "fence-x"),
        (vec!["TOKENBUCKET", "bucket-y", "10", "1", "1000"], "bucket-y"),
        (vec!["IDEMP", "BEGIN", "idem-z", "fp", "60000"], "idem-z"),
    ];
    for (args, key) in &cases {
        let r = conn.cmd(args);
        assert_eq!(r, err(&moved(key)), "{args:?} via follower {f} in redirect mode");
    }
    // Nothing was applied by the redirected writes.
    let mut lc = c.conn(leader);
    assert_eq!(lc.cmd(&["LOCK", "INFO", &name]), Reply::Nil);
    assert_eq!(lc.cmd(&["FENCE", "GET", "fence-x"]), Reply::Nil);

    // redis-cli -c follows the redirect to the leader.
    let out = c
        .node(f)
        .cli_opts(&["-c"], &["LOCK", "ACQUIRE", &name, "cli-owner", "60000"]);
    let token = cli_int(out.lines().last().unwrap_or(""));
    assert!(token > 0, "{out:?}");
    let info = lc.cmd(&["LOCK", "INFO", &name]);
    assert_eq!(info.field("owner"), Some(bulk("cli-owner")), "{info:?}");
    assert_eq!(info.field("token"), Some(int(token)), "{info:?}");
    let out = c
        .node(f)
        .cli_opts(&["-c"], &["FENCE", "ADVANCE", "fence-x", &token.to_string()]);
    assert_eq!(cli_int(out.lines().last().unwrap_or("")), token, "{out:?}");
    // The leader itself serves.
    assert_eq!(lc.cmd(&["FENCE", "GET", "fence-x"]), arr(vec![int(token), Reply::Nil]));
}

// ---------------------------------------------------------------------------------
// 9. RAFT TRANSFER
// ---------------------------------------------------------------------------------

fn infos(c: &TestCluster) -> String {
    c.ids()
        .iter()
        .map(|&id| format!("node {id}: {:?}", c.raft_info(id)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asks node `via` to RAFT TRANSFER leadership to `to` (+OK required), then polls
/// until every node names `to` as leader; `Err` with the cluster's view if it never does.
fn transfer(c: &TestCluster, via: u64, to: u64) -> Result<Duration, String> {
    let before = c.leader(CLUSTER_TIMEOUT);
    let asked = Instant::now();
    let r = c.must(via, &["RAFT", "TRANSFER", &to.to_string()]);
    assert_eq!(r, Reply::ok(), "RAFT TRANSFER {to} via node {via}");
    let got = poll_until(Duration::from_secs(15), || {
        (c.try_leader_among(&[1, 2, 3], Duration::from_millis(1)) == Some(to)).then_some(())
    });
    match got {
        Some(()) => Ok(asked.elapsed()),
        None => Err(format!(
            "RAFT TRANSFER {to} (asked via node {via}, leader was {before}) answered +OK, \
             but 15 s later node {to} does not lead:\n{}",
            infos(c)
        )),
    }
}

/// A leader that has led for longer than openraft's leader lease (the maximum election
/// timeout, during which followers refuse to vote for anyone else): time must pass,
/// there is no state to poll for.
fn settle() {
    thread::sleep(Duration::from_millis(4 * ELECTION_TIMEOUT_MS));
}

#[test]
fn raft_transfer_moves_leadership() {
    let _g = heavy_lock();
    let c = TestCluster::start(3);
    let leader = c.leader(CLUSTER_TIMEOUT);
    let fs = c.followers_of(leader);
    let t = c.must(leader, &["LOCK", "ACQUIRE", &uniq("xfer"), "o", LONG_TTL]).int();
    settle();
    // Asked through the other follower (forwarded to the target).
    let took = transfer(&c, fs[1], fs[0]).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("transfer {leader} -> {}: {took:?}", fs[0]);
    let t2 = c.must(leader, &["LOCK", "ACQUIRE", &uniq("xfer"), "o", LONG_TTL]).int();
    assert!(t2 > t, "token {t2} after the transfer, {t} before");
    settle();
    // And to the last node, asked through the leader itself.
    let took = transfer(&c, fs[0], fs[1]).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("transfer {} -> {}: {took:?}", fs[0], fs[1]);
}

/// The same, asked at once after an election (an operator moving leadership off a
/// node that just won): +OK must still mean that the named node ends up leading.
#[test]
fn raft_transfer_right_after_an_election() {
    let _g = heavy_lock();
    let c = TestCluster::start(3);
    let leader = c.leader(CLUSTER_TIMEOUT);
    let fs = c.followers_of(leader);
    transfer(&c, leader, fs[0]).unwrap_or_else(|e| panic!("first transfer, just after formation: {e}"));
    transfer(&c, fs[0], leader).unwrap_or_else(|e| panic!("transfer back, just after the first: {e}"));
}
