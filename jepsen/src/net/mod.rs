//! The harness's private network: namespaces, packet filters, packet faults, and a
//! small blocking RESP client for administration (RAFT INFO, RAFT REMOVE).

pub mod netem;
pub mod nft;
pub mod ns;
pub mod resp;

use std::process::Command;

use anyhow::{bail, Context};

/// Runs a command to completion; an error carries its stderr.
pub fn sh(prog: &str, args: &[&str]) -> anyhow::Result<String> {
    let out = Command::new(prog)
        .args(args)
        .output()
        .with_context(|| format!("running {prog}"))?;
    if !out.status.success() {
        bail!(
            "{prog} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Runs `prog args` inside network namespace `ns`.
pub fn in_ns(ns: &str, prog: &str, args: &[&str]) -> anyhow::Result<String> {
    let mut all = vec!["netns", "exec", ns, prog];
    all.extend_from_slice(args);
    sh("ip", &all)
}
