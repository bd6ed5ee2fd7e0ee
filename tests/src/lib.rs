//! Harness for fencepost's integration tests: spawns real `fencepost` processes on
//! free ports with a throw-away data dir, and drives them with real clients
//! (redis-cli, the `redis` crate) and with a small raw RESP client of our own, so that
//! tests can assert the exact bytes a server sends (error texts, nil vs empty, ...).
//!
//! Rules (DESIGN.md): never sleep to wait for a state, poll for it with a deadline;
//! never reuse fixed ports; every spawned process dies with its [`TestServer`].

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub mod cluster;
pub mod fake_clock;
pub use cluster::{ClusterBuilder, TestCluster};

/// How long a server may take to answer PING and show a leader.
pub const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// Upper bound for one redis-cli run (a hung server must fail a test, not hang it).
pub const CLI_TIMEOUT: Duration = Duration::from_secs(30);

/// The `fencepost` binary under test: `$FENCEPOST_BIN`, else the workspace's debug build.
pub fn bin_path() -> PathBuf {
    if let Some(p) = std::env::var_os("FENCEPOST_BIN") {
        return PathBuf::from(p);
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/fencepost")
}

/// Two distinct free loopback ports (both listeners are held until both are known).
pub fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let pa = a.local_addr().expect("local addr").port();
    let pb = b.local_addr().expect("local addr").port();
    (pa, pb)
}

/// Polls `f` until it returns `Some`, or panics with `what` after `timeout`.
pub fn wait_until<T>(timeout: Duration, what: &str, f: impl FnMut() -> Option<T>) -> T {
    poll_until(timeout, f).unwrap_or_else(|| panic!("timed out after {timeout:?} waiting for: {what}"))
}

/// Waits until `c` is its server's only client (INFO `connected_clients:1`): every
/// connection the test dropped has been seen closed by the server.
pub fn wait_until_only_client(c: &mut Conn, timeout: Duration, what: &str) {
    wait_until(timeout, what, || match c.cmd(&["INFO", "clients"]) {
        Reply::Bulk(text) => String::from_utf8_lossy(&text)
            .contains("connected_clients:1\r\n")
            .then_some(()),
        _ => None,
    });
}

/// Polls `f` every 20 ms until it returns `Some` or `timeout` passes (then `None`).
pub fn poll_until<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// The numeric `key:value` lines of an INFO reply's text (other lines are skipped).
pub fn info_numbers(text: &str) -> std::collections::HashMap<String, u64> {
    text.lines()
        .filter_map(|l| l.trim_end().split_once(':'))
        .filter_map(|(k, v)| Some((k.to_string(), v.parse().ok()?)))
        .collect()
}

/// A unique-ish name for objects of one test, so that tests never collide.
pub fn uniq(prefix: &str) -> String {
    use rand::Rng;
    let n: u32 = rand::rng().random();
    format!("{prefix}-{n:08x}")
}

/// Options for starting a server.
#[derive(Debug, Clone, Default)]
pub struct ServerBuilder {
    password: Option<String>,
    extra: Vec<String>,
    env: Vec<(String, String)>,
}

impl ServerBuilder {
    /// An environment variable for the server process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// `--requirepass <pass>`; the harness authenticates its own readiness probes.
    pub fn password(mut self, pass: &str) -> Self {
        self.password = Some(pass.to_string());
        self
    }

    /// Extra command-line arguments, appended after the harness's own.
    pub fn arg(mut self, a: &str) -> Self {
        self.extra.push(a.to_string());
        self
    }

    /// Spawns the server and waits until it is ready (PONG and a leader).
    pub fn start(self) -> TestServer {
        let dir = tempfile::Builder::new()
            .prefix("fencepost-test-")
            .tempdir()
            .expect("create temp dir");
        let mut last_err = String::new();
        // A port picked free may be taken by another test before the server binds it:
        // retry with fresh ports rather than fail on a race that is not the server's.
        for _attempt in 0..3 {
            let (port, raft_port) = free_ports();
            let mut s = TestServer {
                child: None,
                port,
                raft_port,
                data_dir: dir.path().join("data"),
                log_path: dir.path().join("fencepost.log"),
                password: self.password.clone(),
                extra: self.extra.clone(),
                env: self.env.clone(),
                starts: 0,
                _dir: None,
            };
            match s.spawn_and_wait() {
                Ok(()) => {
                    s._dir = Some(dir);
                    return s;
                }
                Err(e) => {
                    last_err = format!("{e}\n--- server log tail ---\n{}", s.log_tail(60));
                    s.kill9();
                    let lower = last_err.to_lowercase();
                    if !(lower.contains("in use") || lower.contains("addrinuse")) {
                        break;
                    }
                }
            }
        }
        panic!("fencepost did not start: {last_err}");
    }
}

