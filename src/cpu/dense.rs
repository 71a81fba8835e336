//! Fully connected layer on feature-major activations: `x` is `[n_in][batch]`, `y` is
//! `[n_out][batch]`, so each active weight does one contiguous multiply-add over the batch.
//! Forward and backward side by side; the kernels touch only active weights (all of them in
//! a dense layer), always in the same order, so results are identical on every target.

use std::cell::RefCell;

use crate::par::*;

#[cfg(not(target_arch = "wasm32"))]
use super::fast;
use super::kernels::{
    GRAD_COLS, GRAD_ROWS, ROWS, dense_rows, dot, gather_axpy, sum, weight_grad_tile,
};
use super::param::Param;

thread_local! {
    /// Per-thread scratch for one row's (weight, input row) terms: allocated once per thread.
    static TERMS: RefCell<Vec<(f32, u32)>> = const { RefCell::new(Vec::new()) };
}

/// Collects one row's terms into the thread's scratch buffer and hands them to `f`.
fn with_terms(terms: impl Iterator<Item = (f32, u32)>, f: impl FnOnce(&[(f32, u32)])) {
    TERMS.with_borrow_mut(|buf| {
        buf.clear();
        buf.extend(terms);
        f(buf);
    });
}

/// Rows per rayon task: enough work per task to amortise scheduling.
const MIN_ROWS: usize = 8;

/// y = W x + b.
pub fn dense_forward(p: &Param, x: &[f32], y: &mut [f32], batch: usize) {
    let n_in = p.cols();
    for (o, row) in y.chunks_exact_mut(batch).enumerate() {
        row.fill(p.bias[o]);
    }
    #[cfg(not(target_arch = "wasm32"))]
    if p.all_active && !p.exact && fast::worth_it(p.shape.n_out, batch, n_in) {
        let w = fast::View {
            ptr: p.weights.as_ptr(),
            rs: n_in as isize,
            cs: 1,
        };
        let xv = fast::View {
            ptr: x.as_ptr(),
            rs: batch as isize,
            cs: 1,
        };
        fast::matmul_rows(y, batch, n_in, true, w, xv);
        return;
    }
    if p.all_active {
        // Every weight active: register-blocked over ROWS output rows (same sums, same order).
        y.par_chunks_mut(ROWS * batch)
            .enumerate()
            .for_each(|(k, y_rows)| {
                let rows = y_rows.len() / batch;
                dense_rows(
                    &p.weights[k * ROWS * n_in..(k * ROWS + rows) * n_in],
                    n_in,
                    x,
                    batch,
                    y_rows,
                );
            });
        return;
    }
    y.par_chunks_exact_mut(batch)
        .with_min_len(MIN_ROWS)
        .enumerate()
        .for_each(|(o, y_row)| {
            let base = o * n_in;
            let terms = p
                .index
                .row(o)
                .iter()
                .map(|&w| (p.weights[w as usize], w - base as u32));
            with_terms(terms, |t| gather_axpy(t, x, batch, y_row));
        });
}

/// Output-row tiles per rayon task of the dense weight gradient.
const GRAD_TILES: usize = 4;

/// dW[o][i] = dY[o] . X[i] for every weight, each exactly as `dot` sums it (as the sparse
/// path does for active weights). X is transposed into `xt` (columns padded to a multiple of
/// `GRAD_COLS`) so that a tile of outputs accumulates in vector lanes, with no horizontal
/// sums; a task takes `GRAD_TILES` tiles of rows and walks the columns once.
#[allow(clippy::too_many_arguments)]
#[cfg_attr(target_arch = "wasm32", allow(unused_variables))]
fn dense_weight_grad(
    exact: bool,
    grad: &mut [f32],
    xt: &mut Vec<f32>,
    n_in: usize,
    x: &[f32],
    dy: &[f32],
    batch: usize,
) {
    #[cfg(not(target_arch = "wasm32"))]
    if !exact && fast::worth_it(grad.len() / n_in, n_in, batch) {
        // dW = dY X^T, with X^T read through its strides.
        let dyv = fast::View {
            ptr: dy.as_ptr(),
            rs: batch as isize,
            cs: 1,
        };
        let xtv = fast::View {
            ptr: x.as_ptr(),
            rs: 1,
            cs: batch as isize,
        };
        fast::matmul_rows(grad, n_in, batch, false, dyv, xtv);
        return;
    }
    let stride = n_in.next_multiple_of(GRAD_COLS);
    xt.resize(batch * stride, 0.0);
    const B: usize = 16;
    xt.par_chunks_mut(B * stride)
        .enumerate()
        .for_each(|(k, block)| {
            let b0 = k * B;
            let bs = block.len() / stride;
            for i in 0..n_in {
                for (bb, &v) in x[i * batch + b0..i * batch + b0 + bs].iter().enumerate() {
                    block[bb * stride + i] = v;
                }
            }
        });
    let xt = &xt[..];
    grad.par_chunks_mut(GRAD_TILES * GRAD_ROWS * n_in)
        .enumerate()
        .for_each(|(task, g)| {
            let o0 = task * GRAD_TILES * GRAD_ROWS;
            let rows = g.len() / n_in;
            // A short last tile gets its rows of dY copied, padded with zeros.
            let short = rows % GRAD_ROWS;
            let mut padded = Vec::new();
            if short != 0 {
                padded.extend_from_slice(&dy[(o0 + rows - short) * batch..(o0 + rows) * batch]);
                padded.resize(GRAD_ROWS * batch, 0.0);
            }
            let mut out = [[0f32; GRAD_COLS]; GRAD_ROWS];
            for i0 in (0..n_in).step_by(GRAD_COLS) {
                let cols = GRAD_COLS.min(n_in - i0);
                for r0 in (0..rows).step_by(GRAD_ROWS) {
                    let n = GRAD_ROWS.min(rows - r0);
                    let dy_tile = if n == GRAD_ROWS {
                        &dy[(o0 + r0) * batch..(o0 + r0 + GRAD_ROWS) * batch]
                    } else {
                        &padded[..]
                    };
                    weight_grad_tile(dy_tile, batch, &xt[i0..], stride, &mut out);
                    for (r, row) in out.iter().take(n).enumerate() {
                        g[(r0 + r) * n_in + i0..][..cols].copy_from_slice(&row[..cols]);
                    }
                }
            }
        });
}

