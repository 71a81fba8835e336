//! Words about the lab: the method's explanation, "How RigL works", notices, the status
//! line, and the machine-readable state that browser tests and scripts read.

use leptos::prelude::*;

use super::ctx::{Ctx, Status};
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
        Status::Error(e) => {
            // An own data set that is not here: the Data card (at the foot of the page) is
            // where its files go.
            let own = ctx
                .config
                .with(|c| matches!(c.data, crate::config::DataSet::Own(_)));
            view! {
                <p id="lab-error" class="error">{e}
                    {own.then(|| view! { " " <a id="to-data-card" href="#preview">"Go to the Data card"</a> })}
                </p>
            }
            .into_any()
        }
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
                // Every run's steps, and how many train in workers now.
                "run_steps": lab.runs.iter().map(|r| r.step()).collect::<Vec<_>>(),
                "workers": super::workers::in_workers(lab),
                // How many workers the page has started (a worker may hold several runs).
                "pool": lab.workers.len(),
                // How many it has started in all (a run that goes on after a crash needs one).
                "workers_started": super::workers::started(),
                "worker_steps_per_s": lab.runs.iter().map(|r| r.worker_rate()).collect::<Vec<_>>(),
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
