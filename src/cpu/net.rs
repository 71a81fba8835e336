//! A network as a sequence of ops over feature-major activations, its parameters, and the
//! per-batch-size workspace (allocated once, reused every step).

use rand::Rng;

use super::conv::{conv_backward, conv_forward};
use super::dense::{dense_backward, dense_forward};
use super::loss::softmax_cross_entropy;
use super::param::Param;
use super::pool::{
    flatten_backward, flatten_forward, pool_backward, pool_forward, relu_backward, relu_forward,
    relu_pool_backward, relu_pool_forward,
};
use crate::data::augment::Transform;
use crate::data::{Dataset, ImageShape};
use crate::model::init::he_normal;
use crate::model::{Graph, ModelSpec, Op, PoolGeom};
use crate::par::*;

/// A pixel byte's value in [0, 1]: `v as f32 / 255.0`, looked up rather than divided.
const PIXEL: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut v = 0;
    while v < 256 {
        t[v] = v as f32 / 255.0;
        v += 1;
    }
    t
};

#[derive(Clone, Debug)]
pub struct Net {
    /// The ops and their geometry (shared with the GPU backend).
    pub graph: Graph,
    pub params: Vec<Param>,
}

/// Activations and their gradients for one batch size.
#[derive(Clone, Debug)]
pub struct Workspace {
    pub batch: usize,
    pub acts: Vec<Vec<f32>>,
    pub grads: Vec<Vec<f32>>,
    argmax: Vec<Vec<u32>>,
    pub labels: Vec<u8>,
}

impl Net {
    /// A network of zero weights, all active; see `init`.
    pub fn new(spec: &ModelSpec, input: ImageShape, classes: usize) -> Self {
        let graph = Graph::new(spec, input, classes);
        let params = graph.layers.iter().cloned().map(Param::zeros).collect();
        Self { graph, params }
    }

    /// He/Kaiming normal initialisation: weights ~ N(0, 2 / fan_in), biases 0, momentum 0.
    /// Masks are kept; inactive weights stay 0.
    pub fn init<R: Rng + ?Sized>(&mut self, rng: &mut R) {
        for p in &mut self.params {
            for ((w, &on), v) in p
                .weights
                .iter_mut()
                .zip(&p.mask)
                .zip(he_normal(&p.shape, rng))
            {
                *w = if on { v } else { 0.0 };
            }
            p.bias.fill(0.0);
            p.momentum.fill(0.0);
            p.bias_momentum.fill(0.0);
        }
    }

    pub fn workspace(&self, batch: usize) -> Workspace {
        let mut ws = self.eval_workspace(batch);
        ws.grads = ws.acts.clone();
        ws
    }

    /// A workspace for forward passes only (evaluation): no gradient buffers, half the
    /// memory of `workspace` (a CIFAR-10 CNN evaluates 500 images at a time).
    pub fn eval_workspace(&self, batch: usize) -> Workspace {
        let acts: Vec<Vec<f32>> = self
            .graph
            .activation_sizes()
            .iter()
            .map(|s| vec![0.0; s * batch])
            .collect();
        let argmax = self
            .graph
            .ops
            .iter()
            .enumerate()
            .map(|(i, op)| match op {
                Op::Pool { .. } => vec![0; self.graph.activation_sizes()[i + 1] * batch],
                _ => Vec::new(),
            })
            .collect();
        Workspace {
            batch,
            grads: Vec::new(),
            acts,
            argmax,
            labels: vec![0; batch],
        }
    }

