//! The interface between the engine and a compute backend (CPU or GPU): every computation
//! the trainer, the landscapes, the page and the CLI ask for. The mask rules live once, in
//! `sparse`: at an update the trainer reads weights and gradients from the backend, decides
//! the new mask, and hands it back (DESIGN.md "one direction").
//!
//! Reads are `async` because a GPU read-back is asynchronous (and must never block a
//! browser's main thread); the CPU backend answers at once. Native callers use `block_on`.
//! `any::AnyBackend` is one type over both backends, for the page and the CLI.

pub mod any;

pub use any::AnyBackend;

use crate::data::{Dataset, ImageShape};
use crate::model::Point;

/// What one training step does besides forward and backward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOptions {
    pub lr: f32,
    pub momentum: f32,
    pub wd: f32,
    /// Compute the gradient of every weight, active or not (RigL update steps; SNFS always).
    pub dense_grad: bool,
    /// Apply the SGD update (false on RigL's update steps, RIGL.md step 7).
    pub sgd: bool,
    /// SNFS: update the moving average ema = d * ema + (1 - d) * dense gradient.
    pub snfs_decay: Option<f32>,
    /// Augment the batch's images (`data::augment`) with the transforms of this step seed.
    pub augment: Option<u64>,
}

/// A per-layer tensor that can be read back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tensor {
    Weights,
    /// The gradient of the last step (of every weight when that step had `dense_grad`).
    Grad,
    Momentum,
    /// SNFS's moving average of the dense gradient.
    SnfsEma,
    /// The biases (always dense, RIGL.md "Notation") and their momentum: one per output.
    Bias,
    BiasMomentum,
}

/// A host copy of a run's whole training state: per layer the weights, biases, both
/// momenta and the SNFS average.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct State {
    pub weights: Vec<Vec<f32>>,
    pub biases: Vec<Vec<f32>>,
    pub momentum: Vec<Vec<f32>>,
    pub bias_momentum: Vec<Vec<f32>>,
    pub snfs_ema: Vec<Vec<f32>>,
}

/// A plane through parameter space: its origin and two directions.
pub type PlaneRef<'a> = (&'a Point, &'a Point, &'a Point);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

#[allow(async_fn_in_trait)]
pub trait Backend {
    /// "CPU" or the GPU adapter, for the page's badge and the CLI.
    fn describe(&self) -> String;
    /// Installs layer `layer`'s mask. Weights listed in `reset` get value 0 and momentum 0
    /// (dropped and newly grown connections: RIGL.md steps 4-5). The trainer lists in
    /// `reset` exactly the weights whose mask entry changes, in ascending order, so a
    /// backend may update its own structures from that list alone.
    fn set_mask(&mut self, layer: usize, mask: &[bool], reset: &[u32]);
    /// `set_mask` for several layers (each at most once): `(layer, mask, reset)`. A backend
    /// may install them side by side.
    fn set_masks(&mut self, masks: &[(usize, &[bool], &[u32])]) {
        for &(layer, mask, reset) in masks {
            self.set_mask(layer, mask, reset);
        }
    }
    /// Runs (or records, on a GPU) one training step on the training images `batch`.
    fn train_step(&mut self, batch: &[u32], opts: &StepOptions);
    /// Mean mini-batch losses of the steps not yet taken, oldest first. With `wait`, waits
    /// for every recorded step; without, returns what is available now.
    async fn take_losses(&mut self, wait: bool) -> Vec<f64>;
    /// A host copy of a layer's tensor, after every recorded step.
    async fn read(&mut self, layer: usize, tensor: Tensor) -> Vec<f32>;
    /// The tensor itself, without a copy, where the backend holds it in host memory (the
    /// CPU backend); None otherwise (then `read` it).
    fn view(&self, _layer: usize, _tensor: Tensor) -> Option<&[f32]> {
        None
    }
    /// Mean loss and accuracy on the first `n` images of a split.
    async fn evaluate(&mut self, split: Split, n: usize) -> (f64, f64);
    /// Maskable layers.
    fn layer_count(&self) -> usize;
    /// Replaces the training state (weights, biases, both momenta, SNFS average) by `state`,
    /// under the masks already installed: inactive weights and their momentum become 0. An
    /// error (nothing changed) when a tensor's size does not fit its layer.
    fn load_state(&mut self, state: &State) -> Result<(), String>;
    /// Why the device was lost, once it has been (a GPU); None while it works.
    fn lost_reason(&self) -> Option<String> {
        None
    }

