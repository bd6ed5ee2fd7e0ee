//! The run's picture: latency of every op (log scale, top) and throughput per second
//! (bottom) over time, with the fault windows shaded. Green ok, red fail, orange info;
//! grey bands are faults. Axis labels use a tiny built-in digit font.

pub mod png;

use std::collections::HashMap;

use crate::history::{fault_windows, Op, Proc, Type};
use png::Canvas;

const BG: u8 = 0;
const AXIS: u8 = 1;
const OK: u8 = 2;
const FAIL: u8 = 3;
const INFO: u8 = 4;
const FAULT: u8 = 5;
const GRID: u8 = 6;
const BAR: u8 = 7;
const PALETTE: [[u8; 3]; 8] = [
    [255, 255, 255],
    [40, 40, 40],
    [30, 150, 60],
    [210, 40, 40],
    [240, 150, 20],
    [225, 225, 235],
    [238, 238, 238],
    [60, 90, 180],
];

/// 3x5 glyphs for digits and a few letters, one row per 3 bits.
fn glyph(ch: char) -> [u8; 5] {
    match ch {
        '0' => [7, 5, 5, 5, 7],
        '1' => [2, 6, 2, 2, 7],
        '2' => [7, 1, 7, 4, 7],
        '3' => [7, 1, 7, 1, 7],
        '4' => [5, 5, 7, 1, 1],
        '5' => [7, 4, 7, 1, 7],
        '6' => [7, 4, 7, 5, 7],
        '7' => [7, 1, 1, 1, 1],
        '8' => [7, 5, 7, 5, 7],
        '9' => [7, 5, 7, 1, 7],
        's' => [0, 3, 6, 1, 6],
        'm' => [0, 0, 7, 7, 5],
        '/' => [1, 1, 2, 4, 4],
        _ => [0, 0, 0, 0, 0],
    }
}

fn text(c: &mut Canvas, x: i64, y: i64, s: &str, color: u8) {
    const SCALE: i64 = 2;
    for (n, ch) in s.chars().enumerate() {
        let g = glyph(ch);
        for (row, bits) in g.iter().enumerate() {
            for col in 0..3 {
                if bits & (4 >> col) != 0 {
                    let px = x + (n as i64 * 4 + col) * SCALE;
                    let py = y + row as i64 * SCALE;
                    c.rect(px, py, px + SCALE - 1, py + SCALE - 1, color);
                }
            }
        }
    }
}

/// Renders the history as a PNG file's bytes.
pub fn render(ops: &[Op]) -> Vec<u8> {
    let (w, h) = (1100usize, 520usize);
    let (left, right) = (70i64, w as i64 - 20);
    let (lat_top, lat_bot) = (20i64, 300i64);
    let (thr_top, thr_bot) = (330i64, 480i64);
    let mut c = Canvas::new(w, h, BG);
    let end = ops.last().map(|o| o.time).unwrap_or(1).max(1);
    let xs = |t: u64| left + ((t as f64 / end as f64) * (right - left) as f64) as i64;

    for (a, b, _) in fault_windows(ops) {
        c.rect(xs(a), lat_top, xs(b), lat_bot, FAULT);
        c.rect(xs(a), thr_top, xs(b), thr_bot, FAULT);
    }
    // Latency: 0.1 ms .. 10 s, log scale.
    let ly = |ns: u64| {
        let ms = (ns as f64 / 1e6).clamp(0.1, 10_000.0);
        let f = (ms.log10() + 1.0) / 5.0;
        lat_bot - (f * (lat_bot - lat_top) as f64) as i64
    };
    for (ms, label) in [
        (1u64, "1ms"),
        (10, "10ms"),
        (100, "100ms"),
        (1000, "1s"),
        (10_000, "10s"),
    ] {
        let y = ly(ms * 1_000_000);
        c.rect(left, y, right, y, GRID);
        text(&mut c, 4, y - 5, label, AXIS);
    }
    let mut invoked: HashMap<Proc, u64> = HashMap::new();
    let mut per_sec: Vec<u32> = vec![0; (end / 1_000_000_000) as usize + 1];
    for op in ops {
        if op.process == Proc::Nemesis {
            continue;
        }
        if op.typ == Type::Invoke {
            invoked.insert(op.process, op.time);
            continue;
        }
        let Some(t0) = invoked.remove(&op.process) else {
            continue;
        };
        let color = match op.typ {
            Type::Ok => OK,
            Type::Fail => FAIL,
            _ => INFO,
        };
        let (x, y) = (xs(op.time), ly(op.time - t0));
        c.rect(x, y, x + 1, y + 1, color);
        if op.typ == Type::Ok {
            if let Some(slot) = per_sec.get_mut((op.time / 1_000_000_000) as usize) {
                *slot += 1;
            }
        }
    }
    let peak = per_sec.iter().copied().max().unwrap_or(1).max(1);
    for (sec, &n) in per_sec.iter().enumerate() {
        let x0 = xs(sec as u64 * 1_000_000_000);
        let x1 = xs((sec as u64 + 1) * 1_000_000_000).min(right) - 1;
        let y = thr_bot - (n as i64 * (thr_bot - thr_top) / peak as i64);
        c.rect(x0, y, x1.max(x0), thr_bot, BAR);
    }
    text(&mut c, 4, thr_top, &peak.to_string(), AXIS);
    text(&mut c, 4, thr_top + 14, "/s", AXIS);
    text(&mut c, 4, thr_bot - 10, "0", AXIS);
    // Axes and time ticks every 10 s (labels in seconds).
    for (top, bot) in [(lat_top, lat_bot), (thr_top, thr_bot)] {
        c.rect(left, top, left, bot, AXIS);
        c.rect(left, bot, right, bot, AXIS);
    }
    let secs = end / 1_000_000_000;
    let step = if secs > 200 { 30 } else { 10 };
    for s in (0..=secs).step_by(step as usize) {
        let x = xs(s * 1_000_000_000);
        c.rect(x, thr_bot, x, thr_bot + 4, AXIS);
        c.rect(x, lat_bot, x, lat_bot + 4, AXIS);
        text(&mut c, x - 6, thr_bot + 8, &format!("{s}s"), AXIS);
    }
    png::encode(&c, &PALETTE)
}

#[cfg(test)]
mod tests {
    use super::png::{encode, zlib, Canvas};

    #[test]
    fn png_has_signature_and_chunks() {
        let c = Canvas::new(10, 4, 0);
        let bytes = encode(&c, &[[0, 0, 0]]);
        assert_eq!(&bytes[1..4], b"PNG");
        assert!(bytes.windows(4).any(|w| w == b"IDAT"));
        assert!(bytes.ends_with(&[0xAE, 0x42, 0x60, 0x82]));
        // A long run compresses to far less than its length.
        assert!(zlib(&[7u8; 10_000]).len() < 200);
    }
}
