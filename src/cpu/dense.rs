//! Fully connected layer on feature-major activations: `x` is `[n_in][batch]`, `y` is
//! `[n_out][batch]`, so each active weight does one contiguous multiply-add over the batch.
//! Forward and backward side by side; the kernels touch only active weights (all of them in
//! a dense layer), always in the same order, so results are identical on every target.

use std::cell::RefCell;

use rayon::prelude::*;

use super::kernels::{ROWS, dense_rows, dot, dots, gather_axpy};
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
        p.bias_grad[o] = row.iter().sum();
    }
    // dW[o][i] = dY[o] . X[i] over the batch, for the active weights or (dense gradient)
    // for every weight: the same dot product either way, so both agree exactly.
    let index = &p.index;
    if dense_grad || all_active {
        p.grad
            .par_chunks_mut(ROWS * n_in)
            .enumerate()
            .for_each(|(k, g_rows)| {
                let rows = g_rows.len() / n_in;
                let dy_rows = &dy[k * ROWS * batch..(k * ROWS + rows) * batch];
                let mut out = [0f32; ROWS];
                for i in 0..n_in {
                    dots(
                        dy_rows,
                        rows,
                        batch,
                        &x[i * batch..(i + 1) * batch],
                        &mut out,
                    );
                    for r in 0..rows {
                        g_rows[r * n_in + i] = out[r];
                    }
                }
            });
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
