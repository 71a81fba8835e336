//! The model's panels: mask images with their drop/grow counters, the pixel heatmap, the
//! densities per layer and the FLOPs, with the picker of the run they show.

use leptos::html::Canvas;
use leptos::prelude::*;

use super::charts::RUN_CSS;
use super::ctx::Ctx;
use super::frame::now_ms;
use super::masks::{Blocks, draw_mask, draw_pixel_heatmap};

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

/// What `draw_card` remembers before a mask canvas is first drawn.
const NOT_DRAWN: (usize, u64, bool, bool) = (usize::MAX, u64::MAX, false, false);

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
    // (run, its seq, the palette) last drawn, and whether a flash was still fading then.
    let drawn = StoredValue::new(NOT_DRAWN);
    let pending = StoredValue::new(false);
    // Off screen (give or take 200 px) a mask is not redrawn; it is when it comes back.
    let visible = StoredValue::new(true);
    Effect::new(move |_| {
        if let Some(c) = canvas.get() {
            super::frame::on_visibility(&c, visible, move || {
                drawn.set_value(NOT_DRAWN);
                ctx.view_tick.update(|t| *t += 1);
            });
        }
    });
    Effect::new(move |_| {
        ctx.view_tick.track();
        let cb = ctx.colour_blind.get();
        let shown = visible.get_value() || ctx.recording.get_untracked();
        if !shown && drawn.get_value() != NOT_DRAWN {
            return;
        }
        super::frame::soon(pending, move || {
            draw_card(ctx, canvas, which(), l, (rows, cols), drawn, cb)
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

/// Draws layer `l`'s mask of run `which` on `canvas`, unless nothing changed since `drawn`.
fn draw_card(
    ctx: Ctx,
    canvas: NodeRef<Canvas>,
    which: usize,
    l: usize,
    (rows, cols): (usize, usize),
    drawn: StoredValue<(usize, u64, bool, bool)>,
    cb: bool,
) {
    let Some(c) = canvas.try_get().flatten() else {
        return;
    };
    let now = now_ms();
    ctx.lab.with_value(|lab| {
        let Some(run) = lab.run(which) else { return };
        let Some(t) = run.trainer.as_ref() else {
            return;
        };
        let flashes: Vec<_> = run
            .history
            .flashes
            .iter()
            .filter(|f| f.layer == l && now - f.at_ms < super::lab::FLASH_MS)
            .collect();
        let key = (which, run.seq, cb, !flashes.is_empty());
        if key == drawn.get_value() && !key.3 {
            return; // nothing new, nothing fading
        }
        drawn.set_value(key);
        let weights = run.weights.get(l).map_or(&[][..], |w| &w[..]);
        draw_mask(&c, (rows, cols), &t.masks[l], weights, &flashes, now, cb);
    });
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

fn human(flops: f64) -> String {
    match flops {
        f if f >= 1e12 => format!("{:.2} TFLOPs", f / 1e12),
        f if f >= 1e9 => format!("{:.2} GFLOPs", f / 1e9),
        f if f >= 1e6 => format!("{:.2} MFLOPs", f / 1e6),
        f if f >= 1e3 => format!("{:.1} kFLOPs", f / 1e3),
        f => format!("{f:.0} FLOPs"),
    }
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
