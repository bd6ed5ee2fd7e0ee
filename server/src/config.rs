//! Every flag, its default and its validation, in one place; and where a flag's value
//! comes from (SPEC "Configuration"): the command line, then `FENCEPOST_<FLAG>` in the
//! environment, then the `--config` TOML file (keys are the long flag names), then the
//! default. clap does the merging: the file's values become the flags' defaults.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use clap::{CommandFactory, FromArgMatches, Parser, ValueEnum};
use serde::{Serialize, Serializer};

use crate::raft::log_writer::WalWriter;
use crate::raft::types::{NodeId, PeerNode};
use crate::tls::{AuthClients, ClientTlsFiles};

/// How a follower serves clients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FollowerMode {
    /// Forward every command to the leader and relay its reply.
    Proxy,
    /// Answer -MOVED with the leader's address.
    Redirect,
}

/// fencepost: a Redis-protocol server for safe locks, fencing tokens, rate limits and
/// idempotency keys, replicated with Raft.
/// How the node writes its log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Parser, Serialize)]
#[command(name = "fencepost", version)]
#[serde(rename_all = "kebab-case")]
pub struct Config {
    /// A TOML file of settings: keys are the long flag names (`max-clients = 10000`).
    /// A flag or its FENCEPOST_<FLAG> variable wins over the file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Print the effective configuration as TOML (secrets masked) and exit.
    #[arg(long)]
    #[serde(skip)]
    pub print_config: bool,
    /// Serve HTTP on this address: /metrics (Prometheus), /livez, /readyz and / (a
    /// status page). Off unless given.
    #[arg(long, value_name = "HOST:PORT")]
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// Log lines as text or one JSON object each.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Log level (error, warn, info, debug, trace); a filter in RUST_LOG or FENCEPOST_LOG
    /// wins over it.
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// Address to listen on for clients.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,
    /// The host (name or address) other nodes and clients are told to reach this node
    /// at (RAFT INFO, -MOVED, --join); default: --bind. Needed when --bind is 0.0.0.0,
    /// as in containers.
    #[arg(long, value_name = "HOST")]
    pub advertise_host: Option<String>,
    /// Client (RESP) port; 0 turns plaintext off (clients then use --tls-port).
    #[arg(long, default_value_t = 6379)]
    pub port: u16,
    /// Client port for RESP over TLS 1.2/1.3 (needs --tls-cert-file and --tls-key-file).
    #[arg(long)]
    pub tls_port: Option<u16>,
    /// The server's certificate chain (PEM) for client TLS; also this node's client
    /// certificate when it calls a TLS-only member (--join).
    #[arg(long, value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key (PEM) of --tls-cert-file.
    #[arg(long, value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,
    /// CA (PEM) that client certificates must chain to; also what this node trusts
    /// when it calls a TLS-only member.
    #[arg(long, value_name = "PATH")]
    pub tls_ca_cert_file: Option<PathBuf>,
    /// Whether clients must present a certificate: yes, no, optional (default: yes
    /// when --tls-ca-cert-file is given, else no).
    #[arg(long, value_enum, value_name = "yes|no|optional")]
    pub tls_auth_clients: Option<AuthClients>,
    /// Where the Raft log, vote and snapshots live.
    #[arg(long, default_value = "./fencepost-data")]
    pub data_dir: PathBuf,
    /// This node's Raft id.
    #[arg(long, default_value_t = 1)]
    pub node_id: u64,
    /// Peer (Raft) port; defaults to the client port + 10000.
    #[arg(long)]
    pub raft_port: Option<u16>,
    /// Members of a new cluster: 1=HOST:PORT[/HOST:RAFTPORT],2=...
    #[arg(long)]
    pub initial_cluster: Option<String>,
    /// Join a running cluster through any member's client address.
    #[arg(long)]
    pub join: Option<String>,
    /// The `default` user's password until an ACL changes it (clients must AUTH).
    #[arg(long)]
    #[serde(serialize_with = "masked")]
    pub requirepass: Option<String>,
    /// Shared secret that peers must present.
    #[arg(long)]
    #[serde(serialize_with = "masked")]
    pub cluster_secret: Option<String>,
    #[arg(long, value_enum, default_value_t = FollowerMode::Proxy)]
    pub follower_mode: FollowerMode,
    /// Allow binding a non-loopback address without a password.
    #[arg(long)]
    pub insecure: bool,
    /// Largest stored value (IDEMP responses, FENCE values).
    #[arg(long, default_value_t = 1 << 20)]
    pub max_value_bytes: usize,
    /// Largest bulk string a client may send.
    #[arg(long, default_value_t = 2 << 20)]
    pub max_bulk_bytes: usize,
    /// Most arguments in one command.
    #[arg(long, default_value_t = 1024)]
    pub max_args: usize,
    /// Most bytes one command frame may take (and a client may leave buffered).
    #[arg(long, default_value_t = 8 << 20)]
    pub max_input_bytes: usize,
    /// Most simultaneous client connections.
    #[arg(long, default_value_t = 10_000)]
    pub max_clients: usize,
    /// Raft heartbeat interval.
    #[arg(long, default_value_t = 50)]
    pub heartbeat_ms: u64,
    /// Raft election timeout (randomised between this and twice this). openraft 0.9
    /// also holds a leader lease of twice this, so a follower campaigns 3-4x this after
    /// the leader's last heartbeat: 600-800 ms by default.
    #[arg(long, default_value_t = 200)]
    pub election_timeout_ms: u64,
    /// Take a snapshot (and compact the log) after this many applied operations. The
    /// node forks and a child process writes the snapshot, so applies pause only for the
    /// fork (a few ms per million objects); between snapshots the log is kept in memory
    /// (~170 B per operation).
    #[arg(long, default_value_t = 100_000)]
    pub snapshot_every: u64,
    /// Size at which the write-ahead log starts a new segment file; compaction deletes
    /// whole segments, so this bounds the log's disk use beyond the snapshot.
    #[arg(long, default_value_t = 64 << 20)]
    pub wal_segment_bytes: u64,
    /// Write batches the leader keeps in flight (proposed, not yet applied). Writes that
    /// arrive meanwhile queue and ride in the next batch, so fewer in flight means larger
    /// batches: fewer fsyncs and AppendEntries per write, less CPU. More can pay where a
    /// round trip to the followers is long next to a batch's own work (a WAN).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=16))]
    pub batches_in_flight: u32,
    /// Where the WAL's writes and fsyncs run: `thread` (a writer thread group-commits;
    /// the runtime never waits on the disk) or `inline` (the runtime thread writes and
    /// fsyncs once per burst of appends, without a hand-off between threads), or `auto`:
    /// inline while following, the thread while leading.
    #[arg(long, value_enum, default_value_t = WalWriter::Auto)]
    pub wal_writer: WalWriter,
    /// Threads that serve clients, peers and Raft (0: one per CPU). Nodes that share a
    /// machine (tests, benchmarks, a laptop cluster) each do best with one: more only
    /// add hand-offs between threads that compete for the same cores.
    #[arg(long, default_value_t = 0)]
    pub worker_threads: usize,
    /// This node's certificate chain (PEM) for TLS between peers. With --peer-tls-key
    /// and --peer-tls-ca, every peer connection is mutually authenticated TLS 1.3; the
    /// certificate must name the host of this node's peer address (IP or DNS SAN).
    #[arg(long, value_name = "PATH")]
    pub peer_tls_cert: Option<PathBuf>,
    /// The private key (PEM) of --peer-tls-cert.
    #[arg(long, value_name = "PATH")]
    pub peer_tls_key: Option<PathBuf>,
    /// The cluster CA (PEM) that every peer's certificate must chain to.
    #[arg(long, value_name = "PATH")]
    pub peer_tls_ca: Option<PathBuf>,
}

