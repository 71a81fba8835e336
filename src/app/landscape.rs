//! The landscape views: the loss along a line between two snapshots (with each snapshot's
//! mask and their union), on a 2D slice around the current parameters, and on the plane of
//! the first two principal components of the run's trajectory with the path drawn on it;
//! computed point by point across animation frames while training is paused.

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ctx::Ctx;
use super::export::download;
use super::frame::{FRAME_BUDGET_MS, next_frame, now_ms};
use super::lab::Mark;
use super::landscape_state::{Landscape, Shape};
use super::workers;
use crate::backend::{AnyBackend, Backend};
use crate::landscape::compute::PlaneSpec;
use crate::landscape::map::{Path, PlaneMap};
use crate::landscape::{LOSS_SAMPLES, Point, direction_seed, interpolation_coefficients};
use crate::train::Trainer;
use crate::worker::landscape::{self, Job};
use crate::worker::protocol::Piece;

/// Training images every landscape loss is measured on.
pub const SAMPLES: usize = LOSS_SAMPLES;
/// Points along a line, from -0.2 to 1.2 (as `riglab landscape`'s default).
const LINE_POINTS: usize = 29;

/// What a landscape view writes beside the numbers: its title and, for a map, each path's
/// legend label and run colour, and the label of the start.
pub struct Labels {
    pub title: String,
    pub styles: Vec<(String, usize)>,
    pub start_label: String,
}

impl Labels {
    pub fn titled(title: String) -> Self {
        Labels {
            title,
            styles: Vec::new(),
            start_label: String::new(),
        }
    }

    /// What the view shows of `piece`, `millis` after it started (nothing: a refusal).
    fn view(&self, piece: &Piece, millis: f64) -> Option<Landscape> {
        let map = |map: Option<PlaneMap>| Shape::Map {
            map,
            styles: self.styles.clone(),
            start_label: self.start_label.clone(),
        };
        let (shape, done, total, unit) = match piece {
            Piece::Line { rows, total } => {
                let series = ["mask of A", "mask of B", "union of the masks"]
                    .into_iter()
                    .enumerate()
                    .map(|(k, name)| {
                        let losses = rows.iter().map(|r| [r.mask_a, r.mask_b, r.union][k]);
                        (name.to_string(), losses.collect())
                    })
                    .collect();
                let coeffs = interpolation_coefficients(*total);
                (Shape::Line { coeffs, series }, rows.len(), *total, "points")
            }
            Piece::Plane { plane, total } => {
                let shape = Shape::Plane {
                    coords: plane.coords.clone(),
                    losses: plane.losses.clone(),
                    center: plane.center_loss,
                };
                (shape, plane.losses.len(), *total, "rows")
            }
            Piece::Pca { done, total } => (map(None), *done, *total, "snapshots (PCA)"),
            Piece::Map {
                map: m,
                done,
                total,
            } => (map(Some(m.clone())), *done, *total, "grid points"),
            Piece::Refused { .. } | Piece::Timed { .. } | Piece::Evaluated { .. } => return None,
        };
        Some(Landscape {
            title: self.title.clone(),
            shape,
            done,
            total,
            unit,
            millis,
        })
    }
}

/// Computes `job` (a landscape, an evaluation) at run `i`'s trainer `t` (paused, taken out
/// of the lab): in a worker where the run trains in workers (on the CPU, or on WebGPU while
/// workers have it), else here across animation frames; `show` gets its pieces as they come. The last piece: the
/// whole landscape, or why there is none.
pub async fn run_job(
    ctx: Ctx,
    (i, t): (usize, &mut Trainer<AnyBackend>),
    job: &Job<'_>,
    mut show: impl FnMut(&Piece),
) -> Piece {
    if workers::enabled(ctx) && (matches!(t.backend, AnyBackend::Cpu(_)) || workers::gpu_ok(ctx)) {
        match workers::job(ctx, i, t, job, &mut show).await {
            Ok(piece) => return piece,
            // Computed here instead, unless the runs changed meanwhile.
            Err(why) => {
                let ours = ctx
                    .lab
                    .with_value(|l| l.run(i).is_some_and(|r| r.trainer.is_none()));
                if !ours {
                    return Piece::Refused {
                        message: format!("the runs changed while it was computed ({why})"),
                    };
                }
            }
        }
    }
    let mut frame = now_ms();
    let report = async |p: &Piece| {
        // The PCA's pieces are small: show them (and yield) once a frame's budget is spent.
        if matches!(p, Piece::Pca { .. }) && now_ms() - frame <= FRAME_BUDGET_MS {
            return;
        }
        show(p);
        next_frame().await;
        frame = now_ms();
    };
    let piece = landscape::run(t, job, report, &now_ms).await;
    show(&piece);
    piece
}

