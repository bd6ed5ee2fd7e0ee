//! Draws the run's picture with plotters' bitmap backend: the title on top, a fault
//! timeline (one row per kind), latency of every completed op (log scale) above ok ops
//! per second, all over the run's time with each fault shaded in its kind's colour, and
//! a legend column on the right. `title: None` draws no text at all (no font was
//! found): bars, bands, points and grid only.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::faults::{self, Window};
use super::font::FAMILY;
use super::samples::{self, Sample};
use crate::history::{Op, Type};

pub const WIDTH: u32 = 1400;
pub const HEIGHT: u32 = 800;
const HEAD_H: u32 = 44;
const LEGEND_W: u32 = 220;
/// Height of one fault kind's row in the timeline above the latency panel.
const LANE_H: u32 = 18;
/// Width of the panels' y label column, the same in all three so their x axes line up.
const Y_LABELS_W: u32 = 90;
/// The latency axis starts here: a log scale cannot show 0, and nothing here is faster.
const MIN_MS: f64 = 0.1;

const OK: RGBColor = RGBColor(30, 150, 60);
const FAIL: RGBColor = RGBColor(215, 40, 40);
const INFO: RGBColor = RGBColor(245, 150, 20);
const BAR: RGBColor = RGBColor(60, 90, 180);
/// Faults are light enough that points stay readable inside them, and two overlapping
/// faults blend into a visibly darker band.
const BAND_ALPHA: f64 = 0.22;

/// The picture's headline and its colour (which says the verdict at a glance).
pub struct Title {
    pub text: String,
    pub color: RGBColor,
}

type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;

/// Renders `ops` to a PNG at `path`.
pub fn draw(path: &Path, ops: &[Op], title: Option<&Title>) -> anyhow::Result<()> {
    let samples = samples::latencies(ops);
    let per_sec = samples::ok_per_second(&samples);
    let windows = faults::windows(ops);
    let end_s = ops.last().map(|o| o.time as f64 / 1e9).unwrap_or(0.0).max(1.0);
    let text = title.is_some();

    let root = BitMapBackend::new(path, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let (head, body) = root.split_vertically(HEAD_H);
    let (plots, side) = body.split_horizontally(WIDTH - LEGEND_W);
    let kinds = faults::kinds(&windows);
    let lanes_h = if kinds.is_empty() {
        0
    } else {
        LANE_H * kinds.len() as u32 + 20
    };
    let (lanes_area, plots) = plots.split_vertically(lanes_h);
    let (top, bottom) = plots.split_vertically((HEIGHT - HEAD_H - lanes_h) * 64 / 100);
    if let Some(t) = title {
        head.draw_text(&t.text, &(FAMILY, 22).into_font().color(&t.color), (20, 12))?;
    }
    if !kinds.is_empty() {
        lanes(&lanes_area, &kinds, &windows, end_s, text)?;
    }
    latency(&top, &samples, &windows, end_s, text)?;
    throughput(&bottom, &per_sec, &windows, end_s, text)?;
    if text {
        legend(&side, &samples, &windows)?;
    }
    root.present()?;
    Ok(())
}

fn band_style(kind: &str) -> ShapeStyle {
    faults::color(kind).mix(BAND_ALPHA).filled()
}

/// The fault timeline: one row per kind with a solid bar while it was in force, so which
/// faults overlapped reads directly, where the shaded bands below only blend.
fn lanes(area: &Area, kinds: &[&str], windows: &[Window], end_s: f64, text: bool) -> anyhow::Result<()> {
    let n = kinds.len();
    // Row k is centred on y = k, first kind on top; the mesh's integer ticks are the
    // rows' centres, which the formatter names.
    let row = |kind: &str| n - 1 - kinds.iter().position(|k| *k == kind).unwrap_or(0);
    let mut chart = ChartBuilder::on(area)
        .margin_left(10)
        .margin_right(10)
        .margin_top(10)
        .y_label_area_size(if text { Y_LABELS_W } else { 0 })
        .build_cartesian_2d(0f64..end_s, -0.5f64..n as f64 - 0.5)?;
    let name = |v: &f64| {
        let k = v.round();
        if (v - k).abs() > 1e-6 || k < 0.0 || k as usize >= n {
            return String::new();
        }
        kinds[n - 1 - k as usize].to_string()
    };
    let mut mesh = chart.configure_mesh();
    mesh.disable_mesh().x_labels(0).y_labels(n);
    if text {
        mesh.y_label_formatter(&name).label_style((FAMILY, 13));
    }
    mesh.draw()?;
    chart.draw_series(windows.iter().map(|w| {
        let y = row(&w.kind) as f64;
        Rectangle::new(
            [(w.start as f64 / 1e9, y - 0.35), (w.stop as f64 / 1e9, y + 0.35)],
            faults::color(&w.kind).filled(),
        )
    }))?;
    Ok(())
}

fn latency(area: &Area, samples: &[Sample], windows: &[Window], end_s: f64, text: bool) -> anyhow::Result<()> {
    // Room above the slowest op; at least 10 ms so a quiet run still has a scale.
    let hi = samples.iter().map(|s| s.latency_ms).fold(10.0, f64::max) * 1.5;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(if text { 28 } else { 0 })
        .y_label_area_size(if text { Y_LABELS_W } else { 0 })
        .build_cartesian_2d(0f64..end_s, (MIN_MS..hi).log_scale())?;
    let ms = |v: &f64| {
        if *v < 1.0 {
            format!("{v:.1}")
        } else {
            format!("{v:.0}")
        }
    };
    let seconds = |v: &f64| format!("{v:.0}");
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215));
    if text {
        mesh.y_desc("latency (ms, log scale)")
            .y_label_formatter(&ms)
            .x_label_formatter(&seconds)
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15));
    }
    mesh.draw()?;
    chart.draw_series(windows.iter().map(|w| {
        Rectangle::new(
            [(w.start as f64 / 1e9, MIN_MS), (w.stop as f64 / 1e9, hi)],
            band_style(&w.kind),
        )
    }))?;
    // ok first, so the rarer fail and info points are drawn over it.
    for (typ, color, radius) in [(Type::Ok, OK, 2), (Type::Fail, FAIL, 3), (Type::Info, INFO, 3)] {
        chart.draw_series(
            samples
                .iter()
                .filter(|s| s.typ == typ)
                .map(|s| Circle::new((s.at_s, s.latency_ms.max(MIN_MS)), radius, color.filled())),
        )?;
    }
    Ok(())
}

