//! What the numbers were measured on: they mean little without it.

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
    /// /proc/loadavg when the run started: other work on the box skews every figure.
    pub loadavg_at_start: String,
    /// `redis-server --version`, when redis was measured.
    pub redis_version: Option<String>,
}

impl Machine {
    /// Reads /proc; unknown fields say so rather than fail the run.
    pub fn detect(redis_version: Option<String>, loadavg_at_start: String) -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = field(&cpuinfo, "model name").unwrap_or_else(|| "unknown".into());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = field(&meminfo, "MemTotal")
            .and_then(|v| v.split_whitespace().next().and_then(|n| n.parse().ok()))
            .unwrap_or(0.0);
        Machine {
            nproc: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            cpu_model,
            mem_gib: (mem_kib / (1024.0 * 1024.0) * 10.0).round() / 10.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            loadavg_at_start,
            redis_version,
        }
    }
}

/// The three load averages, read before the servers start.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
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
        assert_eq!(
            super::field(t, "model name").as_deref(),
            Some("Some CPU @ 2GHz")
        );
        assert_eq!(super::field(t, "flags"), None);
    }
}
