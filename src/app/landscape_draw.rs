//! Drawing the landscape views with plotters: the line between two snapshots, heatmaps with
//! contours of a 2D slice or of a trajectory plane, and paths on a trajectory plane.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use super::charts::RUN_COLORS;
use crate::landscape::map::PlaneMap;

type DrawResult = Result<(), Box<dyn std::error::Error>>;

pub fn draw_line(
    canvas: HtmlCanvasElement,
    coeffs: &[f64],
    series: &[(String, Vec<f64>)],
) -> DrawResult {
    let area = CanvasBackend::with_canvas_object(canvas)
        .ok_or("no canvas")?
        .into_drawing_area();
    area.fill(&WHITE)?;
    let hi = series
        .iter()
        .flat_map(|s| s.1.iter())
        .copied()
        .fold(0.0f64, f64::max)
        .max(0.1);
    let mut chart = ChartBuilder::on(&area)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(-0.2f64..1.2, 0f64..hi * 1.05)?;
    chart
        .configure_mesh()
        .x_desc("c  (0 = A, 1 = B)")
        .y_desc("train loss")
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    for (k, (name, values)) in series.iter().enumerate() {
        let color = RUN_COLORS[k % RUN_COLORS.len()];
        chart
            .draw_series(
                LineSeries::new(
                    coeffs.iter().copied().zip(values.iter().copied()),
                    color.stroke_width(2),
                )
                .point_size(2),
            )?
            .label(name.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    for x in [0.0, 1.0] {
        chart.draw_series(LineSeries::new([(x, 0.0), (x, hi * 1.05)], BLACK.mix(0.25)))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.2))
        .draw()?;
    area.present()?;
    Ok(())
}

/// Viridis-like colour for t in [0, 1].
fn heat(t: f64) -> RGBColor {
    const STOPS: [(f64, f64, f64); 5] = [
        (68.0, 1.0, 84.0),
        (59.0, 82.0, 139.0),
        (33.0, 145.0, 140.0),
        (94.0, 201.0, 98.0),
        (253.0, 231.0, 37.0),
    ];
    let t = t.clamp(0.0, 1.0) * 4.0;
    let i = (t.floor() as usize).min(3);
    let f = t - i as f64;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(
        (a.0 + (b.0 - a.0) * f) as u8,
        (a.1 + (b.1 - a.1) * f) as u8,
        (a.2 + (b.2 - a.2) * f) as u8,
    )
}

/// Contour segments of one level over a grid (marching squares, no saddle disambiguation):
/// z[r][c] at (xs[c], ys[r]).
fn contour(xs: &[f64], ys: &[f64], z: &[Vec<f64>], level: f64) -> Vec<[(f64, f64); 2]> {
    let mut segs = Vec::new();
    let cross = |(x0, y0, z0): (f64, f64, f64), (x1, y1, z1): (f64, f64, f64)| {
        let t = (level - z0) / (z1 - z0);
        (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    };
    for r in 0..z.len().saturating_sub(1) {
        for c in 0..xs.len() - 1 {
            let corners = [
                (xs[c], ys[r], z[r][c]),
                (xs[c + 1], ys[r], z[r][c + 1]),
                (xs[c + 1], ys[r + 1], z[r + 1][c + 1]),
                (xs[c], ys[r + 1], z[r + 1][c]),
            ];
            let pts: Vec<(f64, f64)> = (0..4)
                .filter_map(|e| {
                    let (p, q) = (corners[e], corners[(e + 1) % 4]);
                    ((p.2 < level) != (q.2 < level)).then(|| cross(p, q))
                })
                .collect();
            for pair in pts.chunks_exact(2) {
                segs.push([pair[0], pair[1]]);
            }
        }
    }
    segs
}

type Chart<'a> = ChartContext<
    'a,
    CanvasBackend,
    plotters::coord::cartesian::Cartesian2d<
        plotters::coord::types::RangedCoordf64,
        plotters::coord::types::RangedCoordf64,
    >,
>;

/// A heatmap chart over the cells (xs[c], ys[r]) with axis names, and the cells computed so
/// far (log scale of the loss, so a basin's shape shows even when the edges are steep), with
/// contours once every row is in.
fn heatmap<'a>(
    area: &'a DrawingArea<CanvasBackend, plotters::coord::Shift>,
    (xs, ys): (&[f64], &[f64]),
    losses: &[Vec<f64>],
    (x_desc, y_desc): (&str, &str),
) -> Result<Chart<'a>, Box<dyn std::error::Error>> {
    let (lo, hi) = losses
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    let scale = |v: f64| ((v / lo).ln() / (hi / lo).ln().max(1e-9)).clamp(0.0, 1.0);
    let hx = (xs[1] - xs[0]) / 2.0;
    let hy = (ys[1] - ys[0]) / 2.0;
    let (x0, x1) = (xs[0] - hx, xs[xs.len() - 1] + hx);
    let (y0, y1) = (ys[0] - hy, ys[ys.len() - 1] + hy);
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    chart.draw_series(losses.iter().enumerate().flat_map(|(r, row)| {
        row.iter().enumerate().map(move |(c, &v)| {
            let (x, y) = (xs[c], ys[r]);
            Rectangle::new(
                [(x - hx, y - hy), (x + hx, y + hy)],
                heat(scale(v)).filled(),
            )
        })
    }))?;
    let complete = losses.len() == ys.len() && losses.iter().all(|r| r.len() == xs.len());
    if complete && hi > lo {
        for k in 1..8 {
            let level = lo * (hi / lo).powf(k as f64 / 8.0);
            for seg in contour(xs, ys, losses, level) {
                chart.draw_series(std::iter::once(PathElement::new(
                    seg.to_vec(),
                    WHITE.mix(0.7),
                )))?;
            }
        }
    }
    Ok(chart)
}

