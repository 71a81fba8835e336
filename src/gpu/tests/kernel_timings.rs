//! Not tests: per-kernel times for tuning the shaders (a benchmark prints figures and asserts
//! nothing). `cargo test --lib kernel_timings -- --ignored --nocapture --test-threads 1`.

use super::*;
use crate::gpu::ops;
use crate::gpu::program::LayerBuffers;
use std::time::Instant;

#[test]
#[ignore]
fn kernel_timings_dense() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(1);
    let (n_in, n_out, batch) = (784, 300, 128);
    let w = rand_vec(&mut rng, n_in * n_out);
    let l = LayerBuffers::new(&a, "fc", &w, n_out, &vec![true; w.len()]).unwrap();
    let x = h.upload(&rand_vec(&mut rng, n_in * batch));
    let y = h.zeros(n_out * batch);
    let dy = h.upload(&rand_vec(&mut rng, n_out * batch));
    let dx = h.zeros(n_in * batch);
    let fwd = ops::dense_forward(
        &b,
        &a,
        (n_in, n_out, batch),
        &l.weights,
        &l.bias,
        &x,
        &y,
        &c,
    )
    .unwrap();
    let bwd = ops::dense_backward(
        &b,
        &a,
        (n_in, n_out, batch),
        &l.refs(),
        &x,
        &dy,
        Some(&dx),
        &c,
    )
    .unwrap();
    let sgd = ops::sgd_step(&b, &l.sgd_refs(), &c).unwrap();
    let time = |name: &str, ds: &[&Dispatch]| {
        for _ in 0..2 {
            h.run_refs(ds);
            h.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .unwrap();
        }
        let t = Instant::now();
        for _ in 0..10 {
            h.run_refs(ds);
        }
        h.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap();
        eprintln!("{name}: {:.2} ms", t.elapsed().as_secs_f64() * 100.0);
    };
    time("dense_forward 784x300x128", &[&fwd]);
    time("dense_backward_weights", &[&bwd[0]]);
    time("dense_backward_bias", &[&bwd[1]]);
    time("dense_backward_input", &[&bwd[2]]);
    time("sgd weights", &[&sgd[0]]);
    time("sgd bias", &[&sgd[1]]);
}

#[test]
#[ignore]
fn kernel_timings_conv() {
    use crate::model::ConvGeom;
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(1);
    let batch = 128;
    for g in [
        ConvGeom {
            c_in: 1,
            c_out: 16,
            h: 28,
            w: 28,
        },
        ConvGeom {
            c_in: 16,
            c_out: 32,
            h: 14,
            w: 14,
        },
    ] {
        let w = rand_vec(&mut rng, g.c_out * g.c_in * 9);
        let l = LayerBuffers::new(&a, "conv", &w, g.c_out, &vec![true; w.len()]).unwrap();
        let x = h.upload(&rand_vec(&mut rng, g.c_in * batch * g.h * g.w));
        let y = h.zeros(g.c_out * batch * g.h * g.w);
        let dy = h.upload(&rand_vec(&mut rng, g.c_out * batch * g.h * g.w));
        let dx = h.zeros(g.c_in * batch * g.h * g.w);
        let partials = h.zeros(ops::conv_partials_len(g, batch));
        let fwd = ops::conv_forward(&b, &a, g, batch, &l.weights, &l.bias, &x, &y, &c).unwrap();
        let bwd = ops::conv_backward(
            &b,
            &a,
            g,
            batch,
            &l.refs(),
            &x,
            &dy,
            Some(&dx),
            &partials,
            &c,
        )
        .unwrap();
        let time = |name: &str, ds: &[&Dispatch]| {
            h.run_refs(ds);
            h.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .unwrap();
            let t = Instant::now();
            for _ in 0..3 {
                h.run_refs(ds);
            }
            h.ctx
                .device
                .poll(wgpu::PollType::wait_indefinitely())
                .unwrap();
            eprintln!(
                "{name} {g:?}: {:.2} ms",
                t.elapsed().as_secs_f64() * 1000.0 / 3.0
            );
        };
        time("conv_forward", &[&fwd]);
        time("conv_backward_weights", &[&bwd[0]]);
        time("conv_backward_weights_sum", &[&bwd[1]]);
        time("conv_backward_bias", &[&bwd[2]]);
        time("conv_backward_input", &[&bwd[3]]);
    }
}

/// Milliseconds per run of `ds` (after two warm-up runs), averaged over `runs`.
fn time_ms(h: &Harness, ds: &[&Dispatch], runs: usize) -> f64 {
    let wait = || {
        h.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .unwrap()
    };
    for _ in 0..2 {
        h.run_refs(ds);
        wait();
    }
    let t = Instant::now();
    for _ in 0..runs {
        h.run_refs(ds);
    }
    wait();
    t.elapsed().as_secs_f64() * 1e3 / runs as f64
}

