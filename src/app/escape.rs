//! The escape demo (RIGL.md "What the paper found"): train Static to a plateau, then continue
//! from that exact state with Static and with RigL, side by side, and look at the landscape
//! between the Static solution and where RigL went, and at both paths on the plane of their
//! first two principal components.

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ctx::{Ctx, Mode, Status};
use super::driver::{self, mark};
use super::export::download;
use super::frame::next_frame;
use super::lab::{Mark, Run};
use super::landscape::{Labels, line, map_into, pause_and_take, put_back, run_job};
use super::landscape_state::Landscape;
use crate::backend::AnyBackend;
use crate::config::Config;
use crate::sparse::Method;
use crate::train::Trainer;
use crate::train::escape::{
    ESCAPE_MAP_GRID, ESCAPE_MORE_STEPS, ESCAPE_PRESET, ESCAPE_RECORD_EVERY, continuation_config,
    summarize,
};
use crate::worker::landscape::Job;
use crate::worker::protocol::Piece;

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Idle,
    /// Training the Static run to its plateau.
    Static,
    /// Both continuations are training.
    Continue,
    /// Computing the line between the Static solution and RigL's end.
    Landscape,
    /// Computing the loss on the PCA plane of both continuations' paths.
    Map,
    Done {
        plateau: f64,
        static_after: f64,
        rigl_after: f64,
        sentence: String,
    },
    Failed(String),
}

async fn run_all_to_end(ctx: Ctx) {
    ctx.mode.set(Mode::Running);
    driver::start(ctx);
    while ctx.mode.get_untracked() != Mode::Paused || ctx.driving.get_untracked() {
        next_frame().await;
    }
}

async fn demo(
    ctx: Ctx,
    phase: RwSignal<Phase>,
    map: RwSignal<Option<Landscape>>,
) -> Result<(), String> {
    ctx.saved.set_value(Vec::new());
    map.set(None);
    let config = Config::from_query(ESCAPE_PRESET).0;
    phase.set(Phase::Static);
    // The runs start over when the configuration changes; a second demo changes nothing.
    let unchanged =
        ctx.config.get_untracked() == config && ctx.versus.with_untracked(Vec::is_empty);
    ctx.versus.set(Vec::new());
    ctx.config.set(config.clone());
    if unchanged {
        spawn_local(super::reset::reset(ctx));
    }
    // The configuration change rebuilds the runs; wait for the new Static run.
    loop {
        next_frame().await;
        let ready = ctx.status.get_untracked() == Status::Ready
            && ctx.lab.with_value(|l| {
                l.runs.len() == 1 && l.runs[0].config == config && l.runs[0].step() == 0
            });
        if ready {
            break;
        }
        if let Status::Error(e) = ctx.status.get_untracked() {
            return Err(e);
        }
    }
    run_all_to_end(ctx).await;
    let mut t = pause_and_take(ctx, 0)
        .await
        .ok_or("the Static run is busy")?;
    let plateau = train_loss(ctx, 0, &mut t).await;
    let solution = mark(&mut t).await;
    let (train, test) = ctx
        .lab
        .with_value(|l| l.data.get(&config.data.name()).cloned())
        .ok_or("the data set is not loaded")?;
    let more = |m: Method| continuation_config(&config, m, ESCAPE_MORE_STEPS);
    let every = Some(ESCAPE_RECORD_EVERY);
    let s = Run::fork(
        &mut t,
        more(Method::Static),
        "static, continued".into(),
        (&train, &test),
        every,
    )
    .await?;
    // Each fork copies a network: a frame apart, and apart from handing them to workers.
    next_frame().await;
    let r = Run::fork(
        &mut t,
        more(Method::Rigl),
        "rigl, from the static solution".into(),
        (&train, &test),
        every,
    )
    .await?;
    next_frame().await;
    ctx.lab.update_value(|l| {
        l.set_runs(vec![s, r]);
        l.refresh_backend_name();
    });
    ctx.shown.set(1);
    phase.set(Phase::Continue);
    run_all_to_end(ctx).await;
    let mut after = Vec::new();
    for i in 0..2 {
        let mut t = pause_and_take(ctx, i)
            .await
            .ok_or("a continuation is busy")?;
        after.push(train_loss(ctx, i, &mut t).await);
        put_back(ctx, i, t);
    }
    phase.set(Phase::Landscape);
    let mut st = pause_and_take(ctx, 0)
        .await
        .ok_or("the Static run is busy")?;
    let static_end = mark(&mut st).await;
    put_back(ctx, 0, st);
    let mut rigl = pause_and_take(ctx, 1).await.ok_or("the RigL run is busy")?;
    let rigl_end = mark(&mut rigl).await;
    let lined = line(
        ctx,
        (1, &mut rigl),
        (&solution, &rigl_end),
        "from the Static solution (A) to the end of the RigL continuation (B)".into(),
    )
    .await;
    if let Err(e) = lined {
        put_back(ctx, 1, rigl);
        return Err(e);
    }
    ctx.saved.set_value(vec![
        (
            "plateau",
            "the Static solution (escape demo)".into(),
            solution.clone(),
        ),
        (
            "static-end",
            "Static, continued (escape demo)".into(),
            static_end.clone(),
        ),
        (
            "rigl-end",
            "RigL, continued (escape demo)".into(),
            rigl_end.clone(),
        ),
    ]);
    ctx.view_tick.update(|t| *t += 1);
    phase.set(Phase::Map);
    let mapped = escape_map(ctx, map, &mut rigl, &solution, [&static_end, &rigl_end]).await;
    put_back(ctx, 1, rigl);
    mapped?;
    ctx.view_tick.update(|t| *t += 1);
    phase.set(Phase::Done {
        plateau,
        static_after: after[0],
        rigl_after: after[1],
        sentence: summarize(plateau, after[0], after[1], ESCAPE_MORE_STEPS),
    });
    Ok(())
}

