//! Backup and restore on real processes (SPEC "Operations"): a 3-node cluster holding
//! locks (one with a waiter's queue cleared), fences, buckets, IDEMP results, data keys,
//! scripts and ACL users is backed up through a follower while a writer keeps writing;
//! every node is wiped and restored from that file into a fresh cluster on the same
//! addresses; every value comes back, leases keep the time they had left, the next token
//! is above every token in the backup, and a file with one flipped byte is refused.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fencepost_tests::cluster::CLUSTER_TIMEOUT;
use fencepost_tests::*;

fn fencepost(args: &[&str]) -> std::process::Output {
    Command::new(bin_path()).args(args).output().expect("run fencepost")
}

#[test]
fn backup_through_a_follower_under_load_restores_every_value_into_a_fresh_cluster() {
    let _g = heavy_lock();
    let mut c = TestCluster::start(3);
    let leader = c.leader(TestCluster::SETUP);
    let follower = c.followers_of(leader)[0];
    let mut w = c.conn(follower);
    let lock_token = w.cmd(&["LOCK", "ACQUIRE", "orders", "w1", "600000"]).int();
    assert_eq!(
        w.cmd(&["FENCE", "SET", "db", &lock_token.to_string(), "row-1", "LOCK", "orders"]),
        Reply::ok()
    );
    let bucket = w.cmd(&["TOKENBUCKET", "api:alice", "10", "1", "3600000", "COST", "4"]);
    assert_eq!(bucket.items()[2], int(6));
    let started = w.cmd(&["IDEMP", "BEGIN", "pay:1", "fp", "600000"]);
    let claim = started.items()[1].int();
    assert_eq!(
        w.cmd(&["IDEMP", "COMPLETE", "pay:1", &claim.to_string(), "{\"paid\":true}"]),
        Reply::ok()
    );
    assert_eq!(w.cmd(&["SET", "plain", "value"]), Reply::ok());
    assert_eq!(w.cmd(&["HSET", "h", "f", "1"]), int(1));
    let sha = w.cmd(&["SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"]).text();
    assert_eq!(
        w.cmd(&["ACL", "SETUSER", "ops", "on", ">ops-pw", "allkeys", "+@all"]),
        Reply::ok()
    );

    // A writer keeps going during the backup: the backup is one consistent point.
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, port) = (stop.clone(), c.port(leader));
        std::thread::spawn(move || {
            let mut n = 0u64;
            let mut conn = Conn::connect(port);
            while !stop.load(Ordering::Relaxed) {
                let _ = conn.try_cmd(&["INCR", "counter"]);
                n += 1;
            }
            n
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("cluster.fpb");
    let file_s = file.display().to_string();
    let out = fencepost(&["backup", "--addr", &c.addr(follower), "--out", &file_s]);
    assert!(
        out.status.success(),
        "backup failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(said.starts_with("backup: index "), "{said}");
    stop.store(true, Ordering::Relaxed);
    let writes = writer.join().expect("writer");
    assert!(writes > 0);

    // A flipped byte is refused, with a clear error, and writes nothing.
    let bad = dir.path().join("flipped.fpb");
    let mut bytes = std::fs::read(&file).expect("read backup");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&bad, &bytes).expect("write flipped");
    let target = dir.path().join("never");
    let out = fencepost(&[
        "restore",
        "--from",
        &bad.display().to_string(),
        "--data-dir",
        &target.display().to_string(),
        "--node-id",
        "1",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt") && err.contains("SHA-256"), "{err}");
    assert!(!target.exists(), "a refused restore wrote a data dir");

    // Wipe every node and restore each from the file, as members of the same addresses.
    let ic: Vec<String> = [1, 2, 3]
        .iter()
        .map(|&id| format!("{id}={}/{}", c.addr(id), c.raft_addr(id)))
        .collect();
    let ic = ic.join(",");
    for id in [1, 2, 3] {
        c.wipe(id);
    }
    let restore_started = Instant::now();
    for id in [1u64, 2, 3] {
        let data = c.node(id).data_dir.display().to_string();
        let out = fencepost(&[
            "restore",
            "--from",
            &file_s,
            "--data-dir",
            &data,
            "--node-id",
            &id.to_string(),
            "--initial-cluster",
            &ic,
        ]);
        assert!(
            out.status.success(),
            "restore {id}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for id in [1, 2, 3] {
        c.restart(id);
    }
    let new_leader = c.leader(CLUSTER_TIMEOUT);
    eprintln!("restored and led again in {:?}", restore_started.elapsed());
    let mut r = c.conn(c.followers_of(new_leader)[0]);
    let info = r.cmd(&["LOCK", "INFO", "orders"]);
    assert_eq!(info.field("owner"), Some(bulk("w1")));
    assert_eq!(info.field("token"), Some(int(lock_token)));
    let left = info.field("ttl-ms").expect("ttl").int();
    assert!(
        left > 590_000 && left <= 600_000,
        "the lease kept the time it had left: {left}"
    );
    assert_eq!(
        r.cmd(&["FENCE", "GET", "db"]),
        arr(vec![int(lock_token), bulk("row-1")])
    );
    let b = r.cmd(&["TOKENBUCKET", "api:alice", "10", "1", "3600000", "COST", "0"]);
    assert_eq!(b.items()[2], int(6), "the bucket's level came back");
    assert_eq!(
        r.cmd(&["IDEMP", "BEGIN", "pay:1", "fp", "600000"]),
        arr(vec![bulk("done"), bulk("{\"paid\":true}")])
    );
    assert_eq!(r.cmd(&["GET", "plain"]), bulk("value"));
    assert_eq!(r.cmd(&["HGET", "h", "f"]), bulk("1"));
    assert!(
        r.cmd(&["GET", "counter"]).text().parse::<u64>().is_ok(),
        "the writer's counter"
    );
    assert_eq!(
        r.cmd(&["EVALSHA", &sha, "1", "plain"]),
        bulk("value"),
        "the script cache"
    );
    assert_eq!(
        Conn::connect(c.port(new_leader)).cmd(&["AUTH", "ops", "ops-pw"]),
        Reply::ok()
    );
    // Tokens issued now are above every token in the backup (and the probe after it).
    let next = wait_until(CLUSTER_TIMEOUT, "a grant on the restored cluster", || {
        let t = r.try_cmd(&["LOCK", "ACQUIRE", "after", "a", "1000"]).ok()?;
        (!t.is_err_with("CLUSTERDOWN")).then_some(t)
    })
    .int();
    let said_token: i64 = said
        .split("last token ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.trim().parse().ok())
        .expect("the backup names its last token");
    assert!(
        next > said_token,
        "token {next} after restore, backup's highest {said_token}"
    );
}
