//! The escape demo (RIGL.md "What the paper found"): train Static to a plateau, then continue
//! from that exact state with Static and with RigL, side by side, and look at the landscape
//! between the Static solution and where RigL went.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::ctx::{Ctx, Mode, Status};
use super::driver::{self, next_frame};
use super::lab::Run;
use super::landscape::{line, pause_and_take, put_back};
use crate::config::Config;
use crate::sparse::Method;
use crate::train::escape::{ESCAPE_MORE_STEPS, ESCAPE_PRESET, summarize};

#[derive(Clone, Debug, PartialEq)]
pub enum Phase {
    Idle,
    /// Training the Static run to its plateau.
    Static,
    /// Both continuations are training.
    Continue,
    /// Computing the line between the Static solution and RigL's end.
    Landscape,
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

async fn demo(ctx: Ctx, phase: RwSignal<Phase>) -> Result<(), String> {
    let config = Config::from_query(ESCAPE_PRESET).0;
    phase.set(Phase::Static);
    ctx.versus.set(Vec::new());
    ctx.config.set(config.clone());
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
    let plateau = t.evaluate().await.train_loss;
    let a = (t.backend.point(t.layers.len()).await, t.masks.clone());
    let (train, test) = ctx
        .lab
        .with_value(|l| l.data.get(config.data.name()).cloned())
        .ok_or("the data set is not loaded")?;
    let more = |m: Method| {
        let mut c = config.clone();
        (c.method, c.steps, c.eval_every) = (m, ESCAPE_MORE_STEPS, ESCAPE_MORE_STEPS / 4);
        c
    };
    let s = Run::fork(
        &mut t,
        more(Method::Static),
        "static, continued".into(),
        &train,
        &test,
    )
    .await?;
    let r = Run::fork(
        &mut t,
        more(Method::Rigl),
        "rigl, from the static solution".into(),
        &train,
        &test,
    )
    .await?;
    ctx.lab.update_value(|l| {
        l.runs = vec![s, r];
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
        after.push(t.evaluate().await.train_loss);
        put_back(ctx, i, t);
    }
    phase.set(Phase::Landscape);
    let mut rigl = pause_and_take(ctx, 1).await.ok_or("the RigL run is busy")?;
    let b = (
        rigl.backend.point(rigl.layers.len()).await,
        rigl.masks.clone(),
    );
    line(
        ctx,
        &mut rigl,
        a,
        b,
        "from the Static solution (A) to the end of the RigL continuation (B)".into(),
    )
    .await;
    put_back(ctx, 1, rigl);
    ctx.view_tick.update(|t| *t += 1);
    phase.set(Phase::Done {
        plateau,
        static_after: after[0],
        rigl_after: after[1],
        sentence: summarize(plateau, after[0], after[1], ESCAPE_MORE_STEPS),
    });
    Ok(())
}

#[component]
pub fn EscapeCard(ctx: Ctx) -> impl IntoView {
    let phase = RwSignal::new(Phase::Idle);
    let start = move |_| {
        if matches!(
            phase.get_untracked(),
            Phase::Static | Phase::Continue | Phase::Landscape
        ) {
            return;
        }
        spawn_local(async move {
            if let Err(e) = demo(ctx, phase).await {
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
            <p class="muted small">"Trains a 98% sparse network with a fixed random mask (Static) until its loss stalls, then continues from that exact state twice on the same data: once still Static, once with RigL. The loss chart then shows both continuations; the landscape shows the line from the Static solution to where RigL went."</p>
        }.into_any(),
        Phase::Static => view! { <p>"1/3 · training Static to its plateau…"</p> }.into_any(),
        Phase::Continue => view! { <p>"2/3 · continuing with Static and with RigL…"</p> }.into_any(),
        Phase::Landscape => view! { <p>"3/3 · the loss along the line between the two solutions…"</p> }.into_any(),
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
        <section id="escape" class="card" data-state=state>
            <div class="card-head">
                <h2>"Escape from a local minimum"</h2>
                <button id="escape-start" class="primary" on:click=start>"Run the escape demo"</button>
            </div>
            {body}
        </section>
    }
}
