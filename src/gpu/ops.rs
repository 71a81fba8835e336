//! One dispatch builder per CPU function of src/cpu (same names): the network program
//! (program.rs) and the kernel parity tests both build their dispatches here.

use super::buffers::Alloc;
use super::error::GpuError;
use super::kernels::{Builder, Dispatch, THREADS, TILE_K, grid};
use super::uniforms::{GemmDims, LossShape, Shape};
use crate::model::{ConvGeom, PoolGeom};

/// Positions per K chunk of a convolution's weight gradient (a multiple of TILE_K): the
/// reduction over batch * H * W is split so that many workgroups share it.
pub const CONV_K_CHUNK: usize = 2048;
const _: () = assert!(CONV_K_CHUNK.is_multiple_of(TILE_K as usize));

/// Up to this many weights, a convolution's weight gradient is one invocation per weight
/// (conv_backward_weights_small) rather than a matrix product of mostly padding.
const SMALL_CONV_WEIGHTS: usize = 1024;

type B = wgpu::Buffer;

/// Buffers every dispatch may bind besides its own.
pub struct Common<'a> {
    /// The `StepInfo` uniform the kernels read.
    pub step: &'a B,
    /// Bound where a layout has a slot that a kernel does not use.
    pub dummy_read: &'a B,
    pub dummy_write: &'a B,
}

/// What a layer's backward pass reads and writes.
pub struct LayerRefs<'a> {
    pub weights: &'a B,
    pub mask: &'a B,
    pub grad: &'a B,
    pub bias_grad: &'a B,
}

pub fn u(n: usize) -> u32 {
    u32::try_from(n).expect("sizes fit in 32 bits")
}

fn dense_dims(m: usize, n: usize, k: usize) -> GemmDims {
    GemmDims {
        m: u(m),
        n: u(n),
        k: u(k),
        k_chunk: u(k),
        ..GemmDims::default()
    }
}

fn conv_dims(g: ConvGeom, batch: usize, m: usize, n: usize, k: usize, k_chunk: usize) -> GemmDims {
    GemmDims {
        m: u(m),
        n: u(n),
        k: u(k),
        k_chunk: u(k_chunk),
        batch: u(batch),
        c_in: u(g.c_in),
        h: u(g.h),
        w: u(g.w),
    }
}

fn shape(a: &Alloc, n: usize, c: usize, batch: usize, h: usize, w: usize, hw: usize) -> B {
    a.uniform(
        "shape",
        &Shape {
            n: u(n),
            c: u(c),
            batch: u(batch),
            h: u(h),
            w: u(w),
            hw: u(hw),
            _pad: [0; 2],
        },
    )
}

/// y = W x + b, feature-major (src/cpu/dense.rs).
#[allow(clippy::too_many_arguments)]
pub fn dense_forward(
    b: &Builder,
    a: &Alloc,
    (n_in, n_out, batch): (usize, usize, usize),
    w: &B,
    bias: &B,
    x: &B,
    y: &B,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let dims = a.uniform("dims", &dense_dims(n_out, batch, n_in));
    let bg = b.bind(&b.kernels.layouts.gemm, &[&dims, w, x, y, bias, c.step]);
    b.gemm(
        "dense_forward",
        &b.kernels.dense_forward,
        bg,
        (n_out, batch, 1),
    )
}

