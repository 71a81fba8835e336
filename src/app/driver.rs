//! Runs training in slices inside animation frames, so the page never freezes: each frame
//! steps every run until a time budget is spent, then lets the browser paint.

use js_sys::Promise;
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::ctx::{Ctx, Mode};
use super::lab::FLASH_MS;
use crate::backend::{Backend, Tensor};
use crate::train::Event;

/// Milliseconds of training per animation frame (a 60 Hz frame is 16.7 ms).
pub const FRAME_BUDGET_MS: f64 = 12.0;
/// Redraw the views at most this often while training.
const VIEW_EVERY_MS: f64 = 120.0;

pub fn now_ms() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now())
}

/// Resolves at the next animation frame.
pub async fn next_frame() {
    let promise = Promise::new(&mut |resolve, _| {
        if let Some(w) = web_sys::window() {
            let _ = w.request_animation_frame(resolve.unchecked_ref());
        }
    });
    let _ = JsFuture::from(promise).await;
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
    let mut events: Vec<Event> = Vec::new();
    let mut last_view = 0.0;
    let mut rate_window = (now_ms(), 0usize);
    let mut carry = 0.0; // fractional steps owed under a speed limit
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
        let mut stepped = 0;
        while allowed > 0 && now_ms() - frame_start < FRAME_BUDGET_MS {
            let target = match ctx.mode.get_untracked() {
                Mode::Until(t) => Some(t),
                _ => None,
            };
            let mut trainers = ctx.lab.try_update_value(|lab| {
                lab.runs
                    .iter_mut()
                    .enumerate()
                    .filter(|(_, r)| !r.done() && target.is_none_or(|t| r.step() < t))
                    .filter_map(|(i, r)| r.trainer.take().map(|t| (i, t)))
                    .collect::<Vec<_>>()
            });
            let Some(trainers) = trainers.as_mut().filter(|t| !t.is_empty()) else {
                ctx.mode.set(Mode::Paused);
                break;
            };
            for (i, trainer) in trainers.iter_mut() {
                trainer.step(&mut events).await;
                let now = now_ms();
                let mut evs = std::mem::take(&mut events);
                ctx.lab
                    .update_value(|lab| lab.runs[*i].record(&mut evs, now));
                events = evs;
            }
            ctx.lab.update_value(|lab| {
                for (i, t) in trainers.drain(..) {
                    lab.runs[i].trainer = Some(t);
                }
            });
            stepped += 1;
            allowed -= 1;
        }
        rate_window.1 += stepped;
        let now = now_ms();
        if now - rate_window.0 > 1000.0 {
            ctx.steps_per_s
                .set(rate_window.1 as f64 * 1000.0 / (now - rate_window.0));
            rate_window = (now, 0);
        }
        if now - last_view > VIEW_EVERY_MS || ctx.mode.get_untracked() == Mode::Paused {
            snapshot(ctx).await;
            ctx.view_tick.update(|t| *t += 1);
            last_view = now;
        }
        next_frame().await;
    }
    snapshot(ctx).await;
    ctx.view_tick.update(|t| *t += 1);
    ctx.driving.set(false);
    // Let the last mask update's flashes fade out.
    let until = now_ms() + FLASH_MS;
    while now_ms() < until && !ctx.driving.get_untracked() {
        next_frame().await;
        ctx.view_tick.update(|t| *t += 1);
    }
}

/// Reads the shown run's weights for the mask views.
pub async fn snapshot(ctx: Ctx) {
    let i = ctx.shown.get_untracked();
    let taken = ctx.lab.try_update_value(|l| {
        let i = if i < l.runs.len() { i } else { 0 };
        l.runs
            .get_mut(i)
            .and_then(|r| r.trainer.take())
            .map(|t| (i, t))
    });
    let Some((i, mut trainer)) = taken.flatten() else {
        return;
    };
    let mut weights = Vec::with_capacity(trainer.layers.len());
    for l in 0..trainer.layers.len() {
        weights.push(trainer.backend.read(l, Tensor::Weights).await);
    }
    ctx.lab.update_value(|lab| {
        let r = &mut lab.runs[i];
        r.trainer = Some(trainer);
        r.weights = weights;
    });
}