/// The training loss of run `i`'s trainer `t` (its evaluation; in a worker where the runs train
/// in workers: a CIFAR-10 CNN's is seconds of work).
async fn train_loss(ctx: Ctx, i: usize, t: &mut Trainer<AnyBackend>) -> f64 {
    match run_job(ctx, (i, t), &Job::Evaluate, |_| {}).await {
        Piece::Evaluated { metrics } => metrics.train_loss,
        // (The runs changed meanwhile.)
        _ => t.evaluate().await.train_loss,
    }
}

/// The loss on the PCA plane of both continuations' paths (runs 0 and 1, ending at `ends`)
/// about the Static solution, into `map`; the same numbers as `riglab escape --csv`.
async fn escape_map(
    ctx: Ctx,
    map: RwSignal<Option<Landscape>>,
    t: &mut crate::train::Trainer<crate::backend::AnyBackend>,
    solution: &Mark,
    ends: [&Mark; 2],
) -> Result<(), String> {
    let taken = ctx.lab.try_update_value(|l| {
        let mut it = l.runs.iter_mut().map(|r| r.trajectory.take());
        (it.next().flatten(), it.next().flatten())
    });
    let (Some((Some(ts), Some(tr))), [s_end, r_end]) = (taken, ends) else {
        return Err("the continuations' paths are missing".into());
    };
    let paths = [
        ("static".to_string(), ts.path_to(s_end.step, &s_end.point)),
        ("rigl".to_string(), tr.path_to(r_end.step, &r_end.point)),
    ];
    let labels = Labels {
        title: format!(
            "both continuations on the plane of their paths' first two principal components ({ESCAPE_MAP_GRID} × {ESCAPE_MAP_GRID})"
        ),
        styles: vec![
            ("Static, continued".to_string(), 0),
            ("RigL, from the Static solution".to_string(), 1),
        ],
        start_label: "the Static solution".to_string(),
    };
    let job = (&paths[..], &solution.point, ESCAPE_MAP_GRID);
    let result = map_into(ctx, (1, t), map, job, &labels).await;
    ctx.lab.update_value(|l| {
        for (r, tr) in l.runs.iter_mut().zip([ts, tr]) {
            // (Unless the runs were rebuilt meanwhile: a new run has its own.)
            r.trajectory.get_or_insert(tr);
        }
    });
    result.map(|_| ())
}

