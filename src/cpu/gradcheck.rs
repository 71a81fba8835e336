//! Finite-difference gradient checks for every layer type, masked and unmasked, and for
//! whole networks through the loss. Each analytic gradient is compared with the central
//! difference (L(v + h) - L(v - h)) / 2h of a scalar loss.

use rand::{Rng, SeedableRng};
use rand_pcg::Pcg64;

use super::conv::{conv_backward, conv_forward};
use super::dense::{dense_backward, dense_forward};
use super::loss::softmax_cross_entropy;
use super::net::Net;
use super::param::Param;
use super::pool::*;
use crate::data::{Dataset, ImageShape};
use crate::model::ModelSpec;
use crate::model::{ConvGeom, PoolGeom};
use crate::sparse::LayerShape;

/// Small enough that, with these seeds, no step crosses a ReLU kink or a max-pool tie.
const H: f32 = 1e-3;

fn rand_vec(rng: &mut Pcg64, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-1.0..1.0)).collect()
}

/// L = sum r * y, in f64 so the difference quotient is not swamped by rounding.
fn weighted_sum(r: &[f32], y: &[f32]) -> f64 {
    r.iter()
        .zip(y)
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum()
}

/// Compares `analytic[i]` with the central difference of `loss` in coordinate i of `v`, for
/// every i (at most 48 of them, evenly spread, in a large tensor).
fn check(what: &str, v: &mut [f32], analytic: &[f32], loss: impl FnMut(&[f32]) -> f64) {
    check_with(H, what, v, analytic, loss);
}

/// The step of the checks of a dense or conv layer's own gradients: the loss is linear in
/// each of them, so a larger step has no truncation error and keeps the f32 rounding of
/// thousands of outputs (a batch of 129) small against the difference.
const H_LINEAR: f32 = 0.05;

/// `check` of a loss linear in `v`.
fn check_linear(what: &str, v: &mut [f32], analytic: &[f32], loss: impl FnMut(&[f32]) -> f64) {
    check_with(H_LINEAR, what, v, analytic, loss);
}

fn check_with(
    h: f32,
    what: &str,
    v: &mut [f32],
    analytic: &[f32],
    mut loss: impl FnMut(&[f32]) -> f64,
) {
    assert_eq!(v.len(), analytic.len());
    let every = v.len().div_ceil(48).max(1);
    for i in (0..v.len()).step_by(every) {
        let orig = v[i];
        v[i] = orig + h;
        let up = loss(v);
        v[i] = orig - h;
        let down = loss(v);
        v[i] = orig;
        let fd = (up - down) / (f64::from(v[i] + h) - f64::from(v[i] - h));
        let a = f64::from(analytic[i]);
        assert!(
            (fd - a).abs() <= 2e-3 * fd.abs().max(1.0),
            "{what}[{i}]: analytic {a}, finite difference {fd}"
        );
    }
}

fn random_param(rng: &mut Pcg64, shape: LayerShape, masked: bool) -> Param {
    let mut p = Param::zeros(shape);
    p.weights = rand_vec(rng, p.weights.len());
    p.bias = rand_vec(rng, p.bias.len());
    if masked {
        let mask = (0..p.weights.len()).map(|_| rng.random_bool(0.5)).collect();
        p.set_mask(mask);
    }
    p
}

fn check_dense(masked: bool, exact: bool, (n_in, n_out, batch): (usize, usize, usize)) {
    let mut rng = Pcg64::seed_from_u64(1 + n_in as u64);
    let mut p = random_param(&mut rng, LayerShape::dense("fc", n_in, n_out), masked);
    p.exact = exact;
    let mut x = rand_vec(&mut rng, n_in * batch);
    let r = rand_vec(&mut rng, n_out * batch);
    let mut dx = vec![0.0; x.len()];
    let mut y = vec![0.0; n_out * batch];
    dense_forward(&p, &x, &mut y, batch);
    dense_backward(&mut p, &x, &r, Some(&mut dx), batch, false);
    let masked_grad = p.grad.clone();
    dense_backward(&mut p, &x, &r, None, batch, true);
    let dense_grad = p.grad.clone();
    for (i, &on) in p.mask.iter().enumerate() {
        if on {
            let (a, b) = (masked_grad[i], dense_grad[i]);
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "active grad {i}: {a} (masked path) vs {b} (dense path)"
            );
        }
    }
    let q = p.clone();
    let loss = |q: &Param, x: &[f32]| {
        let mut y = vec![0.0; n_out * batch];
        dense_forward(q, x, &mut y, batch);
        weighted_sum(&r, &y)
    };
    check_linear("dense dx", &mut x.clone(), &dx, |x| loss(&q, x));
    check_linear("dense db", &mut q.bias.clone(), &q.bias_grad, |b| {
        loss(
            &Param {
                bias: b.to_vec(),
                ..q.clone()
            },
            &x,
        )
    });
    // The dense gradient: every weight, active or not (inactive ones perturbed from 0).
    let mut w = q.weights.clone();
    check_linear("dense dW", &mut w, &dense_grad, |w| {
        let mut t = q.clone();
        t.weights = w.to_vec();
        t.set_mask(vec![true; w.len()]);
        loss(&t, &x)
    });
    x.clear();
}