    /// Copies images `indices` of `data` into the workspace input, scaled to [0, 1].
    pub fn load_batch(&self, ws: &mut Workspace, data: &Dataset, indices: &[u32]) {
        assert_eq!(indices.len(), ws.batch);
        let (b_n, n, plane) = (
            ws.batch,
            self.graph.input.len(),
            self.graph.input.height * self.graph.input.width,
        );
        let x = &mut ws.acts[0];
        for (b, &i) in indices.iter().enumerate() {
            ws.labels[b] = data.labels[i as usize];
        }
        if self.graph.planar_input() {
            // One task per channel of an image (`[C][batch][H][W]`).
            let planes = self.graph.input.channels * b_n;
            each_chunk(&mut x[..planes * plane], plane, |cb, dst| {
                let (c, b) = (cb / b_n, cb % b_n);
                let src = &data.image(indices[b] as usize)[c * plane..(c + 1) * plane];
                for (d, &v) in dst.iter_mut().zip(src) {
                    *d = PIXEL[usize::from(v)];
                }
            });
            return;
        }
        // Transpose to [pixel][batch] in tiles of pixels, one task each, so reads and writes
        // both stay in cache. Pixel by pixel, each across the batch: the first pixel of a
        // tile reads a cache line of every image of the batch, and those reads (misses: the
        // images lie anywhere in the data set) are independent, so they overlap, where an
        // image at a time would wait for each image's line in turn.
        const TILE: usize = 64;
        let (images, stride) = (&data.images[..], data.shape.len());
        each_chunk(&mut x[..n * b_n], TILE * b_n, |t, dst| {
            let p0 = t * TILE;
            for (q, row) in dst.chunks_exact_mut(b_n).enumerate() {
                let p = p0 + q;
                for (d, &i) in row.iter_mut().zip(indices) {
                    *d = PIXEL[usize::from(images[i as usize * stride + p])];
                }
            }
        });
    }

    /// `load_batch` with each sample's image transformed (`augment::Transform`: a shifted
    /// crop of the reflection-padded image, maybe flipped), as the official CIFAR-10 input
    /// pipeline does.
    pub fn load_batch_augmented(
        &self,
        ws: &mut Workspace,
        data: &Dataset,
        indices: &[u32],
        transforms: &[Transform],
    ) {
        assert_eq!(indices.len(), ws.batch);
        assert_eq!(transforms.len(), ws.batch);
        let input = self.graph.input;
        let (b_n, h, w) = (ws.batch, input.height, input.width);
        let plane = h * w;
        let planar = self.graph.planar_input();
        let x = &mut ws.acts[0];
        for (b, (&i, &t)) in indices.iter().zip(transforms).enumerate() {
            ws.labels[b] = data.labels[i as usize];
            let img = data.image(i as usize);
            for c in 0..input.channels {
                let src = &img[c * plane..(c + 1) * plane];
                for y in 0..h {
                    for xx in 0..w {
                        let v = PIXEL[usize::from(src[t.source(y, xx, h, w)])];
                        let p = y * w + xx;
                        if planar {
                            x[(c * b_n + b) * plane + p] = v;
                        } else {
                            x[(c * plane + p) * b_n + b] = v;
                        }
                    }
                }
            }
        }
    }

    /// Runs every op; the logits end up in `ws.acts.last()` as `[classes][batch]`.
    pub fn forward(&self, ws: &mut Workspace) {
        let batch = ws.batch;
        let ops = &self.graph.ops;
        let mut i = 0;
        while i < ops.len() {
            let (before, after) = ws.acts.split_at_mut(i + 1);
            let x = &before[i];
            if let Some(g) = self.relu_then_pool(i, batch) {
                // A ReLU and the pooling after it in one pass: the ReLU's output (act i + 1)
                // is not stored; `backward` does not need it.
                relu_pool_forward(g, x, &mut after[1], &mut ws.argmax[i + 1]);
                i += 2;
                continue;
            }
            let y = &mut after[0];
            match ops[i] {
                Op::Dense(l) => dense_forward(&self.params[l], x, y, batch),
                Op::Conv(l, g) => conv_forward(&self.params[l], g, x, y, batch),
                Op::Relu => relu_forward(x, y),
                Op::Pool { c, h, w } => {
                    pool_forward(pool_geom(c, h, w, batch), x, y, &mut ws.argmax[i])
                }
                Op::Flatten { c, hw } => flatten_forward(c, batch, hw, x, y),
            }
            i += 1;
        }
    }

    /// The pooling's geometry when op `i` is a ReLU and op `i + 1` pools its output (a
    /// convolution block): `forward` and `backward` run the pair as one pass.
    fn relu_then_pool(&self, i: usize, batch: usize) -> Option<PoolGeom> {
        match self.graph.ops[i..] {
            [Op::Relu, Op::Pool { c, h, w }, ..] => Some(pool_geom(c, h, w, batch)),
            _ => None,
        }
    }

