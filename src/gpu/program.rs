//! The network as dispatches over GPU buffers, recorded once and replayed every step: the
//! ops and activation layouts of `model::Graph`, as the CPU's `Net` runs them (src/cpu/net.rs),
//! built from ops.rs.

use super::buffers::Alloc;
use super::error::GpuError;
use super::kernels::{Builder, Dispatch};
use super::ops::{self, Common, LayerRefs, SgdRefs, u};
use super::sparse::{self, Planned, SparseLists};
use super::uniforms::GatherShape;
use crate::data::Dataset;
use crate::model::{Graph, Op, PoolGeom};

/// The parameters and optimizer state of one maskable layer (dense arrays: inactive weights
/// hold exactly 0; the mask is 1.0 or 0.0 per weight).
pub struct LayerBuffers {
    pub weights: wgpu::Buffer,
    pub bias: wgpu::Buffer,
    pub mask: wgpu::Buffer,
    pub grad: wgpu::Buffer,
    pub bias_grad: wgpu::Buffer,
    pub momentum: wgpu::Buffer,
    pub bias_momentum: wgpu::Buffer,
    pub ema: wgpu::Buffer,
    pub len: usize,
    pub n_out: usize,
}

/// The mask as the kernels read it: 1.0 for active, 0.0 for inactive.
pub fn mask_values(mask: &[bool], out: &mut Vec<f32>) {
    out.clear();
    out.extend(mask.iter().map(|&m| if m { 1.0 } else { 0.0 }));
}

impl LayerBuffers {
    /// Buffers for `weights` (inactive ones already 0) under `mask`, with zero biases,
    /// gradients, momentum and SNFS average.
    pub fn new(
        alloc: &Alloc,
        name: &str,
        weights: &[f32],
        n_out: usize,
        mask: &[bool],
    ) -> Result<Self, GpuError> {
        let len = weights.len();
        let mut m = Vec::new();
        mask_values(mask, &mut m);
        let what = |t: &str| format!("{name} {t}");
        Ok(Self {
            weights: alloc.storage_init(&what("weights"), bytemuck::cast_slice(weights))?,
            bias: alloc.storage(&what("bias"), n_out)?,
            mask: alloc.storage_init(&what("mask"), bytemuck::cast_slice(&m))?,
            grad: alloc.storage(&what("gradient"), len)?,
            bias_grad: alloc.storage(&what("bias gradient"), n_out)?,
            momentum: alloc.storage(&what("momentum"), len)?,
            bias_momentum: alloc.storage(&what("bias momentum"), n_out)?,
            ema: alloc.storage(&what("SNFS average"), len)?,
            len,
            n_out,
        })
    }

    pub fn refs(&self) -> LayerRefs<'_> {
        LayerRefs {
            weights: &self.weights,
            mask: &self.mask,
            grad: &self.grad,
            bias_grad: &self.bias_grad,
        }
    }

    pub fn sgd_refs(&self) -> SgdRefs<'_> {
        SgdRefs {
            grad: &self.grad,
            mask: &self.mask,
            weights: &self.weights,
            momentum: &self.momentum,
            ema: &self.ema,
            bias_grad: &self.bias_grad,
            bias: &self.bias,
            bias_momentum: &self.bias_momentum,
            len: self.len,
            n_out: self.n_out,
        }
    }
}

/// A training or test set on the GPU: pixels packed four to a u32, labels one per u32.
pub struct DataBuffers {
    pub images: wgpu::Buffer,
    pub labels: wgpu::Buffer,
    pub len: usize,
}

impl DataBuffers {
    pub fn new(alloc: &Alloc, what: &str, d: &Dataset) -> Result<Self, GpuError> {
        let labels: Vec<u32> = d.labels.iter().map(|&l| u32::from(l)).collect();
        Ok(Self {
            images: alloc.storage_init(&format!("{what} images"), &d.images)?,
            labels: alloc.storage_init(&format!("{what} labels"), bytemuck::cast_slice(&labels))?,
            len: d.len(),
        })
    }
}

