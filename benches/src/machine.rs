//! What the numbers were measured on: they mean little without it.

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use serde::Serialize;

/// The host, as far as a reader needs it to compare figures.
#[derive(Debug, Serialize)]
pub struct Machine {
    /// Logical CPUs available to this process.
    pub nproc: usize,
    /// First `model name` in /proc/cpuinfo.
    pub cpu_model: String,
    /// Total memory in GiB.
    pub mem_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// The filesystem the data dirs live on: device, type, size, rotational or not.
    pub disk: String,
    /// Median time of one 4 KiB write + fdatasync there: every durable target's floor.
    pub fdatasync_p50_ms: f64,
    /// /proc/loadavg when the run started: other work on the box skews every figure.
    pub loadavg_at_start: String,
    /// /proc/loadavg when the run ended (our own load included); set by the caller.
    pub loadavg_at_end: String,
    /// `fencepost --version`, when fencepost was measured.
    pub fencepost_version: Option<String>,
    /// `redis-server --version`, when redis was measured.
    pub redis_version: Option<String>,
    /// `etcd --version` (first line), when etcd was measured.
    pub etcd_version: Option<String>,
}

/// Server versions found before the run.
#[derive(Debug, Default)]
pub struct Versions {
    pub fencepost: Option<String>,
    pub redis: Option<String>,
    pub etcd: Option<String>,
}

impl Machine {
    /// Reads /proc and probes the data dir's disk; unknown fields say so rather than fail the run.
    pub fn detect(versions: Versions, loadavg_at_start: String, data_dir: &Path) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        Machine {
            nproc: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
            cpu_model,
            mem_gib: (mem_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            disk: disk(data_dir).unwrap_or_else(|| "unknown".into()),
            fdatasync_p50_ms: fdatasync_ms(data_dir).unwrap_or(f64::NAN),
            loadavg_at_start,
            loadavg_at_end: String::new(),
            fencepost_version: versions.fencepost,
            redis_version: versions.redis,
            etcd_version: versions.etcd,
        }
    }

    /// One line for the console and the README.
    pub fn summary(&self) -> String {
        format!(
            "{} CPUs ({}), {} GiB RAM, disk {} (fdatasync p50 {:.2} ms), Linux {}",
            self.nproc, self.cpu_model, self.mem_gib, self.disk, self.fdatasync_p50_ms, self.kernel
        )
    }
}

/// The three load averages.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .next()
        .and_then(|x| x.parse().ok())
        .unwrap_or(f64::NAN)
}

/// `df`'s view of the filesystem holding `dir`, plus whether its block device is rotational.
fn disk(dir: &Path) -> Option<String> {
    let out = Command::new("df").args(["-PTh"]).arg(dir).output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let cols: Vec<&str> = text.lines().nth(1)?.split_whitespace().collect();
    let (dev, fstype, size) = (*cols.first()?, *cols.get(1)?, *cols.get(2)?);
    let base = dev.rsplit('/').next().unwrap_or(dev);
    let kind = match std::fs::read_to_string(format!("/sys/block/{base}/queue/rotational")) {
        // Virtual disks often claim rotational=1; quoted as the kernel says it, the fdatasync probe tells more.
        Ok(r) => format!(", rotational={}", r.trim()),
        Err(_) => String::new(),
    };
    Some(format!("{dev} {fstype} {size}{kind}"))
}

/// Median of 50 appends of 4 KiB, each followed by fdatasync, in a scratch file under `dir`.
fn fdatasync_ms(dir: &Path) -> Option<f64> {
    let f = tempfile::NamedTempFile::new_in(dir).ok()?;
    let mut file = f.as_file();
    let block = [0u8; 4096];
    let mut times = Vec::with_capacity(50);
    for _ in 0..50 {
        let t0 = Instant::now();
        file.write_all(&block).ok()?;
        file.sync_data().ok()?;
        times.push(t0.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied()
}

/// Value of the first `key : value` line.
fn field(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn field_finds_first_match() {
        let t = "processor\t: 0\nmodel name\t: Some CPU @ 2GHz\nmodel name\t: Other\n";
        assert_eq!(super::field(t, "model name").as_deref(), Some("Some CPU @ 2GHz"));
        assert_eq!(super::field(t, "flags"), None);
    }
}