/// Secrets are shown as set or not, never their value.
fn masked<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("********"),
        None => s.serialize_none(),
    }
}

/// The flags, each also read from `FENCEPOST_<FLAG>`.
fn command() -> clap::Command {
    Config::command().mut_args(|a| match a.get_long() {
        Some(long) => {
            let var = format!("FENCEPOST_{}", long.to_ascii_uppercase().replace('-', "_"));
            a.env(var)
        }
        None => a,
    })
}

/// The file's settings as the flags' defaults. An unknown key, or a value that is not
/// a string, number or boolean, is an error that names the key and the file.
fn with_file(mut cmd: clap::Command, path: &Path) -> Result<clap::Command, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("config file {}: {e}", path.display()))?;
    for (key, value) in table {
        let id = cmd
            .get_arguments()
            .find(|a| a.get_long() == Some(key.as_str()) && key != "config" && key != "print-config")
            .map(|a| a.get_id().clone())
            .ok_or_else(|| format!("unknown key '{key}' in config file {}", path.display()))?;
        let value = match value {
            toml::Value::String(s) => s,
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            toml::Value::Float(f) => f.to_string(),
            _ => {
                return Err(format!(
                    "key '{key}' in config file {}: want a string, a number or a boolean",
                    path.display()
                ))
            }
        };
        cmd = cmd.mut_arg(id, |a| a.default_value(value));
    }
    Ok(cmd)
}