#[component]
pub fn EscapeCard(ctx: Ctx) -> impl IntoView {
    let phase = RwSignal::new(Phase::Idle);
    let map = RwSignal::new(None::<Landscape>);
    let canvas = NodeRef::<Canvas>::new();
    Effect::new(move |_| {
        let Some(l) = map.get() else { return };
        let Some(c) = canvas.get() else { return };
        l.draw(c);
    });
    let start = move |_| {
        if matches!(
            phase.get_untracked(),
            Phase::Static | Phase::Continue | Phase::Landscape | Phase::Map
        ) {
            return;
        }
        spawn_local(async move {
            if let Err(e) = demo(ctx, phase, map).await {
                phase.set(Phase::Failed(e));
            }
        });
    };
    let state = move || match phase.get() {
        Phase::Idle => "idle",
        Phase::Done { .. } => "done",
        Phase::Failed(_) => "failed",
        _ => "running",
    };
    let body = move || {
        match phase.get() {
        Phase::Idle => view! {
            <p class="muted small">"Trains a 98% sparse network with a fixed random mask (Static) until its loss stalls, then continues from that exact state twice on the same data: once still Static, once with RigL. The loss chart then shows both continuations; the landscape shows the line from the Static solution to where RigL went; the map below shows both paths on the plane of their first two principal components, over the loss there."</p>
        }.into_any(),
        Phase::Static => view! { <p>"1/4 · training Static to its plateau…"</p> }.into_any(),
        Phase::Continue => view! { <p>"2/4 · continuing with Static and with RigL…"</p> }.into_any(),
        Phase::Landscape => view! { <p>"3/4 · the loss along the line between the two solutions…"</p> }.into_any(),
        Phase::Map => view! { <p>"4/4 · the loss on the plane of both paths…"</p> }.into_any(),
        Phase::Failed(e) => view! { <p class="error">{e}</p> }.into_any(),
        Phase::Done { plateau, static_after, rigl_after, sentence } => view! {
            <table class="escape-table">
                <tr><th>"Static solution (training loss)"</th><td id="escape-plateau">{format!("{plateau:.4}")}</td></tr>
                <tr><th>{format!("+{ESCAPE_MORE_STEPS} steps with Static")}</th><td id="escape-static">{format!("{static_after:.4}")}</td></tr>
                <tr><th>{format!("+{ESCAPE_MORE_STEPS} steps with RigL")}</th><td id="escape-rigl">{format!("{rigl_after:.4}")}</td></tr>
            </table>
            <p id="escape-summary"><b>{sentence}</b></p>
        }.into_any(),
    }
    };
    view! {
        <section id="escape" class="card" data-state=state
            data-map=move || map.with(|m| match m { Some(l) if l.finished() => "done", Some(_) => "computing", None => "none" })>
            <div class="card-head">
                <h2>"Escape from a local minimum"</h2>
                <button id="escape-start" class="primary" on:click=start>"Run the escape demo"</button>
            </div>
            {body}
            {move || map.get().map(|l| view! {
                <p class="muted small" id="escape-map-title">{l.title.clone()} " · "
                    {format!("{} / {} {} · {:.1} s", l.done, l.total, l.unit, l.millis / 1000.0)}
                    " "
                    <button id="escape-export" disabled=!l.finished()
                        on:click=move |_| if let Some(l) = map.get_untracked() { download("riglab-escape-map.csv", &l.csv()) }>"Export CSV"</button>
                </p>
                {(!l.finished()).then(|| view! { <progress max=l.total value=l.done></progress> })}
            })}
            <canvas id="escape-canvas" node_ref=canvas width="560" height="400" class:hidden=move || map.with(Option::is_none)></canvas>
            {move || map.get().and_then(|l| l.caption()).map(|c| view! { <p id="escape-caption" class="small">{c}</p> })}
        </section>
    }
}