/// One `fencepost` process on free ports, with its own data dir. Killed on drop.
pub struct TestServer {
    child: Option<Child>,
    /// RESP port.
    pub port: u16,
    /// Raft (peer) port.
    pub raft_port: u16,
    /// `--data-dir`.
    pub data_dir: PathBuf,
    /// Where the server's stdout and stderr go.
    pub log_path: PathBuf,
    /// `--requirepass`, if any.
    pub password: Option<String>,
    extra: Vec<String>,
    /// Environment variables set for the process (every start).
    pub env: Vec<(String, String)>,
    starts: u32,
    _dir: Option<tempfile::TempDir>,
}

impl TestServer {
    /// A fresh single-node server with default options, ready to serve.
    pub fn start() -> TestServer {
        ServerBuilder::default().start()
    }

    /// Options for [`TestServer`].
    pub fn builder() -> ServerBuilder {
        ServerBuilder::default()
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The server's pid (panics if not running).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server not running").id()
    }

    fn spawn_and_wait(&mut self) -> Result<(), String> {
        self.spawn()?;
        self.wait_ready()
    }

    /// Spawns the process with the configured arguments, without waiting for it.
    fn spawn(&mut self) -> Result<(), String> {
        let bin = bin_path();
        if !bin.exists() {
            return Err(format!(
                "fencepost binary not found at {} (set FENCEPOST_BIN or build the server)",
                bin.display()
            ));
        }
        let log = File::options()
            .create(true)
            .append(true)
            .open(&self.log_path)
            .map_err(|e| format!("open log: {e}"))?;
        self.starts += 1;
        let mut banner = log.try_clone().map_err(|e| e.to_string())?;
        let _ = writeln!(banner, "===== harness: start #{} =====", self.starts);
        let mut cmd = Command::new(&bin);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--raft-port")
            .arg(self.raft_port.to_string())
            .arg("--data-dir")
            .arg(&self.data_dir);
        if let Some(p) = &self.password {
            cmd.arg("--requirepass").arg(p);
        }
        cmd.args(&self.extra)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        let child = cmd.spawn().map_err(|e| format!("spawn {}: {e}", bin.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Polls until PING answers PONG and RAFT INFO shows role leader.
    pub fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut last = String::from("no attempt");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Ok(Some(st)) = child.try_wait() {
                    return Err(format!("server exited during startup: {st}"));
                }
            }
            match self.probe() {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("not ready after {READY_TIMEOUT:?}: {last}"))
    }

    fn probe(&self) -> Result<(), String> {
        let mut c = Conn::try_connect(self.port).map_err(|e| format!("connect: {e}"))?;
        c.set_timeout(Some(Duration::from_secs(2)));
        if let Some(p) = &self.password {
            let r = c.try_cmd(&["AUTH", p.as_str()]).map_err(|e| format!("AUTH: {e}"))?;
            if r != Reply::ok() {
                return Err(format!("AUTH -> {r:?}"));
            }
        }
        let r = c.try_cmd(&["PING"]).map_err(|e| format!("PING: {e}"))?;
        if r != Reply::Simple("PONG".into()) {
            return Err(format!("PING -> {r:?}"));
        }
        let r = c.try_cmd(&["RAFT", "INFO"]).map_err(|e| format!("RAFT INFO: {e}"))?;
        match r.field("role") {
            Some(role) if role.text() == "leader" => Ok(()),
            _ => Err(format!("RAFT INFO -> {r:?}")),
        }
    }

    /// SIGKILL and reap (no-op if not running).
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM, then wait (up to 20 s) for the process to exit; returns its status.
    pub fn sigterm(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("server not running");
        let st = Command::new("sh")
            .arg("-c")
            .arg(format!("kill -TERM {}", c.id()))
            .status()
            .expect("run sh -c kill");
        assert!(st.success(), "kill -TERM failed");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return st;
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("server did not exit within 20 s of SIGTERM\n{}", self.log_tail(40));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the process is still running.
    pub fn is_alive(&mut self) -> bool {
        match self.child.as_mut() {
            Some(c) => matches!(c.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Starts the server again on the same data dir and ports (kills it first if it
    /// still runs) and waits until it is ready.
    pub fn restart(&mut self) {
        self.kill9();
        // The old process's sockets may linger for a moment; retry briefly.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match self.spawn_and_wait() {
                Ok(()) => return,
                Err(e) => {
                    self.kill9();
                    if Instant::now() >= deadline {
                        panic!("restart failed: {e}\n--- server log tail ---\n{}", self.log_tail(60));
                    }
                    thread::sleep(Duration::from_millis(200));
                }
            }
        }
    }

    /// The last `n` lines of the server's log.
    pub fn log_tail(&self, n: usize) -> String {
        let text = std::fs::read(&self.log_path).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(n)..].join("\n")
    }

    /// Resident set size in KiB, from /proc/<pid>/status.
    pub fn rss_kb(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("read /proc status");
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/<pid>/status")
    }

    /// A raw RESP2 connection (authenticated if the server has a password).
    pub fn conn(&self) -> Conn {
        let mut c = Conn::connect(self.port);
        if let Some(p) = &self.password {
            assert_eq!(c.cmd(&["AUTH", p]), Reply::ok());
        }
        c
    }

    /// A raw connection switched to RESP3 with `HELLO 3` (authenticated if needed).
    pub fn conn3(&self) -> Conn {
        let mut c = Conn::connect(self.port);
        let r = match &self.password {
            Some(p) => c.cmd(&["HELLO", "3", "AUTH", "default", p]),
            None => c.cmd(&["HELLO", "3"]),
        };
        // The exact shape of the HELLO reply is asserted in compat.rs; here it only has
        // to have switched the protocol.
        assert_eq!(r.field("proto"), Some(Reply::Int(3)), "HELLO 3 -> {r:?}");
        c
    }

    /// A raw connection with no AUTH sent.
    pub fn conn_noauth(&self) -> Conn {
        Conn::connect(self.port)
    }

    /// A `redis` crate client for this server (RESP2).
    pub fn redis_client(&self) -> redis::Client {
        redis::Client::open(self.redis_url(false)).expect("redis client")
    }

    /// A `redis` crate client speaking RESP3.
    pub fn redis_client3(&self) -> redis::Client {
        redis::Client::open(self.redis_url(true)).expect("redis client")
    }

    fn redis_url(&self, resp3: bool) -> String {
        let auth = match &self.password {
            Some(p) => format!("default:{p}@"),
            None => String::new(),
        };
        let proto = if resp3 { "?protocol=resp3" } else { "" };
        format!("redis://{auth}127.0.0.1:{}/{proto}", self.port)
    }

    /// `redis-cli -p <port> --no-raw <args>`: stdout, exactly (RESP2).
    pub fn cli(&self, args: &[&str]) -> String {
        self.cli_opts(&[], args)
    }

    /// `redis-cli -3 -p <port> --no-raw <args>`: stdout, exactly (RESP3).
    pub fn cli3(&self, args: &[&str]) -> String {
        self.cli_opts(&["-3"], args)
    }

    /// redis-cli with extra options (e.g. `-a pass`) placed before the command.
    pub fn cli_opts(&self, opts: &[&str], args: &[&str]) -> String {
        let out = self.cli_output(opts, args);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The whole redis-cli run (stdout, stderr, status).
    pub fn cli_output(&self, opts: &[&str], args: &[&str]) -> Output {
        let mut cmd = Command::new("redis-cli");
        cmd.arg("-h")
            .arg("127.0.0.1")
            .arg("-p")
            .arg(self.port.to_string())
            .arg("--no-raw")
            .args(opts)
            .args(args);
        run_with_timeout(cmd, CLI_TIMEOUT)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if thread::panicking() && self.starts > 0 {
            eprintln!(
                "--- fencepost log tail ({}) ---\n{}\n--- end of log ---",
                self.log_path.display(),
                self.log_tail(80)
            );
        }
        self.kill9();
    }
}

/// Runs a command with piped output, killing it after `timeout`.
pub fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    let mut so = child.stdout.take().expect("stdout pipe");
    let mut se = child.stderr.take().expect("stderr pipe");
    let t_out = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t_err = thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{cmd:?} did not finish within {timeout:?}");
        }
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: t_out.join().unwrap_or_default(),
        stderr: t_err.join().unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------
// Raw RESP client
// ---------------------------------------------------------------------------------

/// One RESP2/RESP3 reply, as sent (nil of any flavour is [`Reply::Nil`]).
#[derive(Clone, PartialEq)]
pub enum Reply {
    /// `+...`
    Simple(String),
    /// `-...` without the dash, e.g. `STALE r token 3 < 5`.
    Error(String),
    /// `:n`
    Int(i64),
    /// `$n ...`
    Bulk(Vec<u8>),
    /// `$-1`, `*-1`, `_`.
    Nil,
    /// `*n` (RESP3 `~` sets and `>` pushes are kept apart below).
    Array(Vec<Reply>),
    /// RESP3 `%n`, in wire order.
    Map(Vec<(Reply, Reply)>),
    /// RESP3 `~n`.
    Set(Vec<Reply>),
    /// RESP3 `#t` / `#f`.
    Bool(bool),
    /// RESP3 `,` (kept as text).
    Double(String),
    /// RESP3 `(`.
    BigNum(String),
    /// RESP3 `=` (format, text).
    Verbatim(String, Vec<u8>),
    /// RESP3 `>`.
    Push(Vec<Reply>),
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Simple(s) => write!(f, "+{s}"),
            Reply::Error(s) => write!(f, "-{s}"),
            Reply::Int(i) => write!(f, ":{i}"),
            Reply::Bulk(b) => write!(f, "{:?}", String::from_utf8_lossy(b)),
            Reply::Nil => write!(f, "nil"),
            Reply::Array(v) => f.debug_list().entries(v).finish(),
            Reply::Map(v) => f.debug_map().entries(v.iter().map(|(k, v)| (k, v))).finish(),
            Reply::Set(v) => write!(f, "set{v:?}"),
            Reply::Bool(b) => write!(f, "#{b}"),
            Reply::Double(d) => write!(f, ",{d}"),
            Reply::BigNum(d) => write!(f, "({d}"),
            Reply::Verbatim(t, b) => write!(f, "={t}:{:?}", String::from_utf8_lossy(b)),
            Reply::Push(v) => write!(f, "push{v:?}"),
        }
    }
}

/// `:n`
pub fn int(n: i64) -> Reply {
    Reply::Int(n)
}
/// A bulk string.
pub fn bulk(s: &str) -> Reply {
    Reply::Bulk(s.as_bytes().to_vec())
}
/// A simple string.
pub fn simple(s: &str) -> Reply {
    Reply::Simple(s.to_string())
}
/// An error reply (text without the dash).
pub fn err(s: &str) -> Reply {
    Reply::Error(s.to_string())
}
/// An array.
pub fn arr(v: Vec<Reply>) -> Reply {
    Reply::Array(v)
}

impl Reply {
    /// `+OK`
    pub fn ok() -> Reply {
        Reply::Simple("OK".into())
    }

