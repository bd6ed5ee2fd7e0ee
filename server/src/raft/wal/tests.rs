//! WAL tests on real files in temp dirs: round trips, torn tails, corruption, truncation,
//! purging, and a throughput measurement (`--ignored`).

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use super::record::HEADER_LEN;
use super::*;

type Records = Vec<(u64, Vec<u8>)>;

fn opts(segment_bytes: u64) -> WalOptions {
    WalOptions { segment_bytes }
}

/// Payload for `index`; `salt` tells rewrites of the same index apart.
fn payload(index: u64, len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (index as usize).wrapping_mul(31).wrapping_add(i) as u8 ^ salt)
        .collect()
}

fn records(range: RangeInclusive<u64>, len: usize, salt: u8) -> Records {
    range.map(|i| (i, payload(i, len, salt))).collect()
}

fn append(wal: &mut Wal, recs: &[(u64, Vec<u8>)]) {
    let refs: Vec<(u64, &[u8])> = recs.iter().map(|(i, p)| (*i, p.as_slice())).collect();
    wal.append(&refs).expect("append");
}

fn open(dir: &Path, segment_bytes: u64) -> (Wal, Records) {
    Wal::open(dir, opts(segment_bytes)).expect("open")
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect();
    files.sort();
    files
}

fn copy_dir(from: &Path) -> tempfile::TempDir {
    let to = tempfile::tempdir().expect("tempdir");
    for entry in fs::read_dir(from).expect("read_dir") {
        let path = entry.expect("dir entry").path();
        fs::copy(&path, to.path().join(path.file_name().expect("name"))).expect("copy");
    }
    to
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    let mut data = fs::read(path).expect("read");
    let at = offset as usize;
    data[at..at + bytes.len()].copy_from_slice(bytes);
    fs::write(path, data).expect("write");
}

fn append_bytes(path: &Path, bytes: &[u8]) {
    let mut f = OpenOptions::new().append(true).open(path).expect("open segment");
    f.write_all(bytes).expect("append bytes");
}

/// 20 records of 40 bytes (56 on disk) in 256-byte segments: files start at 1, 6, 11, 16.
const SEG: u64 = 256;
const PAYLOAD: usize = 40;
const REC: u64 = HEADER_LEN + PAYLOAD as u64;

fn twenty_records() -> (tempfile::TempDir, Records) {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = records(1..=20, PAYLOAD, 0);
    let (mut wal, got) = open(dir.path(), SEG);
    assert!(got.is_empty());
    append(&mut wal, &recs);
    wal.sync().expect("sync");
    assert_eq!(segment_files(dir.path()).len(), 4);
    drop(wal);
    // Reopening cuts the last segment's zero tail: the tests below damage exact files.
    let (_, got) = open(dir.path(), SEG);
    assert_eq!(got, recs);
    let last = segment_files(dir.path()).pop().expect("segments");
    assert_eq!(
        fs::metadata(&last).expect("metadata").len(),
        5 * REC,
        "no zero tail after a reopen"
    );
    (dir, recs)
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).expect("metadata").len()
}

/// The point of the zero tail: syncs after the first write into a file that does not
/// grow, and a reopen that finds every record and cuts the zeros.
#[test]
fn appends_land_in_the_zero_tail_and_a_reopen_cuts_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = records(1..=40, 100, 0);
    let (mut wal, _) = open(dir.path(), 64 << 20);
    append(&mut wal, &recs[..10]);
    wal.sync().expect("sync");
    let file = segment_files(dir.path()).pop().expect("segment");
    let grown = file_len(&file);
    assert!(grown >= 10 * (HEADER_LEN + 100) + ZERO_TAIL / 2, "a zero tail: {grown}");
    for batch in recs[10..].chunks(3) {
        append(&mut wal, batch);
        wal.sync().expect("sync");
        assert_eq!(file_len(&file), grown, "the file does not grow while the tail lasts");
    }
    drop(wal);
    let (_, got) = open(dir.path(), 64 << 20);
    assert_eq!(got, recs);
    assert_eq!(file_len(&file), 40 * (HEADER_LEN + 100), "the zero tail is cut");
}

