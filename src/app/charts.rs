//! Loss, accuracy and drop-fraction charts, drawn with plotters on the page's canvases, and
//! the same drawing as one SVG file (Export SVG).

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use web_sys::HtmlCanvasElement;

use super::lab::History;
use crate::sparse::schedule::UpdateSchedule;

/// Colours of the runs, in order (the primary run first).
pub const RUN_COLORS: [RGBColor; 4] = [
    RGBColor(15, 118, 110),
    RGBColor(217, 119, 6),
    RGBColor(124, 58, 237),
    RGBColor(219, 39, 119),
];
pub const RUN_CSS: [&str; 4] = ["#0f766e", "#d97706", "#7c3aed", "#db2777"];

/// At most this many points per line: longer series are averaged in buckets.
const MAX_POINTS: usize = 400;

pub struct Series<'a> {
    pub label: &'a str,
    pub history: &'a History,
}

/// The mini-batch loss smoothed by an exponential moving average (the raw loss is noisy),
/// bucketed to at most MAX_POINTS points.
fn smoothed_loss(h: &History) -> Vec<(f64, f64)> {
    let mut ema = None;
    let smooth: Vec<(f64, f64)> = h
        .losses
        .iter()
        .map(|&(s, l)| {
            let e = ema.map_or(l, |e: f64| 0.95 * e + 0.05 * l);
            ema = Some(e);
            (s as f64, e)
        })
        .collect();
    let every = smooth.len().div_ceil(MAX_POINTS).max(1);
    smooth
        .iter()
        .step_by(every)
        .copied()
        .chain(smooth.last().copied())
        .collect()
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;
type Area<DB> = DrawingArea<DB, plotters::coord::Shift>;

/// A legend entry's mark: a line (colour, width) or a dot (colour, radius).
#[derive(Clone, Copy)]
enum Swatch {
    Line(RGBAColor, u32),
    Dot(RGBAColor, u32),
}

/// The legend of `entries` in the upper (or lower) right corner of `chart`'s plotting area,
/// as plotters draws one (a white box, a mark and a label a line) but without measuring any
/// text: in a browser each measurement lays the page out, and plotters' legend measures every
/// label two or three times; redrawn four times a second for a race, that was most of the
/// page thread's work. The box fits the longest label at 0.6 em a character.
fn legend<DB: DrawingBackend, CT: plotters::coord::CoordTranslate>(
    chart: &ChartContext<DB, CT>,
    entries: &[(String, Swatch)],
    lower: bool,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    if entries.is_empty() {
        return Ok(());
    }
    const FONT: i32 = 12;
    const LINE: i32 = 15;
    const MARGIN: i32 = 10;
    const MARK: i32 = 30;
    let area = chart.plotting_area().strip_coord_spec();
    let (aw, ah) = area.dim_in_pixel();
    let chars = entries
        .iter()
        .map(|e| e.0.chars().count())
        .max()
        .unwrap_or(0);
    let w = (chars as f64 * 0.6 * f64::from(FONT)).ceil() as i32 + MARK + 2 * MARGIN;
    let h = entries.len() as i32 * LINE + 2 * MARGIN - (LINE - FONT);
    let x = aw as i32 - w - 5;
    let y = if lower { ah as i32 - h - 5 } else { 5 };
    area.draw(&Rectangle::new(
        [(x, y), (x + w, y + h)],
        WHITE.mix(0.85).filled(),
    ))?;
    area.draw(&Rectangle::new([(x, y), (x + w, y + h)], BLACK.mix(0.2)))?;
    let font = ("sans-serif", FONT).into_font();
    for (k, (label, swatch)) in entries.iter().enumerate() {
        let top = y + MARGIN + k as i32 * LINE;
        let mid = top + FONT / 2;
        match *swatch {
            Swatch::Line(c, width) => area.draw(&PathElement::new(
                vec![(x + MARGIN, mid), (x + MARGIN + 16, mid)],
                c.stroke_width(width),
            ))?,
            Swatch::Dot(c, r) => area.draw(&Circle::new((x + MARGIN + 8, mid), r, c.filled()))?,
        }
        area.draw(&Text::new(
            label.as_str(),
            (x + MARGIN + MARK, top),
            font.clone(),
        ))?;
    }
    Ok(())
}

/// A canvas as a white drawing area.
pub fn root(canvas: HtmlCanvasElement) -> Option<Area<CanvasBackend>> {
    let area = CanvasBackend::with_canvas_object(canvas)?.into_drawing_area();
    area.fill(&WHITE).ok()?;
    Some(area)
}

/// Sizes of the three charts on the page (the canvases' width and heights).
pub const CHART_WIDTH: u32 = 560;
pub const CHART_HEIGHTS: [u32; 3] = [260, 220, 150];
/// Space between the charts in a file of all three.
const GAP: u32 = 8;

/// The loss, accuracy and (for a dynamic method) drop-fraction charts, one under the other,
/// as an SVG document: what the page shows, drawn again by the same code.
pub fn charts_svg(
    runs: &[Series],
    steps: usize,
    log: bool,
    schedule: Option<(&UpdateSchedule, usize, usize)>,
) -> Result<String, String> {
    let [h_loss, h_acc, h_sched] = CHART_HEIGHTS;
    let height = h_loss + GAP + h_acc + schedule.map_or(0, |_| GAP + h_sched);
    let mut svg = String::new();
    {
        let area = SVGBackend::with_string(&mut svg, (CHART_WIDTH, height)).into_drawing_area();
        area.fill(&WHITE).map_err(|e| e.to_string())?;
        let (loss, rest) = area.split_vertically(h_loss + GAP);
        let (acc, sched) = rest.split_vertically(h_acc + GAP);
        let loss = loss.shrink((0, 0), (CHART_WIDTH, h_loss));
        let acc = acc.shrink((0, 0), (CHART_WIDTH, h_acc));
        draw_loss(&loss, runs, steps, log).map_err(|e| e.to_string())?;
        draw_accuracy(&acc, runs, steps).map_err(|e| e.to_string())?;
        if let Some((s, steps, step)) = schedule {
            draw_schedule(&sched, s, steps, step).map_err(|e| e.to_string())?;
        }
        area.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

pub fn draw_loss<DB: DrawingBackend>(
    area: &Area<DB>,
    runs: &[Series],
    steps: usize,
    log: bool,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let lines: Vec<Vec<(f64, f64)>> = runs.iter().map(|r| smoothed_loss(r.history)).collect();
    let tests: Vec<Vec<(f64, f64)>> = runs
        .iter()
        .map(|r| {
            r.history
                .evals
                .iter()
                .map(|e| (e.step as f64, e.test_loss))
                .collect()
        })
        .collect();
    let values = lines
        .iter()
        .chain(&tests)
        .flatten()
        .map(|p| p.1)
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0f64), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let (lo, hi) = if hi > 0.0 {
        (lo.max(1e-4), hi.max(lo * 1.01))
    } else {
        (0.01, 3.0)
    };
    let x = 0f64..steps.max(1) as f64;
    let mut builder = ChartBuilder::on(area);
    let chart = builder
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(if hi >= 1e3 { 62 } else { 48 });
    macro_rules! plot {
        ($chart:expr) => {{
            let mut chart = $chart;
            chart
                .configure_mesh()
                .x_desc("step")
                .y_desc("loss")
                .y_labels(6)
                .y_label_formatter(&|v| axis_number(*v))
                .x_label_formatter(&|v| format!("{v:.0}"))
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            let mut entries = Vec::new();
            for (i, (line, test)) in lines.iter().zip(&tests).enumerate() {
                let color = RUN_COLORS[i % RUN_COLORS.len()];
                chart.draw_series(LineSeries::new(line.iter().copied(), color.stroke_width(2)))?;
                chart.draw_series(
                    LineSeries::new(test.iter().copied(), color.mix(0.6).stroke_width(1))
                        .point_size(3),
                )?;
                let label = &runs[i].label;
                entries.push((format!("{label} train"), Swatch::Line(color.to_rgba(), 2)));
                entries.push((format!("{label} test"), Swatch::Dot(color.mix(0.6), 3)));
            }
            legend(&chart, &entries, false)?;
        }};
    }
    if log {
        let (lo, hi) = (lo * 0.9, hi * 1.1);
        let y = (lo..hi).log_scale().with_key_points(log_ticks(lo, hi));
        plot!(chart.build_cartesian_2d(x, y)?);
    } else {
        plot!(chart.build_cartesian_2d(x, 0f64..hi * 1.05)?);
    }
    // No present(): the canvas needs none, and the SVG file is finished once, by charts_svg.
    Ok(())
}

/// An axis label that fits: 2 decimals for ordinary losses, 3 significant digits with an
/// exponent for a diverging one (96320 is "9.63e4", not cut off).
pub fn axis_number(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(0.01..1000.0).contains(&a) {
        let e = a.log10().floor() as i32;
        format!("{:.2}e{e}", v / 10f64.powi(e))
    } else {
        format!("{v:.2}")
    }
}

/// Labels for a log-scale axis from `lo` to `hi`: 1, 2 and 5 times the powers of ten in
/// between (at least the powers of ten when the range spans many decades).
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let decades = (hi / lo).log10();
    let steps: &[f64] = if decades > 3.0 {
        &[1.0]
    } else {
        &[1.0, 2.0, 5.0]
    };
    let mut ticks = Vec::new();
    let mut p = 10f64.powf(lo.log10().floor());
    while p <= hi {
        ticks.extend(
            steps
                .iter()
                .map(|s| s * p)
                .filter(|t| (lo..=hi).contains(t)),
        );
        p *= 10.0;
    }
    ticks
}

pub fn draw_accuracy<DB: DrawingBackend>(
    area: &Area<DB>,
    runs: &[Series],
    steps: usize,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    // The axis fits the accuracies in steps of 5 points (0 to 100 before any evaluation): a
    // CIFAR-10 run's 10-60 % shows as such, not squeezed under a 90-100 % axis.
    let (lo, hi) = runs
        .iter()
        .flat_map(|r| r.history.evals.iter())
        .flat_map(|e| [e.test_accuracy, e.train_accuracy])
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let (lo, hi) = if lo.is_finite() {
        (
            ((lo * 100.0 - 3.0) / 5.0).floor().max(0.0) * 5.0,
            (((hi * 100.0 + 3.0) / 5.0).ceil() * 5.0).min(100.0),
        )
    } else {
        (0.0, 100.0)
    };
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..steps.max(1) as f64, lo..hi.max(lo + 5.0))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("accuracy %")
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let mut entries = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        let color = RUN_COLORS[i % RUN_COLORS.len()];
        let evals = &r.history.evals;
        chart.draw_series(
            LineSeries::new(
                evals
                    .iter()
                    .map(|e| (e.step as f64, 100.0 * e.test_accuracy)),
                color.stroke_width(2),
            )
            .point_size(3),
        )?;
        chart.draw_series(LineSeries::new(
            evals
                .iter()
                .map(|e| (e.step as f64, 100.0 * e.train_accuracy)),
            color.mix(0.5),
        ))?;
        entries.push((
            format!("{} test", r.label),
            Swatch::Line(color.to_rgba(), 2),
        ));
        entries.push((
            format!("{} train", r.label),
            Swatch::Line(color.mix(0.5), 1),
        ));
    }
    legend(&chart, &entries, true)?;
    // No present(): the canvas needs none, and the SVG file is finished once, by charts_svg.
    Ok(())
}

