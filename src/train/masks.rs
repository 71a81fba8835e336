//! The trainer's mask updates: RIGL.md "One mask update" (RigL, SET, SNFS), SNIP at step 0
//! and gradual magnitude pruning. The rules themselves are in `sparse::update`; here the
//! trainer reads what they need from the backend and installs what they decide.

use super::{Event, MaskUpdate, Trainer};
use crate::backend::{Backend, StepOptions, Tensor};
use crate::par::*;
use crate::sparse::Method;
use crate::sparse::mask::{active_for_density, count_active};
use crate::sparse::update::{
    Grow, MaskChange, Scratch, drop_and_grow_with, drop_count, magnitude_prune, reset_list,
    snip_mask,
};

/// A host copy of a tensor when the backend has no view of it.
async fn host_copy<B: Backend>(backend: &mut B, layer: usize, tensor: Tensor) -> Option<Vec<f32>> {
    if backend.view(layer, tensor).is_some() {
        None
    } else {
        Some(backend.read(layer, tensor).await)
    }
}

/// The tensor in host memory: the backend's own, or the copy `host_copy` made.
fn on_host<'a, B: Backend>(
    backend: &'a B,
    copy: &'a Option<Vec<f32>>,
    layer: usize,
    tensor: Tensor,
) -> &'a [f32] {
    match copy {
        Some(copy) => copy,
        None => backend
            .view(layer, tensor)
            .expect("a view where nothing was copied"),
    }
}

impl<B: Backend> Trainer<B> {
    /// Applies a change to layer l (trainer's mask and the backend's) and reports it.
    fn commit(
        &mut self,
        t: usize,
        l: usize,
        change: MaskChange,
        k: usize,
        drop_fraction: f64,
        events: &mut Vec<Event>,
    ) {
        self.commit_all(t, vec![(l, change, k)], drop_fraction, events);
    }

    /// Applies the changes `(layer, change, k)` (each layer at most once) to the trainer's
    /// masks and the backend's (all layers in one call, which a backend may install side by
    /// side) and reports them in order.
    fn commit_all(
        &mut self,
        t: usize,
        changes: Vec<(usize, MaskChange, usize)>,
        drop_fraction: f64,
        events: &mut Vec<Event>,
    ) {
        if self.reset.len() < changes.len() {
            self.reset.resize_with(changes.len(), Vec::new);
        }
        for ((l, change, _), reset) in changes.iter().zip(&mut self.reset) {
            let mask = &mut self.masks[*l];
            for &i in &change.dropped {
                mask[i as usize] = false;
            }
            for &i in &change.grown {
                mask[i as usize] = true;
            }
            // RIGL.md steps 4-5: every changed weight, in ascending order (as
            // `Backend::set_mask` promises), starts at 0 with momentum 0.
            reset_list(change, reset);
        }
        let installs: Vec<(usize, &[bool], &[u32])> = changes
            .iter()
            .zip(&self.reset)
            .map(|((l, _, _), reset)| (*l, &self.masks[*l][..], &reset[..]))
            .collect();
        self.backend.set_masks(&installs);
        for (l, change, k) in changes {
            self.active[l] = self.active[l] + change.grown.len() - change.dropped.len();
            debug_assert_eq!(self.active[l], count_active(&self.masks[l]));
            events.push(Event::MaskUpdate(MaskUpdate {
                step: t,
                layer: l,
                layer_name: self.exp.layers()[l].name.clone(),
                active: self.active[l],
                dropped: change.dropped,
                grown: change.grown,
                k,
                drop_fraction,
            }));
        }
    }

