//! The CPU backend behind the `Backend` interface: synchronous, so its futures are ready at once.

use std::future::Future;
use std::pin::Pin;

use super::net::{Net, Workspace};
use super::sgd::sgd_step;
use crate::backend::{Backend, Split, StepOptions, Tensor, check_data};
use crate::data::Dataset;
use crate::train::Setup;

const EVAL_BATCH: usize = 500;

/// Something to await between evaluation batches: the page passes "the next animation
/// frame" so a long evaluation never freezes it.
pub type Yielder = Box<dyn Fn() -> Pin<Box<dyn Future<Output = ()>>>>;

pub struct CpuBackend {
    pub net: Net,
    /// Awaited between evaluation batches, when set.
    pub yielder: Option<Yielder>,
    ws: Workspace,
    eval_ws: Workspace,
    train: Dataset,
    test: Dataset,
    losses: Vec<f64>,
    snfs_ema: Vec<Vec<f32>>,
    /// The network `loss_at` evaluates, apart from the training state (made on first use).
    probe: Option<Box<Net>>,
}

impl CpuBackend {
    pub fn new(setup: &Setup, train: Dataset, test: Dataset) -> Result<Self, String> {
        let c = &setup.config;
        check_data(&train, &test, setup.input, setup.classes, c.batch)
            .map_err(|e| format!("data={}: {e}", c.data.name()))?;
        let mut net = Net::new(&c.model, setup.input, setup.classes);
        for (l, p) in net.params.iter_mut().enumerate() {
            p.weights.copy_from_slice(&setup.weights[l]);
            p.set_mask(setup.masks[l].clone());
        }
        Ok(Self {
            ws: net.workspace(c.batch),
            eval_ws: net.workspace(EVAL_BATCH.min(train.len()).min(test.len())),
            snfs_ema: net
                .params
                .iter()
                .map(|p| vec![0.0; p.weights.len()])
                .collect(),
            net,
            yielder: None,
            train,
            test,
            losses: Vec::new(),
            probe: None,
        })
    }

    /// A copy of the whole training state (weights, masks, biases, momentum, SNFS average,
    /// data), without the yielder: a forked run continues from it.
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
        }
    }

    /// The current point in parameter space (every layer's weights and biases).
    pub fn point(&self) -> crate::landscape::Point {
        crate::landscape::Point {
            weights: self.net.params.iter().map(|p| p.weights.clone()).collect(),
            biases: self.net.params.iter().map(|p| p.bias.clone()).collect(),
        }
    }

    /// Mean loss on the first `n` training images at the given parameters (inactive weights
    /// zeroed by `masks` when given), without touching the training state: the loss
    /// landscape and interpolation views (DESIGN.md).
    pub async fn loss_at(
        &mut self,
        weights: &[Vec<f32>],
        biases: &[Vec<f32>],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> f64 {
        let net = &self.net;
        let probe = self
            .probe
            .get_or_insert_with(|| Box::new(Net::new(&net.spec, net.input, net.classes)));
        assert_eq!(weights.len(), probe.params.len(), "weights of every layer");
        assert_eq!(biases.len(), probe.params.len(), "biases of every layer");
        for (l, p) in probe.params.iter_mut().enumerate() {
            p.weights.copy_from_slice(&weights[l]);
            p.bias.copy_from_slice(&biases[l]);
            let mask = masks.map_or_else(|| vec![true; p.weights.len()], |m| m[l].clone());
            p.set_mask(mask);
        }
        let idx: Vec<u32> = (0..n.min(self.train.len()) as u32).collect();
        probe.evaluate(&mut self.eval_ws, &self.train, &idx).0
    }
}

impl Backend for CpuBackend {
    fn describe(&self) -> String {
        match crate::par::threads() {
            1 => "CPU (1 thread)".to_string(),
            n => format!("CPU ({n} threads)"),
        }
    }

    fn set_mask(&mut self, layer: usize, mask: &[bool], reset: &[u32]) {
        let p = &mut self.net.params[layer];
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

    fn view(&self, layer: usize, tensor: Tensor) -> Option<&[f32]> {
        let p = &self.net.params[layer];
        Some(match tensor {
            Tensor::Weights => &p.weights,
            Tensor::Grad => &p.grad,
            Tensor::Momentum => &p.momentum,
            Tensor::SnfsEma => &self.snfs_ema[layer],
        })
    }

    fn train_step(&mut self, batch: &[u32], o: &StepOptions) {
        self.net.load_batch(&mut self.ws, &self.train, batch);
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
        let p = &self.net.params[layer];
        match tensor {
            Tensor::Weights => p.weights.clone(),
            Tensor::Grad => p.grad.clone(),
            Tensor::Momentum => p.momentum.clone(),
            Tensor::SnfsEma => self.snfs_ema[layer].clone(),
        }
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
