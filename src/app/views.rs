//! The lab's panels: charts, mask images, the pixel heatmap, densities, FLOPs, the method
//! explanation and "How RigL works".

use leptos::html::Canvas;
use leptos::prelude::*;

use super::charts::{
    CHART_HEIGHTS, CHART_WIDTH, RUN_CSS, Series, charts_svg, draw_accuracy, draw_loss,
    draw_schedule, root,
};
use super::ctx::{Ctx, Status};
use super::driver::now_ms;
use super::masks::{Blocks, draw_mask, draw_pixel_heatmap};
use crate::experiment::update_schedule;
use crate::sparse::Method;

/// One line for a classroom: what the selected method does.
pub fn explain(method: Method) -> &'static str {
    match method {
        Method::Dense => {
            "Dense: every connection is trained; the baseline the sparse methods try to match at a fraction of the cost."
        }
        Method::Static => "Static: a random sparse mask chosen at the start and never changed.",
        Method::Set => {
            "SET: every ΔT steps, drops the smallest weights and regrows as many connections at random; new weights start at zero."
        }
        Method::Snfs => {
            "SNFS: drops the smallest weights and grows where a running average of the dense gradient (momentum) is largest; it computes the dense gradient every step."
        }
        Method::Rigl => {
            "RigL: every ΔT steps, drops the smallest weights and grows the connections where the gradient is largest; new weights start at zero."
        }
        Method::Snip => {
            "SNIP: prunes once, before training, keeping the connections with the largest |gradient × weight|; the mask is then fixed."
        }
        Method::Prune => {
            "Gradual magnitude pruning: starts dense and removes the smallest weights on a cubic schedule until the target sparsity (dense-to-sparse)."
        }
    }
}