/// A crash mid-write leaves part of a record in the zero tail: recovery cuts it like a
/// torn record at the end of the file, and the next append takes its place.
#[test]
fn a_torn_record_inside_the_zero_tail_is_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = records(1..=5, 100, 0);
    let (mut wal, _) = open(dir.path(), 64 << 20);
    append(&mut wal, &recs);
    wal.sync().expect("sync");
    drop(wal);
    let file = segment_files(dir.path()).pop().expect("segment");
    let end = 5 * (HEADER_LEN + 100);
    // Put the tail back (the drop flushed; the reopen would cut it), then tear record 6.
    let mut torn = Vec::new();
    record::write(&mut torn, 6, &payload(6, 100, 0)).expect("encode");
    let f = OpenOptions::new().write(true).open(&file).expect("open");
    f.set_len(end + ZERO_TAIL).expect("tail");
    std::os::unix::fs::FileExt::write_all_at(&f, &torn[..60], end).expect("torn write");
    drop(f);
    let (mut wal, got) = open(dir.path(), 64 << 20);
    assert_eq!(got, recs);
    assert_eq!(file_len(&file), end);
    let replacement = records(6..=6, 7, 9);
    append(&mut wal, &replacement);
    wal.sync().expect("sync");
    drop(wal);
    let (_, got) = open(dir.path(), 64 << 20);
    assert_eq!(got.len(), 6);
    assert_eq!(got[5], replacement[0]);
}

/// A sealed segment holds its records and nothing else.
#[test]
fn a_rolled_segment_is_cut_to_its_records() {
    let dir = tempfile::tempdir().expect("tempdir");
    let recs = records(1..=30, 200, 0);
    let (mut wal, _) = open(dir.path(), 1024);
    for batch in recs.chunks(2) {
        append(&mut wal, batch);
        wal.sync().expect("sync");
    }
    let files = segment_files(dir.path());
    assert!(files.len() > 3, "{files:?}");
    for f in &files[..files.len() - 1] {
        assert_eq!(file_len(f) % (HEADER_LEN + 200), 0, "{}: records only", f.display());
    }
    drop(wal);
    assert_eq!(open(dir.path(), 1024).1, recs);
}

#[test]
fn round_trip_across_segment_rolls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all: Records = (1..=100).map(|i| (i, payload(i, (i % 50) as usize, 0))).collect();
    {
        let (mut wal, got) = open(dir.path(), 512);
        assert!(got.is_empty());
        assert_eq!((wal.first_index(), wal.last_index()), (None, None));
        for batch in all.chunks(7) {
            append(&mut wal, batch);
            wal.sync().expect("sync");
        }
        assert_eq!((wal.first_index(), wal.last_index()), (Some(1), Some(100)));
    }
    let files = segment_files(dir.path());
    assert!(files.len() > 5, "expected several segments, got {}", files.len());
    assert!(files[0].ends_with("00000000000000000001.wal"));

    let (mut wal, got) = open(dir.path(), 512);
    assert_eq!(got, all);
    assert_eq!((wal.first_index(), wal.last_index()), (Some(1), Some(100)));
    let more = records(101..=120, 300, 0);
    append(&mut wal, &more);
    wal.sync().expect("sync");
    drop(wal);
    all.extend(more);
    assert_eq!(open(dir.path(), 512).1, all);
}

#[test]
fn empty_records_and_empty_payloads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = open(dir.path(), SEG);
    wal.append(&[]).expect("empty batch");
    wal.sync().expect("sync of empty log");
    wal.append(&[(7, b""), (8, b"")]).expect("empty payloads");
    wal.sync().expect("sync");
    drop(wal);
    assert_eq!(open(dir.path(), SEG).1, vec![(7, vec![]), (8, vec![])]);
}

#[test]
fn append_validates_the_whole_batch_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut wal, _) = open(dir.path(), SEG);
    wal.append(&[(5, b"a")]).expect("first append may start anywhere");
    let err = wal.append(&[(6, b"b"), (8, b"c")]).expect_err("gap");
    assert!(matches!(err, WalError::NotContiguous { expected: 7, got: 8 }), "{err}");
    let err = wal.append(&[(5, b"again")]).expect_err("repeat");
    assert!(matches!(err, WalError::NotContiguous { expected: 6, got: 5 }), "{err}");
    let big = vec![0u8; MAX_PAYLOAD + 1];
    let err = wal.append(&[(6, &big)]).expect_err("too large");
    assert!(matches!(err, WalError::TooLarge { index: 6, .. }), "{err}");
    // Rejected batches left nothing behind and did not poison the log.
    assert_eq!(wal.last_index(), Some(5));
    wal.append(&[(6, b"b")]).expect("valid append after rejections");
    wal.sync().expect("sync");
    drop(wal);
    assert_eq!(open(dir.path(), SEG).1, vec![(5, b"a".to_vec()), (6, b"b".to_vec())]);
}

