//! The HTML report's charts, drawn as inline SVG with plotters: the latency distribution per
//! hardware, the pass share per family and hardware, and the slowest models.

use runtime::results::record::OutcomeKind;
use std::collections::BTreeMap;

use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::data::ReportData;

/// One colour per hardware column, in `Hardware::ALL` order of appearance.
const SERIES: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

const WIDTH: u32 = 900;
const FONT: &str = "sans-serif";

fn failed(chart: &str, error: impl std::fmt::Display) -> String {
    format!(
        "<p class=\"chart-error\">The {chart} chart could not be drawn: {}</p>",
        super::html::escape(&error.to_string())
    )
}

/// A horizontal bar chart: one labelled bar per row, longest first at the top.
fn bars(title: &str, axis: &str, rows: &[(String, f64, RGBColor)], max: f64) -> String {
    let height = 60 + 18 * rows.len().max(1) as u32;
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)?;
        let longest = rows.iter().map(|(label, ..)| label.len()).max().unwrap_or(8) as u32;
        let n = rows.len() as i32;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(8)
            .margin_right(30)
            .x_label_area_size(34)
            .y_label_area_size((longest * 7 + 12).min(320))
            .build_cartesian_2d(0f64..max.max(f64::MIN_POSITIVE), (0..n).into_segmented())?;
        let labels: Vec<&str> = rows.iter().rev().map(|(label, ..)| label.as_str()).collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows.len())
            .y_label_formatter(&|v| match v {
                SegmentValue::CenterOf(i) => labels.get(*i as usize).map(|s| s.to_string()).unwrap_or_default(),
                _ => String::new(),
            })
            .x_label_formatter(&|v| format!("{v:.0}"))
            .x_desc(axis)
            .label_style((FONT, 12))
            .draw()?;
        chart.draw_series(rows.iter().rev().enumerate().map(|(i, (_, value, colour))| {
            let mut bar = Rectangle::new(
                [(0.0, SegmentValue::Exact(i as i32)), (*value, SegmentValue::Exact(i as i32 + 1))],
                colour.filled(),
            );
            bar.set_margin(2, 2, 0, 0);
            bar
        }))?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(error) => failed(title, error),
    }
}

/// The colour of a hardware column.
pub fn colour(data: &ReportData, hardware: &str) -> RGBColor {
    let index = data.columns().iter().position(|h| *h == hardware).unwrap_or(0);
    SERIES[index % SERIES.len()]
}

/// The CSS colour of a hardware column (legends outside the charts).
pub fn css_colour(data: &ReportData, hardware: &str) -> String {
    let RGBColor(r, g, b) = colour(data, hardware);
    format!("rgb({r},{g},{b})")
}

/// Histogram of p50 latencies of passing cells, per hardware, on a log scale (4 bins a decade).
pub fn latency_distribution(data: &ReportData) -> String {
    const BINS_PER_DECADE: f64 = 4.0;
    let columns = data.columns();
    let mut counts: BTreeMap<(usize, i64), usize> = BTreeMap::new();
    for (h, hw) in columns.iter().enumerate() {
        for cell in data.on(hw) {
            if let (Some(ms), OutcomeKind::Passed) = (cell.p50_ms, cell.outcome) {
                if ms > 0.0 {
                    *counts.entry((h, (ms.log10() * BINS_PER_DECADE).floor() as i64)).or_default() += 1;
                }
            }
        }
    }
    let title = "p50 latency of passing models, per hardware";
    if counts.is_empty() {
        return "<p>No passing model was timed in this scope.</p>".into();
    }
    let low = counts.keys().map(|(_, b)| *b).min().unwrap_or(0);
    let high = counts.keys().map(|(_, b)| *b).max().unwrap_or(0) + 1;
    let top = counts.values().copied().max().unwrap_or(1) as f64 * 1.1;
    let mut svg = String::new();
    let drawn = (|| -> Result<(), Box<dyn std::error::Error>> {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, 320)).into_drawing_area();
        root.fill(&WHITE)?;
        let (x0, x1) = (low as f64 / BINS_PER_DECADE, high as f64 / BINS_PER_DECADE);
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 16))
            .margin(8)
            .margin_right(40)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(x0..x1, 0f64..top)?;
        chart
            .configure_mesh()
            .x_labels(((x1 - x0) * 2.0) as usize + 1)
            .x_label_formatter(&|v| {
                let ms = 10f64.powf(*v);
                if ms >= 1.0 {
                    format!("{ms:.0} ms")
                } else {
                    format!("{ms:.2} ms")
                }
            })
            .y_label_formatter(&|v| format!("{v:.0}"))
            .x_desc("p50 latency (log scale)")
            .y_desc("models")
            .label_style((FONT, 12))
            .draw()?;
        let width = 1.0 / BINS_PER_DECADE / columns.len().max(1) as f64;
        for (h, hw) in columns.iter().enumerate() {
            let colour = colour(data, hw);
            chart
                .draw_series(counts.iter().filter(|((series, _), _)| *series == h).map(|((_, bin), n)| {
                    let left = *bin as f64 / BINS_PER_DECADE + h as f64 * width;
                    Rectangle::new([(left, 0.0), (left + width * 0.9, *n as f64)], colour.filled())
                }))?
                .label(*hw)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .label_font((FONT, 12))
            .draw()?;
        root.present()?;
        Ok(())
    })();
    match drawn {
        Ok(()) => svg,
        Err(error) => failed(title, error),
    }
}

/// Pass share (passed / ran, skips excluded) per family and hardware.
pub fn pass_share(data: &ReportData) -> String {
    let mut shares: BTreeMap<(String, &str), (usize, usize)> = BTreeMap::new();
    for cell in data.cells.iter().filter(|c| c.outcome != OutcomeKind::Skipped) {
        let family = if cell.family.is_empty() { "unknown".to_string() } else { cell.family.clone() };
        let entry = shares.entry((family, cell.hardware.as_str())).or_default();
        entry.1 += 1;
        entry.0 += usize::from(cell.outcome == OutcomeKind::Passed);
    }
    if shares.is_empty() {
        return "<p>No model ran in this scope (every cell was skipped).</p>".into();
    }
    let several = data.columns().len() > 1;
    let mut rows: Vec<(String, f64, RGBColor)> = shares
        .iter()
        .map(|((family, hw), (passed, ran))| {
            let label = if several {
                format!("{family} on {hw} ({passed}/{ran})")
            } else {
                format!("{family} ({passed}/{ran})")
            };
            (label, 100.0 * *passed as f64 / *ran as f64, colour(data, hw))
        })
        .collect();
    rows.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    bars("Pass share per family (passed of ran; skipped cells excluded)", "passed (%)", &rows, 100.0)
}

/// The `count` slowest passing cells by p50.
pub fn slowest(data: &ReportData, count: usize) -> String {
    let mut rows: Vec<(String, f64, RGBColor)> = data
        .cells
        .iter()
        .filter(|c| c.outcome == OutcomeKind::Passed)
        .filter_map(|c| {
            c.p50_ms
                .map(|ms| (format!("{} on {} ({ms:.1} ms)", c.model_type, c.hardware), ms, colour(data, &c.hardware)))
        })
        .collect();
    if rows.is_empty() {
        return "<p>No passing model was timed in this scope.</p>".into();
    }
    rows.sort_by(|a, b| b.1.total_cmp(&a.1));
    rows.truncate(count);
    let max = rows.first().map(|r| r.1).unwrap_or(1.0) * 1.05;
    bars(&format!("The {} slowest passing models (p50)", rows.len()), "p50 latency (ms)", &rows, max)
}