    /// Mean loss on the first `n` training images at each of `points` (inactive weights
    /// zeroed by `masks` when given), without touching the training state: the loss
    /// landscapes (DESIGN.md "loss at an arbitrary parameter vector on a fixed batch").
    async fn losses_at(
        &mut self,
        points: &[&Point],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64>;

    /// `losses_at` of one point.
    async fn loss_at(&mut self, point: &Point, masks: Option<&[Vec<bool>]>, n: usize) -> f64 {
        self.losses_at(&[point], masks, n).await[0]
    }

    /// `losses_at` of the points `origin + x d1 + y d2` for each (x, y) of `coords` (a row
    /// of a landscape plane), one point at a time; a backend may evaluate a plane faster
    /// (the GPU runs its first layer once per direction).
    async fn plane_losses(
        &mut self,
        plane: PlaneRef<'_>,
        coords: &[(f64, f64)],
        masks: Option<&[Vec<bool>]>,
        n: usize,
    ) -> Vec<f64> {
        plane_point_by_point(self, plane, coords, masks, n).await
    }

    /// The current weights and biases of every layer.
    async fn read_point(&mut self) -> Point {
        let n = self.layer_count();
        let (mut weights, mut biases) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for l in 0..n {
            weights.push(self.read(l, Tensor::Weights).await);
            biases.push(self.read(l, Tensor::Bias).await);
        }
        Point { weights, biases }
    }

    /// A copy of the whole training state, after every recorded step.
    async fn read_state(&mut self) -> State {
        let n = self.layer_count();
        let mut s = State {
            weights: Vec::with_capacity(n),
            biases: Vec::with_capacity(n),
            momentum: Vec::with_capacity(n),
            bias_momentum: Vec::with_capacity(n),
            snfs_ema: Vec::with_capacity(n),
        };
        for l in 0..n {
            s.weights.push(self.read(l, Tensor::Weights).await);
            s.biases.push(self.read(l, Tensor::Bias).await);
            s.momentum.push(self.read(l, Tensor::Momentum).await);
            s.bias_momentum
                .push(self.read(l, Tensor::BiasMomentum).await);
            s.snfs_ema.push(self.read(l, Tensor::SnfsEma).await);
        }
        s
    }
}

impl State {
    /// Err names the first tensor whose size is not `lens[l]` (weights) or `outs[l]`
    /// (biases) for layer l of `names`.
    pub fn check_fits(
        &self,
        names: &[String],
        lens: &[usize],
        outs: &[usize],
    ) -> Result<(), String> {
        let n = names.len();
        let layers = [
            ("weights", &self.weights, false),
            ("momentum", &self.momentum, false),
            ("SNFS average", &self.snfs_ema, false),
            ("biases", &self.biases, true),
            ("bias momentum", &self.bias_momentum, true),
        ];
        for (what, tensors, per_output) in layers {
            if tensors.len() != n {
                return Err(format!(
                    "{} layers of {what}, the network has {n}",
                    tensors.len()
                ));
            }
            for (l, t) in tensors.iter().enumerate() {
                let want = if per_output { outs[l] } else { lens[l] };
                if t.len() != want {
                    return Err(format!(
                        "{what} of layer {}: {} values, the layer has {want}",
                        names[l],
                        t.len()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `Backend::plane_losses` as `loss_at` of each point in turn.
pub async fn plane_point_by_point<B: Backend + ?Sized>(
    backend: &mut B,
    (origin, d1, d2): PlaneRef<'_>,
    coords: &[(f64, f64)],
    masks: Option<&[Vec<bool>]>,
    n: usize,
) -> Vec<f64> {
    let mut out = Vec::with_capacity(coords.len());
    for &(x, y) in coords {
        let p = origin.offset(x, d1, y, d2);
        out.push(backend.loss_at(&p, masks, n).await);
    }
    out
}

/// Checks that data fits a network's input.
pub fn check_data(
    train: &Dataset,
    test: &Dataset,
    input: ImageShape,
    classes: usize,
    batch: usize,
) -> Result<(), String> {
    for (name, d) in [("training", train), ("test", test)] {
        if d.shape != input || d.num_classes != classes {
            return Err(format!(
                "the {name} images are {}x{}x{} with {} classes; the model needs {}x{}x{} with {classes}",
                d.shape.channels,
                d.shape.height,
                d.shape.width,
                d.num_classes,
                input.channels,
                input.height,
                input.width
            ));
        }
    }
    if train.len() < batch {
        return Err(format!(
            "batch={batch} is larger than the {} training images",
            train.len()
        ));
    }
    if test.is_empty() {
        return Err("the test split is empty".into());
    }
    Ok(())
}

/// Runs a future that never waits on anything outside itself (the CPU backend's, or a
/// native GPU read-back that polls the device) to completion on this thread.
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    pollster::block_on(f)
}