pub fn draw_plane(canvas: HtmlCanvasElement, coords: &[f64], losses: &[Vec<f64>]) -> DrawResult {
    let area = CanvasBackend::with_canvas_object(canvas)
        .ok_or("no canvas")?
        .into_drawing_area();
    area.fill(&WHITE)?;
    let mut chart = heatmap(
        &area,
        (coords, coords),
        losses,
        ("direction 1", "direction 2"),
    )?;
    chart.draw_series(std::iter::once(Cross::new(
        (0.0, 0.0),
        6,
        MASK_UPDATE.stroke_width(2),
    )))?;
    area.present()?;
    Ok(())
}

/// Colour of the mask-update points on a path (and of the random plane's centre).
const MASK_UPDATE: RGBColor = RGBColor(229, 72, 77);

/// How a path is drawn: its colour and its name in the legend.
pub struct PathStyle {
    pub color: RGBColor,
    pub label: String,
}

/// The loss on a trajectory plane with the paths on it: each path a line in its colour,
/// every mask update a red point, the start a ring (`start_label` in the legend)
/// and each end a square in the path's colour.
pub fn draw_map(
    canvas: HtmlCanvasElement,
    map: &PlaneMap,
    styles: &[PathStyle],
    start_label: &str,
) -> DrawResult {
    let area = CanvasBackend::with_canvas_object(canvas)
        .ok_or("no canvas")?
        .into_drawing_area();
    area.fill(&WHITE)?;
    let x_desc = format!("PC1 ({:.1}% of the movement)", 100.0 * map.explained[0]);
    let y_desc = format!("PC2 ({:.1}%)", 100.0 * map.explained[1]);
    let mut chart = heatmap(&area, (&map.xs, &map.ys), &map.losses, (&x_desc, &y_desc))?;
    for (path, style) in map.paths.iter().zip(styles) {
        let line: Vec<(f64, f64)> = path.points.iter().map(|q| (q.x, q.y)).collect();
        chart.draw_series(std::iter::once(PathElement::new(
            line.clone(),
            WHITE.stroke_width(4),
        )))?;
        let color = style.color;
        chart
            .draw_series(std::iter::once(PathElement::new(
                line,
                color.stroke_width(2),
            )))?
            .label(style.label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2))
            });
    }
    let updates: Vec<(f64, f64)> = map
        .paths
        .iter()
        .flat_map(|p| p.points.iter().filter(|q| q.mask_update))
        .map(|q| (q.x, q.y))
        .collect();
    if !updates.is_empty() {
        chart
            .draw_series(updates.iter().map(|&p| {
                EmptyElement::at(p)
                    + Circle::new((0, 0), 5, WHITE.filled())
                    + Circle::new((0, 0), 4, MASK_UPDATE.filled())
            }))?
            .label("mask update")
            .legend(|(x, y)| Circle::new((x + 8, y), 4, MASK_UPDATE.filled()));
    }
    for (path, style) in map.paths.iter().zip(styles) {
        if let Some(end) = path.points.last() {
            let color = style.color;
            chart.draw_series(std::iter::once(
                EmptyElement::at((end.x, end.y))
                    + Rectangle::new([(-5, -5), (5, 5)], color.filled())
                    + Rectangle::new([(-5, -5), (5, 5)], BLACK.stroke_width(1)),
            ))?;
        }
    }
    if let Some(start) = map.paths.first().and_then(|p| p.points.first()) {
        chart
            .draw_series(std::iter::once(
                EmptyElement::at((start.x, start.y))
                    + Circle::new((0, 0), 8, WHITE.stroke_width(3))
                    + Circle::new((0, 0), 7, BLACK.stroke_width(2)),
            ))?
            .label(start_label)
            .legend(|(x, y)| Circle::new((x + 8, y), 5, BLACK.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.2))
        .draw()?;
    area.present()?;
    Ok(())
}
