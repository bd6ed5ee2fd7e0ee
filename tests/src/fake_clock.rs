//! [`FakeClock`]: a node's wall clock under libfaketime, movable while it runs.
//!
//! The server is started with libfaketime preloaded and reading its offset from a file
//! on every call (`FAKETIME_NO_CACHE=1`), so a test steps, skews or strobes one node's
//! wall clock by rewriting that file. The monotonic clock is left real
//! (`FAKETIME_DONT_FAKE_MONOTONIC=1`): that is the clock fencepost's leases follow.

use std::path::{Path, PathBuf};

/// Where Debian's `libfaketime` package puts the preload library.
const LIBFAKETIME: &str = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";

/// The preload library, or a panic that says how to install it.
pub fn libfaketime() -> PathBuf {
    let p = std::env::var_os("LIBFAKETIME").map_or_else(|| PathBuf::from(LIBFAKETIME), PathBuf::from);
    assert!(
        p.exists(),
        "libfaketime not found at {} (scripts/install-test-deps.sh installs it; LIBFAKETIME overrides)",
        p.display()
    );
    p
}

/// One node's movable wall clock: an offset file libfaketime reads on every call.
#[derive(Debug, Clone)]
pub struct FakeClock {
    file: PathBuf,
}

impl FakeClock {
    /// A clock file in `dir`, starting at real time.
    pub fn new(dir: &Path) -> FakeClock {
        let c = FakeClock {
            file: dir.join("faketime"),
        };
        c.set_offset_secs(0);
        c
    }

    /// The environment a server needs to run on this clock.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("LD_PRELOAD".into(), libfaketime().display().to_string()),
            ("FAKETIME_TIMESTAMP_FILE".into(), self.file.display().to_string()),
            ("FAKETIME_NO_CACHE".into(), "1".into()),
            ("FAKETIME_DONT_FAKE_MONOTONIC".into(), "1".into()),
        ]
    }

    /// Steps the wall clock to real time plus `secs` (negative: behind).
    pub fn set_offset_secs(&self, secs: i64) {
        // Written whole and renamed, so the server never reads a half-written offset.
        let tmp = self.file.with_extension("tmp");
        std::fs::write(&tmp, format!("{secs:+}\n")).expect("write faketime offset");
        std::fs::rename(&tmp, &self.file).expect("move faketime offset into place");
    }
}
