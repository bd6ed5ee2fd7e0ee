//! What every integration test needs: a real `fencepost` child process (env
//! FENCEPOST_BIN; tests skip without it) and polling until something holds.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fencepost_client::Client;

/// A fencepost child process, killed on drop.
pub struct Server {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr").port()
}

/// The fencepost binary to test, or None (the test then says it is skipped).
pub fn binary() -> Option<String> {
    match std::env::var("FENCEPOST_BIN") {
        Ok(b) if std::path::Path::new(&b).is_file() => Some(b),
        _ => {
            println!("skipped: FENCEPOST_BIN not set");
            None
        }
    }
}

/// Starts `bin` on `port` with its data under `dir` (logs appended to `dir/server.log`).
pub fn spawn(bin: &str, port: u16, raft_port: u16, dir: &std::path::Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("log file");
    Command::new(bin)
        .args([
            "--port",
            &port.to_string(),
            "--raft-port",
            &raft_port.to_string(),
            "--data-dir",
        ])
        .arg(dir.join("data"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn fencepost")
}

/// Polls until the server at `url` serves a linearizable read, or panics at the deadline.
pub async fn wait_ready(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(c) = Client::connect(url).await {
            // LOCK INFO is a ReadIndex read: it succeeds only once there is a leader.
            if c.ping().await.is_ok() && c.lock_info("readiness-probe").await.is_ok() {
                return;
            }
        }
        assert!(Instant::now() < deadline, "fencepost not ready within 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Spawns the server and polls until it serves a linearizable read, or panics at the deadline.
pub async fn start() -> Option<Server> {
    let bin = binary()?;
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let child = spawn(&bin, port, free_port(), dir.path());
    let server = Server {
        child,
        url: format!("redis://127.0.0.1:{port}"),
        _dir: dir,
    };
    wait_ready(&server.url).await;
    Some(server)
}

/// Polls `f` until it returns Some, or panics at the deadline.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
