//! The CPU backend behind the `Backend` interface: synchronous, so its futures are ready at once.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::net::{Net, Workspace};
use super::param::Param;
use super::sgd::sgd_step;
use crate::backend::{
    Backend, PlaneRef, Split, State, StepOptions, Tensor, check_data, plane_point_by_point,
};
use crate::data::Dataset;
use crate::data::augment::Transform;
use crate::experiment::Setup;
use crate::model::Point;
use crate::par::*;

const EVAL_BATCH: usize = 500;

/// With a yielder, `losses_at` yields after a point once this many milliseconds have passed
/// since the last yield (the page stays responsive while a landscape fills in).
const YIELD_AFTER_MS: f64 = 30.0;

/// Something to await between evaluation batches: the page passes "the next animation
/// frame" so a long evaluation never freezes it.
pub type Yielder = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

pub struct CpuBackend {
    pub net: Net,
    /// Awaited between evaluation batches, when set.
    pub yielder: Option<Yielder>,
    ws: Workspace,
    eval_ws: Workspace,
    /// The data sets, shared with the backend's duplicates (a forked run copies no images).
    train: Arc<Dataset>,
    test: Arc<Dataset>,
    losses: Vec<f64>,
    snfs_ema: Vec<Vec<f32>>,
    /// The network `losses_at` evaluates, apart from the training state (made on first use).
    probe: Option<Box<Net>>,
    /// When `losses_at` last yielded (or started).
    last_yield: web_time::Instant,
    /// The augmented step's transforms (reused).
    transforms: Vec<Transform>,
}

impl CpuBackend {
    pub fn new(setup: &Setup, train: Dataset, test: Dataset) -> Result<Self, String> {
        let e = &setup.exp;
        check_data(&train, &test, e.input(), e.classes(), e.batch)
            .map_err(|why| format!("data={}: {why}", e.data.name()))?;
        let g = &e.graph;
        let mut net = Net::new(&g.spec, g.input, g.classes);
        for (l, p) in net.params.iter_mut().enumerate() {
            p.weights.copy_from_slice(&setup.weights[l]);
            p.set_mask(setup.masks[l].clone());
        }
        Ok(Self {
            ws: net.workspace(e.batch),
            eval_ws: net.eval_workspace(EVAL_BATCH.min(train.len()).min(test.len())),
            snfs_ema: net
                .params
                .iter()
                .map(|p| vec![0.0; p.weights.len()])
                .collect(),
            net,
            yielder: None,
            train: Arc::new(train),
            test: Arc::new(test),
            losses: Vec::new(),
            probe: None,
            last_yield: web_time::Instant::now(),
            transforms: Vec::new(),
        })
    }

    /// A backend at `state` (a copy of another backend's, e.g. a GPU's before its device was
    /// lost) under the masks of `setup`: inactive weights and their momentum are 0.
    pub fn with_state(
        setup: &Setup,
        state: &State,
        train: Dataset,
        test: Dataset,
    ) -> Result<Self, String> {
        let mut b = Self::new(setup, train, test)?;
        b.load_state(state)?;
        Ok(b)
    }

    /// A copy of the whole training state (weights, masks, biases, momentum, SNFS average,
    /// data, shared), without the yielder: a forked run continues from it.
    pub fn duplicate(&self) -> Self {
        Self {
            net: self.net.clone(),
            yielder: None,
            ws: self.ws.clone(),
            eval_ws: self.eval_ws.clone(),
            train: self.train.clone(),
            test: self.test.clone(),
            losses: Vec::new(),
            snfs_ema: self.snfs_ema.clone(),
            probe: None,
            last_yield: web_time::Instant::now(),
            transforms: Vec::new(),
        }
    }

    /// The current point in parameter space (every layer's weights and biases).
    pub fn point(&self) -> Point {
        Point {
            weights: self.net.params.iter().map(|p| p.weights.clone()).collect(),
            biases: self.net.params.iter().map(|p| p.bias.clone()).collect(),
        }
    }

    /// Mean loss on the first `n` training images at `point` under `masks` (none: every
    /// weight active), on a network apart from the training state.
    fn probe_loss(&mut self, point: &Point, masks: Option<&[Vec<bool>]>, n: usize) -> f64 {
        let g = &self.net.graph;
        let probe = self
            .probe
            .get_or_insert_with(|| Box::new(Net::new(&g.spec, g.input, g.classes)));
        assert_eq!(
            point.weights.len(),
            probe.params.len(),
            "weights of every layer"
        );
        assert_eq!(
            point.biases.len(),
            probe.params.len(),
            "biases of every layer"
        );
        for (l, p) in probe.params.iter_mut().enumerate() {
            p.weights.copy_from_slice(&point.weights[l]);
            p.bias.copy_from_slice(&point.biases[l]);
            let mask = masks.map_or_else(|| vec![true; p.weights.len()], |m| m[l].clone());
            p.set_mask(mask);
        }
        let idx: Vec<u32> = (0..n.min(self.train.len()) as u32).collect();
        probe.evaluate(&mut self.eval_ws, &self.train, &idx).0
    }
}

/// Fewest changed weights (all layers together) for which `set_masks` installs the layers
/// on several threads.
const INSTALL_PAR_MIN: usize = 8192;