/// Batches 1, 3 and 129, widths that are not multiples of the tiles (register blocks of 4 x 16,
/// gradient tiles of 6 x 8, the fast mode's row blocks of 32).
const DENSE_SIZES: [(usize, usize, usize); 4] =
    [(7, 5, 3), (37, 21, 1), (19, 45, 129), (3, 70, 17)];

#[test]
fn dense_layer_gradients_unmasked() {
    for exact in [true, false] {
        DENSE_SIZES
            .into_iter()
            .for_each(|s| check_dense(false, exact, s));
    }
}

#[test]
fn dense_layer_gradients_masked() {
    for exact in [true, false] {
        DENSE_SIZES
            .into_iter()
            .for_each(|s| check_dense(true, exact, s));
    }
}

fn check_conv(masked: bool, exact: bool, (g, batch): (ConvGeom, usize)) {
    let mut rng = Pcg64::seed_from_u64(2 + batch as u64);
    let mut p = random_param(
        &mut rng,
        LayerShape::conv("conv", g.c_in, g.c_out, 3, g.h * g.w),
        masked,
    );
    p.exact = exact;
    let x = rand_vec(&mut rng, g.c_in * batch * g.h * g.w);
    let r = rand_vec(&mut rng, g.c_out * batch * g.h * g.w);
    let mut y = vec![0.0; r.len()];
    let mut dx = vec![0.0; x.len()];
    conv_forward(&p, g, &x, &mut y, batch);
    conv_backward(&mut p, g, &x, &r, Some(&mut dx), batch, false);
    let masked_grad = p.grad.clone();
    conv_backward(&mut p, g, &x, &r, None, batch, true);
    let dense_grad = p.grad.clone();
    for (i, &on) in p.mask.iter().enumerate() {
        if on {
            let (a, b) = (masked_grad[i], dense_grad[i]);
            assert!(
                (a - b).abs() <= 1e-5 * a.abs().max(1.0),
                "active grad {i}: {a} (masked path) vs {b} (dense path)"
            );
        }
    }
    let q = p.clone();
    let loss = |q: &Param, x: &[f32]| {
        let mut y = vec![0.0; r.len()];
        conv_forward(q, g, x, &mut y, batch);
        weighted_sum(&r, &y)
    };
    check_linear("conv dx", &mut x.clone(), &dx, |x| loss(&q, x));
    check_linear("conv db", &mut q.bias.clone(), &q.bias_grad, |b| {
        loss(
            &Param {
                bias: b.to_vec(),
                ..q.clone()
            },
            &x,
        )
    });
    check_linear("conv dW", &mut q.weights.clone(), &dense_grad, |w| {
        let mut t = q.clone();
        t.weights = w.to_vec();
        t.set_mask(vec![true; w.len()]);
        loss(&t, &x)
    });
}

/// Batches 1, 2, 3 and 129 (5,418 output positions: three chunks of columns), channels that
/// are not multiples of the register blocks.
fn conv_sizes() -> [(ConvGeom, usize); 4] {
    let g = |c_in, c_out, h, w| ConvGeom { c_in, c_out, h, w };
    [
        (g(2, 3, 5, 4), 2),
        (g(3, 5, 7, 6), 129),
        (g(1, 6, 4, 9), 1),
        (g(5, 2, 3, 3), 3),
    ]
}

#[test]
fn conv_layer_gradients_unmasked() {
    for exact in [true, false] {
        conv_sizes()
            .into_iter()
            .for_each(|s| check_conv(false, exact, s));
    }
}

#[test]
fn conv_layer_gradients_masked() {
    for exact in [true, false] {
        conv_sizes()
            .into_iter()
            .for_each(|s| check_conv(true, exact, s));
    }
}

