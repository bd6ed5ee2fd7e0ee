//! Partitions with nftables: each node namespace gets a table `fpj` whose input chain
//! drops packets from the nodes it holds a grudge against (as Jepsen's `drop!`: one
//! direction per rule; symmetric cuts list both sides). Clients are never cut off.

use super::in_ns;

/// Drops everything node namespace `ns` receives from `from` (addresses).
pub fn drop_from(ns: &str, from: &[String]) -> anyhow::Result<()> {
    heal(ns)?;
    if from.is_empty() {
        return Ok(());
    }
    let set = from.join(", ");
    let script = format!(
        "table inet fpj {{\n chain input {{\n  type filter hook input priority 0; policy accept;\n  ip saddr {{ {set} }} drop\n }}\n}}\n"
    );
    let path = std::env::temp_dir().join(format!("fpj-nft-{ns}.nft"));
    std::fs::write(&path, script)?;
    let p = path.to_string_lossy().into_owned();
    in_ns(ns, "nft", &["-f", &p])?;
    let _ = std::fs::remove_file(&path);
    Ok(())
}

/// Removes node namespace `ns`'s rules (idempotent).
pub fn heal(ns: &str) -> anyhow::Result<()> {
    if in_ns(ns, "nft", &["list", "table", "inet", "fpj"]).is_ok() {
        in_ns(ns, "nft", &["delete", "table", "inet", "fpj"])?;
    }
    Ok(())
}