/// Gradients from `dy = dL/dy`: dW (of active weights only, or of every weight when
/// `dense_grad`: RIGL.md's dense gradient for the grow criterion), db, and dx when asked.
pub fn dense_backward(
    p: &mut Param,
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    batch: usize,
    dense_grad: bool,
) {
    let (n_in, all_active) = (p.cols(), p.all_active);
    for (o, row) in dy.chunks_exact(batch).enumerate() {
        p.bias_grad[o] = sum(row);
    }
    // dW[o][i] = dY[o] . X[i] over the batch, for the active weights or (dense gradient)
    // for every weight: the same dot product either way, so both agree exactly.
    let index = &p.index;
    if dense_grad || all_active {
        dense_weight_grad(p.exact, &mut p.grad, &mut p.inputs_t, n_in, x, dy, batch);
    } else {
        p.grad
            .par_chunks_exact_mut(n_in)
            .with_min_len(MIN_ROWS)
            .enumerate()
            .for_each(|(o, g_row)| {
                let dy_row = &dy[o * batch..(o + 1) * batch];
                for &w in index.row(o) {
                    let i = w as usize - o * n_in;
                    g_row[i] = dot(dy_row, &x[i * batch..(i + 1) * batch]);
                }
            });
    }
    let Some(dx) = dx else { return };
    #[cfg(not(target_arch = "wasm32"))]
    if all_active && !p.exact && fast::worth_it(n_in, batch, p.shape.n_out) {
        // dX = W^T dY, with W^T read through its strides.
        let wt = fast::View {
            ptr: p.weights.as_ptr(),
            rs: 1,
            cs: n_in as isize,
        };
        let dyv = fast::View {
            ptr: dy.as_ptr(),
            rs: batch as isize,
            cs: 1,
        };
        fast::matmul_rows(dx, batch, p.shape.n_out, false, wt, dyv);
        return;
    }
    if all_active {
        // dX = W^T dY with W transposed once into scratch, then the same blocked kernel
        // (sums over o ascending, as the column lists would give).
        let n_out = p.shape.n_out;
        let wt = &mut p.transposed;
        wt.resize(p.weights.len(), 0.0);
        for (o, row) in p.weights.chunks_exact(n_in).enumerate() {
            for (i, &w) in row.iter().enumerate() {
                wt[i * n_out + o] = w;
            }
        }
        let wt = &p.transposed;
        dx.par_chunks_mut(ROWS * batch)
            .enumerate()
            .for_each(|(k, dx_rows)| {
                dx_rows.fill(0.0);
                let rows = dx_rows.len() / batch;
                dense_rows(
                    &wt[k * ROWS * n_out..(k * ROWS + rows) * n_out],
                    n_out,
                    dy,
                    batch,
                    dx_rows,
                );
            });
        return;
    }
    dx.par_chunks_exact_mut(batch)
        .with_min_len(MIN_ROWS)
        .enumerate()
        .for_each(|(i, dx_row)| {
            dx_row.fill(0.0);
            let terms = p
                .index
                .col(i)
                .iter()
                .map(|&w| (p.weights[w as usize], w / n_in as u32));
            with_terms(terms, |t| gather_axpy(t, dy, batch, dx_row));
        });
}
