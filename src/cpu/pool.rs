//! 2x2 max-pooling (stride 2, odd edges dropped) and ReLU, on `[C][batch][H][W]` planes.
//!
//! Each pass is split into fixed pieces (planes, or `PIECE` elements) that run in parallel
//! natively; every output is computed as in one pass, so the results never depend on the
//! thread count.

use super::kernels::{self, relu};
use crate::model::PoolGeom;
use crate::par::*;

/// y = max over each 2x2 window; `argmax` records the winning input index (into `x`) for
/// backward. Ties go to the first of (0,0), (0,1), (1,0), (1,1).
pub fn pool_forward(g: PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    pool_forward_of(g, x, y, argmax, false);
}

/// dx = dy routed to each window's maximum, 0 elsewhere.
pub fn pool_backward(g: PoolGeom, dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    pool_backward_where(g, dy, argmax, dx, None);
}

/// `pool_backward`, routing only where `gate[o] > 0` given a gate.
fn pool_backward_where(
    g: PoolGeom,
    dy: &[f32],
    argmax: &[u32],
    dx: &mut [f32],
    gate: Option<&[f32]>,
) {
    let (oh, ow) = g.out_hw();
    let (in_plane, out_plane) = (g.h * g.w, oh * ow);
    let per = units_per_piece(g.h * g.w);
    each_chunk(&mut dx[..g.planes * in_plane], per * in_plane, |t, dx| {
        // The windows do not overlap: each input gets at most one output's gradient.
        let outs = t * per * out_plane..(t * per + dx.len() / in_plane) * out_plane;
        let gate = gate.map(|y| &y[outs.clone()]);
        kernels::route_max(
            &dy[outs.clone()],
            &argmax[outs],
            t * per * in_plane,
            gate,
            dx,
        );
    });
}

pub fn relu_forward(x: &[f32], y: &mut [f32]) {
    each_chunk(y, PIECE, |t, y| {
        for (y, &x) in y.iter_mut().zip(&x[t * PIECE..]) {
            *y = relu(x);
        }
    });
}

/// dx = dy where the unit was active (y > 0), else 0.
pub fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    each_chunk(dx, PIECE, |t, dx| {
        let (y, dy) = (&y[t * PIECE..], &dy[t * PIECE..]);
        for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
            *dx = if y > 0.0 { dy } else { 0.0 };
        }
    });
}

/// `[C][batch][HW]` -> `[C * HW][batch]` (the dense layer's feature-major input).
pub fn flatten_forward(c: usize, batch: usize, hw: usize, x: &[f32], y: &mut [f32]) {
    each_chunk(&mut y[..c * hw * batch], hw * batch, |ch, y| {
        let x = &x[ch * batch * hw..(ch + 1) * batch * hw];
        for (b, img) in x.chunks_exact(hw).enumerate() {
            for (p, &v) in img.iter().enumerate() {
                y[p * batch + b] = v;
            }
        }
    });
}

pub fn flatten_backward(c: usize, batch: usize, hw: usize, dy: &[f32], dx: &mut [f32]) {
    each_chunk(&mut dx[..c * batch * hw], batch * hw, |ch, dx| {
        let dy = &dy[ch * hw * batch..(ch + 1) * hw * batch];
        for (b, img) in dx.chunks_exact_mut(hw).enumerate() {
            for (p, v) in img.iter_mut().enumerate() {
                *v = dy[p * batch + b];
            }
        }
    });
}

/// `pool_forward` of `relu_forward`'s output without storing that output: each input is
/// clamped as `relu_forward` does, then pooled as `pool_forward` does (same values, same
/// `argmax`, also for NaN and ties).
pub fn relu_pool_forward(g: PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    pool_forward_of(g, x, y, argmax, true);
}

/// `pool_forward` of each input, or of its ReLU where `relu`.
fn pool_forward_of(g: PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [u32], relu: bool) {
    let (oh, ow) = g.out_hw();
    let (in_plane, out_plane) = (g.h * g.w, oh * ow);
    if out_plane == 0 {
        return;
    }
    let per = units_per_piece(g.h * g.w);
    each_chunk2(
        (&mut y[..g.planes * out_plane], per * out_plane),
        (&mut argmax[..g.planes * out_plane], per * out_plane),
        |t, y, am| {
            let base = t * per * in_plane;
            let x = &x[base..base + y.len() / out_plane * in_plane];
            kernels::max_pool_2x2(x, (g.h, g.w), relu, base, y, am);
        },
    );
}

/// `relu_backward` of `pool_backward` in one pass, given the pooled output `y`: the ReLU's
/// output at a window's maximum is the pooled value, so its gradient passes where that is
/// above 0. The same numbers as the two passes (0 + dy where it passes, 0 elsewhere).
pub fn relu_pool_backward(g: PoolGeom, y: &[f32], dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    pool_backward_where(g, dy, argmax, dx, Some(y));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_pcg::Pcg64;

    #[test]
    fn fused_relu_and_pool_give_the_two_passes_bit_for_bit() {
        let mut rng = Pcg64::seed_from_u64(5);
        // Odd sides (dropped edges), several tasks' worth of planes, ties, zeros, -0, NaN.
        for (planes, h, w) in [(3, 5, 7), (40, 32, 32), (1, 2, 2), (7, 3, 1)] {
            let g = PoolGeom { planes, h, w };
            let pick = |rng: &mut Pcg64| match rng.random_range(0..10) {
                0 => 0.0,
                1 => -0.0,
                2 => 0.5,
                3 if planes == 3 => f32::NAN,
                _ => rng.random_range(-1.0..1.0),
            };
            let x: Vec<f32> = (0..planes * h * w).map(|_| pick(&mut rng)).collect();
            let (oh, ow) = g.out_hw();
            let n = planes * oh * ow;
            let dy: Vec<f32> = (0..n).map(|_| pick(&mut rng)).collect();

            let mut r = vec![0.0; x.len()];
            relu_forward(&x, &mut r);
            let (mut y, mut am) = (vec![0.0; n], vec![0; n]);
            pool_forward(g, &r, &mut y, &mut am);
            let mut dr = vec![1.0; x.len()];
            pool_backward(g, &dy, &am, &mut dr);
            let mut dx = vec![1.0; x.len()];
            relu_backward(&r, &dr, &mut dx);

            let (mut fy, mut fam) = (vec![0.0; n], vec![0; n]);
            relu_pool_forward(g, &x, &mut fy, &mut fam);
            let mut fdx = vec![1.0; x.len()];
            relu_pool_backward(g, &fy, &dy, &fam, &mut fdx);

            let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fy), bits(&y), "{g:?}: y");
            assert_eq!(fam, am, "{g:?}: argmax");
            assert_eq!(bits(&fdx), bits(&dx), "{g:?}: dx");
        }
    }
}
