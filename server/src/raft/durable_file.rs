//! Small files that must be either wholly old or wholly new after a crash (the vote,
//! snapshots): written to a temporary name, fsynced, renamed over, directory fsynced.
//! Contents carry a CRC so a file damaged on disk is noticed rather than trusted.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

const MAGIC: &[u8; 4] = b"FPD1";

/// Atomically replaces `path` with `payload` (framed with a magic and a CRC).
pub fn write_atomic(path: &Path, payload: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    write_temp(&tmp, payload)?;
    publish(&tmp, path)
}

/// Writes `payload` (framed) to `tmp` and fsyncs it; [`publish`] makes it the file.
pub fn write_temp(tmp: &Path, payload: &[u8]) -> io::Result<()> {
    write_temp_paced(tmp, payload, usize::MAX, |_, _, _| Ok(()))
}

/// [`write_temp`] in pieces of `piece` bytes, calling `after(file, offset, len)` once
/// each piece is written (to push it to the disk before the next, say).
pub fn write_temp_paced(
    tmp: &Path,
    payload: &[u8],
    piece: usize,
    mut after: impl FnMut(&File, u64, usize) -> io::Result<()>,
) -> io::Result<()> {
    let mut f = File::create(tmp)?;
    f.write_all(MAGIC)?;
    f.write_all(&crc32fast::hash(payload).to_le_bytes())?;
    let mut offset = (MAGIC.len() + 4) as u64;
    for chunk in payload.chunks(piece.max(1)) {
        f.write_all(chunk)?;
        after(&f, offset, chunk.len())?;
        offset += chunk.len() as u64;
    }
    f.sync_all()
}

/// Renames a file written by [`write_temp`] over `path`, durably.
pub fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| io::Error::other("path has no parent"))?;
    fs::rename(tmp, path)?;
    sync_dir(dir)
}

/// Reads a file written by [`write_atomic`]. `Ok(None)` if it does not exist;
/// an error if it exists but is damaged (the caller must not guess its contents).
pub fn read_checked(path: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let damaged = || io::Error::new(io::ErrorKind::InvalidData, format!("{} is damaged", path.display()));
    if bytes.len() < 8 || &bytes[..4] != MAGIC {
        return Err(damaged());
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[4..8]);
    if crc32fast::hash(&bytes[8..]) != u32::from_le_bytes(crc) {
        return Err(damaged());
    }
    // In place: a snapshot's payload can be tens of MiB, not worth a second copy.
    bytes.drain(..8);
    Ok(Some(bytes))
}

/// Makes a directory's entries (new, renamed, removed files) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage_detection() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("f");
        assert!(read_checked(&p).expect("read").is_none());
        write_atomic(&p, b"hello").expect("write");
        assert_eq!(read_checked(&p).expect("read").as_deref(), Some(&b"hello"[..]));
        let mut raw = fs::read(&p).expect("raw");
        let last = raw.len() - 1;
        raw[last] ^= 1;
        fs::write(&p, raw).expect("damage");
        assert!(read_checked(&p).is_err());
    }

    /// Written in pieces, the file is byte for byte the one written at once, and each
    /// piece is handed over where it lies in the file.
    #[test]
    fn paced_writes_make_the_same_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let payload: Vec<u8> = (0..10_000u32).map(|i| (i * 7) as u8).collect();
        let (whole, paced) = (dir.path().join("whole"), dir.path().join("paced"));
        write_temp(&whole, &payload).expect("write");
        let mut pieces = Vec::new();
        write_temp_paced(&paced, &payload, 4096, |f, offset, len| {
            assert_eq!(
                f.metadata()?.len(),
                offset + len as u64,
                "the piece is written before the call"
            );
            pieces.push((offset, len));
            Ok(())
        })
        .expect("paced write");
        assert_eq!(fs::read(&paced).expect("read"), fs::read(&whole).expect("read"));
        assert_eq!(pieces, vec![(8, 4096), (8 + 4096, 4096), (8 + 8192, 10_000 - 8192)]);
        publish(&paced, &dir.path().join("f")).expect("publish");
        assert_eq!(read_checked(&dir.path().join("f")).expect("read"), Some(payload));
    }
}
