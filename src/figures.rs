//! Figures drawn the same way on the page (a canvas) and by the CLI (SVG): accuracy against
//! training FLOPs (the paper's Figure 2 axes) and the ΔT x α map (its Figure 5), over any
//! plotters backend.

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// A point of the accuracy-vs-FLOPs figure.
#[derive(Clone, Debug, PartialEq)]
pub struct TradeoffPoint {
    pub label: String,
    /// Training FLOPs as a fraction of dense training's.
    pub flops: f64,
    /// Test accuracy in %, and its standard deviation over seeds (0 for one run).
    pub accuracy: f64,
    pub spread: f64,
    pub color: RGBColor,
}

fn err<E: std::fmt::Debug>(e: E) -> String {
    format!("{e:?}")
}

/// Points at (training FLOPs / dense on a log axis, test accuracy), each labelled, with a
/// legend of `legend` (name, colour) when given. `font` scales the text (12 on the page).
pub fn tradeoff<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: Option<&str>,
    points: &[TradeoffPoint],
    legend: &[(String, RGBColor)],
    font: u32,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(a, b), p| {
        (a.min(p.accuracy - p.spread), b.max(p.accuracy + p.spread))
    });
    // The accuracy axis in steps of 5 around the data.
    let (y0, y1) = (
        (((lo - 2.0) / 5.0).floor() * 5.0).max(0.0),
        (((hi + 2.0) / 5.0).ceil() * 5.0).min(100.0),
    );
    let (x0, x1) = points.iter().fold((1.0f64, 1.0f64), |(a, b), p| {
        (a.min(p.flops), b.max(p.flops))
    });
    let mut builder = ChartBuilder::on(root);
    if let Some(t) = title {
        builder.caption(t, ("sans-serif", font + 8));
    }
    let mut chart = builder
        .margin(10)
        .x_label_area_size(3 * font + 2)
        .y_label_area_size(4 * font)
        .build_cartesian_2d(
            ((x0 / 2.0).max(1e-4)..(x1 * 1.5)).log_scale(),
            y0..y1.max(y0 + 5.0),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_labels(4)
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("training FLOPs / dense (log)")
        .y_desc("test accuracy %")
        .label_style(("sans-serif", font))
        .draw()
        .map_err(err)?;
    for p in points {
        let (x, y, c) = (p.flops, p.accuracy, p.color);
        if p.spread > 0.0 {
            chart
                .draw_series([PathElement::new(
                    vec![(x, y - p.spread), (x, y + p.spread)],
                    c.stroke_width(2),
                )])
                .map_err(err)?;
        }
        chart
            .draw_series([Circle::new((x, y), 6, c.filled())])
            .map_err(err)?;
        // Right of the point, or left of it near the right edge (dense sits at 1).
        let (at, anchor) = if x > 0.25 {
            (x / 1.12, HPos::Right)
        } else {
            (x * 1.12, HPos::Left)
        };
        let style = ("sans-serif", font)
            .into_font()
            .color(&c)
            .pos(Pos::new(anchor, VPos::Center));
        chart
            .draw_series([Text::new(p.label.clone(), (at, y), style)])
            .map_err(err)?;
    }
    if !legend.is_empty() {
        for (name, c) in legend {
            let c = *c;
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(err)?
                .label(name.clone())
                .legend(move |(x, y)| Circle::new((x, y), 5, c.filled()));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .label_font(("sans-serif", font))
            .position(SeriesLabelPosition::LowerRight)
            .draw()
            .map_err(err)?;
    }
    root.present().map_err(err)
}

/// The ΔT x α map: a cell per (ΔT, α), coloured from pale (the lowest accuracy) to deep blue
/// (the highest), its value written in it; `value(dt, alpha)` is the mean test accuracy in %,
/// None for a cell not trained (yet).
pub fn sweep_map<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: Option<&str>,
    dts: &[usize],
    alphas: &[f64],
    value: impl Fn(usize, f64) -> Option<f64>,
    font: u32,
) -> Result<(), String> {
    root.fill(&WHITE).map_err(err)?;
    if dts.is_empty() || alphas.is_empty() {
        return root.present().map_err(err);
    }
    let values: Vec<f64> = dts
        .iter()
        .flat_map(|&d| {
            alphas
                .iter()
                .filter_map(|&a| value(d, a))
                .collect::<Vec<_>>()
        })
        .collect();
    let (lo, hi) = values
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let mut builder = ChartBuilder::on(root);
    if let Some(t) = title {
        builder.caption(t, ("sans-serif", font + 6));
    }
    // (plotters' integer ranges include their end)
    let mut chart = builder
        .margin(10)
        .x_label_area_size(3 * font)
        .y_label_area_size(5 * font)
        .build_cartesian_2d(
            (0..alphas.len() - 1).into_segmented(),
            (0..dts.len() - 1).into_segmented(),
        )
        .map_err(err)?;
    let label = |v: &SegmentValue<usize>, f: &dyn Fn(usize) -> Option<String>| match v {
        SegmentValue::CenterOf(i) => f(*i).unwrap_or_default(),
        _ => String::new(),
    };
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(alphas.len())
        .y_labels(dts.len())
        .label_style(("sans-serif", font))
        .x_label_formatter(&|v| label(v, &|i| alphas.get(i).map(|a| format!("α = {a}"))))
        .y_label_formatter(&|v| label(v, &|i| dts.get(i).map(|d| format!("ΔT = {d}"))))
        .draw()
        .map_err(err)?;
    for (yi, &dt) in dts.iter().enumerate() {
        for (xi, &a) in alphas.iter().enumerate() {
            let corner = |x, y| (SegmentValue::Exact(x), SegmentValue::Exact(y));
            let Some(v) = value(dt, a) else {
                chart
                    .draw_series([Rectangle::new(
                        [corner(xi, yi), corner(xi + 1, yi + 1)],
                        RGBColor(245, 245, 245).filled(),
                    )])
                    .map_err(err)?;
                continue;
            };
            let t = if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            let color = RGBColor(
                (235.0 - 190.0 * t) as u8,
                (240.0 - 140.0 * t) as u8,
                (250.0 - 60.0 * t) as u8,
            );
            chart
                .draw_series([Rectangle::new(
                    [corner(xi, yi), corner(xi + 1, yi + 1)],
                    color.filled(),
                )])
                .map_err(err)?;
            let ink = if t > 0.6 { WHITE } else { BLACK };
            let style = ("sans-serif", font + 3)
                .into_font()
                .color(&ink)
                .pos(Pos::new(HPos::Center, VPos::Center));
            chart
                .draw_series([Text::new(
                    format!("{v:.2}"),
                    (SegmentValue::CenterOf(xi), SegmentValue::CenterOf(yi)),
                    style,
                )])
                .map_err(err)?;
        }
    }
    root.present().map_err(err)
}