    /// The integer, or panic.
    pub fn int(&self) -> i64 {
        match self {
            Reply::Int(i) => *i,
            other => panic!("expected an integer reply, got {other:?}"),
        }
    }

    /// Text of a bulk/simple/verbatim string, or of an integer; panics otherwise.
    pub fn text(&self) -> String {
        match self {
            Reply::Simple(s) => s.clone(),
            Reply::Bulk(b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
            Reply::Int(i) => i.to_string(),
            other => panic!("expected a string reply, got {other:?}"),
        }
    }

    /// The error text, if this is an error.
    pub fn err_text(&self) -> Option<&str> {
        match self {
            Reply::Error(s) => Some(s),
            _ => None,
        }
    }

    /// Whether this is an error starting with `prefix` (e.g. `"ERR "`).
    pub fn is_err_with(&self, prefix: &str) -> bool {
        self.err_text().is_some_and(|s| s.starts_with(prefix))
    }

    /// Elements of an array / set / push; panics otherwise.
    pub fn items(&self) -> &[Reply] {
        match self {
            Reply::Array(v) | Reply::Set(v) | Reply::Push(v) => v,
            other => panic!("expected an array reply, got {other:?}"),
        }
    }

    /// Key/value pairs of a RESP3 map, or of a RESP2 flat array of even length.
    pub fn pairs(&self) -> Vec<(String, Reply)> {
        match self {
            Reply::Map(v) => v.iter().map(|(k, v)| (k.text(), v.clone())).collect(),
            Reply::Array(v) if v.len() % 2 == 0 => v.chunks(2).map(|c| (c[0].text(), c[1].clone())).collect(),
            other => panic!("expected a map or a flat key/value array, got {other:?}"),
        }
    }

    /// The value of `key` in a map or flat key/value array.
    pub fn field(&self, key: &str) -> Option<Reply> {
        match self {
            Reply::Map(_) | Reply::Array(_) => {}
            _ => return None,
        }
        if let Reply::Array(v) = self {
            if v.len() % 2 != 0 {
                return None;
            }
        }
        self.pairs().into_iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
}

/// A blocking raw RESP connection: sends commands as arrays of bulk strings and parses
/// replies exactly.
pub struct Conn {
    stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Conn {
    /// Connects to 127.0.0.1:`port` (panics on failure). Reads time out after 30 s.
    pub fn connect(port: u16) -> Conn {
        Self::try_connect(port).unwrap_or_else(|e| panic!("connect to 127.0.0.1:{port}: {e}"))
    }

    /// Connects to 127.0.0.1:`port`.
    pub fn try_connect(port: u16) -> io::Result<Conn> {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let reader = BufReader::new(stream.try_clone()?);
        Ok(Conn { stream, reader })
    }

    /// Sets the read timeout (None: block forever).
    pub fn set_timeout(&mut self, t: Option<Duration>) {
        self.stream.set_read_timeout(t).expect("set_read_timeout");
    }

    /// Writes bytes as they are.
    pub fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Encodes a command as a RESP array of bulk strings.
    pub fn encode<S: AsRef<[u8]>>(args: &[S]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            let a = a.as_ref();
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a);
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Sends one command without reading its reply.
    pub fn send<S: AsRef<[u8]>>(&mut self, args: &[S]) -> io::Result<()> {
        let buf = Self::encode(args);
        self.stream.write_all(&buf)
    }

    /// Sends one command and reads its reply.
    pub fn try_cmd<S: AsRef<[u8]>>(&mut self, args: &[S]) -> io::Result<Reply> {
        self.send(args)?;
        self.read_reply()
    }

    /// Sends one command and reads its reply; panics on I/O errors.
    pub fn cmd(&mut self, args: &[&str]) -> Reply {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("command {args:?}: I/O error {e}"))
    }

    /// Like [`Conn::cmd`] with binary arguments.
    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Reply {
        self.try_cmd(args)
            .unwrap_or_else(|e| panic!("command (binary): I/O error {e}"))
    }

    /// Reads one complete reply (RESP3 attributes are skipped).
    pub fn read_reply(&mut self) -> io::Result<Reply> {
        loop {
            let r = self.read_value()?;
            if let Some(r) = r {
                return Ok(r);
            }
        }
    }

    fn read_line(&mut self) -> io::Result<Vec<u8>> {
        let mut line = Vec::new();
        let n = self.reader.read_until(b'\n', &mut line)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed"));
        }
        if !line.ends_with(b"\r\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("line without CRLF: {:?}", String::from_utf8_lossy(&line)),
            ));
        }
        line.truncate(line.len() - 2);
        Ok(line)
    }

