//! Fault intervals for the plot, read back from the nemesis's ops. Faults of different
//! kinds may be in force at once (the `overlap:` nemesis), so a `stop-K` closes the open
//! `start-K` of its own kind, not whichever fault started last.

use plotters::style::RGBColor;

use crate::history::{Op, Proc, V};

/// One fault in force from `start` to `stop` (ns since the run started).
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub kind: String,
    pub start: u64,
    pub stop: u64,
}

/// Every fault that was made, in start order. A start whose value is a string was
/// skipped ("skipped: why") and made nothing; a fault with no stop lasts to the end.
pub fn windows(ops: &[Op]) -> Vec<Window> {
    let end = ops.last().map(|o| o.time).unwrap_or(0);
    let mut open: Vec<(String, u64)> = Vec::new();
    let mut out = Vec::new();
    for op in ops.iter().filter(|o| o.process == Proc::Nemesis) {
        if let Some(kind) = op.f.strip_prefix("start-") {
            if !matches!(op.value, V::Str(_)) {
                open.push((kind.to_string(), op.time));
            }
        } else if let Some(kind) = op.f.strip_prefix("stop-") {
            if let Some(at) = open.iter().position(|(k, _)| k == kind) {
                let (kind, start) = open.remove(at);
                out.push(Window {
                    kind,
                    start,
                    stop: op.time,
                });
            }
        }
    }
    out.extend(open.into_iter().map(|(kind, start)| Window {
        kind,
        start,
        stop: end.max(start),
    }));
    out.sort_by_key(|w| w.start);
    out
}

/// The kinds present, in order of first appearance (the legend's order).
pub fn kinds(windows: &[Window]) -> Vec<&str> {
    let mut seen: Vec<&str> = Vec::new();
    for w in windows {
        if !seen.contains(&w.kind.as_str()) {
            seen.push(&w.kind);
        }
    }
    seen
}

/// A fixed colour per kind, chosen away from the ok/fail/info point colours (green, red,
/// orange) so a band never hides what happened inside it.
pub fn color(kind: &str) -> RGBColor {
    match kind {
        "partition" => RGBColor(60, 110, 220),
        "packet" => RGBColor(150, 80, 200),
        "kill" => RGBColor(90, 90, 90),
        "pause" => RGBColor(160, 110, 60),
        "clock" => RGBColor(0, 170, 170),
        "membership" => RGBColor(220, 80, 170),
        _ => RGBColor(150, 150, 150),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{map, s, Type};

    fn nem(time: u64, f: &'static str, value: V) -> Op {
        Op {
            index: 0,
            time,
            typ: Type::Info,
            process: Proc::Nemesis,
            f,
            value,
        }
    }

    #[test]
    fn overlapping_faults_pair_by_kind_and_skips_are_ignored() {
        let made = || map(vec![("mode", s("x"))]);
        let ops = vec![
            nem(1, "start-clock", made()),
            nem(2, "start-partition", made()),
            nem(3, "start-kill", s("skipped: no leader")),
            nem(4, "stop-partition", s("healed")),
            nem(5, "stop-clock", s("clocks reset")),
            nem(6, "start-pause", made()),
            nem(9, "heal", s("all")),
        ];
        let w = windows(&ops);
        let got: Vec<(&str, u64, u64)> = w.iter().map(|w| (w.kind.as_str(), w.start, w.stop)).collect();
        assert_eq!(got, vec![("clock", 1, 5), ("partition", 2, 4), ("pause", 6, 9)]);
        assert_eq!(kinds(&w), vec!["clock", "partition", "pause"]);
    }
}
