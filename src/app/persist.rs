//! Runs that survive a reload: every few seconds while training, and whenever the runs
//! pause or end, each run's checkpoint (the same safetensors file as Save checkpoint) and
//! its record (losses, evaluations, mask updates, FLOPs) go into the browser's Cache
//! Storage under the page's link. Opening the same link again goes on from there, says so and
//! offers to start over. Storing is best effort: a full quota is reported once and costs
//! nothing else.

use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use wasm_bindgen_futures::JsFuture;

use super::ctx::Ctx;
use super::fetch::{cache_bytes, cache_put_parts, open_cache};
use super::lab::{History, Run};
use crate::backend::AnyBackend;
use crate::checkpoint;
use crate::train::{EvalMetrics, Trainer};

const CACHE_NAME: &str = "riglab-runs-v1";
/// How often a running lab is kept.
pub const SAVE_EVERY_MS: f64 = 3000.0;

/// What a run has recorded, as kept beside its checkpoint.
#[derive(Serialize, Deserialize)]
struct Record {
    label: String,
    losses: Vec<(usize, f64)>,
    evals: Vec<EvalMetrics>,
    updates: Vec<(usize, usize, usize)>,
    update_log: Vec<(usize, usize, usize, usize)>,
    last_update: Option<usize>,
    train_flops: f64,
    train_flops_fraction: f64,
}

impl Record {
    fn of(label: &str, h: History) -> Self {
        Self {
            label: label.to_string(),
            losses: h.losses,
            evals: h.evals,
            updates: h.updates,
            update_log: h.update_log,
            last_update: h.last_update,
            train_flops: h.train_flops,
            train_flops_fraction: h.train_flops_fraction,
        }
    }

    fn restore(self, run: &mut Run) {
        let h = &mut run.history;
        h.losses = self.losses;
        h.evals = self.evals;
        if self.updates.len() == h.updates.len() {
            h.updates = self.updates;
        }
        h.update_log = self.update_log;
        h.last_update = self.last_update;
        h.train_flops = self.train_flops;
        h.train_flops_fraction = self.train_flops_fraction;
        run.label = self.label;
    }
}

/// The key of a lab: its share link's query (configuration and compared runs).
fn key(ctx: Ctx) -> String {
    let link = ctx
        .config
        .with_untracked(|c| super::url::share_url(c, &ctx.page_params_untracked()));
    let query = link.split_once('?').map_or("", |(_, q)| q);
    format!("saved-runs?{query}")
}

/// Splits what `save` joined (each part with its length in front, 8 bytes little-endian);
/// None if it does not parse.
fn parts(mut bytes: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let n = usize::try_from(u64::from_le_bytes(bytes.get(..8)?.try_into().ok()?)).ok()?;
        out.push(bytes.get(8..8 + n)?);
        bytes = &bytes[8 + n..];
    }
    Some(out)
}