#[test]
fn pool_relu_and_flatten_gradients() {
    let mut rng = Pcg64::seed_from_u64(3);
    let g = PoolGeom {
        planes: 4,
        h: 5,
        w: 4,
    };
    let (oh, ow) = g.out_hw();
    // Well-separated values so a step of H never changes which input wins a window.
    let mut x: Vec<f32> = (0..g.planes * g.h * g.w)
        .map(|i| (i * 37 % 101) as f32 * 0.1)
        .collect();
    let r = rand_vec(&mut rng, g.planes * oh * ow);
    let (mut y, mut am, mut dx) = (vec![0.0; r.len()], vec![0; r.len()], vec![0.0; x.len()]);
    pool_forward(g, &x, &mut y, &mut am);
    pool_backward(g, &r, &am, &mut dx);
    check("pool dx", &mut x, &dx, |x| {
        let (mut y, mut am) = (vec![0.0; r.len()], vec![0; r.len()]);
        pool_forward(g, x, &mut y, &mut am);
        weighted_sum(&r, &y)
    });

    // The fused ReLU + pooling, on the same well-separated values shifted so that some
    // windows are all negative (their gradient is 0) and some are not.
    let mut x: Vec<f32> = (0..g.planes * g.h * g.w)
        .map(|i| (i * 37 % 101) as f32 * 0.1 - 6.95)
        .collect();
    let (mut y, mut am, mut dx) = (vec![0.0; r.len()], vec![0; r.len()], vec![0.0; x.len()]);
    relu_pool_forward(g, &x, &mut y, &mut am);
    relu_pool_backward(g, &y, &r, &am, &mut dx);
    assert!(y.contains(&0.0) && y.iter().any(|&v| v > 0.0));
    check("relu + pool dx", &mut x, &dx, |x| {
        let (mut y, mut am) = (vec![0.0; r.len()], vec![0; r.len()]);
        relu_pool_forward(g, x, &mut y, &mut am);
        weighted_sum(&r, &y)
    });

    // ReLU away from its kink.
    let mut x: Vec<f32> = rand_vec(&mut rng, 40)
        .into_iter()
        .map(|v| if v.abs() < 0.1 { 0.5 } else { v })
        .collect();
    let r = rand_vec(&mut rng, 40);
    let (mut y, mut dx) = (vec![0.0; 40], vec![0.0; 40]);
    relu_forward(&x, &mut y);
    relu_backward(&y, &r, &mut dx);
    check("relu dx", &mut x, &dx, |x| {
        let mut y = vec![0.0; 40];
        relu_forward(x, &mut y);
        weighted_sum(&r, &y)
    });

    let (c, batch, hw) = (3, 2, 5);
    let mut x = rand_vec(&mut rng, c * batch * hw);
    let r = rand_vec(&mut rng, x.len());
    let (mut y, mut dx) = (vec![0.0; x.len()], vec![0.0; x.len()]);
    flatten_forward(c, batch, hw, &x, &mut y);
    flatten_backward(c, batch, hw, &r, &mut dx);
    check("flatten dx", &mut x, &dx, |x| {
        let mut y = vec![0.0; x.len()];
        flatten_forward(c, batch, hw, x, &mut y);
        weighted_sum(&r, &y)
    });
}

#[test]
fn softmax_cross_entropy_gradient() {
    let mut rng = Pcg64::seed_from_u64(4);
    let (classes, batch) = (4, 3);
    let mut z = rand_vec(&mut rng, classes * batch);
    let labels = [2u8, 0, 3];
    let mut dz = vec![0.0; z.len()];
    softmax_cross_entropy(&z, &labels, classes, Some(&mut dz));
    check("softmax-ce dlogits", &mut z, &dz, |z| {
        softmax_cross_entropy(z, &labels, classes, None).0 / batch as f64
    });
    // Hand-computed: equal logits over 4 classes give loss ln 4 per sample.
    let (l, _) = softmax_cross_entropy(&[0.0; 4], &[1], 4, None);
    assert!((l - 4f64.ln()).abs() < 1e-6);
}

/// Whole networks: dL/dW through every op and the mean cross-entropy, masked.
fn check_net(spec: &str, input: ImageShape) {
    let mut rng = Pcg64::seed_from_u64(5);
    let classes = 3;
    let mut net = Net::new(&ModelSpec::parse(spec).unwrap(), input, classes);
    for p in &mut net.params {
        let mask = (0..p.weights.len()).map(|_| rng.random_bool(0.7)).collect();
        p.set_mask(mask);
    }
    net.init(&mut rng);
    let batch = 4;
    let images = (0..batch * input.len())
        .map(|_| rng.random_range(0..=255u8))
        .collect();
    let data = Dataset::new(input, classes, images, vec![0, 1, 2, 1]).unwrap();
    let idx = [0, 1, 2, 3];
    let mut ws = net.workspace(batch);
    net.load_batch(&mut ws, &data, &idx);
    net.forward(&mut ws);
    net.loss(&mut ws, true);
    net.backward(&mut ws, true);
    for l in 0..net.params.len() {
        let analytic = net.params[l].grad.clone();
        let mut w = net.params[l].weights.clone();
        let mut probe = net.clone();
        let mut pws = probe.workspace(batch);
        check(&format!("{spec} layer {l} dW"), &mut w, &analytic, |w| {
            probe.params[l].weights.copy_from_slice(w);
            probe.params[l].set_mask(vec![true; w.len()]);
            probe.load_batch(&mut pws, &data, &idx);
            probe.forward(&mut pws);
            probe.loss(&mut pws, false).0 / batch as f64
        });
    }
}

#[test]
fn mlp_gradients_through_the_loss() {
    check_net("mlp:6,5", ImageShape::new(1, 3, 4));
}

#[test]
fn cnn_gradients_through_the_loss() {
    check_net("cnn:2,3,4", ImageShape::new(2, 6, 4));
}
