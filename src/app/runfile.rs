//! A run as files: **Save checkpoint** writes the shown run's state in the same safetensors
//! file as `riglab train --checkpoint` (so `riglab train --resume` goes on from it),
//! **Open checkpoint** goes on from such a file (one the CLI wrote too), and **Export JSON**
//! writes every run's record: configuration, per-step losses, evaluations, each mask update's
//! drops and grows per layer, FLOPs.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Serialize;

use super::ctx::Ctx;
use super::driver;
use super::export::download_bytes;
use super::frame::now_ms;
use super::lab::Run;
use super::landscape::{pause_and_take, put_back};
use crate::checkpoint;

/// A file name from a run's label: "rigl erk 90%" -> "rigl-erk-90".
fn slug(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    s.split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// Downloads the shown run's checkpoint.
async fn save(ctx: Ctx) {
    let shown = ctx.shown.get_untracked();
    let (i, label, config) = match ctx.lab.with_value(|l| {
        let i = shown.min(l.runs.len().checked_sub(1)?);
        l.runs
            .get(i)
            .map(|r| (i, r.label.clone(), r.config.clone()))
    }) {
        Some(run) => run,
        None => {
            ctx.note.set(Some("There is no run to save.".into()));
            return;
        }
    };
    let Some(mut trainer) = pause_and_take(ctx, i).await else {
        ctx.note.set(Some("There is no run to save.".into()));
        return;
    };
    let mut events = Vec::new();
    let state = trainer.snapshot(&config, &mut events).await;
    ctx.lab.update_value(|l| {
        if let Some(r) = l.runs.get_mut(i) {
            r.record(&mut events, now_ms());
        }
    });
    put_back(ctx, i, trainer);
    match checkpoint::to_bytes(&state) {
        Ok(bytes) => {
            let name = format!("riglab-{}-step{}.safetensors", slug(&label), state.step);
            download_bytes(&name, &bytes, "application/octet-stream");
            ctx.note.set(Some(format!(
                "Saved {label} at step {} as {name}: open it here or go on with riglab train --resume {name}.",
                state.step
            )));
        }
        Err(e) => ctx
            .note
            .set(Some(format!("The checkpoint could not be written: {e}"))),
    }
    ctx.view_tick.update(|t| *t += 1);
}

/// Goes on from a checkpoint file: the lab switches to its configuration with one run at its
/// step. A file that does not fit leaves the runs as they are and says why.
async fn open(ctx: Ctx, file: web_sys::File) {
    let name = file.name();
    let resumed = async {
        let bytes = super::fetch::file_bytes(&file)
            .await
            .ok_or("the browser could not read the file")?;
        let state = checkpoint::from_bytes(&bytes)?;
        let config = state.config(None)?;
        super::data::ensure(ctx, &config.data).await?;
        let data = ctx
            .lab
            .with_value(|l| l.data.get(&config.data.name()).cloned())
            .ok_or("its data set is not loaded")?;
        driver::pause(ctx).await;
        let gpu = super::backend::gpu_for(ctx, &config);
        let run = Run::resumed(&state, config.clone(), (&data.0, &data.1), gpu.as_ref())?;
        Ok::<_, String>((run, config, state.step))
    }
    .await;
    match resumed {
        Ok((run, config, step)) => {
            ctx.lab.update_value(|l| l.pending = Some(run));
            ctx.shown.set(0);
            ctx.note.set(Some(format!(
                "Opened {name}: the run goes on from step {step} (its curves start there). Reset starts this configuration over."
            )));
            // A new configuration or race resets the lab, which takes the pending run; the
            // same ones need the reset started here.
            let same =
                ctx.config.get_untracked() == config && ctx.versus.with_untracked(Vec::is_empty);
            if same {
                spawn_local(super::reset::reset(ctx));
            } else {
                ctx.versus.set(Vec::new());
                ctx.config.set(config);
            }
        }
        Err(e) => ctx.note.set(Some(format!(
            "{name} cannot be opened: {e}. The runs are unchanged."
        ))),
    }
}

/// One run's record, as Export JSON writes it.
#[derive(Serialize)]
struct RunRecord<'a> {
    label: &'a str,
    /// The whole configuration as a query (`riglab train '<query>'` trains it again).
    config: String,
    steps_done: usize,
    /// (step, mini-batch loss).
    losses: &'a [(usize, f64)],
    evaluations: &'a [crate::train::EvalMetrics],
    mask_updates: Vec<MaskUpdateRecord>,
    train_flops: f64,
    train_flops_fraction: f64,
}

#[derive(Serialize)]
struct MaskUpdateRecord {
    step: usize,
    layer: String,
    dropped: usize,
    grown: usize,
}

/// Every run of the lab as JSON.
fn runs_json(ctx: Ctx) -> String {
    ctx.lab.with_value(|lab| {
        let runs: Vec<RunRecord> = lab
            .runs
            .iter()
            .map(|r| {
                let names: Vec<String> = crate::experiment::Experiment::new(&r.config)
                    .map(|e| e.layers().iter().map(|l| l.name.clone()).collect())
                    .unwrap_or_default();
                RunRecord {
                    label: &r.label,
                    config: r.config.to_query_full(),
                    steps_done: r.step(),
                    losses: &r.history.losses,
                    evaluations: &r.history.evals,
                    mask_updates: r
                        .history
                        .update_log
                        .iter()
                        .map(|&(step, layer, dropped, grown)| MaskUpdateRecord {
                            step,
                            layer: names.get(layer).cloned().unwrap_or(layer.to_string()),
                            dropped,
                            grown,
                        })
                        .collect(),
                    train_flops: r.history.train_flops,
                    train_flops_fraction: r.history.train_flops_fraction,
                }
            })
            .collect();
        serde_json::to_string_pretty(
            &serde_json::json!({ "riglab": env!("CARGO_PKG_VERSION"), "runs": runs }),
        )
        .unwrap_or_default()
    })
}

/// The run-file buttons: save and open a checkpoint, export the runs as JSON.
#[component]
pub fn RunFiles(ctx: Ctx) -> impl IntoView {
    let on_open = move |ev: leptos::ev::Event| {
        let input = event_target::<web_sys::HtmlInputElement>(&ev);
        if let Some(file) = input.files().and_then(|f| f.get(0)) {
            spawn_local(open(ctx, file));
        }
        // The same file may be opened again.
        input.set_value("");
    };
    view! {
        <button id="save-checkpoint" on:click=move |_| spawn_local(save(ctx))
            title="the shown run's state as a safetensors file (riglab train --resume reads it)">"Save checkpoint"</button>
        <label class="button" title="go on from a checkpoint saved here or written by riglab train --checkpoint">
            "Open checkpoint"
            <input id="open-checkpoint" class="sr-only" type="file" accept=".safetensors" on:change=on_open/>
        </label>
        <button id="export-json" on:click=move |_| {
            let json = runs_json(ctx);
            download_bytes("riglab-runs.json", json.as_bytes(), "application/json");
        } title="every run: configuration, losses, evaluations, mask updates, FLOPs">"Export JSON"</button>
    }
}