impl Config {
    /// The configuration from `args` (the program name first), the environment and
    /// the `--config` file they name; `Err` carries clap's message (help and version
    /// included, which clap prints itself via `exit`).
    pub fn load(args: Vec<OsString>) -> Result<Config, clap::Error> {
        // Kubernetes injects FENCEPOST_PORT=tcp://... for a Service named fencepost;
        // say so rather than clap's bare "invalid value".
        if let Ok(v) = std::env::var("FENCEPOST_PORT") {
            if v.starts_with("tcp://") {
                return Err(command().error(
                    clap::error::ErrorKind::InvalidValue,
                    format!(
                        "FENCEPOST_PORT={v} looks like a Kubernetes service link, not a port: \
                         set enableServiceLinks: false on the pod (or name the Service otherwise)"
                    ),
                ));
            }
        }
        // First pass: only to find the file (a flag or FENCEPOST_CONFIG).
        let first = command().ignore_errors(true).try_get_matches_from(&args)?;
        let file = first.get_one::<PathBuf>("config").cloned();
        let cmd = match &file {
            Some(path) => {
                with_file(command(), path).map_err(|e| command().error(clap::error::ErrorKind::InvalidValue, e))?
            }
            None => command(),
        };
        let matches = cmd.try_get_matches_from(&args)?;
        Config::from_arg_matches(&matches)
    }

    /// The effective configuration as TOML, keys as the long flag names, secrets masked.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot show the configuration: {e}\n"))
    }

    /// `(key, value)` of every setting whose long flag name matches `glob` (CONFIG GET),
    /// secrets masked; unset options are left out. Then the Redis names that Redis tools
    /// ask for, with what they mean here.
    pub fn settings(&self, glob: &[u8]) -> Vec<(String, String)> {
        let Ok(table) = toml::Table::try_from(self) else {
            return Vec::new();
        };
        let ours = table.into_iter().map(|(k, v)| {
            let v = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        });
        ours.chain(self.redis_names())
            .filter(|(k, _)| crate::sm::data::glob::matches(glob, k.as_bytes()))
            .collect()
    }

    /// Redis's names for settings that Redis tools and client libraries read at start
    /// (redis-benchmark asks for `appendonly`; pool sizers ask for `maxclients`). Every
    /// reply is fsynced on a majority before it is sent, which is Redis's
    /// `appendonly yes` with `appendfsync always`; there is one keyspace.
    fn redis_names(&self) -> [(String, String); 4] {
        [
            ("maxclients".into(), self.max_clients.to_string()),
            ("appendonly".into(), "yes".into()),
            ("appendfsync".into(), "always".into()),
            ("databases".into(), "1".into()),
        ]
    }

    /// Checks combinations clap cannot.
    pub fn validate(&self) -> Result<(), String> {
        if !self.bind.is_loopback() && self.requirepass.is_none() && !self.insecure {
            return Err(format!(
                "refusing to listen on non-loopback {} without --requirepass (use --insecure to override)",
                self.bind
            ));
        }
        if self.max_value_bytes > self.max_bulk_bytes {
            return Err("--max-value-bytes must not exceed --max-bulk-bytes".into());
        }
        if self.wal_segment_bytes < 4096 {
            return Err("--wal-segment-bytes must be at least 4096".into());
        }
        if self.election_timeout_ms < 2 * self.heartbeat_ms {
            return Err("--election-timeout-ms must be at least twice --heartbeat-ms".into());
        }
        if self.max_args < 8 {
            return Err("--max-args must be at least 8".into());
        }
        if self.tls_port.is_some() && (self.tls_cert_file.is_none() || self.tls_key_file.is_none()) {
            return Err("--tls-port needs --tls-cert-file and --tls-key-file".into());
        }
        if self.port == 0 && self.tls_port.is_none() {
            return Err("--port 0 turns plaintext off: give --tls-port for clients".into());
        }
        if self.tls_auth_clients.is_some_and(|a| a != AuthClients::No) && self.tls_ca_cert_file.is_none() {
            return Err("--tls-auth-clients yes|optional needs --tls-ca-cert-file".into());
        }
        if self.raft_port.is_none() && self.client_port() > u16::MAX - 10_000 {
            return Err("--port is too high for the default --raft-port (port + 10000): give --raft-port".into());
        }
        let tls = [&self.peer_tls_cert, &self.peer_tls_key, &self.peer_tls_ca];
        // Half a TLS setup would silently fall back to plain TCP, or fail only when the
        // first peer connects: refuse it at startup.
        if tls.iter().any(|f| f.is_some()) && !tls.iter().all(|f| f.is_some()) {
            return Err("--peer-tls-cert, --peer-tls-key and --peer-tls-ca go together: give all three or none".into());
        }
        Ok(())
    }

    pub fn raft_port(&self) -> u16 {
        self.raft_port.unwrap_or(self.client_port().saturating_add(10_000))
    }

    /// The port clients are told about: the plaintext one, or the TLS one when
    /// plaintext is off.
    pub fn client_port(&self) -> u16 {
        match (self.port, self.tls_port) {
            (0, Some(tls)) => tls,
            (port, _) => port,
        }
    }

    /// Whether this node's clients, and so its cluster's, speak TLS only.
    pub fn tls_only(&self) -> bool {
        self.port == 0 && self.tls_port.is_some()
    }

    /// The client TLS files, when --tls-port is given.
    pub fn client_tls(&self) -> Option<ClientTlsFiles> {
        self.tls_port?;
        Some(ClientTlsFiles {
            cert: self.tls_cert_file.clone()?,
            key: self.tls_key_file.clone()?,
            ca: self.tls_ca_cert_file.clone(),
            auth_clients: self.tls_auth_clients.unwrap_or(if self.tls_ca_cert_file.is_some() {
                AuthClients::Yes
            } else {
                AuthClients::No
            }),
        })
    }

    /// `--advertise-host`, else the bind address (IPv6 in brackets).
    fn advertised_host(&self) -> String {
        match (&self.advertise_host, self.bind) {
            (Some(h), _) => h.clone(),
            (None, IpAddr::V6(v6)) => format!("[{v6}]"),
            (None, v4) => v4.to_string(),
        }
    }

    /// The client address peers and clients are told about.
    pub fn resp_addr(&self) -> String {
        format!("{}:{}", self.advertised_host(), self.client_port())
    }

    pub fn raft_addr(&self) -> String {
        format!("{}:{}", self.advertised_host(), self.raft_port())
    }

    /// Parses `--initial-cluster 1=HOST:PORT[/HOST:RAFTPORT],2=...`; a member without a
    /// peer address uses its client port + 10000.
    pub fn initial_members(&self) -> Result<Option<BTreeMap<NodeId, PeerNode>>, String> {
        self.initial_cluster.as_deref().map(parse_members).transpose()
    }
}