/// Keeps the lab's runs with their records: those in `trainers` (their lab indices, taken
/// out of the lab) as they are now, those in workers at the last state their worker sent.
pub async fn save(ctx: Ctx, trainers: &mut [(usize, Trainer<AnyBackend>)]) {
    // Only the lab of the link, whole (not the escape demo's continuations, not a part).
    let (whole, runs) = ctx.lab.with_value(|l| {
        let whole = l.runs.len() == trainers.len() + super::workers::in_workers(l)
            && l.primary()
                .is_some_and(|r| ctx.config.with_untracked(|c| *c == r.config));
        (whole, l.runs.len())
    });
    if !whole || runs == 0 {
        return;
    }
    // The parts go into the browser's memory as they are read (a run a task), then as one
    // Blob to the Cache: a race's states in one buffer, copied at once, held the page's
    // thread 60-70 ms.
    let parts = js_sys::Array::new();
    let push = |bytes: &[u8]| {
        let len = (bytes.len() as u64).to_le_bytes();
        parts.push(&js_sys::Uint8Array::from(&len[..]));
        parts.push(&js_sys::Uint8Array::from(bytes));
    };
    for i in 0..runs {
        let pushed = match trainers.iter_mut().find(|(j, _)| *j == i) {
            Some((_, t)) => kept_here(ctx, i, t).await.map(|(bytes, record)| {
                push(&bytes);
                push(&record);
            }),
            None => ctx.lab.with_value(|l| {
                let r = l.runs.get(i)?;
                let (step, bytes) = super::workers::kept_state(r)?;
                let mut h = r.history.clone();
                h.keep_to(step);
                let record = serde_json::to_vec(&Record::of(&r.label, h)).ok()?;
                push(bytes);
                push(&record);
                Some(())
            }),
        };
        if pushed.is_none() {
            return;
        }
        super::frame::sleep_ms(0).await;
    }
    let Some(cache) = open_cache(CACHE_NAME).await else {
        return;
    };
    if let Err(e) = cache_put_parts(&cache, &key(ctx), &parts).await
        && !ctx.storage_full.get_value()
    {
        ctx.storage_full.set_value(true);
        ctx.note.set(Some(format!(
            "This browser would not keep the runs (its storage may be full: {e}); they go on, but a reload will start them over."
        )));
    }
}

/// Run `i`'s checkpoint and record now, from its trainer `t`.
async fn kept_here(ctx: Ctx, i: usize, t: &mut Trainer<AnyBackend>) -> Option<(Vec<u8>, Vec<u8>)> {
    let config = ctx
        .lab
        .with_value(|l| l.runs.get(i).map(|r| r.config.clone()))?;
    let mut events = Vec::new();
    let state = t.snapshot(&config, &mut events).await;
    let now = super::frame::now_ms();
    let record = ctx.lab.try_update_value(|l| {
        let r = l.runs.get_mut(i)?;
        r.record(&mut events, now);
        serde_json::to_vec(&Record::of(&r.label, r.history.clone())).ok()
    })??;
    Some((checkpoint::to_bytes(&state).ok()?, record))
}

/// Keeps every run of the lab (when the runs pause or end).
pub async fn save_lab(ctx: Ctx) {
    let mut trainers = ctx
        .lab
        .try_update_value(|l| {
            l.runs
                .iter_mut()
                .enumerate()
                .filter(|(_, r)| !r.in_worker())
                .filter_map(|(i, r)| r.trainer.take().map(|t| (i, t)))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    save(ctx, &mut trainers).await;
    ctx.lab.update_value(|l| {
        for (i, t) in trainers {
            if let Some(r) = l.runs.get_mut(i).filter(|r| r.trainer.is_none()) {
                r.put_back(t);
            }
        }
    });
}

/// Forgets the kept runs of this link.
pub async fn forget(ctx: Ctx) {
    if let Some(cache) = open_cache(CACHE_NAME).await {
        let _ = JsFuture::from(cache.delete_with_str(&key(ctx))).await;
    }
}

/// The runs kept for this link, rebuilt at their steps with their records (on `gpu` when
/// given and working); None when there are none or they no longer fit.
pub async fn restore(
    ctx: Ctx,
    data: (&crate::data::Dataset, &crate::data::Dataset),
    gpu: Option<&crate::gpu::GpuContext>,
) -> Option<Vec<Run>> {
    let cache = open_cache(CACHE_NAME).await?;
    let blob = cache_bytes(&cache, &key(ctx)).await?;
    let parts = parts(&blob)?;
    let mut runs = Vec::new();
    for pair in parts.chunks(2) {
        let [bytes, record] = pair else { return None };
        let state = checkpoint::from_bytes(bytes).ok()?;
        let config = state.config(None).ok()?;
        let mut run = Run::resumed(&state, config, data, gpu).ok()?;
        serde_json::from_slice::<Record>(record)
            .ok()?
            .restore(&mut run);
        runs.push(run);
    }
    (!runs.is_empty()).then_some(runs)
}