/// `Backend::set_mask` on one layer's parameters.
fn install(p: &mut Param, mask: &[bool], reset: &[u32]) {
    // The trainer resets exactly the weights whose mask entry changes, in ascending
    // order: then the index is updated in place rather than rebuilt.
    if reset.is_sorted_by(|a, b| a < b)
        && reset
            .iter()
            .all(|&i| p.mask[i as usize] != mask[i as usize])
    {
        p.toggle(reset);
        debug_assert!(p.mask == mask, "set_mask: a changed weight not in `reset`");
        return;
    }
    for &i in reset {
        p.weights[i as usize] = 0.0;
        p.momentum[i as usize] = 0.0;
    }
    p.mask.copy_from_slice(mask);
    p.mask_changed();
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        match crate::par::threads() {
            1 => "CPU (1 thread)".to_string(),
            n => format!("CPU ({n} threads)"),
        }
    }

    fn set_mask(&mut self, layer: usize, mask: &[bool], reset: &[u32]) {
        install(&mut self.net.params[layer], mask, reset);
    }

    /// The layers side by side (natively) where the changes are large enough to pay for
    /// waking a thread: each touches its own arrays alone.
    fn set_masks(&mut self, masks: &[(usize, &[bool], &[u32])]) {
        let changed: usize = masks.iter().map(|m| m.2.len()).sum();
        if changed < INSTALL_PAR_MIN {
            for &(l, mask, reset) in masks {
                install(&mut self.net.params[l], mask, reset);
            }
            return;
        }
        self.net
            .params
            .par_iter_mut()
            .enumerate()
            .for_each(|(l, p)| {
                if let Some(&(_, mask, reset)) = masks.iter().find(|m| m.0 == l) {
                    install(p, mask, reset);
                }
            });
    }

    fn view(&self, layer: usize, tensor: Tensor) -> Option<&[f32]> {
        let p = &self.net.params[layer];
        Some(match tensor {
            Tensor::Weights => &p.weights,
            Tensor::Grad => &p.grad,
            Tensor::Momentum => &p.momentum,
            Tensor::SnfsEma => &self.snfs_ema[layer],
            Tensor::Bias => &p.bias,
            Tensor::BiasMomentum => &p.bias_momentum,
        })
    }

    fn layer_count(&self) -> usize {
        self.net.params.len()
    }

    fn load_state(&mut self, state: &State) -> Result<(), String> {
        let ps = &self.net.params;
        let names: Vec<String> = ps.iter().map(|p| p.shape.name.clone()).collect();
        let lens: Vec<usize> = ps.iter().map(|p| p.weights.len()).collect();
        let outs: Vec<usize> = ps.iter().map(|p| p.bias.len()).collect();
        state.check_fits(&names, &lens, &outs)?;
        for (l, p) in self.net.params.iter_mut().enumerate() {
            p.weights.copy_from_slice(&state.weights[l]);
            p.momentum.copy_from_slice(&state.momentum[l]);
            // Inactive weights and their momentum are exactly 0 (RIGL.md).
            p.set_mask(p.mask.clone());
            p.bias.copy_from_slice(&state.biases[l]);
            p.bias_momentum.copy_from_slice(&state.bias_momentum[l]);
            self.snfs_ema[l].copy_from_slice(&state.snfs_ema[l]);
        }
        Ok(())
    }

    async fn losses_at(
        &mut self,
        points: &[&Point],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        let mut out = Vec::with_capacity(points.len());
        if points.len() > 1 {
            self.last_yield = web_time::Instant::now();
        }
        for p in points {
            out.push(self.probe_loss(p, masks, n));
            if let Some(y) = &self.yielder
                && self.last_yield.elapsed().as_secs_f64() * 1e3 > YIELD_AFTER_MS
            {
                y().await;
                self.last_yield = web_time::Instant::now();
            }
        }
        out
    }

    async fn plane_losses(
        &mut self,
        plane: PlaneRef<'_>,
        coords: &[(f64, f64)],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        // A point at a time; the yields count from the start of the row.
        self.last_yield = web_time::Instant::now();
        plane_point_by_point(self, plane, coords, masks, n).await
    }

    fn train_step(&mut self, batch: &[u32], o: &StepOptions) {
        match o.augment {
            Some(seed) => {
                self.transforms.clear();
                self.transforms
                    .extend((0..batch.len()).map(|b| Transform::of(seed, b)));
                let (net, ws) = (&self.net, &mut self.ws);
                net.load_batch_augmented(ws, &self.train, batch, &self.transforms);
            }
            None => self.net.load_batch(&mut self.ws, &self.train, batch),
        }
        self.net.forward(&mut self.ws);
        let (loss, _) = self.net.loss(&mut self.ws, true);
        self.net.backward(&mut self.ws, o.dense_grad);
        if let Some(d) = o.snfs_decay {
            for (ema, p) in self.snfs_ema.iter_mut().zip(&self.net.params) {
                for (m, &g) in ema.iter_mut().zip(&p.grad) {
                    *m = d * *m + (1.0 - d) * g;
                }
            }
        }
        if o.sgd {
            for p in &mut self.net.params {
                sgd_step(p, o.lr, o.momentum, o.wd);
            }
        }
        self.losses.push(loss / batch.len() as f64);
    }

    async fn take_losses(&mut self, _wait: bool) -> Vec<f64> {
        std::mem::take(&mut self.losses)
    }

    async fn read(&mut self, layer: usize, tensor: Tensor) -> Vec<f32> {
        self.view(layer, tensor).expect("a host tensor").to_vec()
    }

    async fn evaluate(&mut self, split: Split, n: usize) -> (f64, f64) {
        let data = match split {
            Split::Train => &self.train,
            Split::Test => &self.test,
        };
        let idx: Vec<u32> = (0..n.min(data.len()) as u32).collect();
        let (mut loss, mut correct) = (0.0, 0.0);
        for chunk in idx.chunks(self.eval_ws.batch) {
            let (l, a) = self.net.evaluate(&mut self.eval_ws, data, chunk);
            (loss, correct) = (
                loss + l * chunk.len() as f64,
                correct + a * chunk.len() as f64,
            );
            if let Some(y) = &self.yielder {
                y().await;
            }
        }
        let n = idx.len().max(1) as f64;
        (loss / n, correct / n)
    }
}
