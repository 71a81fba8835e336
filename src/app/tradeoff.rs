//! Accuracy against training FLOPs (the paper's Figure 2 shape): every run of the lab as a
//! point at (its training FLOPs so far as a fraction of dense training's, its latest test
//! accuracy), in its run colour, moving as it trains. `riglab compare --plot` draws the same
//! axes for a whole grid.

use leptos::html::Canvas;
use leptos::prelude::*;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

use super::charts::RUN_COLORS;
use super::ctx::Ctx;
use crate::figures::{TradeoffPoint, tradeoff};

#[component]
pub fn AccuracyVsFlops(ctx: Ctx) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let points = move || -> Vec<TradeoffPoint> {
        ctx.view_tick.track();
        ctx.lab.with_value(|lab| {
            lab.runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let e = r.history.evals.last()?;
                    Some(TradeoffPoint {
                        label: r.label.clone(),
                        flops: r.history.train_flops_fraction.clamp(1e-3, 2.0),
                        accuracy: 100.0 * e.test_accuracy,
                        spread: 0.0,
                        color: RUN_COLORS[i % RUN_COLORS.len()],
                    })
                })
                .collect()
        })
    };
    Effect::new(move |_| {
        let p = points();
        if let (Some(c), false) = (canvas.get(), p.is_empty())
            && let Some(backend) = CanvasBackend::with_canvas_object(c)
        {
            let _ = tradeoff(&backend.into_drawing_area(), None, &p, &[], 12);
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
