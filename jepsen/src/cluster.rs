//! The fencepost processes of one run: each node runs in its own namespace, started
//! with `ip netns exec`, so its pid is the server's own (ip execs it). The nemesis
//! kills, pauses, restarts, wipes and re-joins them through this type.

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::net::{ns, resp};

/// Client (RESP) port on every node.
pub const PORT: u16 = 6379;
/// Peer (Raft) port on every node.
pub const RAFT_PORT: u16 = 16379;
/// libfaketime's preload library (Debian's path).
pub const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// How the nodes are started.
#[derive(Debug, Clone)]
pub struct Settings {
    pub bin: PathBuf,
    pub nodes: usize,
    /// Where data directories, logs and clock files go.
    pub dir: PathBuf,
    /// `FENCEPOST_MUTATION` for every node, if any.
    pub mutation: Option<String>,
    /// Preload libfaketime with a per-node clock file.
    pub faketime: bool,
}

/// One node slot: a namespace and address, and whichever server id now lives there.
#[derive(Debug)]
pub struct Node {
    pub slot: usize,
    pub id: u64,
    /// Started with `--join` (a replacement after a membership change).
    pub joined: Option<String>,
    pub child: Option<Child>,
    pub paused: bool,
}

/// The running cluster.
#[derive(Debug)]
pub struct Cluster {
    pub settings: Settings,
    pub nodes: Vec<Node>,
    next_id: u64,
}

/// Node `slot`'s client address.
pub fn addr(slot: usize) -> String {
    format!("{}:{PORT}", ns::node_ip(slot))
}

impl Cluster {
    /// Nodes 1..=n with ids 1..=n, not yet started.
    pub fn new(settings: Settings) -> Cluster {
        let nodes = (1..=settings.nodes)
            .map(|slot| Node {
                slot,
                id: slot as u64,
                joined: None,
                child: None,
                paused: false,
            })
            .collect();
        let next_id = settings.nodes as u64 + 1;
        Cluster {
            settings,
            nodes,
            next_id,
        }
    }

    fn data_dir(&self, slot: usize, id: u64) -> PathBuf {
        self.settings.dir.join(format!("n{slot}")).join(format!("data-id{id}"))
    }

    /// Node `slot`'s log file (all its incarnations append to it).
    pub fn log_path(&self, slot: usize) -> PathBuf {
        self.settings.dir.join(format!("n{slot}.log"))
    }

    /// Node `slot`'s libfaketime control file.
    pub fn clock_file(&self, slot: usize) -> PathBuf {
        self.settings.dir.join(format!("n{slot}.faketime"))
    }

