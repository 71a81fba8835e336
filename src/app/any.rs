//! The page trains on WebGPU when it can and on the CPU otherwise: one backend type for both.

use super::driver::{next_frame, now_ms};
use crate::backend::{Backend, Split, StepOptions, Tensor};
use crate::cpu::CpuBackend;
use crate::gpu::GpuBackend;
use crate::landscape::Point;

pub enum AnyBackend {
    Cpu(Box<CpuBackend>),
    Gpu(Box<GpuBackend>),
}

impl AnyBackend {
    /// Why the GPU device was lost, if it was.
    pub fn lost_reason(&self) -> Option<String> {
        match self {
            AnyBackend::Gpu(g) => g.lost_reason(),
            AnyBackend::Cpu(_) => None,
        }
    }

    pub fn is_gpu(&self) -> bool {
        matches!(self, AnyBackend::Gpu(_))
    }

    /// Every layer's biases (for a copy of the state the CPU can carry on from).
    pub async fn read_biases(&mut self, layers: usize) -> Vec<Vec<f32>> {
        self.read_bias_vectors(layers, false).await
    }

    /// Every layer's bias momentum.
    pub async fn read_bias_momenta(&mut self, layers: usize) -> Vec<Vec<f32>> {
        self.read_bias_vectors(layers, true).await
    }

    async fn read_bias_vectors(&mut self, layers: usize, momentum: bool) -> Vec<Vec<f32>> {
        let mut out = Vec::with_capacity(layers);
        for l in 0..layers {
            out.push(match (&mut *self, momentum) {
                (AnyBackend::Gpu(g), false) => g.read_bias(l).await,
                (AnyBackend::Gpu(g), true) => g.read_bias_momentum(l).await,
                (AnyBackend::Cpu(c), false) => c.net.params[l].bias.clone(),
                (AnyBackend::Cpu(c), true) => c.net.params[l].bias_momentum.clone(),
            });
        }
        out
    }
}

impl AnyBackend {
    /// Mean loss on the first `n` training images at arbitrary parameters (the training state
    /// is untouched): the landscape views.
    pub async fn loss_at(&mut self, p: &Point, masks: Option<&[Vec<bool>]>, n: usize) -> f64 {
        match self {
            AnyBackend::Cpu(c) => c.loss_at(&p.weights, &p.biases, masks, n).await,
            AnyBackend::Gpu(g) => g.loss_at(&p.weights, &p.biases, masks, n).await,
        }
    }

    /// `loss_at` of the points `origin + x d1 + y d2` for each (x, y) of `coords` (a row of a
    /// landscape plane). The GPU evaluates the first layer once per direction and combines it
    /// per point, with one read-back for the row (`GpuBackend::plane_losses`); the CPU takes
    /// each point in turn, yielding to the browser every ~30 ms so the page stays responsive.
    pub async fn plane_losses(
        &mut self,
        plane: (&Point, &Point, &Point),
        coords: &[(f64, f64)],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        match self {
            AnyBackend::Gpu(g) => g.plane_losses(plane, coords, masks, n).await,
            AnyBackend::Cpu(c) => {
                let (origin, d1, d2) = plane;
                let mut out = Vec::with_capacity(coords.len());
                let mut since = now_ms();
                for &(x, y) in coords {
                    let p = origin.offset(x, d1, y, d2);
                    out.push(c.loss_at(&p.weights, &p.biases, masks, n).await);
                    if now_ms() - since > 30.0 {
                        next_frame().await;
                        since = now_ms();
                    }
                }
                out
            }
        }
    }

    /// The current weights and biases.
    pub async fn point(&mut self, layers: usize) -> Point {
        let mut weights = Vec::with_capacity(layers);
        for l in 0..layers {
            weights.push(self.read(l, Tensor::Weights).await);
        }
        Point {
            weights,
            biases: self.read_biases(layers).await,
        }
    }
}

impl Backend for AnyBackend {
    fn describe(&self) -> String {
        match self {
            AnyBackend::Cpu(c) => c.describe(),
            AnyBackend::Gpu(_) => "WebGPU".into(),
        }
    }

    fn set_mask(&mut self, layer: usize, mask: &[bool], reset: &[u32]) {
        match self {
            AnyBackend::Cpu(c) => c.set_mask(layer, mask, reset),
            AnyBackend::Gpu(g) => g.set_mask(layer, mask, reset),
        }
    }

    fn train_step(&mut self, batch: &[u32], opts: &StepOptions) {
        match self {
            AnyBackend::Cpu(c) => c.train_step(batch, opts),
            AnyBackend::Gpu(g) => g.train_step(batch, opts),
        }
    }

    async fn take_losses(&mut self, wait: bool) -> Vec<f64> {
        match self {
            AnyBackend::Cpu(c) => c.take_losses(wait).await,
            AnyBackend::Gpu(g) => g.take_losses(wait).await,
        }
    }

    async fn read(&mut self, layer: usize, tensor: Tensor) -> Vec<f32> {
        match self {
            AnyBackend::Cpu(c) => c.read(layer, tensor).await,
            AnyBackend::Gpu(g) => g.read(layer, tensor).await,
        }
    }

    fn view(&self, layer: usize, tensor: Tensor) -> Option<&[f32]> {
        match self {
            AnyBackend::Cpu(c) => c.view(layer, tensor),
            AnyBackend::Gpu(_) => None,
        }
    }

    async fn evaluate(&mut self, split: Split, n: usize) -> (f64, f64) {
        match self {
            AnyBackend::Cpu(c) => c.evaluate(split, n).await,
            AnyBackend::Gpu(g) => g.evaluate(split, n).await,
        }
    }
}