    fn bad(msg: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    fn read_n(&mut self, n: usize) -> io::Result<Vec<u8>> {
        let mut buf = vec![0u8; n + 2];
        self.reader.read_exact(&mut buf)?;
        if &buf[n..] != b"\r\n" {
            return Err(Self::bad("bulk not followed by CRLF".into()));
        }
        buf.truncate(n);
        Ok(buf)
    }

    fn read_len(rest: &[u8]) -> io::Result<i64> {
        std::str::from_utf8(rest)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .ok_or_else(|| Self::bad(format!("bad length {:?}", String::from_utf8_lossy(rest))))
    }

    fn read_many(&mut self, n: i64) -> io::Result<Vec<Reply>> {
        let mut v = Vec::with_capacity(n.clamp(0, 1024) as usize);
        for _ in 0..n {
            v.push(self.read_reply()?);
        }
        Ok(v)
    }

    /// One value; `None` for an attribute (which precedes the real reply).
    fn read_value(&mut self) -> io::Result<Option<Reply>> {
        let line = self.read_line()?;
        let (&t, rest) = line.split_first().ok_or_else(|| Self::bad("empty line".into()))?;
        let text = || String::from_utf8_lossy(rest).into_owned();
        let r = match t {
            b'+' => Reply::Simple(text()),
            b'-' => Reply::Error(text()),
            b':' => Reply::Int(Self::read_len(rest)?),
            b'$' => {
                let n = Self::read_len(rest)?;
                if n < 0 {
                    Reply::Nil
                } else {
                    Reply::Bulk(self.read_n(n as usize)?)
                }
            }
            b'*' => {
                let n = Self::read_len(rest)?;
                if n < 0 {
                    Reply::Nil
                } else {
                    Reply::Array(self.read_many(n)?)
                }
            }
            b'_' => Reply::Nil,
            b'#' => Reply::Bool(rest == b"t"),
            b',' => Reply::Double(text()),
            b'(' => Reply::BigNum(text()),
            b'!' => {
                let n = Self::read_len(rest)?;
                Reply::Error(String::from_utf8_lossy(&self.read_n(n as usize)?).into_owned())
            }
            b'=' => {
                let n = Self::read_len(rest)?;
                let b = self.read_n(n as usize)?;
                let (fmt, body) = if b.len() >= 4 { b.split_at(4) } else { (&b[..0], &b[..]) };
                Reply::Verbatim(
                    String::from_utf8_lossy(fmt).trim_end_matches(':').to_string(),
                    body.to_vec(),
                )
            }
            b'%' | b'|' => {
                let n = Self::read_len(rest)?;
                let mut pairs = Vec::new();
                for _ in 0..n {
                    let k = self.read_reply()?;
                    let v = self.read_reply()?;
                    pairs.push((k, v));
                }
                if t == b'|' {
                    return Ok(None);
                }
                Reply::Map(pairs)
            }
            b'~' => {
                let n = Self::read_len(rest)?;
                Reply::Set(self.read_many(n)?)
            }
            b'>' => {
                let n = Self::read_len(rest)?;
                Reply::Push(self.read_many(n)?)
            }
            other => {
                return Err(Self::bad(format!(
                    "unknown reply type byte {:?} in line {:?}",
                    other as char,
                    String::from_utf8_lossy(&line)
                )))
            }
        };
        Ok(Some(r))
    }

    /// Waits up to `timeout` for the server to close the connection. `Ok(())` if it did
    /// (EOF or reset); else the bytes received meanwhile.
    pub fn wait_closed(&mut self, timeout: Duration) -> Result<(), Vec<u8>> {
        let (got, closed) = self.read_until_closed(timeout);
        if closed {
            Ok(())
        } else {
            Err(got)
        }
    }

    /// Reads everything the server sends until it closes the connection or `timeout`
    /// passes: (bytes, closed).
    pub fn read_until_closed(&mut self, timeout: Duration) -> (Vec<u8>, bool) {
        let _ = self.stream.set_read_timeout(Some(Duration::from_millis(100)));
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return (got, true),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut
                        || e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return (got, true),
            }
            if Instant::now() >= deadline {
                return (got, false);
            }
        }
    }

    /// A clone of the underlying socket (e.g. to write from another thread).
    pub fn try_clone_stream(&self) -> TcpStream {
        self.stream.try_clone().expect("clone socket")
    }

    /// Shuts the socket down both ways (as a client that vanishes).
    pub fn close(self) {
        let _ = self.stream.shutdown(Shutdown::Both);
    }
}

