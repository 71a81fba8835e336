//! 2x2 max-pooling (stride 2, odd edges dropped) and ReLU, on `[C][batch][H][W]` planes.

use crate::model::PoolGeom;

/// y = max over each 2x2 window; `argmax` records the winning input index for backward.
pub fn pool_forward(g: PoolGeom, x: &[f32], y: &mut [f32], argmax: &mut [u32]) {
    let (oh, ow) = g.out_hw();
    for p in 0..g.planes {
        for oy in 0..oh {
            for ox in 0..ow {
                let mut best = p * g.h * g.w + 2 * oy * g.w + 2 * ox;
                for (dy, dx) in [(0, 1), (1, 0), (1, 1)] {
                    let i = p * g.h * g.w + (2 * oy + dy) * g.w + 2 * ox + dx;
                    if x[i] > x[best] {
                        best = i;
                    }
                }
                let o = p * oh * ow + oy * ow + ox;
                y[o] = x[best];
                argmax[o] = best as u32;
            }
        }
    }
}

/// dx = dy routed to each window's maximum, 0 elsewhere.
pub fn pool_backward(dy: &[f32], argmax: &[u32], dx: &mut [f32]) {
    dx.fill(0.0);
    for (&d, &i) in dy.iter().zip(argmax) {
        dx[i as usize] += d;
    }
}

pub fn relu_forward(x: &[f32], y: &mut [f32]) {
    for (y, &x) in y.iter_mut().zip(x) {
        *y = x.max(0.0);
    }
}

/// dx = dy where the unit was active (y > 0), else 0.
pub fn relu_backward(y: &[f32], dy: &[f32], dx: &mut [f32]) {
    for ((dx, &dy), &y) in dx.iter_mut().zip(dy).zip(y) {
        *dx = if y > 0.0 { dy } else { 0.0 };
    }
}

/// `[C][batch][HW]` -> `[C * HW][batch]` (the dense layer's feature-major input).
pub fn flatten_forward(c: usize, batch: usize, hw: usize, x: &[f32], y: &mut [f32]) {
    for ch in 0..c {
        for b in 0..batch {
            for p in 0..hw {
                y[(ch * hw + p) * batch + b] = x[(ch * batch + b) * hw + p];
            }
        }
    }
}

pub fn flatten_backward(c: usize, batch: usize, hw: usize, dy: &[f32], dx: &mut [f32]) {
    for ch in 0..c {
        for b in 0..batch {
            for p in 0..hw {
                dx[(ch * batch + b) * hw + p] = dy[(ch * hw + p) * batch + b];
            }
        }
    }
}