fn human(flops: f64) -> String {
    match flops {
        f if f >= 1e12 => format!("{:.2} TFLOPs", f / 1e12),
        f if f >= 1e9 => format!("{:.2} GFLOPs", f / 1e9),
        f if f >= 1e6 => format!("{:.2} MFLOPs", f / 1e6),
        f if f >= 1e3 => format!("{:.1} kFLOPs", f / 1e3),
        f => format!("{f:.0} FLOPs"),
    }
}

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
    Effect::new(move |_| {
        ctx.view_tick.track();
        let log = ctx.log_loss.get();
        let config = ctx.config.get();
        ctx.lab.with_value(|lab| {
            let (series, steps) = chart_series(lab, config.steps);
            if let Some(area) = loss.get().and_then(root) {
                let _ = draw_loss(&area, &series, steps, log);
            }
            if let Some(area) = acc.get().and_then(root) {
                let _ = draw_accuracy(&area, &series, steps);
            }
            if let (Some(area), Some(r)) = (sched.get().and_then(root), lab.primary()) {
                let _ = draw_schedule(&area, &update_schedule(&r.config), r.config.steps, r.step());
            }
        });
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

/// Per run its layers (name, rows, columns); the runs' labels.
type MaskShape = (Vec<Vec<(String, usize, usize)>>, Vec<String>);

/// One image per masked layer, with its drop/grow counters; in a race, one column per run.
#[component]
pub fn MaskViews(ctx: Ctx) -> impl IntoView {
    let (side, set_side) = signal(true);
    // Which layers and runs there are: rebuilt only when they change (the escape demo adds
    // runs without touching the configuration).
    // A trainer is out of the lab while its step or read-back is in flight: the views keep
    // the last shape meanwhile.
    let shape = Memo::new(move |last: Option<&Option<MaskShape>>| {
        ctx.view_tick.track();
        ctx.status.track();
        ctx.config.track();
        ctx.versus.track();
        ctx.lab.with_value(|lab| {
            // Each run's layers (a Big-Sparse race has runs of other widths).
            let mut layers = Vec::with_capacity(lab.runs.len());
            for r in &lab.runs {
                let Some(t) = r.trainer.as_ref() else {
                    return last.cloned().flatten();
                };
                let shapes: Vec<(String, usize, usize)> = t
                    .layers()
                    .iter()
                    .map(|l| (l.name.clone(), l.n_out, l.num_weights() / l.n_out))
                    .collect();
                layers.push(shapes);
            }
            let labels = lab.runs.iter().map(|r| r.label.clone()).collect();
            (!layers.is_empty()).then_some((layers, labels))
        })
    });
    move || {
        let Some((layers, labels)) = shape.get() else {
            return ().into_any();
        };
        let race = labels.len() > 1;
        let columns: Vec<Option<usize>> = if race && side.get() {
            (0..labels.len()).map(Some).collect()
        } else {
            vec![None]
        };
        let narrow = columns.len() > 1;
        let shown = ctx.shown.get().min(layers.len() - 1);
        let columns = columns
            .into_iter()
            .map(|run| {
                let cards = layers[run.unwrap_or(shown)]
                    .iter()
                    .cloned()
                    .enumerate()
                    .map(|(l, (name, rows, cols))| mask_card(ctx, run, l, name, rows, cols, narrow))
                    .collect_view();
                let head = run.map(|i| view! { <h3 class="mask-run">{labels[i].clone()}</h3> });
                view! { <div class="mask-column">{head}<div class="mask-grid">{cards}</div></div> }
            })
            .collect_view();
        view! {
            <section class="card masks">
                <div class="card-head">
                    <h2>"Masks"</h2>
                    {race.then(|| view! {
                        <label class="toggle"><input id="mask-side" type="checkbox" prop:checked=move || side.get()
                            on:change=move |ev| set_side.set(event_target_checked(&ev))/>" side by side"</label>
                    })}
                    <RunPicker ctx/>
                    <button id="png-masks" on:click=move |_| super::export::download_png("riglab-masks.png", ".masks canvas")
                        title="the masks shown, one pixel per weight (or per block of weights)">"PNG"</button>
                    <button id="record-masks" aria-pressed=move || ctx.recording.get().to_string()
                        on:click=move |_| if let Err(e) = super::export::toggle_mask_movie(ctx.recording) { ctx.note.set(Some(e)) }
                        title="record the masks as they change (drops and grows flash) as a WebM video">
                        {move || if ctx.recording.get() { "Stop recording" } else { "Record video" }}</button>
                </div>
                <p class="muted small">"Rows are output units, columns inputs. Teal: active (brighter = larger |w|); dark: inactive. At each mask update "
                    <span class="drop">"dropped"</span>" and "<span class="grow">"grown"</span>" connections flash."</p>
                <div class:mask-race=narrow>{columns}</div>
            </section>
        }
        .into_any()
    }
}

/// Layer `l`'s mask image and counters, of run `run` (None: the run the picker shows).
fn mask_card(
    ctx: Ctx,
    run: Option<usize>,
    l: usize,
    name: String,
    rows: usize,
    cols: usize,
    narrow: bool,
) -> impl IntoView {
    let which = move || run.unwrap_or_else(|| ctx.shown.get_untracked());
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        ctx.view_tick.track();
        let Some(c) = canvas.get() else { return };
        let now = now_ms();
        ctx.lab.with_value(|lab| {
            let Some(run) = lab.run(which()) else { return };
            let Some(t) = run.trainer.as_ref() else {
                return;
            };
            let flashes: Vec<_> = run
                .history
                .flashes
                .iter()
                .filter(|f| f.layer == l)
                .collect();
            let weights = run.weights.get(l).map_or(&[][..], |w| &w[..]);
            let cb = ctx.colour_blind.get_untracked();
            draw_mask(&c, (rows, cols), &t.masks[l], weights, &flashes, now, cb);
        });
    });
    let counts = move || {
        ctx.view_tick.track();
        ctx.lab.with_value(|lab| {
            let r = lab.run(which())?;
            let (n, d, g) = r.history.updates.get(l).copied()?;
            let active = r.trainer.as_ref().map_or(0, |t| t.active(l));
            Some(format!(
                "{active} of {} active · {n} updates · {d} dropped · {g} grown",
                rows * cols
            ))
        })
    };
    let blocks = Blocks::new(rows, cols);
    let note = blocks.describe();
    let width = (1.4 * blocks.w as f64).clamp(200.0, if narrow { 320.0 } else { 560.0 });
    view! {
        <figure class="mask" data-layer=name.clone()>
            <figcaption><b>{name.clone()}</b>" " {format!("{rows} × {cols}")} " · " {note}</figcaption>
            <canvas node_ref=canvas class="mask-canvas" style=format!("width: {width:.0}px")></canvas>
            <div class="mask-counts">{counts}</div>
        </figure>
    }
}

