//! Accuracy against training FLOPs (the paper's Figure 2 shape): every run of the lab as a
//! point at (its training FLOPs so far as a fraction of dense training's, its latest test
//! accuracy), in its run colour, moving as it trains. `riglab compare --plot` draws the same
//! axes for a whole grid.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters_canvas::CanvasBackend;

use super::charts::RUN_COLORS;
use super::ctx::Ctx;

/// (label, training FLOPs fraction, test accuracy in %) of a run.
type Point = (String, f64, f64);

fn draw(canvas: web_sys::HtmlCanvasElement, points: &[Point]) -> Option<()> {
    let area = CanvasBackend::with_canvas_object(canvas)?.into_drawing_area();
    area.fill(&WHITE).ok()?;
    let (lo, hi) = points
        .iter()
        .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p.2), b.max(p.2)));
    // Round the accuracy axis to 5 points around the data.
    let (y0, y1) = (
        ((lo - 2.0) / 5.0).floor() * 5.0,
        (((hi + 2.0) / 5.0).ceil() * 5.0).min(100.0),
    );
    let mut chart = ChartBuilder::on(&area)
        .margin(10)
        .x_label_area_size(38)
        .y_label_area_size(44)
        .build_cartesian_2d((0.005f64..1.5).log_scale(), y0.max(0.0)..y1.max(y0 + 5.0))
        .ok()?;
    chart
        .configure_mesh()
        .max_light_lines(0)
        .x_labels(4)
        .x_label_formatter(&|v| format!("{v:.2}"))
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("training FLOPs / dense (log)")
        .y_desc("test accuracy %")
        .draw()
        .ok()?;
    for (i, (label, x, y)) in points.iter().enumerate() {
        let color = RUN_COLORS[i % RUN_COLORS.len()];
        chart
            .draw_series([Circle::new((*x, *y), 6, color.filled())])
            .ok()?;
        // Right of the point, or left of it near the right edge (dense sits at 1).
        let (at, anchor) = if *x > 0.25 {
            (*x / 1.12, HPos::Right)
        } else {
            (*x * 1.12, HPos::Left)
        };
        let style = ("sans-serif", 12)
            .into_font()
            .color(&color)
            .pos(Pos::new(anchor, VPos::Center));
        chart
            .draw_series([Text::new(label.clone(), (at, *y), style)])
            .ok()?;
    }
    area.present().ok()
}

#[component]
pub fn AccuracyVsFlops(ctx: Ctx) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let points = move || -> Vec<Point> {
        ctx.view_tick.track();
        ctx.lab.with_value(|lab| {
            lab.runs
                .iter()
                .filter_map(|r| {
                    let e = r.history.evals.last()?;
                    Some((
                        r.label.clone(),
                        r.history.train_flops_fraction.clamp(0.005, 1.5),
                        100.0 * e.test_accuracy,
                    ))
                })
                .collect()
        })
    };
    Effect::new(move |_| {
        let p = points();
        if let (Some(c), false) = (canvas.get(), p.is_empty()) {
            draw(c, &p);
        }
    });
    view! {
        <section id="tradeoff" class="card tradeoff" class:hidden=move || points().is_empty()>
            <h2>"Accuracy vs training FLOPs"</h2>
            <canvas id="tradeoff-chart" node_ref=canvas width="360" height="240"></canvas>
            <p class="muted small">"Each run at its training FLOPs so far (a fraction of dense training's) and its latest test accuracy, as in the paper's Figure 2. Whole grids: "
                <code>"riglab compare … --plot out.svg"</code>"."</p>
        </section>
    }
}
