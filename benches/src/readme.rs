//! Replaces the generated part of README.md, between the bench markers, and nothing else.

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Marks the start of the generated section.
pub const START: &str = "<!-- bench:start -->";
/// Marks its end.
pub const END: &str = "<!-- bench:end -->";

/// Writes `section` between the markers of the README at `path`.
pub fn update(path: &Path, section: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    let new = splice(&text, section)?;
    std::fs::write(path, new).with_context(|| format!("write {}", path.display()))
}

/// `text` with everything between the markers replaced by `section`.
fn splice(text: &str, section: &str) -> Result<String> {
    let (Some(a), Some(b)) = (text.find(START), text.find(END)) else {
        bail!("README has no {START} ... {END} markers: add them under a \"## Benchmarks\" heading");
    };
    if b < a {
        bail!("README's {END} comes before {START}");
    }
    let head = &text[..a + START.len()];
    let tail = &text[b..];
    Ok(format!("{head}\n{}\n{tail}", section.trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_between_markers() -> Result<()> {
        let t = format!("# x\nintro\n## Benchmarks\n{START}\nold\n{END}\nafter\n");
        let out = splice(&t, "new table\n")?;
        assert_eq!(
            out,
            format!("# x\nintro\n## Benchmarks\n{START}\nnew table\n{END}\nafter\n")
        );
        assert_eq!(splice(&out, "new table")?, out, "idempotent");
        assert!(splice("no markers", "x").is_err());
        Ok(())
    }
}