/// dW (through the mask unless dense_grad), db, and dx when asked.
#[allow(clippy::too_many_arguments)]
pub fn dense_backward(
    b: &Builder,
    a: &Alloc,
    (n_in, n_out, batch): (usize, usize, usize),
    p: &LayerRefs,
    x: &B,
    dy: &B,
    dx: Option<&B>,
    c: &Common,
) -> Result<Vec<Dispatch>, GpuError> {
    let (k, l) = (b.kernels, &b.kernels.layouts.gemm);
    let mut out = Vec::new();
    let dims = a.uniform("dims", &dense_dims(n_out, n_in, batch));
    let bg = b.bind(l, &[&dims, dy, x, p.grad, p.mask, c.step]);
    out.push(b.gemm(
        "dense_backward_weights",
        &k.dense_backward_weights,
        bg,
        (n_out, n_in, 1),
    )?);
    let dims = a.uniform("dims", &dense_dims(n_out, batch, 0));
    let bg = b.bind(
        l,
        &[&dims, dy, c.dummy_read, p.bias_grad, c.dummy_read, c.step],
    );
    out.push(b.dispatch(
        "dense_backward_bias",
        &k.dense_backward_bias,
        bg,
        [(n_out as u64).div_ceil(u64::from(THREADS)), 1, 1],
    )?);
    if let Some(dx) = dx {
        let dims = a.uniform("dims", &dense_dims(n_in, batch, n_out));
        let bg = b.bind(l, &[&dims, p.weights, dy, dx, c.dummy_read, c.step]);
        out.push(b.gemm(
            "dense_backward_input",
            &k.dense_backward_input,
            bg,
            (n_in, batch, 1),
        )?);
    }
    Ok(out)
}

/// 3x3 same convolution (src/cpu/conv.rs).
#[allow(clippy::too_many_arguments)]
pub fn conv_forward(
    b: &Builder,
    a: &Alloc,
    g: ConvGeom,
    batch: usize,
    w: &B,
    bias: &B,
    x: &B,
    y: &B,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let (m, n, kk) = (g.c_out, batch * g.h * g.w, g.c_in * 9);
    let dims = a.uniform("dims", &conv_dims(g, batch, m, n, kk, kk));
    let bg = b.bind(&b.kernels.layouts.gemm, &[&dims, w, x, y, bias, c.step]);
    b.gemm("conv_forward", &b.kernels.conv_forward, bg, (m, n, 1))
}

/// Floats of the partial weight-gradient buffer `conv_backward` needs.
pub fn conv_partials_len(g: ConvGeom, batch: usize) -> usize {
    (batch * g.h * g.w).div_ceil(CONV_K_CHUNK) * g.c_out * g.c_in * 9
}

/// dW (split over K chunks into `partials`, then summed through the mask), db, dx if asked.
#[allow(clippy::too_many_arguments)]
pub fn conv_backward(
    b: &Builder,
    a: &Alloc,
    g: ConvGeom,
    batch: usize,
    p: &LayerRefs,
    x: &B,
    dy: &B,
    dx: Option<&B>,
    partials: &B,
    c: &Common,
) -> Result<Vec<Dispatch>, GpuError> {
    let (k, l) = (b.kernels, &b.kernels.layouts.gemm);
    let cols = g.c_in * 9;
    let positions = batch * g.h * g.w;
    if positions >= 1 << 24 {
        // conv.wgsl splits positions with `div_small`, exact below 2^24.
        return Err(GpuError::InvalidSetup(format!(
            "a convolution over {positions} positions per batch (at most {})",
            (1 << 24) - 1
        )));
    }
    let splits = positions.div_ceil(CONV_K_CHUNK);
    let mut out = Vec::new();
    let dims = a.uniform(
        "dims",
        &conv_dims(g, batch, g.c_out, cols, positions, CONV_K_CHUNK),
    );
    let bg = b.bind(l, &[&dims, dy, x, partials, c.dummy_read, c.step]);
    out.push(if g.c_out * cols <= SMALL_CONV_WEIGHTS {
        let groups = [
            (g.c_out * cols).div_ceil(THREADS as usize) as u64,
            1,
            splits as u64,
        ];
        b.dispatch(
            "conv_backward_weights_small",
            &k.conv_backward_weights_small,
            bg,
            groups,
        )?
    } else {
        b.gemm(
            "conv_backward_weights",
            &k.conv_backward_weights,
            bg,
            (g.c_out, cols, splits),
        )?
    });
    let bg = b.bind(l, &[&dims, partials, c.dummy_read, p.grad, p.mask, c.step]);
    out.push(b.dispatch(
        "conv_backward_weights_sum",
        &k.conv_backward_weights_sum,
        bg,
        [grid(g.c_out * cols), 1, 1],
    )?);
    let dims = a.uniform("dims", &conv_dims(g, batch, g.c_out, positions, 0, 0));
    let bg = b.bind(
        l,
        &[&dims, dy, c.dummy_read, p.bias_grad, c.dummy_read, c.step],
    );
    out.push(b.dispatch(
        "conv_backward_bias",
        &k.conv_backward_bias,
        bg,
        [g.c_out as u64, 1, 1],
    )?);
    if let Some(dx) = dx {
        let kk = g.c_out * 9;
        let dims = a.uniform("dims", &conv_dims(g, batch, g.c_in, positions, kk, kk));
        let bg = b.bind(l, &[&dims, p.weights, dy, dx, c.dummy_read, c.step]);
        out.push(b.gemm(
            "conv_backward_input",
            &k.conv_backward_input,
            bg,
            (g.c_in, positions, 1),
        )?);
    }
    Ok(out)
}