#[test]
fn torn_tail_at_every_offset_of_the_last_record() {
    let (template, recs) = twenty_records();
    let last_file = segment_files(template.path()).pop().expect("segments");
    let len = fs::metadata(&last_file).expect("metadata").len();
    let start = len - REC;
    let replacement = (20, payload(20, 10, 0x5a));
    for cut in start..len {
        let dir = copy_dir(template.path());
        let file = dir.path().join(last_file.file_name().expect("name"));
        OpenOptions::new()
            .write(true)
            .open(&file)
            .expect("open")
            .set_len(cut)
            .expect("chop");

        let (mut wal, got) = open(dir.path(), SEG);
        assert_eq!(got, recs[..19], "cut at {cut}");
        assert_eq!(fs::metadata(&file).expect("metadata").len(), start, "cut at {cut}");
        assert_eq!(wal.last_index(), Some(19));
        append(&mut wal, std::slice::from_ref(&replacement));
        wal.sync().expect("sync");
        drop(wal);

        let (_, got) = open(dir.path(), SEG);
        assert_eq!(got[..19], recs[..19]);
        assert_eq!(got[19], replacement, "cut at {cut}");
    }
}

#[test]
fn garbage_after_the_last_record_is_cut() {
    let (template, recs) = twenty_records();
    let last_file = segment_files(template.path()).pop().expect("segments");
    let len = fs::metadata(&last_file).expect("metadata").len();

    let mut valid_but_gapped = Vec::new();
    record::write(&mut valid_but_gapped, 25, b"looks fine").expect("encode");
    let mut bad_crc = Vec::new();
    record::write(&mut bad_crc, 21, b"payload").expect("encode");
    bad_crc[20] ^= 1;
    let garbage: [&[u8]; 6] = [
        &[0xab; 37],
        &[0; 16],
        &[0; 4096],
        &[1, 2, 3],
        &valid_but_gapped,
        &bad_crc,
    ];
    for (n, bytes) in garbage.iter().enumerate() {
        let dir = copy_dir(template.path());
        let file = dir.path().join(last_file.file_name().expect("name"));
        append_bytes(&file, bytes);
        let (mut wal, got) = open(dir.path(), SEG);
        assert_eq!(got, recs, "garbage #{n}");
        assert_eq!(fs::metadata(&file).expect("metadata").len(), len, "garbage #{n}");
        append(&mut wal, &records(21..=21, 5, 0));
        wal.sync().expect("sync");
        drop(wal);
        assert_eq!(open(dir.path(), SEG).1.len(), 21, "garbage #{n}");
    }
}

#[test]
fn flipped_byte_in_last_segment_cuts_from_that_record() {
    for field_offset in [0, 5, 9, HEADER_LEN + 3] {
        let dir = tempfile::tempdir().expect("tempdir");
        let recs = records(1..=10, PAYLOAD, 0);
        let (mut wal, _) = open(dir.path(), 1 << 20);
        append(&mut wal, &recs);
        wal.sync().expect("sync");
        drop(wal);
        let file = segment_files(dir.path()).pop().expect("segment");
        let at = 4 * REC + field_offset; // inside record 5
        let byte = fs::read(&file).expect("read")[at as usize];
        write_at(&file, at, &[byte ^ 0x10]);

        let (mut wal, got) = open(dir.path(), 1 << 20);
        assert_eq!(got, recs[..4], "flip at {at}");
        assert_eq!(fs::metadata(&file).expect("metadata").len(), 4 * REC);
        append(&mut wal, &recs[4..]);
        wal.sync().expect("sync");
        drop(wal);
        assert_eq!(open(dir.path(), 1 << 20).1, recs);
    }
}

#[test]
fn flipped_byte_in_an_earlier_segment_refuses_to_open() {
    let (dir, _) = twenty_records();
    let files = segment_files(dir.path());
    let lens: Vec<u64> = files.iter().map(|f| fs::metadata(f).expect("metadata").len()).collect();
    write_at(&files[0], REC + HEADER_LEN + 1, &[0xff]); // payload of record 2

    match Wal::open(dir.path(), opts(SEG)) {
        Err(WalError::Corrupt {
            segment,
            offset,
            reason,
        }) => {
            assert_eq!(segment, files[0]);
            assert_eq!(offset, REC);
            assert!(reason.contains("CRC"), "{reason}");
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|(_, r)| r.len())),
    }
    // Refusing to start must not have cut anything.
    let after: Vec<u64> = files.iter().map(|f| fs::metadata(f).expect("metadata").len()).collect();
    assert_eq!(after, lens);
}

