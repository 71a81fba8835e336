//! The interface between the training loop and a compute backend (CPU or GPU). The mask
//! rules live once, in `sparse`: at an update the trainer reads weights and gradients from
//! the backend, decides the new mask, and hands it back (DESIGN.md "one direction").
//!
//! Reads are `async` because a GPU read-back is asynchronous (and must never block a
//! browser's main thread); the CPU backend answers at once. Native callers use `block_on`.

use crate::data::{Dataset, ImageShape};

/// What one training step does besides forward and backward.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StepOptions {
    pub lr: f32,
    pub momentum: f32,
    pub wd: f32,
    /// Compute the gradient of every weight, active or not (RigL update steps; SNFS always).
    pub dense_grad: bool,
    /// Apply the SGD update (false on RigL/SNFS update steps, RIGL.md step 7).
    pub sgd: bool,
    /// SNFS: update the moving average ema = d * ema + (1 - d) * dense gradient.
    pub snfs_decay: Option<f32>,
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
}

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
