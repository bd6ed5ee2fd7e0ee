//! Limits and security defaults (SPEC.md "Limits and security", "Conventions"): value
//! size cap, loopback-only default bind, connection cap.

use std::process::Command;
use std::time::{Duration, Instant};

use fencepost_tests::*;

#[test]
fn max_value_bytes_flag_caps_stored_values() {
    let s = TestServer::builder().arg("--max-value-bytes").arg("1000").start();
    let mut c = s.conn();
    let k = uniq("mv");
    let ok = "x".repeat(1000);
    assert_eq!(c.cmd(&["FENCE", "SET", &k, "1", &ok]), Reply::ok());
    let r = c.cmd(&["FENCE", "SET", &k, "2", &"y".repeat(1001)]);
    assert!(
        r.is_err_with("ERR "),
        "1001-byte value with --max-value-bytes 1000 -> {r:?}"
    );
    assert_eq!(c.cmd(&["FENCE", "GET", &k]), arr(vec![int(1), bulk(&ok)]));
    // The same cap holds for IDEMP responses.
    let i = uniq("mvi");
    let r = c.cmd(&["IDEMP", "BEGIN", &i, "fp", "60000"]);
    let t = r.items()[1].int().to_string();
    let r = c.cmd(&["IDEMP", "COMPLETE", &i, &t, &"z".repeat(1001)]);
    assert!(r.is_err_with("ERR "), "1001-byte IDEMP response -> {r:?}");
    assert_eq!(c.cmd(&["IDEMP", "COMPLETE", &i, &t, &"z".repeat(1000)]), Reply::ok());
}

#[test]
fn refuses_a_non_loopback_bind_without_a_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (port, raft) = free_ports();
    let mut child = Command::new(bin_path())
        .args([
            "--bind",
            "0.0.0.0",
            "--port",
            &port.to_string(),
            "--raft-port",
            &raft.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn fencepost");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(st) = child.try_wait().expect("try_wait") {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fencepost --bind 0.0.0.0 without --requirepass or --insecure kept running");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "exit status {status}");
    // Allowed with --insecure, and with a password.
    let s = TestServer::builder()
        .arg("--bind")
        .arg("0.0.0.0")
        .arg("--insecure")
        .start();
    assert_eq!(s.cli(&["PING"]), "PONG\n");
    drop(s);
    let s = TestServer::builder()
        .password("pw")
        .arg("--bind")
        .arg("0.0.0.0")
        .start();
    assert_eq!(s.conn().cmd(&["PING"]), simple("PONG"));
}

#[test]
fn listens_on_loopback_by_default() {
    let s = TestServer::start();
    // The RAFT INFO address and CLUSTER SLOTS show the loopback address...
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["RAFT", "INFO"]).field("leader-addr").map(|a| a.text()),
        Some(s.addr())
    );
    // ...and the process listens on 127.0.0.1 only (per /proc/net/tcp).
    let tcp = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let hex_port = format!(":{:04X}", s.port);
    let listeners: Vec<&str> = tcp
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&hex_port) && f[3] == "0A"
        })
        .collect();
    assert!(
        !listeners.is_empty(),
        "no listener for port {} in /proc/net/tcp",
        s.port
    );
    for l in listeners {
        let local = l.split_whitespace().nth(1).unwrap_or_default();
        assert!(local.starts_with("0100007F:"), "listening on {local}, want 127.0.0.1");
    }
    let tcp6 = std::fs::read_to_string("/proc/net/tcp6").unwrap_or_default();
    assert!(
        !tcp6.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 3 && f[1].ends_with(&hex_port) && f[3] == "0A"
        }),
        "also listening on IPv6"
    );
}

#[test]
fn connections_over_the_cap_get_an_error() {
    let s = TestServer::builder().arg("--max-clients").arg("5").start();
    let mut held: Vec<Conn> = Vec::new();
    for i in 0..5 {
        let mut c = s.conn();
        assert_eq!(c.cmd(&["PING"]), simple("PONG"), "connection {i} of 5");
        held.push(c);
    }
    let mut extra = s.conn();
    let _ = extra.send(&["PING"]);
    let (got, closed) = extra.read_until_closed(Duration::from_secs(5));
    let text = String::from_utf8_lossy(&got);
    assert!(
        text.starts_with("-ERR "),
        "6th connection with --max-clients 5 got {text:?}"
    );
    assert!(closed, "6th connection not closed");
    // Once one goes away, a new client is accepted again.
    held.pop().map(Conn::close);
    wait_until(Duration::from_secs(5), "a slot to free up", || {
        let mut c = s.conn();
        matches!(c.try_cmd(&["PING"]), Ok(Reply::Simple(ref p)) if p == "PONG").then_some(())
    });
    for c in held.iter_mut() {
        assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    }
}
