//! The sparse path of fully connected layers and convolutions (shaders/sparse.wgsl): the
//! lists of active weights on the GPU, rebuilt on the host at each mask update with the CPU's
//! `SparseIndex`; the dispatches that use them; and, per layer and step, the choice between
//! them and the dense products of gemm.wgsl (RIGL.md: only RigL's update steps, and SNFS on
//! every step, need the gradient of every weight, which a fully connected layer on the sparse
//! path computes row by row without a matrix-product tile, and a convolution with its dense
//! product).

use super::buffers::Alloc;
use super::error::GpuError;
use super::kernels::{Builder, Dispatch, Pipeline, SPARSE_SAMPLES};
use super::ops::{CONV_K_CHUNK, Common, u};
use super::uniforms::SparseDims;
use crate::model::ConvGeom;
use crate::sparse::index::SparseIndex;

/// A fully connected layer whose density is below this computes with its active weights
/// only; at or above it, with dense products. Measured at batch 128 (784 x 300 and 300 x 100,
/// random masks; `kernel_timings_sparse`), the sparse kernels are faster up to a density of
/// about 0.65 on SwiftShader and beyond 0.7 on lavapipe; a hardware GPU runs the tiled
/// products far more efficiently than these software adapters (unmeasured here), hence the
/// margin.
pub const SPARSE_BELOW_DENSITY: f64 = 0.5;

/// A fully connected layer with at most this many weights takes the sparse path at any
/// density (its lists then hold every weight): a dense product saves it well under a
/// millisecond, while each tiled-product pipeline costs about a second to compile on
/// SwiftShader (e.g. the 100 x 10 output layer of the MLP, which is never masked).
pub const SMALL_LAYER_WEIGHTS: usize = 16_384;

/// Whether a fully connected layer of `weights` weights gets lists of active weights: it
/// may be masked (`density` below 1), or it is small.
pub fn has_lists(weights: usize, density: f64) -> bool {
    density < 1.0 || weights <= SMALL_LAYER_WEIGHTS
}

/// A masked convolution whose density is below this computes with its active weights only.
/// Measured on lavapipe at batch 128 (`kernel_timings_sparse_conv`: 16 -> 32 channels on
/// 14 x 14 images, random masks), the sparse kernels are faster up to a density of about 0.7
/// (at 0.1: forward 12.7 vs 99 ms, weight gradient 25 vs 172, input gradient 15 vs 123); a
/// hardware GPU runs the tiled products far more efficiently (unmeasured here), hence the
/// margin, as for fully connected layers.
pub const CONV_SPARSE_BELOW_DENSITY: f64 = 0.5;

type B = wgpu::Buffer;

/// Workgroups of `sgd_step_sparse`'s grid-stride loop (16 invocations each): a few
/// iterations each at 90% sparsity, and no workgroup started only to find nothing to do.
const SGD_GROUPS: u64 = 512;

/// A fully connected layer's active weights by row and by column, on the GPU (the layout
/// sparse.wgsl reads: row pointers, column pointers, each weight's column row by row, each
/// weight's row column by column, each weight's flat index row by row). The buffer has room
/// for every weight, so a mask update uploads and never allocates.
pub struct SparseLists {
    pub buffer: B,
    index: SparseIndex,
    /// Where row_ptr, col_ptr, cols, rows and active_list start in `buffer`.
    offsets: [usize; 5],
    /// A convolution's lists (its weight matrix is c_out x c_in * 9).
    conv: bool,
    scratch: Vec<u32>,
}

impl SparseLists {
    pub fn new(
        alloc: &Alloc,
        name: &str,
        (n_in, n_out): (usize, usize),
        queue: &wgpu::Queue,
        mask: &[bool],
    ) -> Result<Self, GpuError> {
        let n = n_in * n_out;
        let row_ptr = 0;
        let col_ptr = row_ptr + n_out + 1;
        let cols = col_ptr + n_in + 1;
        let rows = cols + n;
        let active = rows + n;
        let mut lists = Self {
            buffer: alloc.storage(&format!("{name} active weights"), active + n)?,
            index: SparseIndex::new(n_out, n_in),
            offsets: [row_ptr, col_ptr, cols, rows, active],
            conv: false,
            scratch: Vec::new(),
        };
        lists.upload(queue, mask);
        Ok(lists)
    }

