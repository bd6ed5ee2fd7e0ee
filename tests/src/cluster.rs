//! [`TestCluster`]: several `fencepost` processes on loopback forming one Raft cluster,
//! with the faults the cluster suites need: kill -9 and restart, SIGSTOP/SIGCONT, wipe
//! a data dir, join a new (or wiped) node with `--join`.
//!
//! Every node is a [`TestServer`] (so `cli()`, `conn()`, `redis_client()` and the log
//! tail on panic all work), but readiness here means "answers PING", not "leads": the
//! cluster-level states (an agreed leader, a member caught up) are polled for by the
//! methods below, each with a deadline.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};
use std::net::TcpStream;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::fake_clock::FakeClock;
use crate::{free_ports, poll_until, wait_until, Conn, Reply, TestServer, READY_TIMEOUT};

/// The cluster secret every node of a [`TestCluster`] shares unless told otherwise.
pub const CLUSTER_SECRET: &str = "fencepost-test-cluster-secret";
/// How long tests wait for an election, a join or a catch-up before failing.
pub const CLUSTER_TIMEOUT: Duration = Duration::from_secs(30);

/// Options for a new cluster.
#[derive(Debug, Clone)]
pub struct ClusterBuilder {
    size: u64,
    common: Vec<String>,
    per_node: BTreeMap<u64, Vec<String>>,
    secret: String,
    fake_clocks: bool,
}

impl ClusterBuilder {
    /// Every node runs under libfaketime with a wall clock the test can move
    /// ([`TestCluster::clock`]).
    pub fn fake_clocks(mut self) -> Self {
        self.fake_clocks = true;
        self
    }

    /// An argument given to every node (also to nodes that join later).
    pub fn arg(mut self, a: &str) -> Self {
        self.common.push(a.to_string());
        self
    }

    /// An argument given to node `id` only.
    pub fn node_arg(mut self, id: u64, a: &str) -> Self {
        self.per_node.entry(id).or_default().push(a.to_string());
        self
    }

    /// `--cluster-secret` for the founding members (default [`CLUSTER_SECRET`]).
    pub fn secret(mut self, s: &str) -> Self {
        self.secret = s.to_string();
        self
    }

    /// Starts nodes 1..=size with the same `--initial-cluster` list and waits until
    /// all of them agree on a leader.
    pub fn start(self) -> TestCluster {
        let mut last_err = String::new();
        // Ports picked free may be taken before the servers bind them: retry the whole
        // cluster with fresh ports rather than fail on a race that is not the server's.
        for attempt in 1..=3 {
            match self.try_start() {
                Ok(c) => {
                    c.leader(CLUSTER_TIMEOUT);
                    return c;
                }
                Err(e) => {
                    last_err = format!("attempt {attempt}: {e}");
                    let lower = e.to_lowercase();
                    if !(lower.contains("in use") || lower.contains("addrinuse")) {
                        break;
                    }
                }
            }
        }
        panic!("cluster did not start: {last_err}");
    }

    fn try_start(&self) -> Result<TestCluster, String> {
        let dir = tempfile::Builder::new()
            .prefix("fencepost-cluster-")
            .tempdir()
            .map_err(|e| format!("create temp dir: {e}"))?;
        let ports = distinct_ports(self.size as usize);
        let mut c = TestCluster {
            nodes: BTreeMap::new(),
            paused: BTreeSet::new(),
            secret: self.secret.clone(),
            common: self.common.clone(),
            per_node: self.per_node.clone(),
            clocks: BTreeMap::new(),
            dir,
        };
        let initial: Vec<String> = ports
            .iter()
            .enumerate()
            .map(|(i, (p, r))| format!("{}=127.0.0.1:{p}/127.0.0.1:{r}", i + 1))
            .collect();
        let initial = initial.join(",");
        for (i, &(port, raft_port)) in ports.iter().enumerate() {
            let id = i as u64 + 1;
            let mode = vec!["--initial-cluster".to_string(), initial.clone()];
            let mut s = c.new_node(id, port, raft_port, &mode);
            if self.fake_clocks {
                let clock = FakeClock::new(s.log_path.parent().expect("node dir"));
                s.env = clock.env();
                c.clocks.insert(id, clock);
            }
            c.nodes.insert(id, s);
        }
        for id in c.ids() {
            let s = c.nodes.get_mut(&id).expect("node");
            if let Err(e) = s.spawn() {
                return Err(format!("node {id}: {e}"));
            }
        }
        for id in c.ids() {
            if let Err(e) = c.wait_serving(id) {
                return Err(format!("node {id}: {e}\n{}", c.log_tail(id, 40)));
            }
        }
        Ok(c)
    }
}

