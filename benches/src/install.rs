//! Makes sure the comparison servers exist, installing Debian's packages when they are missing,
//! so that one command reproduces the whole comparison on a fresh machine.

use std::process::Command;

use anyhow::{bail, Context, Result};

/// A server binary and the Debian package that ships it.
pub struct Tool {
    /// What the user asked to run (`--redis-bin`, `--etcd-bin`).
    pub bin: String,
    /// The default binary name; only that one is installed automatically.
    pub default_bin: &'static str,
    /// Debian package providing `default_bin`.
    pub apt_package: &'static str,
}

impl Tool {
    /// Returns the tool's version line, installing the package first when needed.
    pub fn ensure(&self) -> Result<String> {
        if let Some(v) = version(&self.bin) {
            return Ok(v);
        }
        if self.bin != self.default_bin {
            bail!("{} does not run", self.bin);
        }
        eprintln!("{} not found: installing {} with apt-get", self.bin, self.apt_package);
        for args in [&["update", "-qq"][..], &["install", "-y", "-qq", self.apt_package][..]] {
            let ok = Command::new("apt-get")
                .args(args)
                .env("DEBIAN_FRONTEND", "noninteractive")
                .status()
                .context("run apt-get")?
                .success();
            if !ok {
                bail!("apt-get {} failed", args.join(" "));
            }
        }
        version(&self.bin).with_context(|| format!("{} still does not run after apt-get install", self.bin))
    }
}

/// First line of `bin --version`, if it runs.
pub fn version(bin: &str) -> Option<String> {
    let out = Command::new(bin).arg("--version").output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines().next().map(|l| l.trim().to_string())
}