/// Activations (and, for training, their gradients) for one batch size.
pub struct Workspace {
    pub batch: usize,
    pub acts: Vec<wgpu::Buffer>,
    /// dL/d(activation i); none for the input, none at all for evaluation.
    pub grads: Vec<Option<wgpu::Buffer>>,
    /// Per pool op: the index of each window's maximum.
    pub argmax: Vec<Option<wgpu::Buffer>>,
    /// Per conv op (training): partial weight gradients, one per K chunk.
    pub partials: Vec<Option<wgpu::Buffer>>,
    pub labels: wgpu::Buffer,
}

impl Workspace {
    pub fn new(alloc: &Alloc, net: &Graph, batch: usize, training: bool) -> Result<Self, GpuError> {
        let sizes = net.activation_sizes();
        let acts = sizes
            .iter()
            .map(|s| alloc.storage("activations", s * batch))
            .collect::<Result<_, _>>()?;
        let grads = (0..sizes.len())
            .map(|i| {
                (training && i > 0)
                    .then(|| alloc.storage("activation gradients", sizes[i] * batch))
                    .transpose()
            })
            .collect::<Result<_, _>>()?;
        let mut argmax = Vec::new();
        let mut partials = Vec::new();
        for (i, op) in net.ops.iter().enumerate() {
            argmax.push(match op {
                Op::Pool { .. } => Some(alloc.storage("pool argmax", sizes[i + 1] * batch)?),
                _ => None,
            });
            partials.push(match op {
                Op::Conv(_, g) if training => Some(alloc.storage(
                    "conv weight-gradient partial sums",
                    ops::conv_partials_len(*g, batch),
                )?),
                _ => None,
            });
        }
        Ok(Self {
            batch,
            acts,
            grads,
            argmax,
            partials,
            labels: alloc.storage("batch labels", batch)?,
        })
    }

    fn grad(&self, i: usize) -> &wgpu::Buffer {
        self.grads[i]
            .as_ref()
            .expect("a training workspace has every activation gradient but the input's")
    }

    fn argmax(&self, i: usize) -> &wgpu::Buffer {
        self.argmax[i].as_ref().expect("a pool op's argmax")
    }
}

/// Gathers a batch into `ws.acts[0]` and `ws.labels` (Net::load_batch): images `indices[b]`
/// when given (training), else images `base + b` of the step uniform (evaluation); each
/// transformed as `transforms[b]` says when given (Net::load_batch_augmented).
#[allow(clippy::too_many_arguments)]
pub fn gather(
    b: &Builder,
    alloc: &Alloc,
    net: &Graph,
    ws: &Workspace,
    data: &DataBuffers,
    indices: Option<&wgpu::Buffer>,
    transforms: Option<&wgpu::Buffer>,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let input = net.input;
    let shape = GatherShape {
        image_len: u(input.len()),
        plane: u(input.height * input.width),
        batch: u(ws.batch),
        planar: u32::from(matches!(net.ops.first(), Some(Op::Conv(..)))),
        use_indices: u32::from(indices.is_some()),
        count: u(data.len),
        augment: u32::from(transforms.is_some()),
        width: u(input.width),
    };
    let uniform = alloc.uniform("gather shape", &shape);
    let bg = b.bind(
        &b.kernels.layouts.gather,
        &[
            &uniform,
            indices.unwrap_or(c.dummy_read),
            &data.images,
            &data.labels,
            &ws.acts[0],
            &ws.labels,
            c.step,
            transforms.unwrap_or(c.dummy_read),
        ],
    );
    // gather.wgsl: 32 samples by 4 pixels per workgroup.
    let groups = [
        ws.batch.div_ceil(32) as u64,
        input.len().div_ceil(4) as u64,
        1,
    ];
    b.dispatch("load_batch", &b.kernels.load_batch, bg, groups)
}