/// `n` (client port, raft port) pairs, all distinct.
fn distinct_ports(n: usize) -> Vec<(u16, u16)> {
    loop {
        let v: Vec<(u16, u16)> = (0..n).map(|_| free_ports()).collect();
        let all: BTreeSet<u16> = v.iter().flat_map(|&(a, b)| [a, b]).collect();
        if all.len() == 2 * n {
            return v;
        }
    }
}

/// N `fencepost` processes forming one cluster. Every process dies with it.
pub struct TestCluster {
    nodes: BTreeMap<u64, TestServer>,
    paused: BTreeSet<u64>,
    secret: String,
    common: Vec<String>,
    per_node: BTreeMap<u64, Vec<String>>,
    clocks: BTreeMap<u64, FakeClock>,
    // Declared last: dropped after the nodes are killed.
    dir: tempfile::TempDir,
}

impl TestCluster {
    /// Options for a cluster of `size` founding members (ids 1..=size).
    pub fn builder(size: u64) -> ClusterBuilder {
        ClusterBuilder {
            size,
            common: Vec::new(),
            per_node: BTreeMap::new(),
            secret: CLUSTER_SECRET.to_string(),
            fake_clocks: false,
        }
    }

    /// A cluster of `size` nodes with default options, with an agreed leader.
    pub fn start(size: u64) -> TestCluster {
        Self::builder(size).start()
    }

    fn new_node(&self, id: u64, port: u16, raft_port: u16, mode: &[String]) -> TestServer {
        let base = self.dir.path().join(format!("n{id}"));
        std::fs::create_dir_all(&base).expect("create node dir");
        TestServer {
            child: None,
            port,
            raft_port,
            data_dir: base.join("data"),
            log_path: base.join("fencepost.log"),
            password: None,
            extra: self.node_args(id, mode, &self.secret),
            env: self.clocks.get(&id).map(FakeClock::env).unwrap_or_default(),
            starts: 0,
            _dir: None,
        }
    }

    fn node_args(&self, id: u64, mode: &[String], secret: &str) -> Vec<String> {
        let mut v = vec![
            "--node-id".to_string(),
            id.to_string(),
            "--cluster-secret".to_string(),
            secret.to_string(),
        ];
        v.extend(mode.iter().cloned());
        v.extend(self.common.iter().cloned());
        if let Some(extra) = self.per_node.get(&id) {
            v.extend(extra.iter().cloned());
        }
        v
    }