fn throughput(area: &Area, per_sec: &[u32], windows: &[Window], end_s: f64, text: bool) -> anyhow::Result<()> {
    let peak = per_sec.iter().copied().max().unwrap_or(0).max(1) as f64 * 1.15;
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(if text { 44 } else { 0 })
        .y_label_area_size(if text { Y_LABELS_W } else { 0 })
        .build_cartesian_2d(0f64..end_s, 0f64..peak)?;
    let seconds = |v: &f64| format!("{v:.0}");
    let count = |v: &f64| format!("{v:.0}");
    let mut mesh = chart.configure_mesh();
    mesh.light_line_style(RGBColor(242, 242, 242))
        .bold_line_style(RGBColor(215, 215, 215));
    if text {
        mesh.x_desc("time since the start of the run (s)")
            .x_label_formatter(&seconds)
            .y_label_formatter(&count)
            .y_desc("ok ops / s")
            .label_style((FAMILY, 13))
            .axis_desc_style((FAMILY, 15));
    }
    mesh.draw()?;
    chart.draw_series(per_sec.iter().enumerate().map(|(sec, &n)| {
        let x = sec as f64;
        Rectangle::new([(x, 0.0), ((x + 1.0).min(end_s), n as f64)], BAR.filled())
    }))?;
    // Bands over the bars here: they tint them, where bars over bands would hide the
    // faults wherever throughput is high.
    chart.draw_series(windows.iter().map(|w| {
        Rectangle::new(
            [(w.start as f64 / 1e9, 0.0), (w.stop as f64 / 1e9, peak)],
            band_style(&w.kind),
        )
    }))?;
    Ok(())
}

/// The legend column: op outcomes with their counts, then one swatch per fault kind
/// with how many of that kind were made.
fn legend(area: &Area, samples: &[Sample], windows: &[Window]) -> anyhow::Result<()> {
    let heading = (FAMILY, 16).into_font().color(&BLACK);
    let entry = (FAMILY, 14).into_font().color(&BLACK);
    let mut y = 30;
    area.draw_text("client ops", &heading, (10, y))?;
    y += 28;
    for (typ, color, what) in [
        (Type::Ok, OK, "ok"),
        (Type::Fail, FAIL, "fail"),
        (Type::Info, INFO, "info (unknown)"),
    ] {
        let n = samples.iter().filter(|s| s.typ == typ).count();
        area.draw(&Circle::new((20, y + 7), 5, color.filled()))?;
        area.draw_text(&format!("{what}: {n}"), &entry, (34, y))?;
        y += 24;
    }
    area.draw(&Rectangle::new([(14, y + 2), (26, y + 12)], BAR.filled()))?;
    area.draw_text("ok ops per second", &entry, (34, y))?;
    y += 44;
    area.draw_text("faults", &heading, (10, y))?;
    y += 28;
    let kinds = faults::kinds(windows);
    if kinds.is_empty() {
        area.draw_text("none", &entry, (34, y))?;
    }
    for kind in kinds {
        let n = windows.iter().filter(|w| w.kind == kind).count();
        area.draw(&Rectangle::new([(12, y), (28, y + 14)], band_style(kind)))?;
        area.draw(&Rectangle::new(
            [(12, y), (28, y + 14)],
            faults::color(kind).stroke_width(1),
        ))?;
        area.draw_text(&format!("{kind}: {n}"), &entry, (34, y))?;
        y += 24;
    }
    if has_overlap(windows) {
        y += 10;
        area.draw_text("faults overlapped: see", &entry, (10, y))?;
        area.draw_text("the timeline on top", &entry, (10, y + 20))?;
    }
    Ok(())
}

/// Whether two faults were ever in force at once.
fn has_overlap(windows: &[Window]) -> bool {
    windows
        .iter()
        .enumerate()
        .any(|(k, a)| windows[k + 1..].iter().any(|b| b.start < a.stop && a.start < b.stop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(kind: &str, start: u64, stop: u64) -> Window {
        Window {
            kind: kind.to_string(),
            start,
            stop,
        }
    }

    #[test]
    fn overlap_is_two_faults_in_force_at_once() {
        assert!(has_overlap(&[w("clock", 1, 5), w("partition", 2, 4)]));
        assert!(!has_overlap(&[w("clock", 1, 5), w("partition", 5, 8)]));
        assert!(!has_overlap(&[w("kill", 1, 2)]));
    }
}
