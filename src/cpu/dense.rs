//! Fully connected layer on feature-major activations: `x` is `[n_in][batch]`, `y` is
//! `[n_out][batch]`, so each active weight does one contiguous multiply-add over the batch.
//! Forward and backward side by side; sparse paths touch only active weights.

use std::cell::RefCell;

use rayon::prelude::*;

use super::kernels::{dot, gather_axpy};
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

/// C = A B (+ C when `accumulate`), row-major with explicit strides, via matrixmultiply.
#[allow(clippy::too_many_arguments)]
fn gemm(
    m: usize,
    k: usize,
    n: usize,
    a: &[f32],
    (rsa, csa): (usize, usize),
    b: &[f32],
    (rsb, csb): (usize, usize),
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(c.len() >= m * n && m * n > 0);
    assert!(a.len() > (m - 1) * rsa + (k - 1) * csa && b.len() > (k - 1) * rsb + (n - 1) * csb);
    // SAFETY: the asserts above keep every index of A, B and C in bounds.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa as isize,
            csa as isize,
            b.as_ptr(),
            rsb as isize,
            csb as isize,
            if accumulate { 1.0 } else { 0.0 },
            c.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}

/// y = W x + b.
pub fn dense_forward(p: &Param, x: &[f32], y: &mut [f32], batch: usize) {
    let (n_in, n_out) = (p.cols(), p.shape.n_out);
    for (o, row) in y.chunks_exact_mut(batch).enumerate() {
        row.fill(p.bias[o]);
    }
    if p.all_active {
        gemm(
            n_out,
            n_in,
            batch,
            &p.weights,
            (n_in, 1),
            x,
            (batch, 1),
            y,
            true,
        );
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
    let (n_in, n_out) = (p.cols(), p.shape.n_out);
    for (o, row) in dy.chunks_exact(batch).enumerate() {
        p.bias_grad[o] = row.iter().sum();
    }
    if dense_grad || p.all_active {
        // dW = dY X^T: [n_out x batch] times [batch x n_in].
        gemm(
            n_out,
            batch,
            n_in,
            dy,
            (batch, 1),
            x,
            (1, batch),
            &mut p.grad,
            false,
        );
    } else {
        let index = &p.index;
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
    if p.all_active {
        // dX = W^T dY: [n_in x n_out] (W read transposed) times [n_out x batch].
        gemm(
            n_in,
            n_out,
            batch,
            &p.weights,
            (1, n_in),
            dy,
            (batch, 1),
            dx,
            false,
        );
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