/// Figure 7: active outgoing connections per input pixel (28 x 28 inputs, first layer dense).
#[component]
pub fn PixelHeatmap(ctx: Ctx) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let (max, set_max) = signal(0usize);
    let applies = move || {
        ctx.config.with(|c| {
            matches!(c.model, crate::model::ModelSpec::Mlp { .. })
                && c.data != crate::config::DataSet::Cifar10
        })
    };
    Effect::new(move |_| {
        ctx.view_tick.track();
        let Some(c) = canvas.get() else { return };
        ctx.lab.with_value(|lab| {
            let Some(t) = lab.run(ctx.shown.get()).and_then(|r| r.trainer.as_ref()) else {
                return;
            };
            let l = &t.layers()[0];
            if l.n_in == 784 && l.kh == 1 {
                set_max.set(draw_pixel_heatmap(&c, l.n_out, l.n_in, &t.masks[0], 28));
            }
        });
    });
    view! {
        <section class="card heatmap" class:hidden=move || !applies()>
            <div class="card-head">
                <h2>"Connections per input pixel"</h2>
                <button id="png-heatmap" on:click=move |_| super::export::download_png("riglab-pixels.png", "#pixel-heatmap")>"PNG"</button>
            </div>
            <canvas id="pixel-heatmap" node_ref=canvas></canvas>
            <p class="muted small">"How many active first-layer connections leave each pixel (black 0, pale yellow "
                {move || max.get()}"). Under RigL the border, where MNIST has no ink, empties (the paper's Figure 7)."</p>
        </section>
    }
}

#[component]
pub fn Densities(ctx: Ctx) -> impl IntoView {
    let rows = move || {
        ctx.view_tick.track();
        ctx.status.track();
        ctx.lab.with_value(|lab| {
            let Some(t) = lab.run(ctx.shown.get()).and_then(|r| r.trainer.as_ref()) else {
                return Vec::new();
            };
            t.layers()
                .iter()
                .enumerate()
                .map(|(l, shape)| {
                    let n = shape.num_weights();
                    (
                        shape.name.clone(),
                        t.active(l) as f64 / n as f64,
                        t.active(l),
                        n,
                    )
                })
                .collect()
        })
    };
    view! {
        <section class="card densities">
            <h2>"Density per layer"</h2>
            {move || rows().into_iter().map(|(name, d, a, n)| view! {
                <div class="bar-row">
                    <span class="bar-name">{name}</span>
                    <span class="bar"><span class="bar-fill" style=format!("width: {:.2}%", 100.0 * d)></span></span>
                    <span class="bar-value">{format!("{:.1}% · {a} / {n}", 100.0 * d)}</span>
                </div>
            }).collect_view()}
        </section>
    }
}