    /// The lists of a 3x3 convolution of `g` (its weight matrix: c_out rows of c_in * 9).
    pub fn conv(
        alloc: &Alloc,
        name: &str,
        g: ConvGeom,
        queue: &wgpu::Queue,
        mask: &[bool],
    ) -> Result<Self, GpuError> {
        let mut lists = Self::new(alloc, name, (g.c_in * 9, g.c_out), queue, mask)?;
        lists.conv = true;
        Ok(lists)
    }

    /// Rebuilds the lists from `mask` and writes them to the GPU.
    pub fn upload(&mut self, queue: &wgpu::Queue, mask: &[bool]) {
        let ix = &mut self.index;
        ix.rebuild(mask);
        let n_in = ix.cols as u32;
        // The kernels index W by (row, column): the lists hold columns (CSR) and rows (CSC)
        // rather than `SparseIndex`'s flat indices, so no kernel divides.
        let s = &mut self.scratch;
        s.clear();
        s.extend_from_slice(&ix.row_ptr);
        s.extend_from_slice(&ix.col_ptr);
        s.extend(ix.by_row.iter().map(|&w| w % n_in));
        queue.write_buffer(&self.buffer, 0, bytemuck::cast_slice(s));
        if ix.by_row.is_empty() {
            return;
        }
        s.clear();
        s.extend(ix.by_col.iter().map(|&w| w / n_in));
        let at = |k: usize| 4 * self.offsets[k] as u64;
        queue.write_buffer(&self.buffer, at(3), bytemuck::cast_slice(s));
        queue.write_buffer(&self.buffer, at(4), bytemuck::cast_slice(&ix.by_row));
    }

    pub fn density(&self) -> f64 {
        self.index.active() as f64 / self.weights().max(1) as f64
    }

    fn weights(&self) -> usize {
        self.index.rows * self.index.cols
    }

    /// Whether the layer computes with its active weights only (at its current density).
    pub fn is_sparse(&self) -> bool {
        if self.conv {
            return self.density() < CONV_SPARSE_BELOW_DENSITY;
        }
        self.density() < SPARSE_BELOW_DENSITY || self.weights() <= SMALL_LAYER_WEIGHTS
    }

    /// The dimensions uniform, with a convolution's image size when `conv` is given.
    fn dims_of(&self, a: &Alloc, batch: usize, conv: Option<ConvGeom>) -> B {
        let [row_ptr, col_ptr, cols, rows, active_list] = self.offsets.map(u);
        let (h, w) = conv.map_or((0, 0), |g| (g.h, g.w));
        a.uniform(
            "sparse dims",
            &SparseDims {
                n_in: u(self.index.cols),
                n_out: u(self.index.rows),
                batch: u(batch),
                row_ptr,
                col_ptr,
                cols,
                rows,
                active_list,
                h: u(h),
                w: u(w),
                k_chunk: u(CONV_K_CHUNK),
                pad: 0,
            },
        )
    }
}

/// Workgroups along the batch of a sparse forward or input-gradient dispatch.
fn batch_groups(batch: usize) -> u64 {
    batch.div_ceil(SPARSE_SAMPLES as usize) as u64
}

/// A dispatch of a sparse.wgsl kernel over `lists`: its dimensions at `batch`, the lists,
/// `buffers` in the layout's order (read, read, write, read, write, then the step uniform).
#[allow(clippy::too_many_arguments)]
fn sparse_dispatch(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    batch: usize,
    (what, pipeline): (&str, &Pipeline),
    buffers: [&B; 5],
    groups: [u64; 3],
    c: &Common,
) -> Result<Dispatch, GpuError> {
    sparse_dispatch_of(
        b,
        a,
        lists,
        (batch, None),
        (what, pipeline),
        buffers,
        groups,
        c,
    )
}

