//! One backend type over both: a run trains on the GPU when it can and on the CPU otherwise,
//! and carries on on the CPU when the GPU device is lost (the page and `riglab --backend`).

use super::{Backend, PlaneRef, Split, State, StepOptions, Tensor};
use crate::cpu::CpuBackend;
use crate::gpu::GpuBackend;
use crate::model::Point;

pub enum AnyBackend {
    Cpu(Box<CpuBackend>),
    Gpu(Box<GpuBackend>),
}

impl AnyBackend {
    pub fn is_gpu(&self) -> bool {
        matches!(self, AnyBackend::Gpu(_))
    }
}

impl From<CpuBackend> for AnyBackend {
    fn from(c: CpuBackend) -> Self {
        AnyBackend::Cpu(Box::new(c))
    }
}

impl From<GpuBackend> for AnyBackend {
    fn from(g: GpuBackend) -> Self {
        AnyBackend::Gpu(Box::new(g))
    }
}

impl Backend for AnyBackend {
    fn describe(&self) -> String {
        match self {
            AnyBackend::Cpu(c) => c.describe(),
            // The page's badge names the API; natively the adapter.
            #[cfg(target_arch = "wasm32")]
            AnyBackend::Gpu(_) => "WebGPU".into(),
            #[cfg(not(target_arch = "wasm32"))]
            AnyBackend::Gpu(g) => g.describe(),
        }
    }

    fn set_mask(&mut self, layer: usize, mask: &[bool], reset: &[u32]) {
        match self {
            AnyBackend::Cpu(c) => c.set_mask(layer, mask, reset),
            AnyBackend::Gpu(g) => g.set_mask(layer, mask, reset),
        }
    }

    fn set_masks(&mut self, masks: &[(usize, &[bool], &[u32])]) {
        match self {
            AnyBackend::Cpu(c) => c.set_masks(masks),
            AnyBackend::Gpu(g) => g.set_masks(masks),
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
            AnyBackend::Gpu(g) => g.view(layer, tensor),
        }
    }

    async fn evaluate(&mut self, split: Split, n: usize) -> (f64, f64) {
        match self {
            AnyBackend::Cpu(c) => c.evaluate(split, n).await,
            AnyBackend::Gpu(g) => g.evaluate(split, n).await,
        }
    }

    fn layer_count(&self) -> usize {
        match self {
            AnyBackend::Cpu(c) => c.layer_count(),
            AnyBackend::Gpu(g) => g.layer_count(),
        }
    }

    fn load_state(&mut self, state: &State) -> Result<(), String> {
        match self {
            AnyBackend::Cpu(c) => c.load_state(state),
            AnyBackend::Gpu(g) => g.load_state(state),
        }
    }

    fn lost_reason(&self) -> Option<String> {
        match self {
            AnyBackend::Cpu(c) => c.lost_reason(),
            AnyBackend::Gpu(g) => g.lost_reason(),
        }
    }

    async fn losses_at(
        &mut self,
        points: &[&Point],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        match self {
            AnyBackend::Cpu(c) => c.losses_at(points, masks, n).await,
            AnyBackend::Gpu(g) => g.losses_at(points, masks, n).await,
        }
    }

    async fn plane_losses(
        &mut self,
        plane: PlaneRef<'_>,
        coords: &[(f64, f64)],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        match self {
            AnyBackend::Cpu(c) => c.plane_losses(plane, coords, masks, n).await,
            AnyBackend::Gpu(g) => g.plane_losses(plane, coords, masks, n).await,
        }
    }

    async fn read_point(&mut self) -> Point {
        match self {
            AnyBackend::Cpu(c) => c.read_point().await,
            AnyBackend::Gpu(g) => g.read_point().await,
        }
    }

    async fn read_state(&mut self) -> State {
        match self {
            AnyBackend::Cpu(c) => c.read_state().await,
            AnyBackend::Gpu(g) => g.read_state().await,
        }
    }
}
