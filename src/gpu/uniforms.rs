//! Host mirrors of the WGSL uniform structs in shaders/ (same field order, 16-byte multiples).

use bytemuck::{Pod, Zeroable};

/// `GemmDims` in gemm.wgsl: C[m][n] = sum over k of A[m][k] B[k][n], with the K range split
/// in chunks of `k_chunk` (one per workgroup z) and a convolution's geometry.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GemmDims {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub k_chunk: u32,
    pub batch: u32,
    pub c_in: u32,
    pub h: u32,
    pub w: u32,
}

/// `StepInfo`: what changes from one step (or evaluation batch) to the next. Written with
/// `queue.write_buffer` before each submission.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct StepInfo {
    pub lr: f32,
    pub momentum: f32,
    pub wd: f32,
    pub snfs_decay: f32,
    /// 1: keep the gradient of every weight (RigL update steps, SNFS); 0: mask it.
    pub dense_grad: u32,
    /// Training: the loss ring slot; evaluation: the batch number.
    pub loss_slot: u32,
    /// Evaluation: the first image of this batch.
    pub base: u32,
    /// Evaluation: the number of real (not padding) samples in this batch.
    pub valid: u32,
}

/// `Shape` in pool.wgsl and relu.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct Shape {
    pub n: u32,
    pub c: u32,
    pub batch: u32,
    pub h: u32,
    pub w: u32,
    pub hw: u32,
    pub _pad: [u32; 2],
}

/// `LossShape` in loss.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LossShape {
    pub classes: u32,
    pub batch: u32,
    pub _pad: [u32; 2],
}

/// `GatherShape` in gather.wgsl.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct GatherShape {
    pub image_len: u32,
    pub plane: u32,
    pub batch: u32,
    pub planar: u32,
    pub use_indices: u32,
    pub count: u32,
    /// 1: each sample's image is transformed (data::augment) as `transforms[b]` says.
    pub augment: u32,
    pub width: u32,
}

/// `SparseDims` in sparse.wgsl: a fully connected layer's or a convolution's sizes and where
/// each of its lists of active weights starts in the lists buffer (src/gpu/sparse.rs).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct SparseDims {
    pub n_in: u32,
    pub n_out: u32,
    pub batch: u32,
    pub row_ptr: u32,
    pub col_ptr: u32,
    pub cols: u32,
    pub rows: u32,
    pub active_list: u32,
    /// A convolution's image height and width (0 for a fully connected layer).
    pub h: u32,
    pub w: u32,
    /// A convolution's positions per partial sum of its weight gradient.
    pub k_chunk: u32,
    pub pad: u32,
}

/// `Plane` in landscape.wgsl: the point's coordinates on a landscape plane.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct PlanePoint {
    pub x: f32,
    pub y: f32,
    pub len: u32,
    pub _pad: u32,
}