/// Every op's forward pass (Net::forward), with layer l's (weights, bias) from `params[l]`;
/// fully connected layers with lists of active weights (`lists[l]`) also get their sparse
/// twin.
pub fn forward(
    b: &Builder,
    a: &Alloc,
    net: &Graph,
    ws: &Workspace,
    params: &[(&wgpu::Buffer, &wgpu::Buffer)],
    lists: &[Option<SparseLists>],
    c: &Common,
) -> Result<Vec<Planned>, GpuError> {
    let batch = ws.batch;
    let sizes = net.activation_sizes();
    let mut out = Vec::new();
    for (i, op) in net.ops.iter().enumerate() {
        let (x, y) = (&ws.acts[i], &ws.acts[i + 1]);
        out.push(match *op {
            Op::Dense(p) => {
                let s = &net.layers[p];
                let (w, bias) = params[p];
                let dense = ops::dense_forward(b, a, (s.n_in, s.n_out, batch), w, bias, x, y, c)?;
                match lists.get(p).and_then(Option::as_ref) {
                    Some(l) => Planned::Layer {
                        layer: p,
                        dense,
                        sparse: sparse::dense_forward_sparse(b, a, l, batch, w, bias, x, y, c)?,
                    },
                    None => dense.into(),
                }
            }
            Op::Conv(p, g) => {
                let (w, bias) = params[p];
                let dense = ops::conv_forward(b, a, g, batch, w, bias, x, y, c)?;
                match lists.get(p).and_then(Option::as_ref) {
                    Some(l) => Planned::Layer {
                        layer: p,
                        dense,
                        sparse: sparse::conv_forward_sparse(b, a, l, (g, batch), w, bias, x, y, c)?,
                    },
                    None => dense.into(),
                }
            }
            Op::Relu => ops::relu_forward(b, a, sizes[i] * batch, x, y, c)?.into(),
            Op::Pool { c: ch, h, w } => {
                let g = PoolGeom {
                    planes: ch * batch,
                    h,
                    w,
                };
                ops::pool_forward(b, a, g, x, y, ws.argmax(i))?.into()
            }
            Op::Flatten { c: ch, hw } => {
                ops::flatten_forward(b, a, (ch, batch, hw), x, y, c)?.into()
            }
        });
    }
    Ok(out)
}

