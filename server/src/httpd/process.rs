//! The `process_*` family Prometheus's client libraries export, read from `/proc`.

/// `(name, help, value, is_counter)` of each process metric that could be read.
pub fn read() -> Vec<(&'static str, &'static str, f64, bool)> {
    let mut out = Vec::new();
    // USER_HZ is 100 on every Linux this runs on (x86_64, arm64).
    const TICKS: f64 = 100.0;
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which may hold spaces.
        if let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) {
            let f: Vec<&str> = rest.split_whitespace().collect();
            let num = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok());
            if let (Some(u), Some(s)) = (num(11), num(12)) {
                out.push((
                    "process_cpu_seconds",
                    "User and system CPU time spent",
                    (u + s) / TICKS,
                    true,
                ));
            }
            if let Some(v) = num(20) {
                out.push(("process_virtual_memory_bytes", "Virtual memory size", v, false));
            }
            if let (Some(start), Some(boot)) = (num(19), boot_time()) {
                out.push((
                    "process_start_time_seconds",
                    "Start time of the process since the Unix epoch",
                    boot + start / TICKS,
                    false,
                ));
            }
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        let kb = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        };
        if let Some(rss) = kb("VmRSS:") {
            out.push((
                "process_resident_memory_bytes",
                "Resident memory size",
                rss * 1024.0,
                false,
            ));
        }
        if let Some(t) = status
            .lines()
            .find_map(|l| l.strip_prefix("Threads:"))
            .and_then(|v| v.trim().parse().ok())
        {
            out.push(("process_threads", "Number of OS threads", t, false));
        }
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        out.push((
            "process_open_fds",
            "Number of open file descriptors",
            fds.count() as f64,
            false,
        ));
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits") {
        let max = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|v| v.parse::<f64>().ok());
        if let Some(m) = max {
            out.push(("process_max_fds", "Maximum number of open file descriptors", m, false));
        }
    }
    out
}

fn boot_time() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}