    fn initial_cluster(&self) -> String {
        (1..=self.settings.nodes)
            .map(|s| format!("{s}={}:{PORT}/{}:{RAFT_PORT}", ns::node_ip(s), ns::node_ip(s)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Starts node `slot` (its current id, data and join target) if it is not running.
    pub fn start(&mut self, slot: usize) -> anyhow::Result<()> {
        let k = slot - 1;
        if self.nodes[k].child.is_some() {
            return Ok(());
        }
        let id = self.nodes[k].id;
        let data = self.data_dir(slot, id);
        std::fs::create_dir_all(&data)?;
        let log = OpenOptions::new().create(true).append(true).open(self.log_path(slot))?;
        let log2: File = log.try_clone()?;
        let ip = ns::node_ip(slot);
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &ns::node_ns(slot)])
            .arg(&self.settings.bin)
            .args([
                "--bind",
                &ip,
                "--port",
                &PORT.to_string(),
                "--raft-port",
                &RAFT_PORT.to_string(),
            ])
            .arg("--data-dir")
            .arg(&data)
            .args(["--node-id", &id.to_string(), "--insecure", "--snapshot-every", "200"]);
        match &self.nodes[k].joined {
            Some(via) => cmd.args(["--join", via]),
            None => cmd.args(["--initial-cluster", &self.initial_cluster()]),
        };
        if let Some(m) = &self.settings.mutation {
            cmd.env("FENCEPOST_MUTATION", m);
        }
        if self.settings.faketime {
            let f = self.clock_file(slot);
            if !f.exists() {
                std::fs::write(&f, "+0\n")?;
            }
            cmd.env("LD_PRELOAD", LIBFAKETIME)
                .env("FAKETIME_TIMESTAMP_FILE", &f)
                .env("FAKETIME_NO_CACHE", "1")
                .env("FAKETIME_XRESET", "1")
                .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
        }
        cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
        let child = cmd.spawn().with_context(|| format!("starting node {slot}"))?;
        self.nodes[k].child = Some(child);
        self.nodes[k].paused = false;
        Ok(())
    }

    /// Starts every node that is not running.
    pub fn start_all(&mut self) -> anyhow::Result<()> {
        for slot in 1..=self.nodes.len() {
            self.start(slot)?;
        }
        Ok(())
    }

    /// SIGKILLs node `slot` and reaps it.
    pub fn kill(&mut self, slot: usize) {
        if let Some(mut c) = self.nodes[slot - 1].child.take() {
            if self.nodes[slot - 1].paused {
                let _ = signal(c.id(), "CONT");
            }
            let _ = c.kill();
            let _ = c.wait();
        }
        self.nodes[slot - 1].paused = false;
    }

    /// SIGSTOPs node `slot`.
    pub fn pause(&mut self, slot: usize) -> anyhow::Result<()> {
        let n = &mut self.nodes[slot - 1];
        if let Some(c) = &n.child {
            signal(c.id(), "STOP")?;
            n.paused = true;
        }
        Ok(())
    }

    /// SIGCONTs node `slot`.
    pub fn resume(&mut self, slot: usize) -> anyhow::Result<()> {
        let n = &mut self.nodes[slot - 1];
        if let (Some(c), true) = (&n.child, n.paused) {
            signal(c.id(), "CONT")?;
        }
        n.paused = false;
        Ok(())
    }

    /// Kills node `slot`, deletes its data and gives the slot a fresh id that will join
    /// through `via` (never an id used before: ids only grow).
    pub fn wipe_and_renumber(&mut self, slot: usize, via: String) -> anyhow::Result<u64> {
        self.kill(slot);
        let old = self.nodes[slot - 1].id;
        let dir = self.data_dir(slot, old);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.nodes[slot - 1].id = id;
        self.nodes[slot - 1].joined = Some(via);
        Ok(id)
    }

    /// Slots whose process is running.
    pub fn running(&self) -> Vec<usize> {
        self.nodes
            .iter()
            .filter(|n| n.child.is_some())
            .map(|n| n.slot)
            .collect()
    }

    /// The slot of the leader as some running, unpaused node reports it.
    pub fn leader(&self) -> Option<usize> {
        for n in self.nodes.iter().filter(|n| n.child.is_some() && !n.paused) {
            let Ok(info) = resp::raft_info(&addr(n.slot)) else {
                continue;
            };
            let get = |k: &str| info.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
            if get("role").as_deref() == Some("leader") {
                return Some(n.slot);
            }
            if let Some(id) = get("leader-id").and_then(|v| v.parse::<u64>().ok()) {
                if let Some(l) = self.nodes.iter().find(|m| m.id == id && m.child.is_some()) {
                    return Some(l.slot);
                }
            }
        }
        None
    }

    /// Waits until every running node reports a leader and the voters include every
    /// node's current id (bounded); returns whether it got there.
    pub fn wait_healthy(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let mut ok = true;
            for n in self.nodes.iter().filter(|n| n.child.is_some()) {
                match resp::raft_info(&addr(n.slot)) {
                    Ok(info) => {
                        let get = |k: &str| info.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
                        if get("leader-id").is_none_or(|v| v.is_empty()) {
                            ok = false;
                        }
                    }
                    Err(_) => ok = false,
                }
            }
            if ok {
                return true;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        false
    }

    /// Kills every node (end of run).
    pub fn shutdown(&mut self) {
        for slot in 1..=self.nodes.len() {
            self.kill(slot);
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn signal(pid: u32, sig: &str) -> anyhow::Result<()> {
    crate::net::sh("kill", &[&format!("-{sig}"), &pid.to_string()])?;
    Ok(())
}