// ---------------------------------------------------------------------------------
// Helpers on redis-cli output
// ---------------------------------------------------------------------------------

/// The integer in a redis-cli `(integer) N` line (with or without an `N) ` prefix or a
/// `K# "key" => ` map prefix); panics if there is none.
pub fn cli_int(line: &str) -> i64 {
    let i = line
        .find("(integer) ")
        .unwrap_or_else(|| panic!("no `(integer) ` in {line:?}"));
    line[i + 10..]
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("bad integer in {line:?}: {e}"))
}

/// Lines of redis-cli output.
pub fn cli_lines(out: &str) -> Vec<&str> {
    out.lines().collect()
}

/// Serializes heavy tests (crash loops, connection storms) inside one test binary, so
/// that timing assertions of other tests are not starved on small machines.
pub fn heavy_lock() -> std::sync::MutexGuard<'static, ()> {
    static HEAVY: std::sync::Mutex<()> = std::sync::Mutex::new(());
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

/// Sends `args` on a fresh (authenticated) connection in a background thread; the
/// reply arrives on the returned channel with the instant it was read. Used for
/// blocking commands such as `LOCK ACQUIRE ... WAIT`.
pub fn spawn_cmd(s: &TestServer, args: &[&str]) -> std::sync::mpsc::Receiver<(Reply, Instant)> {
    let mut c = s.conn();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let r = c
            .try_cmd(&args)
            .unwrap_or_else(|e| Reply::Error(format!("(harness) I/O error: {e}")));
        let _ = tx.send((r, Instant::now()));
    });
    rx
}
