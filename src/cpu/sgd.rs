//! SGD with momentum and weight decay, applied through the mask: only active weights move
//! (RIGL.md: inactive weights stay exactly 0). m = momentum * m + (g + wd * w); w -= lr * m.
//!
//! Each weight's update depends on that weight alone, so the layer is split into fixed
//! blocks of rows updated in parallel natively, with the same numbers as in one pass.

use super::param::Param;
use crate::par::*;

pub fn sgd_step(p: &mut Param, lr: f32, momentum: f32, wd: f32) {
    let update = |w: &mut f32, m: &mut f32, g: f32| {
        *m = momentum * *m + g + wd * *w;
        *w -= lr * *m;
    };
    let cols = p.cols();
    let rows = units_per_piece(cols);
    let (index, all_active, grad) = (&p.index, p.all_active, &p.grad);
    each_chunk2(
        (&mut p.weights, rows * cols),
        (&mut p.momentum, rows * cols),
        |t, w, m| {
            let base = t * rows * cols;
            let g = &grad[base..base + w.len()];
            if all_active {
                for ((w, m), &g) in w.iter_mut().zip(m).zip(g) {
                    update(w, m, g);
                }
            } else {
                for r in t * rows..t * rows + w.len() / cols {
                    for &i in index.row(r) {
                        let i = i as usize - base;
                        update(&mut w[i], &mut m[i], g[i]);
                    }
                }
            }
        },
    );
    // Biases are dense and, as usual, not decayed.
    for ((b, m), &g) in p
        .bias
        .iter_mut()
        .zip(&mut p.bias_momentum)
        .zip(&p.bias_grad)
    {
        *m = momentum * *m + g;
        *b -= lr * *m;
    }
}
