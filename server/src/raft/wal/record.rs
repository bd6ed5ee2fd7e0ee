//! One record on disk: `u32 len | u32 crc | u64 index | payload`, little-endian, where the
//! CRC (crc32fast) covers the index bytes and the payload.
//!
//! Reading treats every byte as untrusted: lengths are checked against both the cap and the
//! bytes the file really holds before anything is allocated.

use std::io::{self, Read, Write};

/// Bytes before the payload: length, CRC, index.
pub(super) const HEADER_LEN: u64 = 16;

/// Largest payload accepted on write and on read; a bigger length on disk is corruption.
pub const MAX_PAYLOAD: usize = 64 << 20;

/// The CRC stored in a record's header.
pub(super) fn checksum(index: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&index.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Writes one record; the caller has already checked `payload.len() <= MAX_PAYLOAD`.
/// Returns the bytes written.
pub(super) fn write<W: Write>(out: &mut W, index: u64, payload: &[u8]) -> io::Result<u64> {
    let len = u32::try_from(payload.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "payload over u32::MAX"))?;
    let mut header = [0u8; HEADER_LEN as usize];
    header[0..4].copy_from_slice(&len.to_le_bytes());
    header[4..8].copy_from_slice(&checksum(index, payload).to_le_bytes());
    header[8..16].copy_from_slice(&index.to_le_bytes());
    out.write_all(&header)?;
    out.write_all(payload)?;
    Ok(HEADER_LEN + u64::from(len))
}

/// A decoded header; nothing in it is trusted yet.
pub(super) struct Header {
    pub(super) len: u32,
    pub(super) crc: u32,
    pub(super) index: u64,
}

/// Outcome of reading one record from a position that is not the end of the file.
pub(super) enum Parsed {
    Record {
        index: u64,
        payload: Vec<u8>,
    },
    /// The bytes here are not an intact, expected record (torn or corrupt); why.
    Bad(String),
}

/// Reads a header, given that `remaining` bytes are left in the file from here.
/// `Ok(Err(reason))` when the header itself is unusable (short, or length out of bounds).
pub(super) fn read_header<R: Read>(r: &mut R, remaining: u64) -> io::Result<Result<Header, String>> {
    if remaining < HEADER_LEN {
        return Ok(Err(format!("short header: {remaining} bytes left")));
    }
    let mut b = [0u8; HEADER_LEN as usize];
    if let Err(e) = r.read_exact(&mut b) {
        // The file shrank under us: the same thing as a short file.
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(Err("file ended inside a header".to_owned()))
        } else {
            Err(e)
        };
    }
    let h = Header {
        len: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        crc: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        index: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
    };
    let len = u64::from(h.len);
    if len > MAX_PAYLOAD as u64 {
        return Ok(Err(format!("payload length {len} over the {MAX_PAYLOAD}-byte limit")));
    }
    let left = remaining - HEADER_LEN;
    if len > left {
        return Ok(Err(format!("short payload: length {len}, {left} bytes left")));
    }
    Ok(Ok(h))
}

/// Reads and verifies the record at the reader's position, which must be `expected` (the
/// log is contiguous). `remaining` is how many bytes the file holds from here.
pub(super) fn read<R: Read>(r: &mut R, remaining: u64, expected: u64) -> io::Result<Parsed> {
    let h = match read_header(r, remaining)? {
        Ok(h) => h,
        Err(reason) => return Ok(Parsed::Bad(reason)),
    };
    // Safe to allocate: the length is capped and the file holds that many bytes.
    let mut payload = vec![0u8; h.len as usize];
    if let Err(e) = r.read_exact(&mut payload) {
        return if e.kind() == io::ErrorKind::UnexpectedEof {
            Ok(Parsed::Bad("file ended inside a payload".to_owned()))
        } else {
            Err(e)
        };
    }
    // CRC before index: a torn header should read as torn, not as an index gap.
    if checksum(h.index, &payload) != h.crc {
        return Ok(Parsed::Bad(format!("CRC mismatch (record claims index {})", h.index)));
    }
    if h.index != expected {
        return Ok(Parsed::Bad(format!("index {} where {expected} was expected", h.index)));
    }
    Ok(Parsed::Record {
        index: h.index,
        payload,
    })
}