/// `1=HOST:PORT[/HOST:RAFTPORT],2=...` as members; one without a peer address uses its
/// client port + 10000.
pub fn parse_members(spec: &str) -> Result<BTreeMap<NodeId, PeerNode>, String> {
    let mut members = BTreeMap::new();
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let bad = || format!("bad --initial-cluster member '{item}': want ID=HOST:PORT[/HOST:RAFTPORT]");
        let (id, addrs) = item.split_once('=').ok_or_else(bad)?;
        let id: NodeId = id.parse().map_err(|_| bad())?;
        let (resp, raft) = match addrs.split_once('/') {
            Some((resp, raft)) => (resp.to_string(), raft.to_string()),
            None => {
                let (host, port) = addrs.rsplit_once(':').ok_or_else(bad)?;
                let port: u16 = port.parse().map_err(|_| bad())?;
                let raft_port = port.checked_add(10_000).ok_or_else(bad)?;
                (addrs.to_string(), format!("{host}:{raft_port}"))
            }
        };
        for a in [&resp, &raft] {
            a.rsplit_once(':')
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .ok_or_else(bad)?;
        }
        if members
            .insert(
                id,
                PeerNode {
                    raft_addr: raft,
                    resp_addr: resp,
                },
            )
            .is_some()
        {
            return Err(format!("--initial-cluster lists node {id} twice"));
        }
    }
    if members.is_empty() {
        return Err("--initial-cluster is empty".into());
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initial_cluster_parses_with_and_without_peer_addresses() {
        let c = Config::parse_from([
            "fencepost",
            "--initial-cluster",
            "1=127.0.0.1:7001/127.0.0.1:9001,2=127.0.0.1:7002",
        ]);
        let m = c.initial_members().expect("parses").expect("some");
        assert_eq!(m[&1].raft_addr, "127.0.0.1:9001");
        assert_eq!(m[&2].raft_addr, "127.0.0.1:17002");
        assert_eq!(m[&2].resp_addr, "127.0.0.1:7002");
        let bad = Config::parse_from(["fencepost", "--initial-cluster", "x=1"]);
        assert!(bad.initial_members().is_err());
    }

    #[test]
    fn peer_tls_flags_come_all_three_or_none() {
        let base = ["fencepost", "--peer-tls-cert", "c.pem", "--peer-tls-key", "k.pem"];
        let half = Config::parse_from(base);
        assert!(half.validate().is_err_and(|e| e.contains("all three")));
        let all = Config::parse_from(base.into_iter().chain(["--peer-tls-ca", "ca.pem"]));
        assert_eq!(all.validate(), Ok(()));
        assert_eq!(Config::parse_from(["fencepost"]).validate(), Ok(()));
    }
}