#[test]
fn huge_length_field_is_torn_at_the_tail_and_corrupt_elsewhere() {
    let (template, recs) = twenty_records();
    let mut header = vec![0xff, 0xff, 0xff, 0xff];
    header.extend_from_slice(&[0; 12]);
    header.extend_from_slice(&[7; 100]);

    let dir = copy_dir(template.path());
    let last_file = segment_files(dir.path()).pop().expect("segments");
    append_bytes(&last_file, &header);
    let (_, got) = open(dir.path(), SEG);
    assert_eq!(got, recs);

    // Just over the cap, with the bytes really present: still refused before allocating.
    let dir = copy_dir(template.path());
    let first_file = segment_files(dir.path()).remove(0);
    write_at(&first_file, 2 * REC, &((MAX_PAYLOAD as u32) + 1).to_le_bytes());
    match Wal::open(dir.path(), opts(SEG)) {
        Err(WalError::Corrupt { offset, reason, .. }) => {
            assert_eq!(offset, 2 * REC);
            assert!(reason.contains("limit"), "{reason}");
        }
        other => panic!("expected Corrupt, got {:?}", other.map(|(_, r)| r.len())),
    }
}

#[test]
fn missing_middle_segment_refuses_to_open() {
    let (dir, _) = twenty_records();
    fs::remove_file(&segment_files(dir.path())[1]).expect("remove");
    let err = Wal::open(dir.path(), opts(SEG)).map(|_| ()).expect_err("gap");
    assert!(matches!(err, WalError::Corrupt { offset: 0, .. }), "{err}");
}

#[test]
fn empty_last_segment_is_removed_and_unknown_files_are_ignored() {
    let (dir, recs) = twenty_records();
    fs::write(dir.path().join("00000000000000000021.wal"), b"").expect("empty segment");
    fs::write(dir.path().join("notes.txt"), b"not a segment").expect("other file");
    fs::write(dir.path().join("123.wal"), b"short name").expect("other file");
    let (mut wal, got) = open(dir.path(), SEG);
    assert_eq!(got, recs);
    assert_eq!(segment_files(dir.path()).len(), 5); // 4 segments + "123.wal"
    append(&mut wal, &records(21..=21, 3, 0));
    wal.sync().expect("sync");
    drop(wal);
    assert_eq!(open(dir.path(), SEG).1.len(), 21);
    assert!(dir.path().join("notes.txt").exists());
}

#[test]
fn truncate_inside_and_across_segments() {
    let (dir, recs) = twenty_records();
    let (mut wal, _) = open(dir.path(), SEG);
    let mut model = recs.clone();

    // Inside the active segment.
    wal.truncate_from(18).expect("truncate");
    model.truncate(17);
    assert_eq!(wal.last_index(), Some(17));
    let more = records(18..=22, PAYLOAD, 1);
    append(&mut wal, &more);
    model.extend(more);

    // Across segments, inside an older one (6..=10): later segments go.
    wal.truncate_from(8).expect("truncate");
    model.truncate(7);
    assert_eq!(segment_files(dir.path()).len(), 2);
    assert_eq!((wal.first_index(), wal.last_index()), (Some(1), Some(7)));
    let more = records(8..=12, PAYLOAD, 2);
    append(&mut wal, &more);
    model.extend(more);
    wal.sync().expect("sync");
    drop(wal);
    let (mut wal, got) = open(dir.path(), SEG);
    assert_eq!(got, model);

    // Exactly at a segment's first index: that segment goes entirely.
    wal.truncate_from(6).expect("truncate");
    model.truncate(5);
    assert_eq!(segment_files(dir.path()).len(), 1);
    // Unsynced records are truncated too.
    let more = records(6..=9, PAYLOAD, 3);
    append(&mut wal, &more);
    wal.truncate_from(8).expect("truncate buffered");
    model.extend_from_slice(&more[..2]);
    drop(wal);
    let (mut wal, got) = open(dir.path(), SEG);
    assert_eq!(got, model);

    // Beyond the end: a no-op. At or before the start: everything goes.
    wal.truncate_from(100).expect("truncate past end");
    assert_eq!(wal.last_index(), Some(7));
    wal.truncate_from(1).expect("truncate all");
    assert_eq!((wal.first_index(), wal.last_index()), (None, None));
    assert!(segment_files(dir.path()).is_empty());
    append(&mut wal, &records(40..=41, 3, 0));
    wal.sync().expect("sync");
    drop(wal);
    assert_eq!(open(dir.path(), SEG).1, records(40..=41, 3, 0));
}