pub fn relu_forward(
    b: &Builder,
    a: &Alloc,
    n: usize,
    x: &B,
    y: &B,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let bg = b.bind(
        &b.kernels.layouts.activation,
        &[&shape(a, n, 0, 0, 0, 0, 0), x, y, c.dummy_write],
    );
    b.dispatch("relu_forward", &b.kernels.relu_forward, bg, [grid(n), 1, 1])
}

pub fn relu_backward(
    b: &Builder,
    a: &Alloc,
    n: usize,
    y: &B,
    dy: &B,
    dx: &B,
) -> Result<Dispatch, GpuError> {
    let bg = b.bind(
        &b.kernels.layouts.activation,
        &[&shape(a, n, 0, 0, 0, 0, 0), dy, dx, y],
    );
    b.dispatch(
        "relu_backward",
        &b.kernels.relu_backward,
        bg,
        [grid(n), 1, 1],
    )
}

pub fn pool_forward(
    b: &Builder,
    a: &Alloc,
    g: PoolGeom,
    x: &B,
    y: &B,
    argmax: &B,
) -> Result<Dispatch, GpuError> {
    let (oh, ow) = g.out_hw();
    let n = g.planes * oh * ow;
    let bg = b.bind(
        &b.kernels.layouts.activation,
        &[&shape(a, n, g.planes, 0, g.h, g.w, 0), x, y, argmax],
    );
    b.dispatch("pool_forward", &b.kernels.pool_forward, bg, [grid(n), 1, 1])
}

pub fn pool_backward(
    b: &Builder,
    a: &Alloc,
    g: PoolGeom,
    dy: &B,
    argmax: &B,
    dx: &B,
) -> Result<Dispatch, GpuError> {
    let n = g.planes * g.h * g.w;
    let bg = b.bind(
        &b.kernels.layouts.activation,
        &[&shape(a, n, g.planes, 0, g.h, g.w, 0), dy, dx, argmax],
    );
    b.dispatch(
        "pool_backward",
        &b.kernels.pool_backward,
        bg,
        [grid(n), 1, 1],
    )
}

/// `[C][batch][HW]` -> `[C * HW][batch]`.
pub fn flatten_forward(
    b: &Builder,
    a: &Alloc,
    (ch, batch, hw): (usize, usize, usize),
    x: &B,
    y: &B,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let n = ch * hw * batch;
    let bg = b.bind(
        &b.kernels.layouts.activation,
        &[&shape(a, n, ch, batch, 0, 0, hw), x, y, c.dummy_write],
    );
    b.dispatch(
        "flatten_forward",
        &b.kernels.flatten_forward,
        bg,
        [grid(n), 1, 1],
    )
}

pub fn flatten_backward(
    b: &Builder,
    a: &Alloc,
    (ch, batch, hw): (usize, usize, usize),
    dy: &B,
    dx: &B,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let n = ch * hw * batch;
    let bg = b.bind(
        &b.kernels.layouts.activation,
        &[&shape(a, n, ch, batch, 0, 0, hw), dy, dx, c.dummy_write],
    );
    b.dispatch(
        "flatten_backward",
        &b.kernels.flatten_backward,
        bg,
        [grid(n), 1, 1],
    )
}