/// `sparse_dispatch` with a convolution's geometry.
#[allow(clippy::too_many_arguments)]
fn sparse_dispatch_of(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    (batch, conv): (usize, Option<ConvGeom>),
    (what, pipeline): (&str, &Pipeline),
    buffers: [&B; 5],
    groups: [u64; 3],
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let dims = lists.dims_of(a, batch, conv);
    let [r0, r1, w0, r2, w1] = buffers;
    let bg = b.bind(
        &b.kernels.layouts.sparse,
        &[&dims, &lists.buffer, r0, r1, w0, r2, w1, c.step],
    );
    b.dispatch(what, pipeline, bg, groups)
}

/// y = W x + b over the active weights (src/cpu/dense.rs `dense_forward`).
#[allow(clippy::too_many_arguments)]
pub fn dense_forward_sparse(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    batch: usize,
    w: &B,
    bias: &B,
    x: &B,
    y: &B,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let k = &b.kernels.dense_forward_sparse;
    let groups = [lists.index.rows as u64, batch_groups(batch), 1];
    let buffers = [w, x, y, bias, c.dummy_write];
    sparse_dispatch(
        b,
        a,
        lists,
        batch,
        ("dense_forward_sparse", k),
        buffers,
        groups,
        c,
    )
}

/// dx = W^T dy over the active weights (src/cpu/dense.rs `dense_backward`).
pub fn dense_backward_input_sparse(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    batch: usize,
    (w, dy, dx): (&B, &B, &B),
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let k = &b.kernels.dense_backward_input_sparse;
    let groups = [lists.index.cols as u64, batch_groups(batch), 1];
    let buffers = [w, dy, dx, c.dummy_read, c.dummy_write];
    let what = ("dense_backward_input_sparse", k);
    sparse_dispatch(b, a, lists, batch, what, buffers, groups, c)
}

/// The gradient of the active weights (src/cpu/dense.rs `dense_backward` without
/// `dense_grad`); the other entries of `grad` are left alone.
pub fn dense_backward_weights_sparse(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    batch: usize,
    (dy, x, grad): (&B, &B, &B),
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let k = &b.kernels.dense_backward_weights_sparse;
    let what = ("dense_backward_weights_sparse", k);
    let buffers = [dy, x, grad, c.dummy_read, c.dummy_write];
    let groups = [lists.index.rows as u64, 1, 1];
    sparse_dispatch(b, a, lists, batch, what, buffers, groups, c)
}

/// The gradient of every weight, row by row (a layer on the sparse path, on a step that asks
/// for the dense gradient).
pub fn dense_backward_weights_all(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    batch: usize,
    (dy, x, grad): (&B, &B, &B),
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let k = &b.kernels.dense_backward_weights_all;
    let what = ("dense_backward_weights_all", k);
    let buffers = [dy, x, grad, c.dummy_read, c.dummy_write];
    let groups = [lists.index.rows as u64, 1, 1];
    sparse_dispatch(b, a, lists, batch, what, buffers, groups, c)
}

/// SGD of the active weights only (src/cpu/sgd.rs `sgd_step` on a masked layer).
pub fn sgd_step_sparse(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    (grad, weights, momentum): (&B, &B, &B),
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let n = (lists.index.rows * lists.index.cols) as u64;
    let groups = [n.div_ceil(16).clamp(1, SGD_GROUPS), 1, 1];
    let what = ("sgd_step_sparse", &b.kernels.sgd_step_sparse);
    let buffers = [grad, c.dummy_read, weights, c.dummy_read, momentum];
    sparse_dispatch(b, a, lists, 0, what, buffers, groups, c)
}

/// Workgroups along the positions of a sparse convolution's forward or input gradient.
fn position_groups(g: ConvGeom, batch: usize) -> u64 {
    (batch * g.plane()).div_ceil(SPARSE_SAMPLES as usize) as u64
}

