//! Packet faults on a node's eth0: delay, loss, duplication, reordering. With tc netem
//! where the kernel has it (sch_netem); where it does not (some VM kernels ship without
//! the module), loss and duplication fall back to nftables (`numgen random ... drop`,
//! `dup to ip daddr`) and delay to a slow tbf link, and reordering is reported as
//! unavailable rather than pretended.

use super::in_ns;

/// A packet fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Delay,
    Loss,
    Duplicate,
    Reorder,
}

/// Whether this kernel has sch_netem (probed once, on node namespace `ns`).
pub fn available(ns: &str) -> bool {
    static PROBE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROBE.get_or_init(|| {
        let ok = in_ns(
            ns,
            "tc",
            &["qdisc", "replace", "dev", "eth0", "root", "netem", "delay", "1ms"],
        )
        .is_ok();
        let _ = heal(ns);
        ok
    })
}

/// Applies `f` to node namespace `ns`; returns how it was done (for the history).
pub fn apply(ns: &str, f: Fault) -> anyhow::Result<String> {
    let spec = match f {
        Fault::Delay => "delay 60ms 30ms distribution normal",
        Fault::Loss => "loss 20%",
        Fault::Duplicate => "duplicate 30%",
        Fault::Reorder => "delay 30ms reorder 50% 50%",
    };
    let mut args = vec!["qdisc", "replace", "dev", "eth0", "root", "netem"];
    args.extend(spec.split_whitespace());
    match in_ns(ns, "tc", &args) {
        Ok(_) => return Ok(format!("netem {spec}")),
        Err(e) if !e.to_string().contains("qdisc kind is unknown") => return Err(e),
        Err(_) => {}
    }
    match f {
        Fault::Delay => {
            // A 200 kbit/s link with a deep queue: packets wait behind each other.
            let tbf = [
                "qdisc", "replace", "dev", "eth0", "root", "tbf", "rate", "200kbit", "burst", "4kb", "latency", "400ms",
            ];
            in_ns(ns, "tc", &tbf)?;
            Ok("tbf rate 200kbit latency 400ms (no sch_netem in this kernel)".into())
        }
        Fault::Loss => {
            let rule = format!(
                "chain out {{ type filter hook output priority 0; policy accept; ip daddr {} numgen random mod 100 < 20 drop\n }}",
                super::ns::subnet()
            );
            nft(ns, &rule)?;
            Ok("nft: drop 20% of sent packets (no sch_netem in this kernel)".into())
        }
        Fault::Duplicate => {
            let rule = format!(
                "chain post {{ type filter hook postrouting priority 0; policy accept; ip daddr {} numgen random mod 100 < 30 dup to ip daddr device \"eth0\"\n }}",
                super::ns::subnet()
            );
            nft(ns, &rule)?;
            Ok("nft: duplicate 30% of sent packets (no sch_netem in this kernel)".into())
        }
        Fault::Reorder => anyhow::bail!("reordering needs sch_netem, which this kernel lacks"),
    }
}

fn nft(ns: &str, chain: &str) -> anyhow::Result<()> {
    let script = format!("table ip fpjpkt {{\n {chain}\n}}\n");
    let path = std::env::temp_dir().join(format!("fpj-pkt-{ns}.nft"));
    std::fs::write(&path, script)?;
    let p = path.to_string_lossy().into_owned();
    let r = in_ns(ns, "nft", &["-f", &p]);
    let _ = std::fs::remove_file(&path);
    r.map(|_| ())
}

/// Restores the default qdisc and drops the fallback rules (idempotent).
pub fn heal(ns: &str) -> anyhow::Result<()> {
    let shown = in_ns(ns, "tc", &["qdisc", "show", "dev", "eth0"])?;
    if shown.contains("netem") || shown.contains("tbf") {
        in_ns(ns, "tc", &["qdisc", "del", "dev", "eth0", "root"])?;
    }
    if in_ns(ns, "nft", &["list", "table", "ip", "fpjpkt"]).is_ok() {
        in_ns(ns, "nft", &["delete", "table", "ip", "fpjpkt"])?;
    }
    Ok(())
}
