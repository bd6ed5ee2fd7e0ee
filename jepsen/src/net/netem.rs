//! Packet faults with tc netem on a node's eth0: delay, loss, duplication, reordering.
//! They apply to everything the node sends, to peers and clients alike.

use super::in_ns;

/// Replaces node namespace `ns`'s root qdisc with netem `spec` (e.g. `delay 50ms 20ms`).
pub fn apply(ns: &str, spec: &str) -> anyhow::Result<()> {
    let mut args = vec!["qdisc", "replace", "dev", "eth0", "root", "netem"];
    args.extend(spec.split_whitespace());
    in_ns(ns, "tc", &args)?;
    Ok(())
}

/// Restores the default qdisc (idempotent).
pub fn heal(ns: &str) -> anyhow::Result<()> {
    let shown = in_ns(ns, "tc", &["qdisc", "show", "dev", "eth0"])?;
    if shown.contains("netem") {
        in_ns(ns, "tc", &["qdisc", "del", "dev", "eth0", "root"])?;
    }
    Ok(())
}
