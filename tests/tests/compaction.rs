//! Snapshots compact the log: under sustained writes the log's disk use stays bounded
//! (old WAL segments are deleted) and a restart from snapshot + log tail loses nothing.

use std::fs;
use std::path::Path;
use std::time::Duration;

use fencepost_tests::*;

/// Total bytes of the files directly in `dir`.
fn dir_bytes(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

fn segments(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter(|e| e.path().extension().is_some_and(|x| x == "wal"))
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn sustained_writes_keep_the_log_bounded_and_survive_restart() {
    let _heavy = heavy_lock();
    let mut s = TestServer::builder()
        .arg("--snapshot-every")
        .arg("500")
        .arg("--wal-segment-bytes")
        .arg("32768")
        .start();
    let wal = s.data_dir.join("log").join("wal");
    let mut c = s.conn();
    let mut peak_segments = 0;
    let total = 20_000;
    // Pipelined in small chunks: quick, yet enough round trips to make thousands of log
    // entries (the server batches a pipeline into few entries).
    const CHUNK: usize = 8;
    for chunk in 0..(total / CHUNK) {
        let mut batch = Vec::new();
        for i in 0..CHUNK {
            let n = chunk * CHUNK + i;
            batch.extend(Conn::encode(&[
                "FENCE",
                "SET",
                &format!("cmp{}", n % 1000),
                &n.to_string(),
                &format!("v{n}"),
            ]));
        }
        c.send_raw(&batch).expect("send");
        for _ in 0..CHUNK {
            let r = c.read_reply().expect("reply");
            assert_eq!(r, Reply::ok(), "FENCE SET failed: {r:?}");
        }
        peak_segments = peak_segments.max(segments(&wal));
    }
    // Let the last snapshot and purge land.
    let purged = wait_until(Duration::from_secs(15), "log purged after snapshots", || {
        let info = c.cmd(&["RAFT", "INFO"]);
        let purged = info.field("purged-index")?.int();
        (purged > 0).then_some(purged)
    });
    let wal_bytes = dir_bytes(&wal);
    println!(
        "compaction: writes={total} purged-index={purged} peak_segments={peak_segments} wal_bytes_now={wal_bytes}"
    );
    // 20k writes of ~40 bytes each would be > 1 MB of log without compaction; with
    // compaction only the segments after the last snapshot (minus kept entries) remain.
    assert!(
        wal_bytes < 600_000,
        "WAL holds {wal_bytes} bytes: old segments were not deleted"
    );
    assert!(purged > 0);

    // Every key's last write survives a kill -9 and a restart from snapshot + log.
    s.kill9();
    s.restart();
    let mut c = s.conn();
    for k in 0..1000 {
        let last = ((total - 1000)..total)
            .find(|n| n % 1000 == k)
            .expect("a last write per key");
        let got = c.cmd(&["FENCE", "GET", &format!("cmp{k}")]);
        assert_eq!(
            got,
            arr(vec![int(last as i64), bulk(&format!("v{last}"))]),
            "key cmp{k}"
        );
    }
}
