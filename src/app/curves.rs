//! The curves card: loss, accuracy and drop-fraction charts of every run, with their CSV,
//! PNG and SVG exports.

use leptos::html::Canvas;
use leptos::prelude::*;

use super::charts::{
    CHART_HEIGHTS, CHART_WIDTH, Series, charts_svg, draw_accuracy, draw_loss, draw_schedule, root,
};
use super::ctx::Ctx;
use crate::experiment::update_schedule;

/// The runs' series for the charts, and the steps their axis spans: the runs' own lengths
/// (the escape demo's continuations differ from the URL's), or `steps` before any run.
fn chart_series(lab: &super::lab::Lab, steps: usize) -> (Vec<Series<'_>>, usize) {
    let steps = lab
        .runs
        .iter()
        .map(|r| r.config.steps)
        .max()
        .unwrap_or(steps);
    let series = lab
        .runs
        .iter()
        .map(|r| Series {
            label: &r.label,
            history: &r.history,
        })
        .collect();
    (series, steps)
}

/// The charts as the page draws them now, as one SVG document.
fn curves_svg(ctx: Ctx) -> Result<String, String> {
    let log = ctx.log_loss.get_untracked();
    let steps = ctx.config.with_untracked(|c| c.steps);
    ctx.lab.with_value(|lab| {
        let (series, steps) = chart_series(lab, steps);
        let primary = lab.primary().filter(|r| r.config.method.is_dynamic());
        let schedule = primary.map(|r| (update_schedule(&r.config), r.config.steps, r.step()));
        charts_svg(
            &series,
            steps,
            log,
            schedule.as_ref().map(|(s, steps, step)| (s, *steps, *step)),
        )
    })
}

#[component]
pub fn Charts(ctx: Ctx) -> impl IntoView {
    let loss = NodeRef::<Canvas>::new();
    let acc = NodeRef::<Canvas>::new();
    let sched = NodeRef::<Canvas>::new();
    // Each chart draws in a task of its own (`frame::soon`).
    let pending = [
        StoredValue::new(false),
        StoredValue::new(false),
        StoredValue::new(false),
    ];
    Effect::new(move |_| {
        ctx.view_tick.track();
        let log = ctx.log_loss.get();
        let steps = ctx.config.with(|c| c.steps);
        let chart = |k: usize, canvas: NodeRef<Canvas>| {
            super::frame::soon(pending[k], move || {
                let Some(area) = canvas.try_get().flatten().and_then(root) else {
                    return;
                };
                ctx.lab.with_value(|lab| {
                    let (series, steps) = chart_series(lab, steps);
                    let _ = match k {
                        0 => draw_loss(&area, &series, steps, log),
                        1 => draw_accuracy(&area, &series, steps),
                        _ => match lab.primary() {
                            Some(r) => draw_schedule(
                                &area,
                                &update_schedule(&r.config),
                                r.config.steps,
                                r.step(),
                            ),
                            None => Ok(()),
                        },
                    };
                });
            });
        };
        chart(0, loss);
        chart(1, acc);
        chart(2, sched);
    });
    let has_schedule = move || ctx.config.with(|c| c.method.is_dynamic());
    view! {
        <section class="card charts">
            <div class="card-head">
                <h2>"Loss"</h2>
                <label class="toggle"><input id="log-loss" type="checkbox" prop:checked=move || ctx.log_loss.get()
                    on:change=move |ev| ctx.log_loss.set(event_target_checked(&ev))/>" log scale"</label>
                <button id="export-curves" on:click=move |_| super::export::download("riglab-curves.csv", &curves_csv(ctx))>"Export CSV"</button>
                <button id="png-curves" on:click=move |_| super::export::download_png("riglab-curves.png", ".charts canvas")
                    title="the loss, accuracy and drop-fraction charts as one image">"PNG"</button>
                <button id="svg-curves" on:click=move |_| {
                    if let Ok(svg) = curves_svg(ctx) {
                        super::export::download_bytes("riglab-curves.svg", svg.as_bytes(), "image/svg+xml");
                    }
                } title="the same charts as an SVG file (vector: for slides and papers)">"SVG"</button>
            </div>
            <canvas id="loss-chart" node_ref=loss width=CHART_WIDTH height=CHART_HEIGHTS[0]></canvas>
            <h2>"Accuracy"</h2>
            <canvas id="accuracy-chart" node_ref=acc width=CHART_WIDTH height=CHART_HEIGHTS[1]></canvas>
            <div class:hidden=move || !has_schedule()>
                <h2>"Drop fraction f(t)"</h2>
                <p class="muted small">"α/2 · (1 + cos(π t / T_end)) (cosine) or α (constant); dots mark mask updates, the red line the current step."</p>
                <canvas id="schedule-chart" node_ref=sched width=CHART_WIDTH height=CHART_HEIGHTS[2]></canvas>
            </div>
        </section>
    }
}

/// Every run's step losses and evaluations as one CSV (one row per step or evaluation).
fn curves_csv(ctx: Ctx) -> String {
    ctx.lab.with_value(|lab| {
        let mut out = String::from(
            "run,config,kind,step,loss,train_loss,train_accuracy,test_loss,test_accuracy\n",
        );
        for r in &lab.runs {
            let q = r.config.to_query();
            for (s, l) in &r.history.losses {
                out.push_str(&format!("{},{q},step,{s},{l:.6},,,,\n", r.label));
            }
            for e in &r.history.evals {
                out.push_str(&format!(
                    "{},{q},eval,{},,{:.6},{:.4},{:.6},{:.4}\n",
                    r.label, e.step, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy
                ));
            }
        }
        out
    })
}
