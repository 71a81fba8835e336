//! 3x3 convolution, stride 1, same (zero) padding, on activations laid out `[C][batch][H][W]`.
//! Weight `(o, c, ky, kx)` sits at `o * (C_in * 9) + c * 9 + ky * 3 + kx`. Direct form: each
//! active weight adds a shifted copy of one input plane to one output plane, so sparse
//! layers skip inactive weights entirely.

use crate::par::*;

use super::kernels::{axpy, dot};
use super::param::Param;
use crate::model::ConvGeom;

/// Valid output range [lo, hi) along one axis for a tap offset `d` in {-1, 0, 1}.
fn valid(d: isize, n: usize) -> (usize, usize) {
    ((-d).max(0) as usize, (n as isize - d.max(0)) as usize)
}

/// dst[y][x] += a * src[y + dy][x + dx] over the positions where both are in the image.
fn shifted_axpy(a: f32, src: &[f32], dst: &mut [f32], dy: isize, dx: isize, h: usize, w: usize) {
    let (y0, y1) = valid(dy, h);
    let (x0, x1) = valid(dx, w);
    for y in y0..y1 {
        let sy = (y as isize + dy) as usize;
        let s = (sy * w) as isize + dx;
        axpy(
            a,
            &src[(s + x0 as isize) as usize..(s + x1 as isize) as usize],
            &mut dst[y * w + x0..y * w + x1],
        );
    }
}

/// sum over y, x of g[y][x] * src[y + dy][x + dx] (valid positions only).
fn shifted_dot(g: &[f32], src: &[f32], dy: isize, dx: isize, h: usize, w: usize) -> f32 {
    let (y0, y1) = valid(dy, h);
    let (x0, x1) = valid(dx, w);
    let mut sum = 0.0;
    for y in y0..y1 {
        let s = (((y as isize + dy) as usize * w + x0) as isize + dx) as usize;
        sum += dot(&g[y * w + x0..y * w + x1], &src[s..s + x1 - x0]);
    }
    sum
}

/// Tap offsets of column `k = c * 9 + ky * 3 + kx`.
fn tap(k: usize) -> (usize, isize, isize) {
    (k / 9, (k % 9 / 3) as isize - 1, (k % 3) as isize - 1)
}

pub fn conv_forward(p: &Param, g: ConvGeom, x: &[f32], y: &mut [f32], batch: usize) {
    let (plane, cols) = (g.plane(), p.cols());
    let xs = batch * plane;
    y.par_chunks_exact_mut(xs).enumerate().for_each(|(o, y_o)| {
        y_o.fill(p.bias[o]);
        let mut add = |w: usize| {
            let (c, dy, dx) = tap(w - o * cols);
            for b in 0..batch {
                let src = &x[c * xs + b * plane..][..plane];
                shifted_axpy(
                    p.weights[w],
                    src,
                    &mut y_o[b * plane..(b + 1) * plane],
                    dy,
                    dx,
                    g.h,
                    g.w,
                );
            }
        };
        if p.all_active {
            (o * cols..(o + 1) * cols).for_each(add);
        } else {
            p.index.row(o).iter().for_each(|&w| add(w as usize));
        }
    });
}

pub fn conv_backward(
    p: &mut Param,
    g: ConvGeom,
    x: &[f32],
    dy: &[f32],
    dx: Option<&mut [f32]>,
    batch: usize,
    dense_grad: bool,
) {
    let (plane, cols) = (g.plane(), p.cols());
    let xs = batch * plane;
    for (o, d) in dy.chunks_exact(xs).enumerate() {
        p.bias_grad[o] = d.iter().sum();
    }
    let grad_tap = |o: usize, k: usize| -> f32 {
        let (c, ty, tx) = tap(k);
        (0..batch)
            .map(|b| {
                shifted_dot(
                    &dy[o * xs + b * plane..][..plane],
                    &x[c * xs + b * plane..][..plane],
                    ty,
                    tx,
                    g.h,
                    g.w,
                )
            })
            .sum()
    };
    let (index, all) = (&p.index, dense_grad || p.all_active);
    p.grad
        .par_chunks_exact_mut(cols)
        .enumerate()
        .for_each(|(o, g_row)| {
            if all {
                for (k, gk) in g_row.iter_mut().enumerate() {
                    *gk = grad_tap(o, k);
                }
            } else {
                for &w in index.row(o) {
                    let k = w as usize - o * cols;
                    g_row[k] = grad_tap(o, k);
                }
            }
        });
    let Some(dx) = dx else { return };
    let (weights, all_active) = (&p.weights, p.all_active);
    dx.par_chunks_exact_mut(xs)
        .enumerate()
        .for_each(|(c, dx_c)| {
            dx_c.fill(0.0);
            for k in c * 9..c * 9 + 9 {
                let (_, ty, tx) = tap(k);
                let mut add = |w: usize| {
                    let o = w / cols;
                    for b in 0..batch {
                        // dx[c][y + ty][x + tx] += w * dy[o][y][x]: the reverse shift.
                        let src = &dy[o * xs + b * plane..][..plane];
                        shifted_axpy(
                            weights[w],
                            src,
                            &mut dx_c[b * plane..(b + 1) * plane],
                            -ty,
                            -tx,
                            g.h,
                            g.w,
                        );
                    }
                };
                if all_active {
                    (0..g.c_out).for_each(|o| add(o * cols + k));
                } else {
                    p.index.col(k).iter().for_each(|&w| add(w as usize));
                }
            }
        });
}