/// Every op's backward pass in reverse order (Net::backward): weight gradients through the
/// mask unless the step asks for the dense gradient, bias gradients, and input gradients
/// except the network input's; fully connected layers with lists of active weights also get
/// the sparse twins of their weight and input gradients.
pub fn backward(
    b: &Builder,
    a: &Alloc,
    net: &Graph,
    ws: &Workspace,
    layers: &[LayerBuffers],
    lists: &[Option<SparseLists>],
    c: &Common,
) -> Result<Vec<Planned>, GpuError> {
    let batch = ws.batch;
    let sizes = net.activation_sizes();
    let mut out = Vec::new();
    for (i, op) in net.ops.iter().enumerate().rev() {
        let (x, dy) = (&ws.acts[i], ws.grad(i + 1));
        let dx = (i > 0).then(|| ws.grad(i));
        match *op {
            Op::Dense(p) => {
                let s = &net.layers[p];
                let l = &layers[p];
                let dense =
                    ops::dense_backward(b, a, (s.n_in, s.n_out, batch), &l.refs(), x, dy, dx, c)?;
                let Some(lists) = &lists[p] else {
                    out.extend(dense.into_iter().map(Planned::from));
                    continue;
                };
                let mut dense = dense.into_iter();
                let mut next = || dense.next().expect("weight, bias and input gradients");
                let bufs = (dy, x, &l.grad);
                out.push(Planned::WeightGrad {
                    layer: p,
                    dense: next(),
                    sparse: sparse::dense_backward_weights_sparse(b, a, lists, batch, bufs, c)?,
                    all: sparse::dense_backward_weights_all(b, a, lists, batch, bufs, c)?,
                });
                out.push(next().into());
                if let Some(dx) = dx {
                    out.push(Planned::Layer {
                        layer: p,
                        dense: next(),
                        sparse: sparse::dense_backward_input_sparse(
                            b,
                            a,
                            lists,
                            batch,
                            (&l.weights, dy, dx),
                            c,
                        )?,
                    });
                }
            }
            Op::Conv(p, g) => {
                let partials = ws.partials[i].as_ref().expect("conv partial sums");
                let refs = layers[p].refs();
                let d = ops::conv_backward(b, a, g, batch, &refs, x, dy, dx, partials, c)?;
                let Some(lists) = &lists[p] else {
                    out.extend(d.into_iter().map(Planned::from));
                    continue;
                };
                // The weight gradient's partial sums and their sum: of the active weights on
                // the sparse path, of every weight (through the mask unless the step asks for
                // the dense gradient) on the dense one and on a step that asks for the dense
                // gradient.
                let mut d = d.into_iter();
                let mut next = || d.next().expect("weight, bias and input gradients");
                let geom = (g, batch);
                let bufs = (dy, x, partials, refs.grad);
                let [sparse_parts, sparse_sum] =
                    sparse::conv_backward_weights_sparse(b, a, lists, geom, bufs, c)?;
                for sparse in [sparse_parts, sparse_sum] {
                    let dense = next();
                    out.push(Planned::WeightGrad {
                        layer: p,
                        all: dense.clone(),
                        dense,
                        sparse,
                    });
                }
                out.push(next().into());
                if let Some(dx) = dx {
                    let bufs = (refs.weights, dy, dx);
                    out.push(Planned::Layer {
                        layer: p,
                        dense: next(),
                        sparse: sparse::conv_backward_input_sparse(b, a, lists, geom, bufs, c)?,
                    });
                }
            }
            Op::Relu => {
                if let Some(dx) = dx {
                    out.push(
                        ops::relu_backward(b, a, sizes[i] * batch, &ws.acts[i + 1], dy, dx)?.into(),
                    );
                }
            }
            Op::Pool { c: ch, h, w } => {
                if let Some(dx) = dx {
                    let g = PoolGeom {
                        planes: ch * batch,
                        h,
                        w,
                    };
                    out.push(ops::pool_backward(b, a, g, dy, ws.argmax(i), dx)?.into());
                }
            }
            Op::Flatten { c: ch, hw } => {
                if let Some(dx) = dx {
                    out.push(ops::flatten_backward(b, a, (ch, batch, hw), dy, dx, c)?.into());
                }
            }
        }
    }
    Ok(out)
}

/// The training loss (mean into the ring slot, dL/dlogits) or the evaluation sums.
pub fn loss(
    b: &Builder,
    a: &Alloc,
    net: &Graph,
    ws: &Workspace,
    losses: &wgpu::Buffer,
    training: bool,
    c: &Common,
) -> Result<Vec<Dispatch>, GpuError> {
    let last = ws.acts.len() - 1;
    let dlogits = training.then(|| ws.grad(last));
    ops::softmax_cross_entropy(
        b,
        a,
        (net.classes, ws.batch),
        &ws.acts[last],
        &ws.labels,
        dlogits,
        losses,
        c,
    )
}

/// SGD for every layer (src/cpu/sgd.rs): through the mask, or over the active list when the
/// layer is on the sparse path.
pub fn sgd(
    b: &Builder,
    a: &Alloc,
    layers: &[LayerBuffers],
    lists: &[Option<SparseLists>],
    c: &Common,
) -> Result<Vec<Planned>, GpuError> {
    let mut out = Vec::new();
    for (p, (l, lists)) in layers.iter().zip(lists).enumerate() {
        let [weights, bias] = ops::sgd_step(b, &l.sgd_refs(), c)?;
        out.push(match lists {
            Some(lists) => Planned::Layer {
                layer: p,
                dense: weights,
                sparse: sparse::sgd_step_sparse(
                    b,
                    a,
                    lists,
                    (&l.grad, &l.weights, &l.momentum),
                    c,
                )?,
            },
            None => weights.into(),
        });
        out.push(bias.into());
    }
    Ok(out)
}

/// SNFS's moving average of every layer's dense gradient.
pub fn snfs_ema(
    b: &Builder,
    layers: &[LayerBuffers],
    c: &Common,
) -> Result<Vec<Dispatch>, GpuError> {
    layers
        .iter()
        .map(|l| ops::snfs_ema(b, &l.sgd_refs(), c))
        .collect()
}
