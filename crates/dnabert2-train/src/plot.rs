//! PNG line charts of training curves (plotters, bitmap backend, embedded
//! DejaVu Sans Mono font so it works on machines without system fonts).
//!
//! A figure is a column of [`Panel`]s sharing nothing but the image; each
//! panel has line [`Series`] and optional horizontal reference lines
//! (e.g. a unigram baseline). The PNG is written atomically.
//!
//! ```
//! use dnabert2_train::plot::{draw_panels, Panel, Series};
//! let dir = tempfile::tempdir().unwrap();
//! let png = dir.path().join("curves.png");
//! let panel = Panel {
//!     title: "loss".into(),
//!     x_label: "step".into(),
//!     y_label: "cross-entropy".into(),
//!     series: vec![Series::new("train", vec![(0.0, 8.3), (10.0, 6.1), (20.0, 5.2)])],
//!     hlines: vec![("unigram baseline".into(), 7.9)],
//! };
//! draw_panels(&png, "demo", &[panel], (800, 400)).unwrap();
//! assert!(std::fs::metadata(&png).unwrap().len() > 1000);
//! ```

use std::path::Path;

#[cfg(feature = "plots")]
use plotters::prelude::*;

use crate::error::Result;
#[cfg(feature = "plots")]
use crate::error::{TrainError, io_err};

/// One line of a panel.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// `(x, y)` points in drawing order; non-finite points are skipped.
    pub points: Vec<(f64, f64)>,
}

impl Series {
    /// A series from a label and points.
    pub fn new(label: impl Into<String>, points: Vec<(f64, f64)>) -> Self {
        Self {
            label: label.into(),
            points,
        }
    }
}

/// One chart: axes, lines and horizontal reference lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Panel {
    /// Caption above the chart.
    pub title: String,
    /// X axis description.
    pub x_label: String,
    /// Y axis description.
    pub y_label: String,
    /// Lines to draw.
    pub series: Vec<Series>,
    /// Horizontal dashed reference lines `(label, y)`.
    pub hlines: Vec<(String, f64)>,
}

/// Draws `panels` stacked vertically into a PNG of `size` pixels at `path`, atomically.
/// Without the `plots` feature nothing is drawn (a debug event says so).
pub fn draw_panels(path: &Path, title: &str, panels: &[Panel], size: (u32, u32)) -> Result<()> {
    #[cfg(not(feature = "plots"))]
    {
        let _ = (title, panels, size);
        log::debug!(
            "built without the `plots` feature: {} not drawn",
            path.display()
        );
        Ok(())
    }
    #[cfg(feature = "plots")]
    {
        let font = gue_bench::chart::register_font();
        let plot_err = |e: String| TrainError::Plot {
            path: path.to_path_buf(),
            message: e,
        };
        let mut drawn = Ok(());
        dna_bpe::atomic::write_with(path, |tmp| {
            drawn = (|| {
                let root = BitMapBackend::new(tmp, size).into_drawing_area();
                root.fill(&WHITE).map_err(|e| plot_err(e.to_string()))?;
                let root = root
                    .titled(title, (font, 22))
                    .map_err(|e| plot_err(e.to_string()))?;
                let areas = root.split_evenly((panels.len().max(1), 1));
                for (panel, area) in panels.iter().zip(areas.iter()) {
                    draw_panel(area, panel, font).map_err(plot_err)?;
                }
                root.present().map_err(|e| plot_err(e.to_string()))
            })();
            drawn
                .as_ref()
                .map(|_| ())
                .map_err(|e| std::io::Error::other(e.to_string()))
        })
        .map_err(io_err(path))?;
        drawn
    }
}

// Long by design: plotters chart construction in drawing order.
#[cfg(feature = "plots")]
fn draw_panel(
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    p: &Panel,
    font: &str,
) -> std::result::Result<(), String> {
    let finite = |&(x, y): &(f64, f64)| x.is_finite() && y.is_finite();
    let pts = p
        .series
        .iter()
        .flat_map(|s| s.points.iter().copied())
        .filter(finite);
    let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (x, y) in pts {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    for &(_, y) in &p.hlines {
        if y.is_finite() {
            (y0, y1) = (y0.min(y), y1.max(y));
        }
    }
    if x0 > x1 {
        (x0, x1) = (0.0, 1.0);
    }
    if y0 > y1 {
        (y0, y1) = (0.0, 1.0);
    }
    if x1 - x0 < 1e-12 {
        x1 = x0 + 1.0;
    }
    let pad = ((y1 - y0) * 0.05).max(1e-6);
    let (y0, y1) = (y0 - pad, y1 + pad);

    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, (font, 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(60)
        .build_cartesian_2d(x0..x1, y0..y1)
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc(p.x_label.as_str())
        .y_desc(p.y_label.as_str())
        .label_style((font, 13))
        .draw()
        .map_err(|e| e.to_string())?;
    for (i, s) in p.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = s.points.iter().copied().filter(finite).collect();
        if points.len() <= 60 {
            // Short series (e.g. a few evaluations) get markers: a single
            // point would otherwise draw nothing.
            chart
                .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
                .map_err(|e| e.to_string())?;
        }
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| e.to_string())?
            .label(s.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    for (i, (label, y)) in p.hlines.iter().enumerate() {
        let color = Palette99::pick(p.series.len() + i).to_rgba();
        let y = *y;
        let dashes = dashed_segments(x0, x1, y, 60);
        chart
            .draw_series(
                dashes
                    .into_iter()
                    .map(|seg| PathElement::new(seg, color.stroke_width(1))),
            )
            .map_err(|e| e.to_string())?
            .label(label.as_str())
            .legend(move |(x, yy)| {
                PathElement::new(vec![(x, yy), (x + 20, yy)], color.stroke_width(1))
            });
    }
    chart
        .configure_series_labels()
        .label_font((font, 13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Splits the horizontal line `y` over `[x0, x1]` into `n` dashes.
#[cfg(feature = "plots")]
fn dashed_segments(x0: f64, x1: f64, y: f64, n: usize) -> Vec<Vec<(f64, f64)>> {
    let w = (x1 - x0) / (2 * n) as f64;
    (0..n)
        .map(|i| {
            let a = x0 + 2.0 * i as f64 * w;
            vec![(a, y), (a + w, y)]
        })
        .collect()
}
