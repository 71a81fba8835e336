//! Runs training in slices inside animation frames, so the page never freezes: each frame
//! steps every run until a time budget is spent, then lets the browser paint.

use leptos::prelude::*;

use super::ctx::{Ctx, GpuState, Mode};
use super::frame::{FRAME_BUDGET_MS, next_frame, now_ms};
use super::lab::{FLASH_MS, Mark, sync_state};
use crate::backend::{AnyBackend, Backend, Tensor};
use crate::train::{Event, Trainer};
use crate::worker::session::MAX_IN_FLIGHT;
pub use crate::worker::session::mark;

/// Redraw the views at most this often while training ...
const VIEW_EVERY_MS: f64 = 120.0;
/// ... and while runs train in workers, which send their weights about this often: the page's
/// thread then has only the drawing to do, and shares the cores with the workers.
const VIEW_EVERY_MS_WORKERS: f64 = crate::worker::protocol::WEIGHTS_EVERY_MS;
/// How often a GPU run's full state is copied to the host (for the CPU fallback).
const SYNC_EVERY_MS: f64 = 2000.0;

/// Pauses the runs and waits until the loop has stopped (no step in flight).
pub async fn pause(ctx: Ctx) {
    ctx.mode.set(Mode::Paused);
    while ctx.driving.get_untracked() {
        next_frame().await;
    }
}

/// Starts the loop unless it is already running. It ends when the mode becomes Paused.
pub fn start(ctx: Ctx) {
    if ctx.driving.get_untracked() {
        return;
    }
    ctx.driving.set(true);
    leptos::task::spawn_local(drive(ctx));
}

async fn drive(ctx: Ctx) {
    loop {
        run_until_paused(ctx).await;
        // The runs in workers come home: what follows (and a paused page) works on them here.
        super::workers::recall(ctx).await;
        // Show where the runs stand at once; a GPU's last losses may take a moment.
        ctx.view_tick.update(|t| *t += 1);
        flush(ctx).await;
        snapshot(ctx).await;
        super::persist::save_lab(ctx).await;
        ctx.view_tick.update(|t| *t += 1);
        // A click while the outstanding work was collected asked for more: go on.
        if ctx.mode.get_untracked() == Mode::Paused {
            break;
        }
    }
    ctx.driving.set(false);
    // Let the last mask update's flashes fade out.
    let until = now_ms() + FLASH_MS;
    while now_ms() < until && !ctx.driving.get_untracked() {
        next_frame().await;
        ctx.view_tick.update(|t| *t += 1);
    }
}

async fn run_until_paused(ctx: Ctx) {
    let mut events: Vec<Event> = Vec::new();
    let mut last_view = 0.0;
    // (time, the primary run's step) at the start of the current second.
    let mut rate_window = (now_ms(), ctx.step());
    let mut carry = 0.0; // fractional steps owed under a speed limit
    let mut last_sync = now_ms();
    let mut last_save = now_ms();
    loop {
        let mode = ctx.mode.get_untracked();
        if mode == Mode::Paused {
            break;
        }
        let frame_start = now_ms();
        // Under a speed limit, steps owed since the last frame (at most one frame's worth).
        let limit = ctx.speed.get_untracked().steps_per_second();
        let mut allowed = match limit {
            Some(rate) => {
                carry += rate / 60.0;
                let n = carry.floor();
                carry -= n;
                n as usize
            }
            None => usize::MAX,
        };
        if matches!(mode, Mode::Until(_)) {
            allowed = usize::MAX; // single-stepping ignores the speed limit
        }
        // At full speed, and to a step (a single step, the next mask update), the CPU's runs
        // train in workers; a speed limit brings them back here.
        if super::workers::enabled(ctx) {
            if mode == Mode::Running && limit.is_none() {
                super::workers::dispatch(ctx, None).await;
            } else if let Mode::Until(t) = mode {
                // (Runs playing on in workers stop first: they may be past the step.)
                if super::workers::any_going_elsewhere(ctx, Some(t)) {
                    super::workers::recall(ctx).await;
                }
                super::workers::dispatch(ctx, Some(t)).await;
            } else if super::workers::any(ctx) {
                super::workers::recall(ctx).await;
            }
        }
        while allowed > 0 && now_ms() - frame_start < FRAME_BUDGET_MS {
            let target = match ctx.mode.get_untracked() {
                Mode::Until(t) => Some(t),
                _ => None,
            };
            let mut trainers = ctx.lab.try_update_value(|lab| {
                lab.runs
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, r)| {
                        !r.in_worker() && !r.done() && target.is_none_or(|t| r.step() < t)
                    })
                    .filter_map(|(i, r)| r.trainer.take().map(|t| (i, t)))
                    .collect::<Vec<_>>()
            });
            let Some(trainers) = trainers.as_mut().filter(|t| !t.is_empty()) else {
                // Nothing left to step here: the end, unless runs train in workers.
                if !super::workers::any(ctx) {
                    ctx.mode.set(Mode::Paused);
                }
                break;
            };
            for (i, trainer) in trainers.iter_mut() {
                if trainer.in_flight() >= MAX_IN_FLIGHT {
                    // Let the GPU catch up rather than queueing work without bound.
                    trainer.poll(true, &mut events).await;
                }
                let before = if trainer.may_change_masks_at(trainer.step) {
                    Some(mark(trainer).await)
                } else {
                    None
                };
                trainer.step(&mut events).await;
                record_path(ctx, *i, trainer, &events, before).await;
                if ctx.lose_gpu_at == Some(trainer.step)
                    && let AnyBackend::Gpu(g) = &trainer.backend
                {
                    g.context().device.destroy();
                }
                let now = now_ms();
                let mut evs = std::mem::take(&mut events);
                ctx.lab
                    .update_value(|lab| lab.runs[*i].record(&mut evs, now));
                events = evs;
            }
            let lost: Vec<(usize, String)> = trainers
                .iter()
                .filter_map(|(i, t)| t.backend.lost_reason().map(|why| (*i, why)))
                .collect();
            let sync_due = now_ms() - last_sync > SYNC_EVERY_MS;
            if sync_due && lost.is_empty() {
                for (i, t) in trainers.iter_mut().filter(|(_, t)| t.backend.is_gpu()) {
                    let state = sync_state(t).await;
                    ctx.lab
                        .update_value(|lab| lab.runs[*i].synced = Some(state));
                }
                last_sync = now_ms();
            }
            ctx.lab.update_value(|lab| {
                for (i, t) in trainers.drain(..) {
                    lab.runs[i].put_back(t);
                }
            });
            if let Some((_, why)) = lost.first() {
                fall_back(ctx, why, None);
            }
            allowed -= 1;
        }
        if now_ms() - last_save > super::persist::SAVE_EVERY_MS {
            super::persist::save_lab(ctx).await;
            last_save = now_ms();
            // The views in a task of their own (the save ends in a microtask of its storage).
            super::frame::sleep_ms(0).await;
        }
        let now = now_ms();
        if now - rate_window.0 > 1000.0 {
            let step = ctx.step();
            ctx.steps_per_s
                .set(step.saturating_sub(rate_window.1) as f64 * 1000.0 / (now - rate_window.0));
            rate_window = (now, step);
        }
        let every = if super::workers::any(ctx) {
            VIEW_EVERY_MS_WORKERS
        } else {
            VIEW_EVERY_MS
        };
        if now - last_view > every || ctx.mode.get_untracked() == Mode::Paused {
            snapshot(ctx).await;
            ctx.view_tick.update(|t| *t += 1);
            last_view = now;
        }
        next_frame().await;
    }
}