#[test]
fn purge_removes_whole_old_segments_only() {
    let (dir, recs) = twenty_records();
    let (mut wal, _) = open(dir.path(), SEG);
    let names = |dir: &Path| -> Vec<String> {
        segment_files(dir)
            .iter()
            .map(|p| {
                p.file_stem()
                    .expect("stem")
                    .to_string_lossy()
                    .trim_start_matches('0')
                    .to_owned()
            })
            .collect()
    };
    wal.purge_upto(0).expect("purge nothing");
    assert_eq!(names(dir.path()), ["1", "6", "11", "16"]);
    wal.purge_upto(7).expect("purge"); // 6..=10 still holds 8..=10
    assert_eq!(names(dir.path()), ["6", "11", "16"]);
    assert_eq!(wal.first_index(), Some(6));
    wal.purge_upto(10).expect("purge");
    assert_eq!(names(dir.path()), ["11", "16"]);
    wal.purge_upto(19).expect("purge"); // never the active segment
    assert_eq!(names(dir.path()), ["16"]);
    assert_eq!((wal.first_index(), wal.last_index()), (Some(16), Some(20)));
    drop(wal);

    let (mut wal, got) = open(dir.path(), SEG);
    assert_eq!(got, recs[15..]);
    // At the end of the log: everything goes and the log may restart higher.
    wal.purge_upto(20).expect("purge all");
    assert_eq!((wal.first_index(), wal.last_index()), (None, None));
    assert!(segment_files(dir.path()).is_empty());
    let err = wal.append(&[(20, b"x")]).expect_err("at the purge point");
    assert!(matches!(err, WalError::BeforePurged { index: 20, purged: 20 }), "{err}");
    let restart = records(50..=60, PAYLOAD, 4);
    append(&mut wal, &restart);
    wal.sync().expect("sync");
    // Past the end, with unsynced records in the buffer.
    append(&mut wal, &records(61..=62, PAYLOAD, 4));
    wal.purge_upto(1000).expect("purge past end");
    append(&mut wal, &records(1001..=1003, PAYLOAD, 5));
    wal.sync().expect("sync");
    drop(wal);
    assert_eq!(open(dir.path(), SEG).1, records(1001..=1003, PAYLOAD, 5));
}

/// Throughput on this machine's disk: `cargo test -- --ignored --nocapture measure`.
/// Set WAL_BENCH_DIR to measure a particular file system.
#[test]
#[ignore]
fn measure_throughput() {
    use std::time::{Duration, Instant};
    let base = std::env::var_os("WAL_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let data = [0x42u8; 100];
    for (per_sync, total) in [(1usize, 3_000u64), (64, 64 * 1_500)] {
        let dir = tempfile::tempdir_in(&base).expect("tempdir");
        let (mut wal, _) = open(dir.path(), WalOptions::default().segment_bytes);
        let mut sync_times: Vec<Duration> = Vec::new();
        let started = Instant::now();
        let mut index = 1;
        while index <= total {
            let batch: Vec<(u64, &[u8])> = (index..index + per_sync as u64).map(|i| (i, &data[..])).collect();
            wal.append(&batch).expect("append");
            let t = Instant::now();
            wal.sync().expect("sync");
            sync_times.push(t.elapsed());
            index += per_sync as u64;
        }
        let secs = started.elapsed().as_secs_f64();
        sync_times.sort();
        let pct = |p: usize| sync_times[(sync_times.len() * p / 100).min(sync_times.len() - 1)];
        println!(
            "{per_sync:>3} records/sync: {:>9.0} records/s {:>7.0} syncs/s  sync p50 {:?} p99 {:?} max {:?}  ({} in {secs:.2}s, {})",
            (index - 1) as f64 / secs,
            sync_times.len() as f64 / secs,
            pct(50),
            pct(99),
            pct(100),
            index - 1,
            base.display(),
        );
    }
}