    /// Loss sum and correct count of the last forward pass; with `grad`, also dL/dlogits.
    pub fn loss(&self, ws: &mut Workspace, grad: bool) -> (f64, usize) {
        let logits = ws.acts.last().expect("logits");
        let d = grad.then(|| ws.grads.last_mut().expect("logit grads").as_mut_slice());
        softmax_cross_entropy(logits, &ws.labels, self.graph.classes, d)
    }

    /// Backpropagates from `ws.grads.last()` (set by `loss`). Gradients of active weights,
    /// or of all weights when `dense_grad`, land in each `Param::grad`.
    pub fn backward(&mut self, ws: &mut Workspace, dense_grad: bool) {
        let batch = ws.batch;
        let mut i = self.graph.ops.len();
        while i > 0 {
            i -= 1;
            if i > 1
                && let Some(g) = self.relu_then_pool(i - 1, batch)
            {
                // The pooling and the ReLU before it (see `forward`), from the pooled output.
                let (before, after) = ws.grads.split_at_mut(i);
                relu_pool_backward(
                    g,
                    &ws.acts[i + 1],
                    &after[1],
                    &ws.argmax[i],
                    &mut before[i - 1],
                );
                i -= 1;
                continue;
            }
            let (x, y) = (&ws.acts[i], &ws.acts[i + 1]);
            let (before, after) = ws.grads.split_at_mut(i + 1);
            let dy = &after[0];
            // The input needs no gradient.
            let dx = (i > 0).then(|| before[i].as_mut_slice());
            match self.graph.ops[i] {
                Op::Dense(l) => dense_backward(&mut self.params[l], x, dy, dx, batch, dense_grad),
                Op::Conv(l, g) => {
                    conv_backward(&mut self.params[l], g, x, dy, dx, batch, dense_grad)
                }
                Op::Relu => {
                    if let Some(dx) = dx {
                        relu_backward(y, dy, dx)
                    }
                }
                Op::Pool { c, h, w } => {
                    if let Some(dx) = dx {
                        pool_backward(pool_geom(c, h, w, batch), dy, &ws.argmax[i], dx)
                    }
                }
                Op::Flatten { c, hw } => {
                    if let Some(dx) = dx {
                        flatten_backward(c, batch, hw, dy, dx)
                    }
                }
            }
        }
    }

    /// Mean loss and accuracy over `indices` of `data`, in batches of `ws.batch` (the last
    /// partial batch is padded with the first index and its extra samples ignored).
    pub fn evaluate(&self, ws: &mut Workspace, data: &Dataset, indices: &[u32]) -> (f64, f64) {
        let (mut loss, mut correct) = (0.0, 0);
        let mut batch = vec![0u32; ws.batch];
        for chunk in indices.chunks(ws.batch) {
            batch[..chunk.len()].copy_from_slice(chunk);
            batch[chunk.len()..].fill(chunk[0]);
            self.load_batch(ws, data, &batch);
            self.forward(ws);
            let logits = ws.acts.last().expect("logits");
            let (l, c) = if chunk.len() == ws.batch {
                softmax_cross_entropy(logits, &ws.labels, self.graph.classes, None)
            } else {
                partial_loss(logits, &ws.labels, self.graph.classes, chunk.len())
            };
            loss += l;
            correct += c;
        }
        let n = indices.len().max(1) as f64;
        (loss / n, correct as f64 / n)
    }
}

/// The geometry of a pooling op over `c` channels of `batch` images of h x w.
fn pool_geom(c: usize, h: usize, w: usize, batch: usize) -> PoolGeom {
    PoolGeom {
        planes: c * batch,
        h,
        w,
    }
}

/// Loss over the first `n` samples of a batch (for the padded last evaluation batch).
fn partial_loss(logits: &[f32], labels: &[u8], classes: usize, n: usize) -> (f64, usize) {
    let batch = labels.len();
    let mut sub = vec![0f32; classes * n];
    for k in 0..classes {
        sub[k * n..(k + 1) * n].copy_from_slice(&logits[k * batch..k * batch + n]);
    }
    softmax_cross_entropy(&sub, &labels[..n], classes, None)
}

#[cfg(test)]
mod pixel_tests {
    #[test]
    fn the_pixel_table_is_the_division() {
        for v in 0..=255u8 {
            assert_eq!(
                super::PIXEL[usize::from(v)].to_bits(),
                (f32::from(v) / 255.0).to_bits()
            );
        }
    }
}
