//! The ΔT x α map on the page (the paper's Figure 5, RQ3): a small grid of the current
//! configuration at several mask-update periods and drop fractions, one seed, trained one
//! run after the other on the CPU in animation-frame slices while the lab is paused; each
//! cell fills in as its run ends. `riglab sweep` trains bigger grids headless.

use leptos::html::Canvas;
use leptos::prelude::*;
use leptos::task::spawn_local;
use plotters::prelude::*;
use plotters_canvas::CanvasBackend;

use super::ctx::Ctx;
use super::frame::{FRAME_BUDGET_MS, next_frame, now_ms};
use crate::experiment::grid::SweepGrid;
use crate::figures::sweep_map;
use crate::train::{Event, Trainer};

const DTS: [usize; 4] = [25, 50, 100, 200];
const ALPHAS: [f64; 3] = [0.1, 0.3, 0.5];

#[derive(Clone, Debug, PartialEq)]
struct Map {
    /// Test accuracy in % per (ΔT, α), row-major by ΔT.
    cells: Vec<Option<f64>>,
    /// What it is doing, or what it found.
    status: String,
    running: bool,
}

impl Map {
    fn value(&self, dt: usize, alpha: f64) -> Option<f64> {
        let i = DTS.iter().position(|&d| d == dt)?;
        let j = ALPHAS.iter().position(|&a| a == alpha)?;
        self.cells[i * ALPHAS.len() + j]
    }
}

/// Trains the grid into `map`; stops early when `cancel` is set.
async fn train_grid(
    ctx: Ctx,
    steps: usize,
    map: RwSignal<Option<Map>>,
    cancel: RwSignal<bool>,
) -> Result<(), String> {
    super::driver::pause(ctx).await;
    let mut base = ctx.config.get_untracked();
    (base.steps, base.eval_every) = (steps, steps);
    let (train, test) = ctx
        .lab
        .with_value(|l| l.data.get(&base.data.name()).cloned())
        .ok_or("the data set is not loaded")?;
    let grid = SweepGrid {
        dts: DTS.to_vec(),
        alphas: ALPHAS.to_vec(),
        seeds: 1,
    };
    let runs = grid.runs(&base);
    let n = runs.len();
    let mut frame = now_ms();
    let started = now_ms();
    for (k, p) in runs.iter().enumerate() {
        let mut t = Trainer::cpu(&p.config, train.clone(), test.clone())?;
        t.backend.yielder = Some(Box::new(|| Box::pin(next_frame())));
        let mut events = Vec::new();
        let mut accuracy = None;
        while !t.done() {
            t.step(&mut events).await;
            for e in events.drain(..) {
                if let Event::Eval(m) = e {
                    accuracy = Some(100.0 * m.test_accuracy);
                }
            }
            if now_ms() - frame > FRAME_BUDGET_MS {
                map.update(|m| {
                    if let Some(m) = m {
                        m.status = format!(
                            "run {} of {n} (ΔT = {}, α = {}): step {} of {steps}",
                            k + 1,
                            p.config.dt,
                            p.config.alpha,
                            t.step
                        );
                    }
                });
                next_frame().await;
                frame = now_ms();
                if cancel.get_untracked() {
                    return Err(format!("cancelled after {k} of {n} runs"));
                }
            }
        }
        map.update(|m| {
            if let Some(m) = m {
                m.cells[k] = accuracy;
            }
        });
    }
    let best = map.with_untracked(|m| {
        m.as_ref().and_then(|m| {
            m.cells
                .iter()
                .enumerate()
                .filter_map(|(i, v)| v.map(|v| (i, v)))
                .max_by(|a, b| a.1.total_cmp(&b.1))
        })
    });
    map.update(|m| {
        if let (Some(m), Some((i, v))) = (m, best) {
            m.status = format!(
                "{n} runs of {steps} steps in {:.0} s; best: ΔT = {}, α = {} ({v:.2}%)",
                (now_ms() - started) / 1000.0,
                DTS[i / ALPHAS.len()],
                ALPHAS[i % ALPHAS.len()]
            );
        }
    });
    Ok(())
}

#[component]
pub fn SweepCard(ctx: Ctx) -> impl IntoView {
    let canvas = NodeRef::<Canvas>::new();
    let map = RwSignal::new(None::<Map>);
    let cancel = RwSignal::new(false);
    let (steps, set_steps) = signal(600usize);
    let dynamic = move || ctx.config.with(|c| c.method.is_dynamic());
    let running = move || map.with(|m| m.as_ref().is_some_and(|m| m.running));
    Effect::new(move |_| {
        let Some(m) = map.get() else { return };
        let Some(c) = canvas.get() else { return };
        if let Some(backend) = CanvasBackend::with_canvas_object(c) {
            let area = backend.into_drawing_area();
            let _ = sweep_map(&area, None, &DTS, &ALPHAS, |d, a| m.value(d, a), 12);
        }
    });
    let start = move |_| {
        if running() {
            return;
        }
        cancel.set(false);
        map.set(Some(Map {
            cells: vec![None; DTS.len() * ALPHAS.len()],
            status: "starting".into(),
            running: true,
        }));
        spawn_local(async move {
            let outcome = train_grid(ctx, steps.get_untracked(), map, cancel).await;
            map.update(|m| {
                if let Some(m) = m {
                    m.running = false;
                    if let Err(e) = outcome {
                        m.status = e;
                    }
                }
            });
        });
    };
    let state = move || match map.get() {
        Some(m) if m.running => "running",
        Some(m) if m.cells.iter().all(Option::is_some) => "done",
        Some(_) => "stopped",
        None => "empty",
    };
    let done = move || {
        map.with(|m| {
            m.as_ref()
                .map_or(0, |m| m.cells.iter().filter(|c| c.is_some()).count())
        })
    };
    view! {
        <section id="sweep" class="card sweep" data-state=state>
            <div class="card-head">
                <h2>"ΔT × α: how often and how much to update"</h2>
            </div>
            <p class="muted small">
                "The current configuration at mask-update periods ΔT = 25, 50, 100, 200 and drop fractions α = 0.1, 0.3, 0.5 (one seed, on the CPU, the lab paused), each cell the test accuracy at the end (the paper's Figure 5). Bigger grids, several seeds: "
                <code>"riglab sweep '<query>' --seeds 3 --plot map.svg"</code>"."
            </p>
            <span class="control-row">
                <label>"steps per run "
                    <select id="sweep-steps" on:change=move |ev| set_steps.set(event_target_value(&ev).parse().unwrap_or(600))>
                        {[100usize, 300, 600, 1000].into_iter().map(|s| view! { <option value=s.to_string() selected=s == 600>{s}</option> }).collect_view()}
                    </select>
                </label>
                <button id="sweep-start" on:click=start disabled=move || running() || !dynamic()>"Train the map"</button>
                <button id="sweep-cancel" on:click=move |_| cancel.set(true) disabled=move || !running()>"Cancel"</button>
            </span>
            {move || (!dynamic()).then(|| view! { <p class="muted small">"Pick a method with mask updates (RigL, SET, SNFS) to map ΔT and α."</p> })}
            {move || map.get().map(|m| view! {
                <p id="sweep-status" class="small">{m.status.clone()}</p>
                {m.running.then(|| view! { <progress max=DTS.len() * ALPHAS.len() value=done></progress> })}
            })}
            <canvas id="sweep-canvas" node_ref=canvas width="520" height="330" class:hidden=move || map.with(Option::is_none)></canvas>
        </section>
    }
}