/// After a step of run `i`: records its parameters on its trajectory when due, and keeps them
/// (with `before`, read before the step) when the step updated masks. Parameters are read
/// back only then: at evaluations and mask updates.
async fn record_path(
    ctx: Ctx,
    i: usize,
    t: &mut Trainer<AnyBackend>,
    events: &[Event],
    before: Option<Mark>,
) {
    let ticket = ctx
        .lab
        .try_update_value(|l| {
            l.runs[i]
                .trajectory
                .as_mut()
                .and_then(|tr| tr.offer(t.step, events))
        })
        .flatten();
    let updated = events.iter().any(|e| matches!(e, Event::MaskUpdate(_)));
    if ticket.is_none() && !updated {
        return;
    }
    let after = mark(t).await;
    ctx.lab.update_value(|l| {
        let r = &mut l.runs[i];
        if let (Some(ticket), Some(tr)) = (ticket, r.trajectory.as_mut()) {
            tr.push(ticket, after.step, after.point.clone());
        }
        if updated {
            r.marks.before_update = before;
            r.marks.after_update = Some(after);
        }
    });
}

/// Reads every run's weights for the mask views (a race shows them side by side).
pub async fn snapshot(ctx: Ctx) {
    let runs = ctx.lab.with_value(|l| l.runs.len());
    for i in 0..runs {
        // (A run in a worker sends its weights itself.)
        let taken = ctx.lab.try_update_value(|l| {
            l.runs
                .get_mut(i)
                .filter(|r| !r.in_worker())
                .and_then(|r| r.trainer.take())
        });
        let Some(mut trainer) = taken.flatten() else {
            continue;
        };
        let layers = trainer.layers().len();
        let mut weights = Vec::with_capacity(layers);
        for l in 0..layers {
            weights.push(trainer.backend.read(l, Tensor::Weights).await);
        }
        ctx.lab.update_value(|lab| {
            if let Some(r) = lab.runs.get_mut(i) {
                r.put_back(trainer);
                r.weights = weights;
                r.seq += 1;
            }
        });
    }
}

/// Moves every run here off a lost GPU device (`why`) onto the CPU and says so, after
/// `first` (what became of a run whose worker's device was lost).
pub fn fall_back(ctx: Ctx, why: &str, first: Option<String>) {
    let notes = ctx.lab.try_update_value(|lab| {
        let name = lab.runs[0].config.data.name();
        let Some((train, test)) = lab.data.get(&name).cloned() else {
            return first.into_iter().collect();
        };
        let notes: Vec<String> = lab
            .runs
            .iter_mut()
            .filter(|r| !r.in_worker() && r.trainer.as_ref().is_some_and(|t| t.backend.is_gpu()))
            .map(|r| r.fall_back_to_cpu(&train, &test).unwrap_or_else(|e| e))
            .collect();
        let notes: Vec<String> = first.into_iter().chain(notes).collect();
        lab.refresh_backend_name();
        notes
    });
    ctx.gpu.set_value(None);
    ctx.gpu_state.set(GpuState::Lost(why.to_string()));
    ctx.fallback_note.set(Some(format!(
        "The GPU device was lost ({why}). {}",
        notes.unwrap_or_default().join("; ")
    )));
}

/// Waits for every run's outstanding losses (a GPU's), so a paused page shows them all.
async fn flush(ctx: Ctx) {
    let n = ctx.lab.with_value(|l| l.runs.len());
    for i in 0..n {
        let Some(mut t) = ctx
            .lab
            .try_update_value(|l| l.runs[i].trainer.take())
            .flatten()
        else {
            continue;
        };
        let mut events = Vec::new();
        t.poll(true, &mut events).await;
        let now = now_ms();
        ctx.lab.update_value(|l| {
            l.runs[i].record(&mut events, now);
            l.runs[i].put_back(t);
        });
    }
}