/// `run_job`, showing the landscape in `target` as it fills in.
pub async fn compute(
    ctx: Ctx,
    (i, t): (usize, &mut Trainer<AnyBackend>),
    job: &Job<'_>,
    target: RwSignal<Option<Landscape>>,
    labels: &Labels,
) -> Piece {
    let started = now_ms();
    let show = |p: &Piece| {
        if let Some(v) = labels.view(p, now_ms() - started) {
            target.set(Some(v));
        }
    };
    run_job(ctx, (i, t), job, show).await
}

/// Computes the map of `paths` about `origin` for run `i` (its trainer `t`), showing it in
/// `target` as it fills in.
pub async fn map_into(
    ctx: Ctx,
    (i, t): (usize, &mut Trainer<AnyBackend>),
    target: RwSignal<Option<Landscape>>,
    (paths, origin, grid): (&[Path<'_>], &Point, usize),
    labels: &Labels,
) -> Result<PlaneMap, String> {
    let job = Job::Map {
        paths,
        origin,
        grid,
        samples: LOSS_SAMPLES,
    };
    match compute(ctx, (i, t), &job, target, labels).await {
        Piece::Map { map, .. } => Ok(map),
        Piece::Refused { message } => Err(message),
        _ => Err("the map did not come".into()),
    }
}

/// The loss on the plane of the first two principal components of run `i`'s trajectory
/// (its snapshots and the current parameters, about the current parameters).
async fn trajectory_plane(
    ctx: Ctx,
    i: usize,
    t: &mut Trainer<AnyBackend>,
    grid: usize,
) -> Result<(), String> {
    let trajectory = ctx
        .lab
        .try_update_value(|l| l.runs.get_mut(i).and_then(|r| r.trajectory.take()))
        .flatten()
        .ok_or("this run has no recorded trajectory")?;
    let end = t.backend.read_point().await;
    let path = trajectory.path_to(t.step, &end);
    let title = format!(
        "step {}: the trajectory's plane (PCA of {} snapshots about the current point, {grid} × {grid})",
        t.step,
        path.len()
    );
    let paths = [("trajectory".to_string(), path)];
    let labels = Labels {
        title,
        styles: vec![(format!("trajectory to step {}", t.step), i)],
        start_label: "start".to_string(),
    };
    let result = map_into(ctx, (i, t), ctx.landscape, (&paths, &end, grid), &labels).await;
    ctx.lab.update_value(|l| {
        // (Unless the runs were rebuilt meanwhile: a new run has its own.)
        if let Some(r) = l.runs.get_mut(i).filter(|r| r.trajectory.is_none()) {
            r.trajectory = Some(trajectory);
        }
    });
    result.map(|_| ())
}

/// Pauses training and takes run `i`'s trainer out of the lab (give it back with `put_back`).
pub async fn pause_and_take(ctx: Ctx, i: usize) -> Option<Trainer<AnyBackend>> {
    super::driver::pause(ctx).await;
    ctx.lab
        .try_update_value(|l| l.runs.get_mut(i).and_then(|r| r.trainer.take()))
        .flatten()
}

/// Returns a trainer taken with `pause_and_take`, unless the runs were rebuilt meanwhile.
pub fn put_back(ctx: Ctx, i: usize, t: Trainer<AnyBackend>) {
    ctx.lab.update_value(|l| {
        if let Some(r) = l.runs.get_mut(i).filter(|r| r.trainer.is_none()) {
            r.put_back(t);
        }
    });
}

/// The loss along the line from `a` to `b`, with A's mask, B's mask and their union, for run
/// `i` (its trainer `t`).
pub async fn line(
    ctx: Ctx,
    (i, t): (usize, &mut Trainer<AnyBackend>),
    (a, b): (&Mark, &Mark),
    title: String,
) -> Result<(), String> {
    let job = Job::Line {
        a,
        b,
        points: LINE_POINTS,
        samples: SAMPLES,
    };
    done(compute(ctx, (i, t), &job, ctx.landscape, &Labels::titled(title)).await)
}

/// Ok, or why a landscape did not come.
fn done(last: Piece) -> Result<(), String> {
    match last {
        Piece::Refused { message } => Err(message),
        _ => Ok(()),
    }
}

/// The loss on a `grid` x `grid` slice around run `i`'s current parameters (its trainer
/// `t`), along two filter-normalised random directions (within the active weights unless
/// `dense`).
pub async fn plane(
    ctx: Ctx,
    (i, t): (usize, &mut Trainer<AnyBackend>),
    grid: usize,
    dense: bool,
) -> Result<(), String> {
    let spec = PlaneSpec {
        grid,
        span: 1.0,
        samples: SAMPLES,
        dense_directions: dense,
        seed: direction_seed(t.exp.seed, t.step),
    };
    let title = format!(
        "step {}: loss around the current parameters ({grid} × {grid}, {} directions)",
        t.step,
        if dense { "dense" } else { "sparse" }
    );
    let job = Job::Plane(spec);
    done(compute(ctx, (i, t), &job, ctx.landscape, &Labels::titled(title)).await)
}

/// The snapshots the line view can start or end at, for run `i`: (key, label).
fn line_ends(ctx: Ctx, i: usize) -> Vec<(&'static str, String)> {
    let mut ends = vec![("start", "the start of the run".to_string())];
    let mut shape = Vec::new();
    ctx.lab.with_value(|l| {
        if let Some(r) = l.run(i) {
            shape = r.marks.start.point.weights.iter().map(Vec::len).collect();
            if let Some(m) = &r.marks.before_update {
                ends.push((
                    "before",
                    format!("before the last mask update (step {})", m.step),
                ));
            }
            if let Some(m) = &r.marks.after_update {
                ends.push((
                    "after",
                    format!(
                        "after the last mask update (step {})",
                        m.step.saturating_sub(1)
                    ),
                ));
            }
        }
    });
    ends.push(("now", "now".to_string()));
    // Saved snapshots of another network (the configuration changed since) are left out.
    ctx.saved.with_value(|s| {
        ends.extend(
            s.iter()
                .filter(|(_, _, m)| {
                    m.point
                        .weights
                        .iter()
                        .map(Vec::len)
                        .eq(shape.iter().copied())
                })
                .map(|(k, label, _)| (*k, label.clone())),
        );
    });
    ends
}

/// The snapshot `key` of `line_ends` with its label.
async fn line_end(
    ctx: Ctx,
    i: usize,
    t: &mut Trainer<AnyBackend>,
    key: &str,
) -> Option<(Mark, String)> {
    if key == "now" {
        let point = t.backend.read_point().await;
        let mark = Mark {
            step: t.step,
            point,
            masks: t.masks.clone(),
        };
        return Some((mark, format!("step {}", t.step)));
    }
    let from_run = ctx
        .lab
        .with_value(|l| {
            let m = &l.run(i)?.marks;
            match key {
                "start" => Some(m.start.clone()),
                "before" => m.before_update.clone(),
                "after" => m.after_update.clone(),
                _ => None,
            }
        })
        .map(|m| {
            let label = match key {
                "start" => "the start".to_string(),
                "before" => format!("just before the update at step {}", m.step),
                // Marks count steps done: the update at step t is done after t + 1 steps.
                _ => format!("just after the update at step {}", m.step.saturating_sub(1)),
            };
            (m, label)
        });
    from_run.or_else(|| {
        ctx.saved.with_value(|s| {
            s.iter()
                .find(|x| x.0 == key)
                .map(|x| (x.2.clone(), x.1.clone()))
        })
    })
}

#[component]
pub fn LandscapeCard(ctx: Ctx) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let (grid, set_grid) = signal(21usize);
    let (dense, set_dense) = signal(false);
    let (pca, set_pca) = signal(false);
    let (end_a, set_end_a) = signal("start".to_string());
    let (end_b, set_end_b) = signal("now".to_string());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    Effect::new(move |_| {
        let Some(l) = ctx.landscape.get() else { return };
        let Some(c) = canvas.get() else { return };
        l.draw(c);
    });
    let run = move |what: &'static str| {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            let i = ctx.shown.get_untracked();
            if let Some(mut t) = pause_and_take(ctx, i).await {
                let grid = grid.get_untracked();
                let outcome = match what {
                    "line" => {
                        let (ka, kb) = (end_a.get_untracked(), end_b.get_untracked());
                        let a = line_end(ctx, i, &mut t, &ka).await;
                        let b = line_end(ctx, i, &mut t, &kb).await;
                        match (a, b) {
                            (Some((a, la)), Some((b, lb))) => {
                                let title = format!("from {la} (A) to {lb} (B)");
                                line(ctx, (i, &mut t), (&a, &b), title).await
                            }
                            _ => Err("that snapshot is not there (any more)".to_string()),
                        }
                    }
                    _ if pca.get_untracked() => trajectory_plane(ctx, i, &mut t, grid).await,
                    _ => plane(ctx, (i, &mut t), grid, dense.get_untracked()).await,
                };
                put_back(ctx, i, t);
                if let Err(e) = outcome {
                    error.set(Some(e));
                }
            }
            busy.set(false);
        });
    };
    let state = move || match ctx.landscape.get() {
        Some(l) if l.finished() => "done",
        Some(_) => "computing",
        None => "empty",
    };
    let ends = move || {
        ctx.view_tick.track();
        line_ends(ctx, ctx.shown.get())
    };
    let options = move |chosen: ReadSignal<String>| {
        move || {
            ends()
                .into_iter()
                .map(|(k, label)| {
                    view! { <option value=k selected=move || chosen.get() == k>{label}</option> }
                })
                .collect_view()
        }
    };
    view! {
        <section id="landscape" class="card landscape" data-state=state>
            <div class="card-head">
                <h2>"Loss landscape"</h2>
                <button id="png-landscape" disabled=move || ctx.landscape.with(Option::is_none)
                    on:click=move |_| super::export::download_png("riglab-landscape.png", "#landscape-canvas")>"PNG"</button>
            </div>
            <div class="landscape-controls">
                <span class="control-row">
                    <label>"A " <select id="landscape-a" on:change=move |ev| set_end_a.set(event_target_value(&ev))>{options(end_a)}</select></label>
                    <label>"B " <select id="landscape-b" on:change=move |ev| set_end_b.set(event_target_value(&ev))>{options(end_b)}</select></label>
                    <button id="landscape-line" on:click=move |_| run("line") disabled=move || busy.get()>"Line: A → B"</button>
                </span>
                <span class="control-row">
                    <select id="landscape-plane-kind" aria-label="plane" on:change=move |ev| set_pca.set(event_target_value(&ev) == "pca")>
                        <option value="random" selected>"plane: random directions around now"</option>
                        <option value="pca">"plane: trajectory plane (PCA)"</option>
                    </select>
                    <select id="landscape-grid" aria-label="grid size" on:change=move |ev| set_grid.set(event_target_value(&ev).parse().unwrap_or(21))>
                        {[11usize, 21, 31, 51].into_iter().map(|g| view! { <option value=g.to_string() selected=g == 21>{format!("{g} × {g}")}</option> }).collect_view()}
                    </select>
                    <label class="toggle" class:hidden=move || pca.get()><input type="checkbox" on:change=move |ev| set_dense.set(event_target_checked(&ev))/>" dense directions"</label>
                    <button id="landscape-plane" on:click=move |_| run("plane") disabled=move || busy.get()>"Plane"</button>
                    <button id="landscape-export" disabled=move || ctx.landscape.with(|l| !l.as_ref().is_some_and(Landscape::finished))
                        on:click=move |_| if let Some(l) = ctx.landscape.get_untracked() { download("riglab-landscape.csv", &l.csv()) }>"Export CSV"</button>
                </span>
            </div>
            {move || error.get().map(|e| view! { <p id="landscape-error" class="error">{e}</p> })}
            {move || ctx.landscape.get().map(|l| view! {
                <p class="muted small" id="landscape-title">{l.title.clone()} " · "
                    {format!("{} / {} {} · {:.1} s", l.done, l.total, l.unit, l.millis / 1000.0)}
                </p>
                {(!l.finished()).then(|| view! { <progress max=l.total value=l.done></progress> })}
            })}
            <canvas id="landscape-canvas" node_ref=canvas width="560" height="400" class:hidden=move || ctx.landscape.with(Option::is_none)></canvas>
            {move || ctx.landscape.get().and_then(|l| l.caption()).map(|c| view! { <p id="landscape-caption" class="small">{c}</p> })}
            <p class="muted small">"Loss on " {SAMPLES} " training images. Line: θ(c) = (1 − c)·A + c·B for c from −0.2 to 1.2, evaluated inside A's sparse subspace, B's, and their union: a barrier inside a sparse subspace can vanish in the wider one; A and B can be the start, the parameters just before or after the last mask update, now, or (after the escape demo) its solutions. Random plane: two random directions with filter normalisation (Li et al. 2018), within the active weights unless dense; the red cross is the current point. Trajectory plane: the first two principal components of the differences between the snapshots recorded along the run (at each evaluation and mask update, at most 40) and the current parameters (Li et al. 2018, section 7); the loss there uses every weight the path used. Training pauses while it computes."</p>
        </section>
    }
}