/// The drop fraction f(t) up to T_end, a dot at each mask update and the current step.
pub fn draw_schedule<DB: DrawingBackend>(
    area: &Area<DB>,
    s: &UpdateSchedule,
    steps: usize,
    step: usize,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(40)
        .build_cartesian_2d(0f64..steps.max(1) as f64, 0f64..(s.alpha * 1.1).max(0.01))?;
    chart
        .configure_mesh()
        .x_desc("step")
        .y_desc("f(t)")
        .y_labels(4)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let n = 200;
    let curve = (0..=n).map(|i| {
        let t = (i * s.t_end.max(1) / n).min(s.t_end);
        (t as f64, s.drop_fraction(t))
    });
    chart.draw_series(LineSeries::new(curve, RUN_COLORS[0].stroke_width(2)))?;
    chart.draw_series(
        s.update_steps()
            .map(|t| Circle::new((t as f64, s.drop_fraction(t)), 2, RUN_COLORS[0].filled())),
    )?;
    chart.draw_series(LineSeries::new(
        [(step as f64, 0.0), (step as f64, s.alpha * 1.1)],
        RGBColor(229, 72, 77).stroke_width(2),
    ))?;
    // No present(): the canvas needs none, and the SVG file is finished once, by charts_svg.
    Ok(())
}