/// Softmax cross-entropy (src/cpu/loss.rs), per sample and then summed. Training (`dlogits`
/// given): the mean loss into `losses[loss_slot]` and dL/dlogits. Evaluation: (loss sum,
/// correct) of the first `valid` samples into `losses[2 * loss_slot ..]`.
#[allow(clippy::too_many_arguments)]
pub fn softmax_cross_entropy(
    b: &Builder,
    a: &Alloc,
    (classes, batch): (usize, usize),
    logits: &B,
    labels: &B,
    dlogits: Option<&B>,
    losses: &B,
    c: &Common,
) -> Result<Vec<Dispatch>, GpuError> {
    let shape = a.uniform(
        "loss shape",
        &LossShape {
            classes: u(classes),
            batch: u(batch),
            _pad: [0; 2],
        },
    );
    let per_sample = a.storage("per-sample losses", 2 * batch)?;
    let bg = b.bind(
        &b.kernels.layouts.loss,
        &[
            &shape,
            logits,
            labels,
            dlogits.unwrap_or(c.dummy_write),
            losses,
            c.step,
            &per_sample,
        ],
    );
    let k = &b.kernels;
    let per_sample_groups = [grid(batch), 1, 1];
    Ok(match dlogits {
        Some(_) => vec![
            b.dispatch(
                "softmax_cross_entropy",
                &k.softmax_cross_entropy,
                bg.clone(),
                per_sample_groups,
            )?,
            b.dispatch(
                "softmax_cross_entropy_grad",
                &k.softmax_cross_entropy_grad,
                bg.clone(),
                per_sample_groups,
            )?,
            b.dispatch("loss_sum", &k.loss_sum, bg, [1, 1, 1])?,
        ],
        None => vec![
            b.dispatch(
                "softmax_cross_entropy_eval",
                &k.softmax_cross_entropy_eval,
                bg.clone(),
                per_sample_groups,
            )?,
            b.dispatch("loss_sum_eval", &k.loss_sum_eval, bg, [1, 1, 1])?,
        ],
    })
}

/// What `sgd_step` (src/cpu/sgd.rs) updates for one layer.
pub struct SgdRefs<'a> {
    pub grad: &'a B,
    pub mask: &'a B,
    pub weights: &'a B,
    pub momentum: &'a B,
    pub ema: &'a B,
    pub bias_grad: &'a B,
    pub bias: &'a B,
    pub bias_momentum: &'a B,
    pub len: usize,
    pub n_out: usize,
}

/// SGD through the mask for the weights, then the biases.
pub fn sgd_step(b: &Builder, p: &SgdRefs, c: &Common) -> Result<[Dispatch; 2], GpuError> {
    let l = &b.kernels.layouts.sgd;
    let bg = b.bind(l, &[c.step, p.grad, p.mask, p.weights, p.momentum, p.ema]);
    let weights = b.dispatch("sgd_step", &b.kernels.sgd_step, bg, [grid(p.len), 1, 1])?;
    let bg = b.bind(
        l,
        &[
            c.step,
            p.bias_grad,
            c.dummy_read,
            p.bias,
            p.bias_momentum,
            c.dummy_write,
        ],
    );
    let bias = b.dispatch(
        "sgd_step_bias",
        &b.kernels.sgd_step_bias,
        bg,
        [grid(p.n_out), 1, 1],
    )?;
    Ok([weights, bias])
}

/// SNFS's moving average of the dense gradient.
pub fn snfs_ema(b: &Builder, p: &SgdRefs, c: &Common) -> Result<Dispatch, GpuError> {
    let bg = b.bind(
        &b.kernels.layouts.sgd,
        &[c.step, p.grad, p.mask, p.weights, p.momentum, p.ema],
    );
    b.dispatch("snfs_ema", &b.kernels.snfs_ema, bg, [grid(p.len), 1, 1])
}