    /// Polls until node `id`'s process answers PING (it need not be a member).
    fn wait_serving(&mut self, id: u64) -> Result<(), String> {
        let s = self.nodes.get_mut(&id).ok_or("no such node")?;
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if !s.is_alive() {
                return Err(format!("node {id} exited during startup"));
            }
            match Conn::try_connect(s.port).and_then(|mut c| {
                c.set_timeout(Some(Duration::from_secs(2)));
                c.try_cmd(&["PING"])
            }) {
                Ok(r) if r == Reply::Simple("PONG".into()) => return Ok(()),
                Ok(r) => last = format!("PING -> {r:?}"),
                Err(e) => last = format!("PING: {e}"),
            }
            thread::sleep(Duration::from_millis(20));
        }
        Err(format!("node {id} not serving after {READY_TIMEOUT:?}: {last}"))
    }

    /// Node `id`'s movable wall clock (the cluster was built with `fake_clocks`).
    pub fn clock(&self, id: u64) -> &FakeClock {
        self.clocks
            .get(&id)
            .expect("no fake clock: build the cluster with .fake_clocks()")
    }

    /// Ids of every node ever started (running or not).
    pub fn ids(&self) -> Vec<u64> {
        self.nodes.keys().copied().collect()
    }

    /// Ids of the nodes whose process runs and is not paused.
    pub fn running(&mut self) -> Vec<u64> {
        let paused = self.paused.clone();
        self.nodes
            .iter_mut()
            .filter_map(|(id, s)| (!paused.contains(id) && s.is_alive()).then_some(*id))
            .collect()
    }

    /// Node `id` (panics if unknown).
    pub fn node(&self, id: u64) -> &TestServer {
        self.nodes.get(&id).unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Node `id`, mutable (panics if unknown).
    pub fn node_mut(&mut self, id: u64) -> &mut TestServer {
        self.nodes.get_mut(&id).unwrap_or_else(|| panic!("no node {id}"))
    }

    /// Client port of node `id`.
    pub fn port(&self, id: u64) -> u16 {
        self.node(id).port
    }

    /// `127.0.0.1:<client port>` of node `id`.
    pub fn addr(&self, id: u64) -> String {
        self.node(id).addr()
    }

    /// `127.0.0.1:<raft port>` of node `id`.
    pub fn raft_addr(&self, id: u64) -> String {
        format!("127.0.0.1:{}", self.node(id).raft_port)
    }

    /// A raw RESP2 connection to node `id` (panics on failure).
    pub fn conn(&self, id: u64) -> Conn {
        Conn::connect(self.port(id))
    }

    /// The last `n` lines of node `id`'s log.
    pub fn log_tail(&self, id: u64, n: usize) -> String {
        self.node(id).log_tail(n)
    }

    /// Log tails of every node, for failure messages.
    pub fn logs(&self, n: usize) -> String {
        self.nodes
            .keys()
            .map(|&id| format!("--- node {id} ---\n{}", self.log_tail(id, n)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// `RAFT INFO` of node `id`, or `None` if it does not answer within 2 s.
    pub fn raft_info(&self, id: u64) -> Option<Reply> {
        let mut c = Conn::try_connect(self.port(id)).ok()?;
        c.set_timeout(Some(Duration::from_secs(2)));
        let r = c.try_cmd(&["RAFT", "INFO"]).ok()?;
        r.field("role").map(|_| r)
    }

    /// An integer field of node `id`'s `RAFT INFO` (`None` if unanswered or nil).
    pub fn info_int(&self, id: u64, key: &str) -> Option<i64> {
        match self.raft_info(id)?.field(key)? {
            Reply::Int(i) => Some(i),
            _ => None,
        }
    }

    /// `voters` of node `id`'s `RAFT INFO`, sorted.
    pub fn voters(&self, id: u64) -> Option<Vec<u64>> {
        Self::ids_field(&self.raft_info(id)?, "voters")
    }

    /// `learners` of node `id`'s `RAFT INFO`, sorted.
    pub fn learners(&self, id: u64) -> Option<Vec<u64>> {
        Self::ids_field(&self.raft_info(id)?, "learners")
    }

    fn ids_field(info: &Reply, key: &str) -> Option<Vec<u64>> {
        let mut v: Vec<u64> = info.field(key)?.items().iter().map(|r| r.int() as u64).collect();
        v.sort_unstable();
        Some(v)
    }

    /// The leader all of `ids` agree on (each names it, and it says it leads), polled
    /// for up to `timeout`; `None` if they never agree in time.
    pub fn try_leader_among(&self, ids: &[u64], timeout: Duration) -> Option<u64> {
        poll_until(timeout, || {
            let mut agreed = None;
            for &id in ids {
                let info = self.raft_info(id)?;
                let l = match info.field("leader-id")? {
                    Reply::Int(l) => l as u64,
                    _ => return None,
                };
                if *agreed.get_or_insert(l) != l {
                    return None;
                }
            }
            let l = agreed?;
            if !ids.contains(&l) {
                return None;
            }
            let role = self.raft_info(l)?.field("role")?.text();
            (role == "leader").then_some(l)
        })
    }

    /// Like [`TestCluster::try_leader_among`], panicking with the logs on timeout.
    pub fn leader_among(&self, ids: &[u64], timeout: Duration) -> u64 {
        self.try_leader_among(ids, timeout).unwrap_or_else(|| {
            let infos: Vec<String> = ids
                .iter()
                .map(|&id| format!("node {id}: {:?}", self.raft_info(id)))
                .collect();
            panic!(
                "nodes {ids:?} did not agree on a leader within {timeout:?}\n{}\n{}",
                infos.join("\n"),
                self.logs(30)
            )
        })
    }

    /// The leader every running node agrees on.
    pub fn leader(&self, timeout: Duration) -> u64 {
        let ids: Vec<u64> = {
            // `running` needs &mut for try_wait; the paused set and liveness via kill -0
            // are enough here.
            self.nodes
                .iter()
                .filter(|(id, s)| !self.paused.contains(id) && s.child.is_some())
                .map(|(id, _)| *id)
                .collect()
        };
        self.leader_among(&ids, timeout)
    }

    /// The running members other than `leader`.
    pub fn followers_of(&self, leader: u64) -> Vec<u64> {
        self.nodes
            .iter()
            .filter(|(id, s)| **id != leader && !self.paused.contains(id) && s.child.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// kill -9 node `id` (its data dir stays).
    pub fn kill9(&mut self, id: u64) {
        self.paused.remove(&id);
        self.node_mut(id).kill9();
    }

    /// Starts node `id` again on its data dir and ports; waits until it answers PING.
    pub fn restart(&mut self, id: u64) {
        self.kill9(id);
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.node_mut(id).spawn().and_then(|()| self.wait_serving(id));
            match r {
                Ok(()) => return,
                Err(e) => {
                    self.node_mut(id).kill9();
                    if Instant::now() >= deadline {
                        panic!("restart of node {id} failed: {e}\n{}", self.log_tail(id, 60));
                    }
                    // The old process's sockets may linger for a moment.
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    /// SIGSTOP node `id` (it keeps its sockets but answers nothing).
    pub fn pause(&mut self, id: u64) {
        signal(self.node(id).pid(), "STOP");
        self.paused.insert(id);
    }

    /// SIGCONT node `id`.
    pub fn resume(&mut self, id: u64) {
        signal(self.node(id).pid(), "CONT");
        self.paused.remove(&id);
    }

    /// kill -9 node `id` and delete its data dir (a lost disk).
    pub fn wipe(&mut self, id: u64) {
        self.kill9(id);
        let dir = self.node(id).data_dir.clone();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).expect("remove data dir");
        }
    }

    /// Starts node `id` with an empty data dir and `--join <node via>`, with the
    /// cluster's secret; see [`TestCluster::join_with_secret`].
    pub fn join(&mut self, id: u64, via: u64) {
        let secret = self.secret.clone();
        self.join_with_secret(id, via, &secret);
    }

    /// Starts node `id` with an empty data dir, `--join <node via>` and `--cluster-secret
    /// secret`; waits only until it answers PING (membership is polled by the caller).
    /// A known id (removed, and wiped) keeps its ports; a new id gets fresh ones.
    pub fn join_with_secret(&mut self, id: u64, via: u64, secret: &str) {
        let mode = vec!["--join".to_string(), self.addr(via)];
        let args = self.node_args(id, &mode, secret);
        if self.nodes.contains_key(&id) {
            self.wipe(id);
            self.node_mut(id).extra = args;
            self.restart(id);
            return;
        }
        let mut last = String::new();
        for _ in 0..3 {
            let (port, raft_port) = free_ports();
            let mut s = self.new_node(id, port, raft_port, &mode);
            s.extra = args.clone();
            let _ = std::fs::remove_dir_all(&s.data_dir);
            let r = s.spawn();
            self.nodes.insert(id, s);
            match r.and_then(|()| self.wait_serving(id)) {
                Ok(()) => return,
                Err(e) => {
                    last = format!("{e}\n{}", self.log_tail(id, 40));
                    self.node_mut(id).kill9();
                    let lower = last.to_lowercase();
                    if !(lower.contains("in use") || lower.contains("addrinuse")) {
                        break;
                    }
                }
            }
        }
        panic!("joining node {id} did not start: {last}");
    }

    /// Polls until node `leader`'s `RAFT INFO` lists exactly `voters` as voters and no
    /// learners.
    pub fn wait_voters(&self, on: u64, voters: &[u64], timeout: Duration) {
        let mut want = voters.to_vec();
        want.sort_unstable();
        wait_until(timeout, &format!("node {on} to list voters {want:?}"), || {
            let info = self.raft_info(on)?;
            let v = Self::ids_field(&info, "voters")?;
            let l = Self::ids_field(&info, "learners")?;
            (v == want && l.is_empty()).then_some(())
        });
    }

    /// Polls until node `id` has applied everything the leader had committed when the
    /// call began; returns that index.
    pub fn wait_caught_up(&self, id: u64, timeout: Duration) -> i64 {
        let leader = self.leader(timeout);
        let target = wait_until(timeout, "leader commit-index", || self.info_int(leader, "commit-index"));
        wait_until(timeout, &format!("node {id} to apply up to index {target}"), || {
            (self.info_int(id, "applied-index")? >= target).then_some(target)
        })
    }

    /// Sends `args` to node `id`, retrying on -CLUSTERDOWN and on connection failures
    /// for up to `timeout`. For setup steps in a healthy cluster: any other error
    /// (notably -UNCERTAIN) is returned as is, never resent.
    pub fn cmd_retry(&self, id: u64, args: &[&str], timeout: Duration) -> Reply {
        let deadline = Instant::now() + timeout;
        let mut last = String::new();
        while Instant::now() < deadline {
            match self.try_cmd(id, args) {
                Ok(r) if r.is_err_with("CLUSTERDOWN") => last = format!("{r:?}"),
                Ok(r) => return r,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => last = e.to_string(),
                Err(e) => panic!("{args:?} via node {id}: I/O error after sending: {e}"),
            }
            thread::sleep(Duration::from_millis(50));
        }
        panic!("{args:?} via node {id}: no answer but {last} within {timeout:?}")
    }

    /// Deadline for one setup command in a healthy cluster (see [`TestCluster::must`]).
    pub const SETUP: Duration = Duration::from_secs(15);

    /// Sends `args` to node `id` (retrying on -CLUSTERDOWN for up to [`Self::SETUP`]) and
    /// requires a non-error reply; on failure the panic carries the nodes' recent logs.
    pub fn must(&self, id: u64, args: &[&str]) -> Reply {
        let r = self.cmd_retry(id, args, Self::SETUP);
        assert!(
            r.err_text().is_none(),
            "{args:?} via node {id} -> {r:?}\n{}",
            self.logs(20)
        );
        r
    }

    /// Sends one command on a fresh connection to node `id` (read timeout 30 s).
    pub fn try_cmd(&self, id: u64, args: &[&str]) -> io::Result<Reply> {
        let mut c = Conn::try_connect(self.port(id))?;
        c.try_cmd(args)
    }

    /// Local (stale) key count of node `id`, from `INFO keyspace`: what this replica's
    /// own state machine holds, whatever the leader has.
    pub fn local_keys(&self, id: u64) -> Option<u64> {
        let mut c = Conn::try_connect(self.port(id)).ok()?;
        c.set_timeout(Some(Duration::from_secs(2)));
        let text = c.try_cmd(&["INFO", "keyspace"]).ok()?.text();
        let line = text.lines().find(|l| l.starts_with("db0:"))?;
        let keys = line.strip_prefix("db0:keys=")?.split(',').next()?;
        keys.trim().parse().ok()
    }
}

fn signal(pid: u32, sig: &str) {
    let st = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .expect("run kill");
    assert!(st.success(), "kill -{sig} {pid} failed");
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        // A stopped process still dies of SIGKILL; resume anyway so nothing lingers
        // half-alive if a kill fails.
        for id in std::mem::take(&mut self.paused) {
            if let Some(s) = self.nodes.get(&id) {
                if s.child.is_some() {
                    signal_quiet(s.pid(), "CONT");
                }
            }
        }
    }
}

fn signal_quiet(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status();
}

/// Redis Cluster's key slot: CRC16 (XMODEM) of the key, or of its `{hash tag}` when it
/// has a non-empty one, modulo 16384.
pub fn key_slot(key: &[u8]) -> u16 {
    let mut k = key;
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                k = &key[open + 1..open + 1 + len];
            }
        }
    }
    crc16_xmodem(k) % 16384
}

fn crc16_xmodem(data: &[u8]) -> u16 {
    let mut crc: u16 = 0;
    for &b in data {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
        }
    }
    crc
}

#[cfg(test)]
mod tests {
    use super::key_slot;

    #[test]
    fn key_slots_match_redis() {
        // Values from the Redis Cluster specification and `CLUSTER KEYSLOT`.
        assert_eq!(super::crc16_xmodem(b"123456789"), 0x31C3);
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"x{foo}y"), 12182);
        // An empty tag does not count: the whole key is hashed.
        assert_eq!(key_slot(b"foo{}{bar}"), super::crc16_xmodem(b"foo{}{bar}") % 16384);
    }
}

/// Connects to a raft port, runs `script` and requires the node to hang up within 5 s.
pub fn peer_refuses(port: u16, what: &str, script: impl FnOnce(&mut TcpStream)) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to raft port");
    s.set_read_timeout(Some(Duration::from_millis(100))).expect("timeout");
    script(&mut s);
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
        assert!(
            Instant::now() < deadline,
            "raft port kept a connection it should refuse open 5 s after: {what}"
        );
    }
}

/// A postcard-encoded `Hello { cluster: "fencepost", from, nonce }` frame, as a node
/// sends first on a plain peer connection, framed with its length.
pub fn hello_frame(from: u8) -> Vec<u8> {
    let mut body = vec![9];
    body.extend_from_slice(b"fencepost");
    body.push(from);
    body.extend_from_slice(&[7u8; 32]);
    let mut f = (body.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(&body);
    f
}
