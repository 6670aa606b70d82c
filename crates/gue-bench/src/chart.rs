//! Charts (feature `plots`): `report.png`, and the one embedded font every chart of the
//! workspace uses (DejaVu Sans, free licence, `assets/DejaVuSans-LICENSE.txt`).

use std::path::Path;
use std::sync::Once;

use plotters::prelude::*;
use plotters::style::{FontStyle, FontTransform};

use crate::error::RunnerError;
use crate::registry::Registry;
use crate::report::{TaskAggregate, aggregate, models, shown_tasks};
use crate::runner::RunRecord;

static FONT: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// Registers the workspace's one embedded chart font (DejaVu Sans) with plotters and
/// returns its family name; every chart of the workspace (this report, training curves)
/// draws its text with it.
pub fn register_font() -> &'static str {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // The font is embedded and known to parse; a failure would only drop chart text.
        let _ = plotters::style::register_font("sans-serif", FontStyle::Normal, FONT);
    });
    "sans-serif"
}

/// Draws `report.png` at `path` atomically.
pub fn write_png(
    path: &Path,
    registry: &Registry,
    records: &[RunRecord],
) -> Result<(), RunnerError> {
    let mut drawn = Ok(());
    dna_bpe::atomic::write_with(path, |tmp| {
        drawn = render_png(tmp, registry, records);
        drawn
            .as_ref()
            .map(|_| ())
            .map_err(|e| std::io::Error::other(e.to_string()))
    })
    .map_err(|source| RunnerError::Io {
        file: path.to_path_buf(),
        source,
    })?;
    drawn
}

// Long by design: plotters chart construction (axes, bars, whiskers, legend) in drawing order.
/// Draw `report.png`: per task, our mean (with ±sd whisker) beside the paper's
/// DNABERT-2 score, for the first model in the records.
pub fn render_png(
    path: &Path,
    registry: &Registry,
    records: &[RunRecord],
) -> Result<(), RunnerError> {
    register_font();
    let chart_err = |e: &dyn std::fmt::Display| RunnerError::Chart {
        file: path.to_path_buf(),
        message: e.to_string(),
    };
    let Some(model) = models(records).into_iter().next() else {
        return Ok(());
    };
    let rows: Vec<(String, Option<TaskAggregate>, Option<f64>)> =
        shown_tasks(registry, records, &model)
            .into_iter()
            .map(|t| {
                (
                    t.path(),
                    aggregate(records, &model, &t.path()),
                    t.published.dnabert2,
                )
            })
            .collect();
    let n = rows.len().max(1);
    let ymin = rows
        .iter()
        .filter_map(|(_, a, _)| a.as_ref().map(|a| a.mean - a.sd))
        .fold(0.0f64, f64::min)
        .floor();
    let width = (140 + 38 * n as u32).max(480);
    let root = BitMapBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| chart_err(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{model} vs DNABERT-2 (paper), x100"),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(130)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..n as f64, ymin..100f64)
        .map_err(|e| chart_err(&e))?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc("score x100 (MCC / F1)")
        .draw()
        .map_err(|e| chart_err(&e))?;
    let ours_color = RGBColor(31, 119, 180);
    let paper_color = RGBColor(255, 127, 14);
    for (i, (name, agg, paper)) in rows.iter().enumerate() {
        let x = i as f64;
        if let Some(a) = agg {
            chart
                .draw_series([Rectangle::new(
                    [(x + 0.1, 0.0), (x + 0.5, a.mean)],
                    ours_color.filled(),
                )])
                .map_err(|e| chart_err(&e))?;
            chart
                .draw_series([PathElement::new(
                    vec![(x + 0.3, a.mean - a.sd), (x + 0.3, a.mean + a.sd)],
                    BLACK,
                )])
                .map_err(|e| chart_err(&e))?;
        }
        if let Some(p) = paper {
            chart
                .draw_series([Rectangle::new(
                    [(x + 0.5, 0.0), (x + 0.9, *p)],
                    paper_color.filled(),
                )])
                .map_err(|e| chart_err(&e))?;
        }
        let (px, py) = chart.backend_coord(&(x + 0.5, ymin));
        let style = ("sans-serif", 13)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK);
        root.draw(&Text::new(name.clone(), (px - 6, py + 6), style))
            .map_err(|e| chart_err(&e))?;
    }
    chart
        .draw_series([Rectangle::new(
            [(0.0, ymin), (0.0, ymin)],
            ours_color.filled(),
        )])
        .map_err(|e| chart_err(&e))?
        .label(format!("{model} (mean ± sd)"))
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], ours_color.filled()));
    chart
        .draw_series([Rectangle::new(
            [(0.0, ymin), (0.0, ymin)],
            paper_color.filled(),
        )])
        .map_err(|e| chart_err(&e))?
        .label("DNABERT-2 (paper)")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], paper_color.filled()));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| chart_err(&e))?;
    root.present().map_err(|e| chart_err(&e))?;
    Ok(())
}
