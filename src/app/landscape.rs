//! The landscape views: the loss along a line between two snapshots (with each snapshot's
//! mask and their union) and on a 2D slice around the current parameters, computed point by
//! point across animation frames while training is paused.

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use rand::SeedableRng;
use web_sys::HtmlCanvasElement;

use super::any::AnyBackend;
use super::charts::RUN_COLORS;
use super::ctx::{Ctx, Mode};
use super::driver::{next_frame, now_ms};
use super::export::download;
use crate::landscape::{
    Point, direction_seed, filter_normalized_direction, grid_coords, interpolation_coefficients,
    union_masks,
};
use crate::train::Trainer;

/// Training images every landscape loss is measured on.
pub const SAMPLES: usize = 512;

#[derive(Clone, Debug, PartialEq)]
pub enum Shape {
    /// Losses along theta(c) = (1 - c) A + c B, one series per mask.
    Line {
        coeffs: Vec<f64>,
        series: Vec<(String, Vec<f64>)>,
    },
    /// losses[row][col] for coordinates (coords[col], coords[row]); rows fill in as computed.
    Plane {
        coords: Vec<f64>,
        losses: Vec<Vec<f64>>,
        center: f64,
    },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Landscape {
    pub title: String,
    pub shape: Shape,
    pub done: usize,
    pub total: usize,
    pub millis: f64,
}

/// Pauses training and takes run `i`'s trainer out of the lab (give it back with `put_back`).
pub async fn pause_and_take(ctx: Ctx, i: usize) -> Option<Trainer<AnyBackend>> {
    ctx.mode.set(Mode::Paused);
    while ctx.driving.get_untracked() {
        next_frame().await;
    }
    ctx.lab
        .try_update_value(|l| l.runs.get_mut(i).and_then(|r| r.trainer.take()))
        .flatten()
}

pub fn put_back(ctx: Ctx, i: usize, t: Trainer<AnyBackend>) {
    ctx.lab.update_value(|l| {
        if let Some(r) = l.runs.get_mut(i) {
            r.put_back(t);
        }
    });
}

/// The loss along the line from `a` to `b`, with A's mask, B's mask and their union.
pub async fn line(
    ctx: Ctx,
    t: &mut Trainer<AnyBackend>,
    a: (Point, Vec<Vec<bool>>),
    b: (Point, Vec<Vec<bool>>),
    title: String,
) {
    let started = now_ms();
    let coeffs = interpolation_coefficients(29);
    let union = union_masks(&a.1, &b.1);
    let masks = [
        ("mask of A", &a.1),
        ("mask of B", &b.1),
        ("union of the masks", &union),
    ];
    let mut series: Vec<(String, Vec<f64>)> = masks
        .iter()
        .map(|(n, _)| (n.to_string(), Vec::new()))
        .collect();
    for (i, &c) in coeffs.iter().enumerate() {
        let p = Point::lerp(&a.0, &b.0, c);
        for (k, (_, m)) in masks.iter().enumerate() {
            let loss = t.backend.loss_at(&p, Some(m), SAMPLES).await;
            series[k].1.push(loss);
        }
        ctx.landscape.set(Some(Landscape {
            title: title.clone(),
            shape: Shape::Line {
                coeffs: coeffs.clone(),
                series: series.clone(),
            },
            done: i + 1,
            total: coeffs.len(),
            millis: now_ms() - started,
        }));
        next_frame().await;
    }
}

/// The loss on a `grid` x `grid` slice around the current parameters, along two
/// filter-normalised random directions (within the active weights unless `dense`).
pub async fn plane(ctx: Ctx, t: &mut Trainer<AnyBackend>, grid: usize, dense: bool) {
    let started = now_ms();
    let layers = t.layers.len();
    let center = t.backend.point(layers).await;
    let masks = t.masks.clone();
    let rows: Vec<usize> = t.layers.iter().map(|l| l.n_out).collect();
    let mut rng = rand_pcg::Pcg64::seed_from_u64(direction_seed(t.config.seed, t.step));
    let restrict = (!dense).then_some(&masks[..]);
    let d1 = filter_normalized_direction(&center, &rows, restrict, &mut rng);
    let d2 = filter_normalized_direction(&center, &rows, restrict, &mut rng);
    let coords = grid_coords(grid, 1.0);
    let center_loss = t.backend.loss_at(&center, restrict, SAMPLES).await;
    let title = format!(
        "step {}: loss around the current parameters ({grid} × {grid}, {} directions)",
        t.step,
        if dense { "dense" } else { "sparse" }
    );
    let mut losses = Vec::with_capacity(grid);
    for &y in &coords {
        let points: Vec<Point> = coords
            .iter()
            .map(|&x| center.offset(x, &d1, y, &d2))
            .collect();
        losses.push(t.backend.losses_at(&points, restrict, SAMPLES).await);
        ctx.landscape.set(Some(Landscape {
            title: title.clone(),
            shape: Shape::Plane {
                coords: coords.clone(),
                losses: losses.clone(),
                center: center_loss,
            },
            done: losses.len(),
            total: grid,
            millis: now_ms() - started,
        }));
        next_frame().await;
    }
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_line(
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
        .x_label_area_size(28)
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

/// Contour segments of one level over a grid (marching squares, no saddle disambiguation).
fn contour(coords: &[f64], z: &[Vec<f64>], level: f64) -> Vec<[(f64, f64); 2]> {
    let mut segs = Vec::new();
    let cross = |(x0, y0, z0): (f64, f64, f64), (x1, y1, z1): (f64, f64, f64)| {
        let t = (level - z0) / (z1 - z0);
        (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    };
    for r in 0..z.len().saturating_sub(1) {
        for c in 0..coords.len() - 1 {
            let corners = [
                (coords[c], coords[r], z[r][c]),
                (coords[c + 1], coords[r], z[r][c + 1]),
                (coords[c + 1], coords[r + 1], z[r + 1][c + 1]),
                (coords[c], coords[r + 1], z[r + 1][c]),
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

fn draw_plane(canvas: HtmlCanvasElement, coords: &[f64], losses: &[Vec<f64>]) -> DrawResult {
    let area = CanvasBackend::with_canvas_object(canvas)
        .ok_or("no canvas")?
        .into_drawing_area();
    area.fill(&WHITE)?;
    let (lo, hi) = losses
        .iter()
        .flatten()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| {
            (a.min(v), b.max(v))
        });
    // Log scale of the loss, so the basin's shape shows even when the edges are steep.
    let scale = |v: f64| ((v / lo).ln() / (hi / lo).ln().max(1e-9)).clamp(0.0, 1.0);
    let half = (coords[1] - coords[0]) / 2.0;
    let (a, b) = (coords[0] - half, coords[coords.len() - 1] + half);
    let mut chart = ChartBuilder::on(&area)
        .margin(10)
        .x_label_area_size(28)
        .y_label_area_size(40)
        .build_cartesian_2d(a..b, a..b)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_desc("direction 1")
        .y_desc("direction 2")
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.1}"))
        .draw()?;
    chart.draw_series(losses.iter().enumerate().flat_map(|(r, row)| {
        row.iter().enumerate().map(move |(c, &v)| {
            let (x, y) = (coords[c], coords[r]);
            Rectangle::new(
                [(x - half, y - half), (x + half, y + half)],
                heat(scale(v)).filled(),
            )
        })
    }))?;
    if losses.len() == coords.len() && hi > lo {
        for k in 1..8 {
            let level = lo * (hi / lo).powf(k as f64 / 8.0);
            for seg in contour(coords, losses, level) {
                chart.draw_series(std::iter::once(PathElement::new(
                    seg.to_vec(),
                    WHITE.mix(0.7),
                )))?;
            }
        }
    }
    chart.draw_series(std::iter::once(Cross::new(
        (0.0, 0.0),
        6,
        RGBColor(229, 72, 77).stroke_width(2),
    )))?;
    area.present()?;
    Ok(())
}

fn to_csv(l: &Landscape) -> String {
    match &l.shape {
        Shape::Line { coeffs, series } => {
            let mut s = format!(
                "c,{}\n",
                series
                    .iter()
                    .map(|x| x.0.replace(' ', "_"))
                    .collect::<Vec<_>>()
                    .join(",")
            );
            for (i, c) in coeffs.iter().enumerate() {
                let vals: Vec<String> = series
                    .iter()
                    .map(|x| x.1.get(i).map_or(String::new(), |v| format!("{v:.6}")))
                    .collect();
                s.push_str(&format!("{c},{}\n", vals.join(",")));
            }
            s
        }
        Shape::Plane { coords, losses, .. } => {
            let mut s = String::from("x,y,loss\n");
            for (r, row) in losses.iter().enumerate() {
                for (c, v) in row.iter().enumerate() {
                    s.push_str(&format!("{},{},{v:.6}\n", coords[c], coords[r]));
                }
            }
            s
        }
    }
}

#[component]
pub fn LandscapeCard(ctx: Ctx) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let (grid, set_grid) = signal(21usize);
    let (dense, set_dense) = signal(false);
    let busy = RwSignal::new(false);
    Effect::new(move |_| {
        let Some(l) = ctx.landscape.get() else { return };
        let Some(c) = canvas.get() else { return };
        let _ = match &l.shape {
            Shape::Line { coeffs, series } => {
                draw_line(c, &coeffs[..series[0].1.len().min(coeffs.len())], series)
            }
            Shape::Plane { coords, losses, .. } => draw_plane(c, coords, losses),
        };
    });
    let run = move |what: &'static str| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        spawn_local(async move {
            let i = ctx.shown.get_untracked();
            if let Some(mut t) = pause_and_take(ctx, i).await {
                if what == "line" {
                    // From the run's initial weights (biases 0) to now.
                    let setup = crate::train::Setup::new(&t.config).ok();
                    let now = t.backend.point(t.layers.len()).await;
                    if let Some(s) = setup {
                        let biases = now.biases.iter().map(|b| vec![0.0; b.len()]).collect();
                        let a = (
                            Point {
                                weights: s.weights,
                                biases,
                            },
                            s.masks,
                        );
                        let b = (now, t.masks.clone());
                        let title = format!("from the initial weights (A) to step {} (B)", t.step);
                        line(ctx, &mut t, a, b, title).await;
                    }
                } else {
                    plane(ctx, &mut t, grid.get_untracked(), dense.get_untracked()).await;
                }
                put_back(ctx, i, t);
            }
            busy.set(false);
        });
    };
    let state = move || match ctx.landscape.get() {
        Some(l) if l.done == l.total => "done",
        Some(_) => "computing",
        None => "empty",
    };
    view! {
        <section id="landscape" class="card landscape" data-state=state>
            <div class="card-head">
                <h2>"Loss landscape"</h2>
                <button id="landscape-line" on:click=move |_| run("line") disabled=move || busy.get()>"Line: start → now"</button>
                <button id="landscape-plane" on:click=move |_| run("plane") disabled=move || busy.get()>"Plane around now"</button>
                <select id="landscape-grid" on:change=move |ev| set_grid.set(event_target_value(&ev).parse().unwrap_or(21))>
                    {[11usize, 21, 31, 51].into_iter().map(|g| view! { <option value=g.to_string() selected=g == 21>{format!("{g} × {g}")}</option> }).collect_view()}
                </select>
                <label class="toggle"><input type="checkbox" on:change=move |ev| set_dense.set(event_target_checked(&ev))/>" dense directions"</label>
                <button id="landscape-export" disabled=move || ctx.landscape.with(Option::is_none)
                    on:click=move |_| if let Some(l) = ctx.landscape.get_untracked() { download("riglab-landscape.csv", &to_csv(&l)) }>"Export CSV"</button>
            </div>
            {move || ctx.landscape.get().map(|l| view! {
                <p class="muted small" id="landscape-title">{l.title.clone()} " · "
                    {format!("{} / {} {} · {:.1} s", l.done, l.total, if matches!(l.shape, Shape::Line { .. }) { "points" } else { "rows" }, l.millis / 1000.0)}
                </p>
                {(l.done < l.total).then(|| view! { <progress max=l.total value=l.done></progress> })}
            })}
            <canvas id="landscape-canvas" node_ref=canvas width="560" height="360" class:hidden=move || ctx.landscape.with(Option::is_none)></canvas>
            <p class="muted small">"Loss on " {SAMPLES} " training images. Line: θ(c) = (1 − c)·A + c·B for c from −0.2 to 1.2, evaluated inside A's sparse subspace, B's, and their union: a barrier inside a sparse subspace can vanish in the wider one. Plane: two random directions with filter normalisation (Li et al. 2018), within the active weights unless dense; the red cross is the current point. Training pauses while it computes."</p>
        </section>
    }
}