#[component]
pub fn Flops(ctx: Ctx) -> impl IntoView {
    let text = move || {
        ctx.view_tick.track();
        ctx.status.track();
        ctx.lab.with_value(|lab| {
            lab.runs
                .iter()
                .enumerate()
                .filter_map(|(i, r)| {
                    let t = r.trainer.as_ref()?;
                    let plan = crate::train::plan(&r.config);
                    let f_d = plan.totals.flops_fwd_dense;
                    let inf = t.inference_flops();
                    Some((
                        i,
                        r.label.clone(),
                        inf,
                        inf / f_d,
                        r.history.train_flops,
                        r.history.train_flops_fraction,
                    ))
                })
                .collect::<Vec<_>>()
        })
    };
    view! {
        <section class="card flops">
            <h2>"FLOPs"</h2>
            <table id="flops-table">
                <tr><th><span class="sr-only">"run"</span></th><th>"inference / sample"</th><th>"of dense"</th><th>"training so far"</th><th>"of dense"</th></tr>
                {move || text().into_iter().map(|(i, label, inf, inf_f, train, train_f)| view! {
                    <tr>
                        <td><span class="swatch" style=format!("background:{}", RUN_CSS[i % RUN_CSS.len()])></span>{label}</td>
                        <td>{human(inf)}</td><td>{format!("{:.3}", inf_f)}</td>
                        <td>{human(train)}</td><td>{format!("{:.3}", train_f)}</td>
                    </tr>
                }).collect_view()}
            </table>
            <p class="muted small">"2 FLOPs per multiply-add of each active weight; backward = 2 × forward; biases and activations not counted (RigL paper, appendix H)."</p>
        </section>
    }
}

#[component]
pub fn Explanation(ctx: Ctx) -> impl IntoView {
    view! { <p id="method-explanation" class="explain">{move || explain(ctx.config.with(|c| c.method))}</p> }
}

#[component]
pub fn HowRiglWorks() -> impl IntoView {
    view! {
        <details class="card how">
            <summary>"How RigL works"</summary>
            <ol>
                <li>"Start from a random sparse network: each layer keeps a fixed share of its connections (uniform, or ERK: smaller layers denser)."</li>
                <li>"Train with ordinary SGD; inactive connections stay exactly zero."</li>
                <li>"Every ΔT steps (until T_end), in each layer: " <b>"drop"</b> " the fraction f(t) of active connections with the smallest magnitude |w|, then "
                    <b>"grow"</b> " as many new connections where the gradient |∂L/∂w| of the full dense layer is largest. New connections start at zero."</li>
                <li>"The number of connections never changes, so training and inference cost stay sparse; the drop fraction f(t) decays with a cosine."</li>
                <li>"Because connections can move, the network escapes bad sparse structures that a fixed (static) mask is stuck with."</li>
            </ol>
            <p>"Utku Evci, Trevor Gale, Jacob Menick, Pablo Samuel Castro, Erich Elsen. "
                <a href="https://arxiv.org/abs/1911.11134">"Rigging the Lottery: Making All Tickets Winners"</a>". ICML 2020."</p>
        </details>
    }
}

