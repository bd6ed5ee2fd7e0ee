//! Backup and restore (SPEC "Operations"), as etcdctl's snapshot save and restore:
//! `RAFT BACKUP` answers the state machine taken at a linearizable point, in the file
//! format below; `fencepost backup` fetches and writes it; `fencepost restore` checks
//! it and writes a data dir from which a new cluster starts with that state.
//!
//! The file: `FENCEPOST-BACKUP` (16 bytes), the header's length (u32, little endian),
//! the header (postcard), the state machine (its snapshot encoding), and the SHA-256 of
//! everything before it. One flipped byte anywhere fails the check.

pub mod client;
pub mod restore;

use serde::{Deserialize, Serialize};

use crate::raft::types::LogId;

const MAGIC: &[u8; 16] = b"FENCEPOST-BACKUP";
/// Raised when the layout changes; a reader refuses versions it does not know.
const VERSION: u32 = 1;
const TRAILER: usize = 32;

/// What a backup says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Header {
    pub version: u32,
    /// The last log entry the state covers (index and term).
    pub log_id: LogId,
    /// The cluster clock at that point (leases resume from it after a restore).
    pub cluster_clock_ms: u64,
    /// The highest fencing token issued (later tokens are above it).
    pub last_token: u64,
    /// Objects stored.
    pub objects: u64,
}

/// Why a backup file was refused.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("not a fencepost backup (no FENCEPOST-BACKUP header)")]
    NotABackup,
    #[error("the backup is truncated")]
    Truncated,
    #[error("the backup is corrupt: its SHA-256 trailer does not match its contents")]
    Corrupt,
    #[error("backup format version {0} is newer than this fencepost understands ({VERSION})")]
    Version(u32),
    #[error("the backup's header does not decode: {0}")]
    Header(postcard::Error),
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// The backup file for `header` and the state machine's encoding `sm`.
pub fn encode(header: &Header, sm: &[u8]) -> Result<Vec<u8>, postcard::Error> {
    let head = postcard::to_allocvec(header)?;
    let head_len = u32::try_from(head.len()).map_err(|_| postcard::Error::SerializeBufferFull)?;
    let mut out = Vec::with_capacity(MAGIC.len() + 4 + head.len() + sm.len() + TRAILER);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&head_len.to_le_bytes());
    out.extend_from_slice(&head);
    out.extend_from_slice(sm);
    let digest = sha256(&out);
    out.extend_from_slice(&digest);
    Ok(out)
}

/// Checks a backup file and splits it into its header and state-machine encoding.
pub fn decode(file: &[u8]) -> Result<(Header, &[u8]), BackupError> {
    if file.len() < MAGIC.len() || &file[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup);
    }
    if file.len() < MAGIC.len() + 4 + TRAILER {
        return Err(BackupError::Truncated);
    }
    let (body, trailer) = file.split_at(file.len() - TRAILER);
    if sha256(body) != trailer {
        return Err(BackupError::Corrupt);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&body[MAGIC.len()..MAGIC.len() + 4]);
    let head_len = u32::from_le_bytes(len) as usize;
    let rest = &body[MAGIC.len() + 4..];
    if rest.len() < head_len {
        return Err(BackupError::Truncated);
    }
    let (head, sm) = rest.split_at(head_len);
    let header: Header = postcard::from_bytes(head).map_err(BackupError::Header)?;
    if header.version > VERSION {
        return Err(BackupError::Version(header.version));
    }
    Ok((header, sm))
}

/// A header for the state at `log_id`.
pub fn header(log_id: LogId, cluster_clock_ms: u64, last_token: u64, objects: u64) -> Header {
    Header {
        version: VERSION,
        log_id,
        cluster_clock_ms,
        last_token,
        objects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let leader = openraft::impls::leader_id_adv::LeaderId { term: 7, node_id: 1 };
        let log_id = LogId::new(leader, 1234);
        encode(&header(log_id, 99, 1200, 3), b"state bytes").expect("encode")
    }

    #[test]
    fn round_trip() {
        let file = sample();
        let (h, sm) = decode(&file).expect("decodes");
        assert_eq!((h.log_id.index, h.last_token, h.objects), (1234, 1200, 3));
        assert_eq!(sm, b"state bytes");
    }

    #[test]
    fn any_flipped_byte_is_refused() {
        let file = sample();
        for i in 0..file.len() {
            let mut bad = file.clone();
            bad[i] ^= 0x01;
            assert!(decode(&bad).is_err(), "byte {i} flipped went unnoticed");
        }
        assert!(matches!(decode(&file[..file.len() - 1]), Err(BackupError::Corrupt)));
        assert!(matches!(decode(b"hello"), Err(BackupError::NotABackup)));
    }
}