/// y = W * x + b over the active weights of a convolution (src/cpu/conv.rs `conv_forward`).
#[allow(clippy::too_many_arguments)]
pub fn conv_forward_sparse(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    (g, batch): (ConvGeom, usize),
    w: &B,
    bias: &B,
    x: &B,
    y: &B,
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let k = &b.kernels.conv_forward_sparse;
    let groups = [g.c_out as u64, position_groups(g, batch), 1];
    let buffers = [w, x, y, bias, c.dummy_write];
    let what = ("conv_forward_sparse", k);
    sparse_dispatch_of(b, a, lists, (batch, Some(g)), what, buffers, groups, c)
}

/// dx = W^T dy (reverse shifts) over the active weights of a convolution.
pub fn conv_backward_input_sparse(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    (g, batch): (ConvGeom, usize),
    (w, dy, dx): (&B, &B, &B),
    c: &Common,
) -> Result<Dispatch, GpuError> {
    let k = &b.kernels.conv_backward_input_sparse;
    let groups = [g.c_in as u64, position_groups(g, batch), 1];
    let buffers = [w, dy, dx, c.dummy_read, c.dummy_write];
    let what = ("conv_backward_input_sparse", k);
    sparse_dispatch_of(b, a, lists, (batch, Some(g)), what, buffers, groups, c)
}

/// The gradient of a convolution's active weights in two dispatches: partial sums per chunk
/// of positions into `partials` (as ops::conv_backward's), then their sum into `grad`; the
/// other entries of `grad` are left alone.
pub fn conv_backward_weights_sparse(
    b: &Builder,
    a: &Alloc,
    lists: &SparseLists,
    (g, batch): (ConvGeom, usize),
    (dy, x, partials, grad): (&B, &B, &B, &B),
    c: &Common,
) -> Result<[Dispatch; 2], GpuError> {
    let k = b.kernels;
    let n = (lists.index.rows * lists.index.cols) as u64;
    let groups = n.div_ceil(16).clamp(1, SGD_GROUPS);
    let splits = (batch * g.plane()).div_ceil(CONV_K_CHUNK) as u64;
    let geom = (batch, Some(g));
    let parts = sparse_dispatch_of(
        b,
        a,
        lists,
        geom,
        (
            "conv_backward_weights_sparse",
            &k.conv_backward_weights_sparse,
        ),
        [dy, x, partials, c.dummy_read, c.dummy_write],
        [groups, 1, splits],
        c,
    )?;
    let sum = sparse_dispatch_of(
        b,
        a,
        lists,
        geom,
        (
            "conv_backward_weights_sparse_sum",
            &k.conv_backward_weights_sparse_sum,
        ),
        [partials, c.dummy_read, grad, c.dummy_read, c.dummy_write],
        [groups, 1, 1],
        c,
    )?;
    Ok([parts, sum])
}

/// A dispatch of a recorded program, or a fully connected layer's choice between its dense
/// product and its sparse twin, made each time a step is recorded (no per-step building).
pub enum Planned {
    Fixed(Dispatch),
    /// Forward or input gradient: sparse whenever the layer is.
    Layer {
        layer: usize,
        dense: Dispatch,
        sparse: Dispatch,
    },
    /// Weight gradient: on the sparse path, of the active weights only or, when the step
    /// asks for the dense gradient, of all weights row by row; else a dense product (masked
    /// or not, by the step's uniform).
    WeightGrad {
        layer: usize,
        dense: Dispatch,
        sparse: Dispatch,
        all: Dispatch,
    },
}

impl Planned {
    /// The dispatch to record, given which layers are on the sparse path and whether the step
    /// asks for the gradient of every weight.
    pub fn pick(&self, is_sparse: &[bool], dense_grad: bool) -> &Dispatch {
        match self {
            Self::Fixed(d) => d,
            Self::Layer {
                layer,
                dense,
                sparse,
            } => {
                if is_sparse[*layer] {
                    sparse
                } else {
                    dense
                }
            }
            Self::WeightGrad {
                layer,
                dense,
                sparse,
                all,
            } => match (is_sparse[*layer], dense_grad) {
                (false, _) => dense,
                (true, false) => sparse,
                (true, true) => all,
            },
        }
    }
}

impl From<Dispatch> for Planned {
    fn from(d: Dispatch) -> Self {
        Self::Fixed(d)
    }
}