#[component]
pub fn Notices(ctx: Ctx) -> impl IntoView {
    move || {
        let notices = ctx.notices.get();
        (!notices.is_empty()).then(|| {
            view! {
                <div id="url-notice" class="notice" role="alert">
                    <b>"Some settings in the link were not used:"</b>
                    <ul>{notices.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
                    <button on:click=move |_| ctx.notices.set(Vec::new())>"Dismiss"</button>
                </div>
            }
        })
    }
}

#[component]
pub fn StatusLine(ctx: Ctx) -> impl IntoView {
    // Runs stopped by a diverging loss: what happened, and a fix one click away.
    let diverged = move || {
        ctx.view_tick.track();
        ctx.lab.with_value(|lab| {
            lab.runs
                .iter()
                .filter_map(|r| {
                    let d = r.trainer.as_ref()?.diverged()?;
                    Some(format!(
                        "{}: {}",
                        r.label,
                        d.message(r.config.lr, r.config.momentum)
                    ))
                })
                .collect::<Vec<_>>()
        })
    };
    let halve = move |_| ctx.config.update(|c| c.lr /= 2.0);
    let notice = move || {
        let runs = diverged();
        (!runs.is_empty()).then(|| {
            view! {
                <div id="diverged" class="notice" role="alert">
                    <b>"A run stopped:"</b>
                    <ul>{runs.into_iter().map(|n| view! { <li>{n}</li> }).collect_view()}</ul>
                    <button id="halve-lr" on:click=halve>"Halve the learning rate and restart"</button>
                </div>
            }
        })
    };
    let status = move || {
        match ctx.status.get() {
        Status::Downloading { set, loaded, total } => view! {
            <div class="download">
                <progress max=total.max(1) value=loaded></progress>
                <span>{format!("downloading {set}: {:.1} / {:.1} MB", loaded as f64 / 1e6, total as f64 / 1e6)}</span>
            </div>
        }
        .into_any(),
        Status::Error(e) => view! { <p id="lab-error" class="error">{e}</p> }.into_any(),
        _ => ().into_any(),
    }
    };
    view! { {status} {notice} }
}

/// A machine-readable summary of the primary run for browser tests and scripts.
#[component]
pub fn LabState(ctx: Ctx) -> impl IntoView {
    let json = move || {
        ctx.view_tick.track();
        ctx.lab.with_value(|lab| {
            let Some(r) = lab.primary() else {
                return "{}".to_string();
            };
            let h = &r.history;
            let mean =
                |s: &[(usize, f64)]| s.iter().map(|p| p.1).sum::<f64>() / s.len().max(1) as f64;
            let k = h.losses.len().min(20);
            let (dropped, grown): (usize, usize) =
                h.updates.iter().fold((0, 0), |a, u| (a.0 + u.1, a.1 + u.2));
            serde_json::json!({
                "step": r.step(),
                "busy": ctx.driving.get_untracked(),
                "runs": lab.runs.len(),
                "first_loss": mean(&h.losses[..k]),
                "last_loss": mean(&h.losses[h.losses.len() - k..]),
                "mask_updates": h.updates.iter().map(|u| u.0).sum::<usize>(),
                "last_update": h.last_update,
                "dropped": dropped,
                "grown": grown,
                "evals": h.evals.len(),
                "diverged": r.trainer.as_ref().and_then(|t| t.diverged()).map(|d| d.step),
                "test_accuracy": h.evals.last().map(|e| e.test_accuracy),
                "last_eval": h.evals.last(),
                "config": r.config.to_query(),
                // (steps done, after a mask update) of each recorded snapshot.
                "trajectory": r.trajectory.as_ref().map(|t| {
                    t.snapshots().iter().map(|s| (s.step, s.mask_update)).collect::<Vec<_>>()
                }),
            })
            .to_string()
        })
    };
    view! { <output id="lab-state" hidden>{json}</output> }
}

/// Chooses which run the heatmap and density views show (and the mask view, unless side by
/// side).
#[component]
fn RunPicker(ctx: Ctx) -> impl IntoView {
    let labels = Memo::new(move |_| {
        ctx.view_tick.track();
        ctx.status.track();
        ctx.lab
            .with_value(|l| l.runs.iter().map(|r| r.label.clone()).collect::<Vec<_>>())
    });
    move || {
        let labels = labels.get();
        (labels.len() > 1).then(|| {
            view! {
                <select id="shown-run" aria-label="run shown" on:change=move |ev| {
                    let i = event_target_value(&ev).parse().unwrap_or(0);
                    ctx.shown.set(i);
                    leptos::task::spawn_local(async move {
                        super::driver::snapshot(ctx).await;
                        ctx.view_tick.update(|t| *t += 1);
                    });
                }>
                    {labels.into_iter().enumerate().map(|(i, l)| view! {
                        <option value=i.to_string() selected=move || ctx.shown.get() == i>{format!("run: {l}")}</option>
                    }).collect_view()}
                </select>
            }
        })
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