    /// RIGL.md "One mask update": drop by magnitude, grow by the dense gradient (RigL), its
    /// moving average (SNFS) or at random (SET), in every masked layer. Reads the weights
    /// and scores in place where the backend allows (`Backend::view`); reuses its buffers.
    /// The layers' selections are independent: natively they run side by side (a layer's
    /// result does not depend on where it ran), then the changes are installed in order.
    pub(super) async fn drop_and_grow_all(&mut self, t: usize, events: &mut Vec<Event>) {
        let started = web_time::Instant::now();
        let f = self.exp.schedule.drop_fraction(t);
        let score_tensor = match self.exp.method {
            Method::Rigl => Some(Tensor::Grad),
            Method::Snfs => Some(Tensor::SnfsEma),
            _ => None,
        };
        let masked: Vec<usize> = self.exp.masked_layers().collect();
        // Host copies only where the backend has no view (a GPU).
        let read = web_time::Instant::now();
        let mut copies = Vec::with_capacity(masked.len());
        for &l in &masked {
            let weights = host_copy(&mut self.backend, l, Tensor::Weights).await;
            let score = match score_tensor {
                Some(tensor) => host_copy(&mut self.backend, l, tensor).await,
                None => None,
            };
            copies.push((weights, score));
        }
        let reading = read.elapsed().as_secs_f64();
        if self.scratch.len() < masked.len() {
            self.scratch.resize_with(masked.len(), Scratch::default);
        }
        let jobs: Vec<_> = masked
            .iter()
            .zip(&copies)
            .map(|(&l, (weight_copy, score_copy))| {
                let seed = self.exp.tie_seed(t, l);
                let grow = match score_tensor {
                    Some(tensor) => Grow::ByScore(on_host(&self.backend, score_copy, l, tensor)),
                    None => Grow::Random(seed.rotate_left(32)),
                };
                let weights = on_host(&self.backend, weight_copy, l, Tensor::Weights);
                (l, weights, grow, drop_count(f, self.active[l]), seed)
            })
            .collect();
        let masks = &self.masks;
        let changes: Vec<(usize, MaskChange, usize)> = self.scratch[..masked.len()]
            .par_iter_mut()
            .zip(jobs.par_iter())
            .map(|(scratch, &(l, weights, grow, k, seed))| {
                let change = drop_and_grow_with(scratch, weights, &masks[l], k, grow, seed);
                (l, change, k)
            })
            .collect();
        self.commit_all(t, changes, f, events);
        self.update_flops();
        self.last_mask_update = Some(started.elapsed().as_secs_f64() - reading);
    }

    /// SNIP at step 0: keep the largest |g * w| of the dense network on this batch.
    pub(super) async fn snip(&mut self, events: &mut Vec<Event>) {
        let probe = StepOptions {
            lr: 0.0,
            momentum: 0.0,
            wd: 0.0,
            dense_grad: true,
            sgd: false,
            snfs_decay: None,
            augment: self.augment_seed(0),
        };
        self.backend.train_step(&self.batch, &probe);
        self.backend.take_losses(true).await;
        let masked: Vec<usize> = self.exp.masked_layers().collect();
        for l in masked {
            let weights = self.backend.read(l, Tensor::Weights).await;
            let grads = self.backend.read(l, Tensor::Grad).await;
            let density = self.exp.densities[l];
            let active = active_for_density(weights.len(), density);
            let mask = snip_mask(&weights, &grads, active, self.exp.tie_seed(0, l));
            let dropped: Vec<u32> = (0..mask.len() as u32)
                .filter(|&i| !mask[i as usize])
                .collect();
            let k = dropped.len();
            let change = MaskChange {
                dropped,
                grown: Vec::new(),
            };
            self.commit(0, l, change, k, 1.0 - density, events);
        }
        self.refresh_flops();
    }

    /// Gradual magnitude pruning to the cubic schedule's sparsity at step t.
    pub(super) async fn prune_all(&mut self, t: usize, events: &mut Vec<Event>) {
        let masked: Vec<usize> = self.exp.masked_layers().collect();
        for l in masked {
            let s_t = self.exp.prune.sparsity_at(t, 1.0 - self.exp.densities[l]);
            let target = active_for_density(self.masks[l].len(), 1.0 - s_t);
            if target >= self.active[l] {
                continue;
            }
            let weights = self.backend.read(l, Tensor::Weights).await;
            let seed = self.exp.tie_seed(t, l);
            let dropped = magnitude_prune(&weights, &self.masks[l], target, seed);
            let k = dropped.len();
            let change = MaskChange {
                dropped,
                grown: Vec::new(),
            };
            self.commit(t, l, change, k, s_t, events);
        }
        self.refresh_flops();
    }
}
