//! Segment files: naming, listing, scanning on recovery, and the small fs helpers whose
//! ordering the WAL's crash safety depends on.

use std::ffi::OsStr;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::record::{self, Parsed, HEADER_LEN, MAX_PAYLOAD};
use super::WalError;

const SUFFIX: &str = ".wal";
const DIGITS: usize = 20;

/// `<first index, 20 zero-padded digits>.wal`: sorts lexically in index order.
pub(super) fn path(dir: &Path, first: u64) -> PathBuf {
    dir.join(format!("{first:0DIGITS$}{SUFFIX}"))
}

/// The first index a segment file name stands for, or None if it is not a segment name.
fn parse_name(name: &OsStr) -> Option<u64> {
    let digits = name.to_str()?.strip_suffix(SUFFIX)?;
    if digits.len() != DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Every segment in `dir` as (first index, path), oldest first. Other files are left alone.
pub(super) fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut segments = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        match parse_name(&name) {
            Some(first) => segments.push((first, entry.path())),
            None => tracing::debug!(file = ?name, "ignoring non-segment file in WAL dir"),
        }
    }
    segments.sort_unstable_by_key(|s| s.0);
    Ok(segments)
}

/// What recovery found in one segment.
pub(super) struct Scanned {
    /// The intact, contiguous records from the start of the file.
    pub(super) records: Vec<(u64, Vec<u8>)>,
    /// Byte length of those records: where a torn tail gets cut.
    pub(super) good_len: u64,
    pub(super) file_len: u64,
    /// Why reading stopped before the end of the file, if it did.
    pub(super) bad: Option<String>,
    /// What follows the records is all zeros: the tail an active segment runs ahead
    /// with, not a torn write.
    pub(super) zero_tail: bool,
}

/// Reads every intact record of a segment whose name says it starts at `first`.
pub(super) fn scan(path: &Path, first: u64) -> io::Result<Scanned> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut out = Scanned {
        records: Vec::new(),
        good_len: 0,
        file_len,
        bad: None,
        zero_tail: false,
    };
    let mut expected = Some(first);
    while out.good_len < file_len {
        let Some(want) = expected else {
            out.bad = Some("record after index u64::MAX".to_owned());
            break;
        };
        match record::read(&mut reader, file_len - out.good_len, want)? {
            Parsed::Record { index, payload } => {
                out.good_len += HEADER_LEN + payload.len() as u64;
                expected = index.checked_add(1);
                out.records.push((index, payload));
            }
            Parsed::Bad(reason) => {
                out.bad = Some(reason);
                break;
            }
        }
    }
    if out.bad.is_some() {
        out.zero_tail = only_zeros_from(path, out.good_len)?;
    }
    Ok(out)
}

/// Whether every byte of the file from `offset` on is zero.
fn only_zeros_from(path: &Path, offset: u64) -> io::Result<bool> {
    let mut file = File::open(path)?;
    file.seek(SeekFrom::Start(offset))?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(true);
        }
        if buf[..n].iter().any(|&b| b != 0) {
            return Ok(false);
        }
    }
}

/// Byte offset of record `target` in a segment starting at `first`, walking headers only.
/// The segment was verified on recovery or written by us, so a mismatch here is corruption.
pub(super) fn offset_of(path: &Path, first: u64, target: u64) -> Result<u64, WalError> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let corrupt = |offset: u64, reason: String| WalError::Corrupt {
        segment: path.to_owned(),
        offset,
        reason,
    };
    let (mut pos, mut index) = (0u64, first);
    while index < target {
        let h = record::read_header(&mut reader, file_len - pos)?.map_err(|r| corrupt(pos, r))?;
        if h.index != index {
            return Err(corrupt(pos, format!("index {} where {index} was expected", h.index)));
        }
        debug_assert!(h.len as usize <= MAX_PAYLOAD);
        reader.seek_relative(i64::from(h.len))?;
        pos += HEADER_LEN + u64::from(h.len);
        index += 1;
    }
    Ok(pos)
}

/// Opens a segment for writing. Not O_APPEND: records go where the WAL positions them,
/// ahead of the zero tail (and after a cut, at the cut: the WAL seeks there).
pub(super) fn open_write(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).open(path)
}

/// Creates a new, empty segment; it exists already only if our bookkeeping is wrong.
pub(super) fn create(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).open(path)
}

/// Shrinks a segment to `len` and makes that durable: set_len alone may be lost on a crash.
pub(super) fn cut(file: &File, len: u64) -> io::Result<()> {
    file.set_len(len)?;
    file.sync_all()
}

/// Makes creations, removals and truncations of entries in `dir` durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Removes a segment and syncs the directory before the next removal: unsynced unlinks may
/// reach the disk in any order, and a missing middle segment would read as corruption.
pub(super) fn remove(dir: &Path, first: u64) -> io::Result<()> {
    fs::remove_file(path(dir, first))?;
    sync_dir(dir)
}
