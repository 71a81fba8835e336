//! The two ways the CPU backend computes its dense products.
//!
//! - Exact (the page always; natively with `riglab --exact`): the kernels of `riglab-kernels` (`kernels/`),
//!   multiplies and adds in one fixed order without fused multiply-add, so the page (wasm,
//!   which has no FMA) and the CLI compute the same bits for the same link.
//! - Fast (natively by default): fully active layers' products go through the `gemm` crate's
//!   FMA micro-kernels (AVX2/AVX-512, picked at run time). Still deterministic on one machine:
//!   the work is cut into fixed blocks, each one product of fixed size; but the last bits
//!   differ from the exact mode, and may differ between CPUs of other instruction sets.
//!
//! Masked layers take the sparse kernels in both modes.

use std::sync::atomic::{AtomicBool, Ordering};

static EXACT: AtomicBool = AtomicBool::new(cfg!(target_arch = "wasm32"));

/// Whether layers made from now on compute in the exact mode (always on wasm32). Each layer
/// keeps the mode it was made with (`Param::exact`).
pub fn default_exact() -> bool {
    cfg!(target_arch = "wasm32") || EXACT.load(Ordering::Relaxed)
}

/// Chooses the mode of the layers made from now on (natively; the page is exact): the CLI's
/// `--exact`.
pub fn set_default_exact(exact: bool) {
    EXACT.store(exact, Ordering::Relaxed);
}

/// A strided view of a matrix: element (r, c) at `ptr + r * rs + c * cs`.
#[derive(Clone, Copy)]
pub struct View {
    pub ptr: *const f32,
    pub rs: isize,
    pub cs: isize,
}

/// dst (m x n, rows of stride `dst_rs`) = [dst +] lhs (m x k) * rhs (k x n), single-threaded.
///
/// # Safety
/// The views cover m x k and k x n readable floats; dst covers m x n writable floats that
/// nothing else touches meanwhile.
#[cfg(not(target_arch = "wasm32"))]
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul(
    (m, n, k): (usize, usize, usize),
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    lhs: View,
    rhs: View,
) {
    // SAFETY: as the caller promises.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// Whether a product of this size goes through the fast kernels in the fast mode: small ones
/// (a 100 x 10 output layer, a 3x3 convolution of one channel) are quicker on the exact
/// kernels, which need no packing.
pub fn worth_it(m: usize, n: usize, k: usize) -> bool {
    k >= 16 && m * n * k >= 1 << 18
}

/// Output rows per task of the fast dense products: fixed, so results never depend on the
/// thread count.
#[cfg(not(target_arch = "wasm32"))]
pub const ROW_BLOCK: usize = 32;

/// `dst` (rows of `n`) = [dst +] lhs * rhs, split into fixed blocks of `ROW_BLOCK` rows
/// computed in parallel; lhs row r is at `lhs.ptr + r * lhs.rs`.
#[cfg(not(target_arch = "wasm32"))]
pub fn matmul_rows(dst: &mut [f32], n: usize, k: usize, accumulate: bool, lhs: View, rhs: View) {
    use crate::par::*;
    // Raw pointers are not Send: carry the addresses.
    let (lp, rp) = (lhs.ptr as usize, rhs.ptr as usize);
    dst.par_chunks_mut(ROW_BLOCK * n)
        .enumerate()
        .for_each(|(blk, d)| {
            let rows = d.len() / n;
            let lhs = View {
                ptr: (lp as *const f32).wrapping_offset(blk as isize * ROW_BLOCK as isize * lhs.rs),
                ..lhs
            };
            let rhs = View {
                ptr: rp as *const f32,
                ..rhs
            };
            // SAFETY: `d` is this block's rows; the views are the caller's (see callers).
            unsafe { matmul((rows, n, k), d.as_mut_ptr(), n, accumulate, lhs, rhs) };
        });
}
