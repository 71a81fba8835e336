//! SGD with momentum and weight decay, applied through the mask: only active weights move
//! (RIGL.md: inactive weights stay exactly 0). m = momentum * m + (g + wd * w); w -= lr * m.

use super::param::Param;

pub fn sgd_step(p: &mut Param, lr: f32, momentum: f32, wd: f32) {
    let update = |w: &mut f32, m: &mut f32, g: f32| {
        *m = momentum * *m + g + wd * *w;
        *w -= lr * *m;
    };
    if p.all_active {
        for ((w, m), &g) in p.weights.iter_mut().zip(&mut p.momentum).zip(&p.grad) {
            update(w, m, g);
        }
    } else {
        for &i in &p.index.by_row {
            let i = i as usize;
            update(&mut p.weights[i], &mut p.momentum[i], p.grad[i]);
        }
    }
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
