//! The run's picture, `latency-throughput.png`: what the clients saw (latency of every
//! op, ok throughput) against when each fault was in force, drawn with plotters.
//! `faults` reads the fault windows from the history, `samples` the client ops, `font`
//! finds a font at run time and `chart` draws.

pub mod chart;
pub mod faults;
pub mod font;
pub mod samples;

use std::path::Path;

use plotters::style::RGBColor;

use crate::history::Op;

/// What the title says about the run.
pub struct Header<'a> {
    pub workload: &'a str,
    pub nemesis: &'a str,
    pub nodes: usize,
    /// "true", "false" or "unknown".
    pub valid: &'a str,
}

impl Header<'_> {
    fn title(&self) -> chart::Title {
        let color = match self.valid {
            "true" => RGBColor(20, 20, 20),
            "false" => RGBColor(200, 20, 20),
            _ => RGBColor(200, 120, 0),
        };
        chart::Title {
            text: format!(
                "{} on {} nodes, nemesis {}: valid {}",
                self.workload, self.nodes, self.nemesis, self.valid
            ),
            color,
        }
    }
}

/// Writes the PNG. Without a font the picture is drawn without any text (and says so
/// on stderr) rather than failing the run.
pub fn write(path: &Path, ops: &[Op], header: &Header) -> anyhow::Result<()> {
    if font::available() {
        chart::draw(path, ops, Some(&header.title()))
    } else {
        eprintln!(
            "fencepost-jepsen: no font for the plot (jepsen/install-deps.sh installs fonts-dejavu-core); drawing it without text"
        );
        chart::draw(path, ops, None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{map, s, Proc, Type, V};

    /// A small run: two clients, an ok, a fail and an info, two overlapping faults.
    fn history() -> Vec<Op> {
        let mut ops = Vec::new();
        let mut at = |time_ms: u64, typ: Type, process: Proc, f: &'static str, value: V| {
            ops.push(Op {
                index: ops.len(),
                time: time_ms * 1_000_000,
                typ,
                process,
                f,
                value,
            });
        };
        let made = || map(vec![("mode", s("test"))]);
        for k in 0..200u64 {
            let t = k * 50;
            let p = Proc::Client(k % 2);
            at(t, Type::Invoke, p, "acquire", V::Nil);
            let typ = match k % 20 {
                7 => Type::Fail,
                13 => Type::Info,
                _ => Type::Ok,
            };
            at(t + 1 + k % 30, typ, p, "acquire", V::Nil);
            match k {
                40 => at(t + 2, Type::Info, Proc::Nemesis, "start-clock", made()),
                60 => at(t + 2, Type::Info, Proc::Nemesis, "start-partition", made()),
                100 => at(t + 2, Type::Info, Proc::Nemesis, "stop-partition", s("healed")),
                120 => at(t + 2, Type::Info, Proc::Nemesis, "stop-clock", s("clocks reset")),
                _ => {}
            }
        }
        ops
    }

    fn png_size(bytes: &[u8]) -> (u32, u32) {
        // IHDR is the first chunk: width and height are big-endian at bytes 16..24.
        let be = |r: std::ops::Range<usize>| bytes.get(r).map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        (be(16..20), be(20..24))
    }

    fn check_png(path: &Path) -> Vec<u8> {
        let bytes = std::fs::read(path).expect("the PNG was written");
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "PNG signature");
        assert_eq!(png_size(&bytes), (chart::WIDTH, chart::HEIGHT));
        // A blank 1400x800 image compresses to a few kB; points, bands and bars do not.
        assert!(bytes.len() > 10_000, "only {} bytes: nothing drawn?", bytes.len());
        bytes
    }

    fn tmp(name: &str) -> std::path::PathBuf {
        std::env::temp_dir().join(format!("fpj-plot-test-{}-{name}.png", std::process::id()))
    }

    #[test]
    fn draws_without_a_font() {
        // No text at all: this must work whatever fonts the host has.
        let path = tmp("notext");
        chart::draw(&path, &history(), None).expect("drawn");
        check_png(&path);
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn draws_with_title_and_legend_when_a_font_exists() {
        if !font::available() {
            eprintln!("no font installed (jepsen/install-deps.sh): only the no-text picture is tested");
            return;
        }
        let plain = tmp("plain");
        let titled = tmp("titled");
        let ops = history();
        chart::draw(&plain, &ops, None).expect("drawn");
        let header = Header {
            workload: "lock-fence",
            nemesis: "overlap:partition+clock",
            nodes: 3,
            valid: "true",
        };
        write(&titled, &ops, &header).expect("drawn");
        let (a, b) = (check_png(&plain), check_png(&titled));
        // The title, axis labels and legend add pixels, so the file grows.
        assert!(
            b.len() > a.len() + 2_000,
            "text added only {} bytes",
            b.len().saturating_sub(a.len())
        );
        let _ = std::fs::remove_file(&plain);
        let _ = std::fs::remove_file(&titled);
    }

    #[test]
    fn an_empty_history_still_draws() {
        let path = tmp("empty");
        chart::draw(&path, &[], None).expect("drawn");
        let bytes = std::fs::read(&path).expect("written");
        assert_eq!(png_size(&bytes), (chart::WIDTH, chart::HEIGHT));
        let _ = std::fs::remove_file(&path);
    }
}