/// The dense products against the sparse kernels of shaders/sparse.wgsl at several
/// densities: where the sparse path starts to pay (sparse::SPARSE_BELOW_DENSITY).
#[test]
#[ignore]
fn kernel_timings_sparse() {
    use crate::gpu::sparse::{self, SparseLists};
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(1);
    let batch = 128;
    for (n_in, n_out) in [(784, 300), (300, 100)] {
        let x = h.upload(&rand_vec(&mut rng, n_in * batch));
        let y = h.zeros(n_out * batch);
        let dy = h.upload(&rand_vec(&mut rng, n_out * batch));
        let dx = h.zeros(n_in * batch);
        for density in [0.02, 0.1, 0.2, 0.35, 0.5, 0.7] {
            let mask: Vec<bool> = (0..n_in * n_out)
                .map(|_| rng.random_bool(density))
                .collect();
            let w = rand_vec(&mut rng, mask.len());
            let l = LayerBuffers::new(&a, "fc", &w, n_out, &mask).unwrap();
            let lists = SparseLists::new(&a, "fc", (n_in, n_out), &h.ctx.queue, &mask).unwrap();
            let dims = (n_in, n_out, batch);
            let fwd = ops::dense_forward(&b, &a, dims, &l.weights, &l.bias, &x, &y, &c).unwrap();
            let bwd = ops::dense_backward(&b, &a, dims, &l.refs(), &x, &dy, Some(&dx), &c).unwrap();
            let fwd_s = sparse::dense_forward_sparse(
                &b, &a, &lists, batch, &l.weights, &l.bias, &x, &y, &c,
            )
            .unwrap();
            let wgrad_s = sparse::dense_backward_weights_sparse(
                &b,
                &a,
                &lists,
                batch,
                (&dy, &x, &l.grad),
                &c,
            )
            .unwrap();
            let dgrad_s = sparse::dense_backward_input_sparse(
                &b,
                &a,
                &lists,
                batch,
                (&l.weights, &dy, &dx),
                &c,
            )
            .unwrap();
            let sgd = ops::sgd_step(&b, &l.sgd_refs(), &c).unwrap();
            let ms = |ds: &[&Dispatch]| time_ms(&h, ds, 5);
            eprintln!(
                "{n_in}x{n_out} batch {batch} density {density}: forward {:.2} / {:.2} ms, \
                 weight gradient {:.2} / {:.2}, input gradient {:.2} / {:.2} (dense / sparse); \
                 sgd {:.2}",
                ms(&[&fwd]),
                ms(&[&fwd_s]),
                ms(&[&bwd[0]]),
                ms(&[&wgrad_s]),
                ms(&[&bwd[2]]),
                ms(&[&dgrad_s]),
                ms(&[&sgd[0]]),
            );
        }
    }
}

/// The dense convolution products against the sparse convolution kernels at several
/// densities: where the sparse path starts to pay (sparse::CONV_SPARSE_BELOW_DENSITY).
#[test]
#[ignore]
fn kernel_timings_sparse_conv() {
    use crate::gpu::sparse::{self, SparseLists};
    use crate::model::ConvGeom;
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(1);
    let batch = 128;
    let g = ConvGeom {
        c_in: 16,
        c_out: 32,
        h: 14,
        w: 14,
    };
    let n = batch * g.plane();
    let x = h.upload(&rand_vec(&mut rng, g.c_in * n));
    let y = h.zeros(g.c_out * n);
    let dy = h.upload(&rand_vec(&mut rng, g.c_out * n));
    let dx = h.zeros(g.c_in * n);
    let partials = h.zeros(ops::conv_partials_len(g, batch));
    for density in [0.02, 0.1, 0.2, 0.35, 0.5, 0.7] {
        let mask: Vec<bool> = (0..g.c_out * g.c_in * 9)
            .map(|_| rng.random_bool(density))
            .collect();
        let w = rand_vec(&mut rng, mask.len());
        let l = LayerBuffers::new(&a, "conv", &w, g.c_out, &mask).unwrap();
        let lists = SparseLists::conv(&a, "conv", g, &h.ctx.queue, &mask).unwrap();
        let fwd = ops::conv_forward(&b, &a, g, batch, &l.weights, &l.bias, &x, &y, &c).unwrap();
        let bwd = ops::conv_backward(
            &b,
            &a,
            g,
            batch,
            &l.refs(),
            &x,
            &dy,
            Some(&dx),
            &partials,
            &c,
        )
        .unwrap();
        let geom = (g, batch);
        let fwd_s =
            sparse::conv_forward_sparse(&b, &a, &lists, geom, &l.weights, &l.bias, &x, &y, &c)
                .unwrap();
        let bufs = (&dy, &x, &partials, &l.grad);
        let wgrad_s = sparse::conv_backward_weights_sparse(&b, &a, &lists, geom, bufs, &c).unwrap();
        let dgrad_s =
            sparse::conv_backward_input_sparse(&b, &a, &lists, geom, (&l.weights, &dy, &dx), &c)
                .unwrap();
        let ms = |ds: &[&Dispatch]| time_ms(&h, ds, 3);
        eprintln!(
            "conv {g:?} batch {batch} density {density}: forward {:.2} / {:.2} ms, \
             weight gradient {:.2} / {:.2}, input gradient {:.2} / {:.2} (dense / sparse)",
            ms(&[&fwd]),
            ms(&[&fwd_s]),
            ms(&[&bwd[0], &bwd[1]]),
            ms(&[&wgrad_s[0], &wgrad_s[1]]),
            ms(&[&bwd[3]]),
            ms(&[&dgrad_s]),
        );
    }
}

#[test]
#[ignore]
fn kernel_timings_loss() {
    let Some(h) = Harness::new() else { return };
    let (b, a, c) = (h.builder(), h.alloc(), h.common());
    let mut rng = rng(1);
    let (classes, batch) = (10, 128);
    let logits = h.upload(&rand_vec(&mut rng, classes * batch));
    let labels: Vec<u32> = (0..batch as u32).map(|i| i % 10).collect();
    let labels = h.upload_u32(&labels);
    let (d, ring) = (h.zeros(classes * batch), h.zeros(1024));
    let loss = ops::softmax_cross_entropy(
        &b,
        &a,
        (classes, batch),
        &logits,
        &labels,
        Some(&d),
        &ring,
        &c,
    )
    .unwrap();
    eprintln!(
        "softmax_cross_entropy 10 x 128 (its passes): {:.2} ms",
        time_ms(&h, &loss.iter().collect::<Vec<_>>(), 10)
    );
}
